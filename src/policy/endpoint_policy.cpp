// Endpoint policy: name and rule syntax, canonical form, and the queries.
// The JSON loader is in endpoint_policy_json.cpp, the xdg-dbus-proxy
// arguments in endpoint_policy_rules.cpp.
#include "policy/endpoint_policy.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace kdbus::policy {

namespace {

constexpr size_t kMaxNameLength = 255;  // D-Bus and kdbus (KDBUS_NAME_MAX_LEN)
constexpr size_t kMaxQuotedLength = 80;

bool is_ascii_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

/* What is wrong with a dotted name, or "" if nothing. Bus names allow '-'
 * in elements, interface names do not; a wildcard's prefix may be a single
 * element (kdbus accepts "a.*"). */
std::string dotted_name_problem(std::string_view name, bool allow_dash, size_t min_elements) {
    if (name.empty()) return "it is empty";
    if (name.size() > kMaxNameLength) return "longer than 255 characters";
    size_t elements = 0;
    size_t start = 0;
    while (true) {
        size_t dot = name.find('.', start);
        std::string_view element = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
        if (element.empty()) return "an element is empty";
        if (is_ascii_digit(element.front())) return "element " + quote_for_error(element) + " starts with a digit";
        for (char c : element) {
            if (!(is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || (allow_dash && c == '-')))
                return "character " + quote_for_error(std::string_view(&c, 1)) + " is not allowed";
        }
        ++elements;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    if (elements < min_elements) return "it needs at least two elements";
    return {};
}

NamePattern parse_pattern(std::string_view text, NamePattern::Kind wildcard_kind) {
    NamePattern pattern;
    std::string_view prefix = text;
    size_t min_elements = 2;
    if (text.ends_with(".*")) {
        pattern.kind = wildcard_kind;
        prefix.remove_suffix(2);
        min_elements = 1;
    }
    if (text.starts_with(':'))
        throw PolicyError("invalid name " + quote_for_error(text) + ": unique names cannot be granted");
    std::string problem = text.size() > kMaxNameLength ? "longer than 255 characters"
                                                       : dotted_name_problem(prefix, true, min_elements);
    if (!problem.empty()) throw PolicyError("invalid name " + quote_for_error(text) + ": " + problem);
    pattern.prefix = prefix;
    return pattern;
}

/* D-Bus object path: "/" or ("/" [A-Za-z0-9_]+)+. */
std::string object_path_problem(std::string_view path) {
    if (path.empty() || path.front() != '/') return "it must start with '/'";
    if (path == "/") return {};
    if (path.back() == '/') return "it must not end with '/'";
    for (size_t i = 1; i < path.size(); ++i) {
        char c = path[i];
        if (c == '/') {
            if (path[i - 1] == '/') return "an element is empty";
        } else if (!(is_ascii_alpha(c) || is_ascii_digit(c) || c == '_')) {
            return "character " + quote_for_error(std::string_view(&c, 1)) + " is not allowed";
        }
    }
    return {};
}

std::string member_problem(std::string_view member) {
    if (member.empty()) return "it is empty";
    if (member.size() > kMaxNameLength) return "longer than 255 characters";
    if (is_ascii_digit(member.front())) return "it starts with a digit";
    for (char c : member)
        if (!(is_ascii_alpha(c) || is_ascii_digit(c) || c == '_'))
            return "character " + quote_for_error(std::string_view(&c, 1)) + " is not allowed";
    return {};
}

/* Calls `visit(key)` with the keys under which a subtree pattern that
 * matches `name` is indexed: the name itself and every prefix ending
 * before a dot ("a.b.c" → "a.b.c", "a", "a.b"). */
template <typename Visit>
void for_each_subtree_root(std::string_view name, Visit visit) {
    visit(name);
    for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1))
        visit(name.substr(0, dot));
}

auto pattern_key(const NamePattern& p) { return std::tie(p.prefix, p.kind); }
auto rule_key(const MessageRule& r) { return std::tie(r.interface, r.member, r.path, r.path_is_subtree); }
auto entry_key(const AccessEntry& e) { return std::tie(e.subject, e.id, e.access); }

template <typename T, typename Less>
void sort_unique(std::vector<T>& items, Less less) {
    std::sort(items.begin(), items.end(), less);
    items.erase(std::unique(items.begin(), items.end()), items.end());
}

}  // namespace

std::string_view to_string(Access access) {
    switch (access) {
    case Access::None: return "none";
    case Access::See: return "see";
    case Access::Talk: return "talk";
    case Access::Own: return "own";
    }
    return "none";
}

std::string quote_for_error(std::string_view text) {
    std::string out = "\"";
    size_t shown = std::min(text.size(), kMaxQuotedLength);
    for (size_t i = 0; i < shown; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    out += '"';
    if (shown < text.size()) out += "...";
    return out;
}

/* names */

NamePattern NamePattern::parse_kdbus(std::string_view text) { return parse_pattern(text, Kind::OneLevel); }
NamePattern NamePattern::parse_xdg(std::string_view text) { return parse_pattern(text, Kind::Subtree); }

bool NamePattern::matches(std::string_view name) const {
    switch (kind) {
    case Kind::Exact: return name == prefix;
    case Kind::OneLevel:
        // kdbus policy.c: the wildcard entry is looked up under the name
        // with its last element stripped.
        return name.size() > prefix.size() + 1 && name.starts_with(prefix) && name[prefix.size()] == '.' &&
               name.find('.', prefix.size() + 1) == std::string_view::npos;
    case Kind::Subtree:
        return name.starts_with(prefix) && (name.size() == prefix.size() || name[prefix.size()] == '.');
    }
    return false;
}

std::string NamePattern::to_string() const { return kind == Kind::Exact ? prefix : prefix + ".*"; }

/* message rules */

MessageRule MessageRule::parse(std::string_view text) {
    MessageRule rule;
    size_t at = text.find('@');
    std::string_view method = text.substr(0, at);
    if (!method.empty() && method != "*") {
        size_t dot = method.rfind('.');
        if (dot == std::string_view::npos)
            throw PolicyError("method " + quote_for_error(method) + " must be *, INTERFACE.* or INTERFACE.MEMBER");
        std::string_view interface = method.substr(0, dot);
        std::string_view member = method.substr(dot + 1);
        if (std::string problem = dotted_name_problem(interface, false, 2); !problem.empty())
            throw PolicyError("invalid interface " + quote_for_error(interface) + ": " + problem);
        if (member != "*") {
            if (std::string problem = member_problem(member); !problem.empty())
                throw PolicyError("invalid member " + quote_for_error(member) + ": " + problem);
            rule.member = member;
        }
        rule.interface = interface;
    }
    if (at != std::string_view::npos) {
        std::string_view path = text.substr(at + 1);
        bool subtree = path.ends_with("/*");
        std::string_view root = subtree ? path.substr(0, path.size() - 2) : path;
        if (subtree && (root.empty() || root == "/")) return rule;  // "@/*": every path
        if (std::string problem = object_path_problem(root); !problem.empty())
            throw PolicyError("invalid path " + quote_for_error(path) + ": " + problem);
        rule.path = root;
        rule.path_is_subtree = subtree;
    }
    return rule;
}

bool MessageRule::matches(std::string_view msg_interface, std::string_view msg_member,
                          std::string_view msg_path) const {
    if (!interface.empty() && msg_interface != interface) return false;
    if (!member.empty() && msg_member != member) return false;
    if (path.empty()) return true;
    if (!path_is_subtree) return msg_path == path;
    // xdg-dbus-proxy: "/a/*" matches "/a" and everything below it.
    return msg_path.starts_with(path) && (msg_path.size() == path.size() || msg_path[path.size()] == '/');
}

std::string MessageRule::to_string() const {
    std::string out;
    if (!interface.empty()) out = interface + "." + (member.empty() ? "*" : member);
    if (!path.empty()) {
        out += "@" + path;
        if (path_is_subtree) out += "/*";
    }
    return out.empty() ? "*" : out;
}

/* access entries */

bool AccessEntry::applies_to(const EndpointPeer& peer) const {
    switch (subject) {
    case Subject::World: return true;
    case Subject::User: return peer.uid == id;
    case Subject::Group: return std::find(peer.gids.begin(), peer.gids.end(), id) != peer.gids.end();
    }
    return false;
}

/* building */

void EndpointPolicy::finish() {
    sort_unique(world_, [](const WorldGrant& a, const WorldGrant& b) {
        return std::tuple(pattern_key(a.name), a.access) < std::tuple(pattern_key(b.name), b.access);
    });
    // One entry per name, as kdbus's policy db has: merge access lists.
    std::stable_sort(names_.begin(), names_.end(), [](const NameEntry& a, const NameEntry& b) {
        return pattern_key(a.name) < pattern_key(b.name);
    });
    std::vector<NameEntry> merged;
    for (NameEntry& entry : names_) {
        if (!merged.empty() && merged.back().name == entry.name) {
            merged.back().access.insert(merged.back().access.end(), entry.access.begin(), entry.access.end());
        } else {
            merged.push_back(std::move(entry));
        }
    }
    names_ = std::move(merged);
    for (NameEntry& entry : names_)
        sort_unique(entry.access, [](const AccessEntry& a, const AccessEntry& b) { return entry_key(a) < entry_key(b); });
    auto rule_less = [](const NameRule& a, const NameRule& b) {
        return std::tuple(pattern_key(a.name), rule_key(a.rule)) < std::tuple(pattern_key(b.name), rule_key(b.rule));
    };
    sort_unique(calls_, rule_less);
    sort_unique(broadcasts_, rule_less);

    index_ = Index{};
    auto grant = [this](const NamePattern& name, Access access) {
        auto& map = name.kind == NamePattern::Kind::Exact ? index_.world_exact : index_.world_subtree;
        Access& slot = map[name.prefix];
        slot = std::max(slot, access);
    };
    for (const WorldGrant& g : world_) grant(g.name, g.access);
    // A --call or --broadcast rule makes its name at least SEE-able.
    for (const NameRule& r : calls_) grant(r.name, Access::See);
    for (const NameRule& r : broadcasts_) grant(r.name, Access::See);
    for (size_t i = 0; i < names_.size(); ++i) {
        const NamePattern& name = names_[i].name;
        (name.kind == NamePattern::Kind::Exact ? index_.names_exact : index_.names_one_level)[name.prefix] = i;
    }
    for (const NameRule& r : calls_)
        (r.name.kind == NamePattern::Kind::Exact ? index_.calls_exact : index_.calls_subtree)[r.name.prefix]
            .push_back(r.rule);
    for (const NameRule& r : broadcasts_)
        (r.name.kind == NamePattern::Kind::Exact ? index_.broadcasts_exact : index_.broadcasts_subtree)[r.name.prefix]
            .push_back(r.rule);
}

std::shared_ptr<const EndpointPolicy> EndpointPolicy::parse(std::string_view json,
                                                            std::span<const std::string> rules) {
    auto policy = std::make_shared<EndpointPolicy>();
    if (json.find_first_not_of(" \t\r\n") != std::string_view::npos) policy->add_json(json);
    policy->add_rules(rules);
    policy->finish();
    return policy;
}

/* queries */

Access EndpointPolicy::kdbus_access(std::string_view name, const EndpointPeer& peer) const {
    // kdbus policy.c: the exact entry, if there is one, decides alone;
    // otherwise the one-level wildcard entry of the name's parent.
    const NameEntry* entry = nullptr;
    if (auto it = index_.names_exact.find(name); it != index_.names_exact.end()) {
        entry = &names_[it->second];
    } else if (size_t dot = name.rfind('.'); dot != std::string_view::npos) {
        if (auto wild = index_.names_one_level.find(name.substr(0, dot)); wild != index_.names_one_level.end())
            entry = &names_[wild->second];
    }
    Access highest = Access::None;
    if (entry) {
        for (const AccessEntry& a : entry->access)
            if (a.applies_to(peer)) highest = std::max(highest, a.access);
    }
    return highest;
}

Access EndpointPolicy::access(std::string_view name, const EndpointPeer& peer) const {
    Access highest = kdbus_access(name, peer);
    if (auto it = index_.world_exact.find(name); it != index_.world_exact.end())
        highest = std::max(highest, it->second);
    if (!index_.world_subtree.empty()) {
        for_each_subtree_root(name, [&](std::string_view root) {
            if (auto it = index_.world_subtree.find(root); it != index_.world_subtree.end())
                highest = std::max(highest, it->second);
        });
    }
    return highest;
}

bool EndpointPolicy::any_rule_matches(const NameMap<std::vector<MessageRule>>& exact,
                                      const NameMap<std::vector<MessageRule>>& subtree, std::string_view name,
                                      std::string_view interface, std::string_view member, std::string_view path) {
    auto any_of = [&](const std::vector<MessageRule>& rules) {
        return std::any_of(rules.begin(), rules.end(),
                           [&](const MessageRule& r) { return r.matches(interface, member, path); });
    };
    if (auto it = exact.find(name); it != exact.end() && any_of(it->second)) return true;
    bool found = false;
    if (!subtree.empty()) {
        for_each_subtree_root(name, [&](std::string_view root) {
            if (found) return;
            if (auto it = subtree.find(root); it != subtree.end()) found = any_of(it->second);
        });
    }
    return found;
}

bool EndpointPolicy::may_call(std::string_view name, const EndpointPeer& peer, std::string_view interface,
                              std::string_view member, std::string_view path) const {
    return access(name, peer) >= Access::Talk ||
           any_rule_matches(index_.calls_exact, index_.calls_subtree, name, interface, member, path);
}

bool EndpointPolicy::may_receive_signal(std::string_view name, const EndpointPeer& peer, std::string_view interface,
                                        std::string_view member, std::string_view path) const {
    return access(name, peer) >= Access::Talk ||
           any_rule_matches(index_.broadcasts_exact, index_.broadcasts_subtree, name, interface, member, path);
}

bool EndpointPolicy::empty() const {
    return world_.empty() && calls_.empty() && broadcasts_.empty() &&
           std::all_of(names_.begin(), names_.end(), [](const NameEntry& e) { return e.access.empty(); });
}

bool EndpointPolicy::operator==(const EndpointPolicy& other) const {
    return world_ == other.world_ && names_ == other.names_ && calls_ == other.calls_ &&
           broadcasts_ == other.broadcasts_;
}

}  // namespace kdbus::policy
