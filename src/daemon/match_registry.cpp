/* Match Registry: every connection's match rules, indexed for broadcast */
#include "daemon/match_registry.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <functional>
#include <unordered_map>

namespace kdbus::daemon {

namespace {

/* Lets the maps be searched with a string_view without building a string. */
struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <typename V>
using TextMap = std::unordered_map<std::string, V, TextHash, std::equal_to<>>;

constexpr std::string_view driver_name = "org.freedesktop.DBus";

}  // namespace

/*
 * Layout. Each owner has an OwnerRecord holding its rules keyed by their
 * canonical text (so AddMatch of an equal rule only bumps a count, and
 * RemoveMatch finds it in O(1)). Each distinct rule sits in exactly one
 * bucket, chosen by its *shape*: which of member, interface, path and
 * sender (unique names and the driver only) it names. The bucket key is
 * those values joined, so a message is looked up once per shape in use
 * (at most 16 hash lookups), whatever the number of rules: 10,000
 * PropertiesChanged rules that differ only by path cost one lookup, not a
 * scan. Rules naming none of those keys are scanned for every message.
 *
 * A sender= on a well-known name cannot be part of a key, because messages
 * carry the unique name of whoever owns it now. path_namespace is a prefix,
 * so it cannot be one either.
 *
 * Rules with eavesdrop=true live in a second Index, so a unicast message
 * (which only eavesdroppers may see) looks at nothing else.
 *
 * A bucket is a vector of rule pointers; each rule knows its slot, so
 * removal is a swap with the last element: O(1), and remove_all is
 * O(rules of that owner).
 */
struct MatchRegistry::Impl {
    struct OwnerRecord;
    struct Rule;
    using Bucket = std::vector<Rule*>;

    enum Shape : unsigned { member = 1, interface = 2, path = 4, sender = 8, shapes = 16 };

    struct Rule {
        MatchRule rule;
        OwnerRecord* owner = nullptr;
        uint32_t refs = 0;
        unsigned shape = 0;  // 0: the unindexed bucket
        std::string key;
        Bucket* bucket = nullptr;
        size_t slot = 0;
    };

    struct OwnerRecord {
        MatchOwner id = 0;
        uint64_t stamp = 0;  // == generation: already collected for this message
        size_t refs = 0;     // sum of its rules' refs
        TextMap<std::unique_ptr<Rule>> rules;
    };

    struct Index {
        std::array<TextMap<Bucket>, shapes> by_shape;  // [0] unused
        Bucket unindexed;
        size_t rules = 0;  // distinct rules in all buckets
    };

    std::unordered_map<MatchOwner, OwnerRecord> owners;
    Index plain;       // eavesdrop=false
    Index eavesdrop;   // eavesdrop=true
    size_t total = 0;  // sum of all refs
    uint64_t generation = 0;
    uint64_t evaluated = 0;
    std::string scratch_key;

    /* Appends the values of `shape`, each followed by a NUL (which no
     * name or path contains), to `key`; false if one of them is empty. */
    static bool make_key(unsigned shape, std::string_view m, std::string_view i, std::string_view p,
                         std::string_view s, std::string& key) {
        key.clear();
        for (auto [bit, value] : {std::pair{member, m}, {interface, i}, {path, p}, {sender, s}}) {
            if (!(shape & bit)) continue;
            if (value.empty()) return false;
            key.append(value);
            key.push_back('\0');
        }
        return true;
    }

    static unsigned shape_of(const MatchRule& r) {
        unsigned shape = 0;
        if (!r.member.empty()) shape |= member;
        if (!r.interface.empty()) shape |= interface;
        if (!r.path.empty()) shape |= path;
        if (r.sender.starts_with(':') || r.sender == driver_name) shape |= sender;
        return shape;
    }

    void link(Rule& rule) {
        Index& index = rule.rule.eavesdrop ? eavesdrop : plain;
        const MatchRule& r = rule.rule;
        rule.shape = shape_of(r);
        Bucket* bucket = &index.unindexed;
        if (rule.shape != 0) {
            make_key(rule.shape, r.member, r.interface, r.path, r.sender, rule.key);
            auto& map = index.by_shape[rule.shape];
            auto it = map.find(rule.key);
            if (it == map.end())
                it = map.emplace(rule.key, Bucket{}).first;
            bucket = &it->second;  // stable: unordered_map nodes do not move
        }
        ++index.rules;
        rule.bucket = bucket;
        rule.slot = bucket->size();
        bucket->push_back(&rule);
    }

    void unlink(Rule& rule) {
        Bucket& bucket = *rule.bucket;
        Rule* last = bucket.back();
        bucket[rule.slot] = last;
        last->slot = rule.slot;
        bucket.pop_back();
        Index& index = rule.rule.eavesdrop ? eavesdrop : plain;
        --index.rules;
        if (bucket.empty() && rule.shape != 0)
            index.by_shape[rule.shape].erase(rule.key);
        rule.bucket = nullptr;
    }

    /* Evaluates the candidates of one bucket for owners not yet collected. */
    void visit(const Bucket& bucket, const MatchInput& in, MessageArgs& args,
               std::vector<MatchOwner>& out) {
        for (Rule* rule : bucket) {
            OwnerRecord& owner = *rule->owner;
            if (owner.stamp == generation)
                continue;
            ++evaluated;
            if (rule_matches(rule->rule, in, args)) {
                owner.stamp = generation;
                out.push_back(owner.id);
            }
        }
    }

    void collect(const Index& index, const MatchInput& in, MessageArgs& args,
                 std::vector<MatchOwner>& out) {
        const wire::Header& h = in.header;
        for (unsigned shape = 1; shape < shapes; ++shape) {
            const auto& map = index.by_shape[shape];
            if (map.empty()) continue;
            if (!make_key(shape, h.member, h.interface, h.path, in.sender, scratch_key)) continue;
            auto it = map.find(scratch_key);
            if (it != map.end()) visit(it->second, in, args, out);
        }
        visit(index.unindexed, in, args, out);
    }
};

MatchRegistry::MatchRegistry() : impl_(std::make_unique<Impl>()) {}
MatchRegistry::~MatchRegistry() = default;

void MatchRegistry::add(MatchOwner owner, const MatchRule& rule) {
    Impl& d = *impl_;
    Impl::OwnerRecord& rec = d.owners[owner];
    rec.id = owner;
    auto [it, inserted] = rec.rules.try_emplace(rule.to_string());
    if (inserted) {
        it->second = std::make_unique<Impl::Rule>();
        it->second->rule = rule;
        it->second->owner = &rec;
        d.link(*it->second);
    }
    ++it->second->refs;
    ++rec.refs;
    ++d.total;
}

bool MatchRegistry::remove(MatchOwner owner, const MatchRule& rule) {
    Impl& d = *impl_;
    auto rec_it = d.owners.find(owner);
    if (rec_it == d.owners.end())
        return false;
    Impl::OwnerRecord& rec = rec_it->second;
    auto it = rec.rules.find(rule.to_string());
    if (it == rec.rules.end())
        return false;
    --d.total;
    --rec.refs;
    if (--it->second->refs == 0) {
        d.unlink(*it->second);
        rec.rules.erase(it);
        if (rec.rules.empty())
            d.owners.erase(rec_it);
    }
    return true;
}

void MatchRegistry::remove_all(MatchOwner owner) {
    Impl& d = *impl_;
    auto rec_it = d.owners.find(owner);
    if (rec_it == d.owners.end())
        return;
    for (auto& [text, rule] : rec_it->second.rules)
        d.unlink(*rule);
    d.total -= rec_it->second.refs;
    d.owners.erase(rec_it);
}

size_t MatchRegistry::count(MatchOwner owner) const {
    auto it = impl_->owners.find(owner);
    return it == impl_->owners.end() ? 0 : it->second.refs;
}

bool MatchRegistry::owner_matches(MatchOwner owner, const MatchInput& in) const {
    auto it = impl_->owners.find(owner);
    if (it == impl_->owners.end()) return false;
    MessageArgs args(in);
    for (const auto& [text, rule] : it->second.rules)
        if (rule_matches(rule->rule, in, args)) return true;
    return false;
}

std::vector<std::string> MatchRegistry::rules_of(MatchOwner owner) const {
    std::vector<std::string> out;
    auto it = impl_->owners.find(owner);
    if (it == impl_->owners.end())
        return out;
    // Like dbus-daemon, a rule added twice is listed twice.
    for (const auto& [text, rule] : it->second.rules)
        out.insert(out.end(), rule->refs, text);
    std::sort(out.begin(), out.end());
    return out;
}

size_t MatchRegistry::total() const {
    return impl_->total;
}

void MatchRegistry::collect(const MatchInput& in, bool eavesdrop_only,
                            std::vector<MatchOwner>& out) const {
    Impl& d = *impl_;
    // Unicasts ask for eavesdroppers, and usually there are none.
    if (d.eavesdrop.rules == 0 && (eavesdrop_only || d.plain.rules == 0))
        return;
    ++d.generation;  // a fresh stamp: no owner is collected yet
    MessageArgs args(in);
    if (!eavesdrop_only)
        d.collect(d.plain, in, args, out);
    d.collect(d.eavesdrop, in, args, out);
}

uint64_t MatchRegistry::candidates_evaluated() const {
    return impl_->evaluated;
}

}  // namespace kdbus::daemon
