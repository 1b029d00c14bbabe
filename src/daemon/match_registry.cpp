/* Match Registry: every connection's match rules, indexed for broadcast */
#include "daemon/match_registry.hpp"

#include <algorithm>
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
 * bucket of one Index, chosen by its most selective key:
 *
 *   member → interface → path → sender (unique names and the driver only)
 *   → unindexed
 *
 * A sender= on a well-known name cannot be a bucket key, because messages
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

    struct Rule {
        MatchRule rule;
        OwnerRecord* owner = nullptr;
        uint32_t refs = 0;
        TextMap<Bucket>* map = nullptr;  // nullptr: the unindexed bucket
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
        TextMap<Bucket> by_member, by_interface, by_path, by_sender;
        Bucket unindexed;
        size_t rules = 0;  // distinct rules in all buckets
    };

    std::unordered_map<MatchOwner, OwnerRecord> owners;
    Index plain;       // eavesdrop=false
    Index eavesdrop;   // eavesdrop=true
    size_t total = 0;  // sum of all refs
    uint64_t generation = 0;
    uint64_t evaluated = 0;

    /* The bucket key a rule is filed under, and the map holding it. */
    static std::pair<TextMap<Bucket>*, std::string_view> bucket_key(Index& index,
                                                                    const MatchRule& r) {
        if (!r.member.empty())
            return {&index.by_member, r.member};
        if (!r.interface.empty())
            return {&index.by_interface, r.interface};
        if (!r.path.empty())
            return {&index.by_path, r.path};
        if (r.sender.starts_with(':') || r.sender == driver_name)
            return {&index.by_sender, r.sender};
        return {nullptr, {}};
    }

    void link(Rule& rule) {
        Index& index = rule.rule.eavesdrop ? eavesdrop : plain;
        auto [map, key] = bucket_key(index, rule.rule);
        Bucket* bucket = &index.unindexed;
        if (map != nullptr) {
            auto it = map->find(key);
            if (it == map->end())
                it = map->emplace(std::string(key), Bucket{}).first;
            bucket = &it->second;  // stable: unordered_map nodes do not move
        }
        ++index.rules;
        rule.map = map;
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
        if (bucket.empty() && rule.map != nullptr)
            rule.map->erase(rule.map->find(bucket_key(index, rule.rule).second));
        rule.bucket = nullptr;
        rule.map = nullptr;
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

    void visit_keyed(const TextMap<Bucket>& map, std::string_view key, const MatchInput& in,
                     MessageArgs& args, std::vector<MatchOwner>& out) {
        if (key.empty() || map.empty())
            return;
        auto it = map.find(key);
        if (it != map.end())
            visit(it->second, in, args, out);
    }

    void collect(const Index& index, const MatchInput& in, MessageArgs& args,
                 std::vector<MatchOwner>& out) {
        const wire::Header& h = in.header;
        visit_keyed(index.by_member, h.member, in, args, out);
        visit_keyed(index.by_interface, h.interface, in, args, out);
        visit_keyed(index.by_path, h.path, in, args, out);
        visit_keyed(index.by_sender, in.sender, in, args, out);
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
