// Endpoint Policy: what the connections of a kdbus custom endpoint may see,
// talk to, own, call and receive
//
//   auto policy = EndpointPolicy::parse(json_text, rules);   // throws PolicyError
//   policy->access("org.example.App", peer) >= Access::See;  // else the name does not exist
//   policy->may_call(dest_name, peer, interface, member, path);
//   policy->may_receive_signal(sender_name, peer, interface, member, path);
//
// A pure model: no I/O, no daemon types. Two vocabularies compile into one
// immutable policy, and the policy grants the union of what they grant:
//
// kdbus (Documentation/kdbus/kdbus.policy.xml, ipc/kdbus/policy.c): a name
//   or a one-level wildcard `a.b.*` (matches `a.b.c`, not `a.b` nor
//   `a.b.c.d`) maps to access entries (USER uid | GROUP gid | WORLD,
//   SEE < TALK < OWN). USER matches the peer's euid, GROUP any of its gids.
//   The highest matching entry wins, and an entry for the exact name hides
//   the wildcard entry completely, even if it grants this peer nothing
//   (policy.c looks up the name first and the wildcard only if that fails).
//
// xdg-dbus-proxy(1): world grants `--see/--talk/--own=NAME`, where
//   `NAME.*` matches NAME itself and every name below it; the highest
//   matching grant wins (no exact-over-wildcard rule). `--call=NAME=RULE`
//   and `--broadcast=NAME=RULE` filter method calls to, and broadcast
//   signals from, NAME; RULE is `[METHOD][@PATH]` with METHOD `*`,
//   `org.iface.*` or `org.iface.Member` and PATH `/exact` or `/subtree/*`
//   (both parts optional: a missing part matches anything). Such a rule
//   makes the name at least SEE-able.
//
// Everything else is denied (kdbus: custom endpoints are default-deny, with
// no owner or same-uid bypass). Unique names (":1.5") match no entry; the
// daemon decides a peer's visibility from the names it owns.
//
// The JSON vocabulary (from_json, to_json); every key is optional, any other
// key is an error, as is a duplicate key:
//
//   {
//     "see":  ["org.example.Viewer", "org.example.Tree.*"],   // xdg world grants
//     "talk": ["org.freedesktop.portal.*"],
//     "own":  ["org.example.App"],
//     "call": { "org.freedesktop.Notifications":                // xdg call rules
//                 ["org.freedesktop.Notifications.Notify@/org/freedesktop/Notifications"] },
//     "broadcast": { "org.freedesktop.portal.*": ["@/org/freedesktop/portal/*"] },
//     "names": {                                                // kdbus entries
//       "org.example.*": [ { "user": 1000, "access": "own" },
//                          { "group": 27,  "access": "talk" },
//                          { "world": true, "access": "see" } ]
//     }
//   }
//
// Name patterns under "see", "talk", "own", "call" and "broadcast" are
// xdg-style (`.*` = the name and its subtree); keys of "names" are
// kdbus-style (`.*` = exactly one more element). An access entry has
// exactly one of "user" (uid), "group" (gid) or "world" (true), and
// "access" ∈ {"see", "talk", "own"}. A "names" entry with an empty list is
// allowed: it grants nothing and hides the wildcard entry for that name.
//
// Names are checked with the D-Bus bus-name rules (elements of
// [A-Za-z0-9_-], none empty or starting with a digit, at least two, at most
// 255 characters); a wildcard's prefix may be a single element (kdbus
// accepts `a.*`). The check is local to policy/ on purpose: policy/ does
// not depend on wire/.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kdbus::policy {

/* kdbus: OWN ⊃ TALK ⊃ SEE; None is "hidden". Ordered, so `>=` asks
 * "at least". */
enum class Access : uint8_t { None = 0, See = 1, Talk = 2, Own = 3 };

std::string_view to_string(Access access);  // "none", "see", "talk", "own"

/* `text` in double quotes, safe inside an error message: bytes outside
 * printable ASCII become \xNN, and anything past 80 bytes is cut to "...". */
std::string quote_for_error(std::string_view text);

/* The credentials an endpoint policy depends on: the connection's euid and
 * all its gids (egid and supplementary), as kdbus's policy.c matches them. */
struct EndpointPeer {
    uid_t uid;
    std::vector<gid_t> gids;
};

/* A policy that cannot be parsed; the message names the offending rule or
 * key and what is wrong with it (it becomes the text of InvalidArgs). */
struct PolicyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/* A well-known name, or a wildcard over names. The two wildcard kinds are
 * kept apart because they match different sets. */
struct NamePattern {
    enum class Kind : uint8_t {
        Exact,     // "a.b"
        OneLevel,  // kdbus "a.b.*": "a.b.c" only
        Subtree,   // xdg-dbus-proxy "a.b.*": "a.b", "a.b.c", "a.b.c.d", …
    };
    Kind kind = Kind::Exact;
    std::string prefix;  // the name, or the part before ".*"

    /* Parse the kdbus or the xdg spelling; throws PolicyError. */
    static NamePattern parse_kdbus(std::string_view text);
    static NamePattern parse_xdg(std::string_view text);

    bool matches(std::string_view name) const;
    std::string to_string() const;  // "a.b" or "a.b.*" (the kind says which)
    bool operator==(const NamePattern&) const = default;
};

/* An xdg-dbus-proxy RULE, `[METHOD][@PATH]`. Empty interface / member /
 * path = any. */
struct MessageRule {
    std::string interface;
    std::string member;  // only with an interface
    std::string path;    // the exact path, or the subtree's root
    bool path_is_subtree = false;

    static MessageRule parse(std::string_view text);  // throws PolicyError

    /* An empty `interface` is a message without an interface field: it
     * matches only rules that do not name one. */
    bool matches(std::string_view interface, std::string_view member, std::string_view path) const;
    std::string to_string() const;  // canonical: "*", "org.a.I.*", "org.a.I.M@/p", "@/p/*"
    bool operator==(const MessageRule&) const = default;
};

/* kdbus access entry: who (USER uid, GROUP gid or WORLD) gets what. */
struct AccessEntry {
    enum class Subject : uint8_t { User, Group, World };
    Subject subject = Subject::World;
    uint32_t id = 0;  // uid or gid; 0 for World
    Access access = Access::See;

    bool applies_to(const EndpointPeer& peer) const;
    bool operator==(const AccessEntry&) const = default;
};

/* One kdbus policy db entry: a name (or one-level wildcard) and its access
 * list. */
struct NameEntry {
    NamePattern name;
    std::vector<AccessEntry> access;
    bool operator==(const NameEntry&) const = default;
};

/* An xdg --see/--talk/--own grant (always to the world). */
struct WorldGrant {
    NamePattern name;
    Access access = Access::See;
    bool operator==(const WorldGrant&) const = default;
};

/* An xdg --call or --broadcast rule. */
struct NameRule {
    NamePattern name;
    MessageRule rule;
    bool operator==(const NameRule&) const = default;
};

/* An endpoint's policy; immutable once built, shared by the endpoint's
 * connections (UpdateEndpointPolicy swaps the pointer). */
class EndpointPolicy {
public:
    /* The empty, default-deny policy. */
    EndpointPolicy() = default;

    /* Parse the JSON vocabulary above. Throws PolicyError. */
    static std::shared_ptr<const EndpointPolicy> from_json(std::string_view text);
    /* xdg-dbus-proxy arguments: "--see=NAME", "--talk=NAME", "--own=NAME",
     * "--call=NAME=RULE", "--broadcast=NAME=RULE". Throws PolicyError. */
    static std::shared_ptr<const EndpointPolicy> from_rules(std::span<const std::string> rules);
    /* Both at once, granting their union. Either may be empty; an empty (or
     * all-whitespace) `json` means "no JSON", unlike from_json, which wants
     * an object. Throws PolicyError. */
    static std::shared_ptr<const EndpointPolicy> parse(std::string_view json, std::span<const std::string> rules);

    /* The access `peer` has to the well-known name `name` (a valid bus
     * name; the daemon checks names before it asks). Nothing is special
     * here about org.freedesktop.DBus: the daemon decides about its driver. */
    Access access(std::string_view name, const EndpointPeer& peer) const;
    /* May `peer` call interface.member at path on `name`? With TALK or
     * more, or when a --call rule for the name matches. An empty interface
     * stands for a call without one. */
    bool may_call(std::string_view name, const EndpointPeer& peer, std::string_view interface,
                  std::string_view member, std::string_view path) const;
    /* May `peer` receive the signal interface.member at path broadcast by
     * the owner of `name`? With TALK or more, or a matching --broadcast
     * rule. */
    bool may_receive_signal(std::string_view name, const EndpointPeer& peer, std::string_view interface,
                            std::string_view member, std::string_view path) const;

    /* True if nothing is granted to anyone. */
    bool empty() const;

    /* The policy as JSON text in the from_json format, canonical (entries
     * sorted, duplicates merged): from_json(to_json()) == *this. */
    std::string to_json() const;
    /* The xdg-dbus-proxy part as arguments, canonical (for kdbusctl's
     * tables); the kdbus "names" entries have no argument spelling and are
     * only in to_json. from_rules(to_rules()) grants the xdg part again. */
    std::vector<std::string> to_rules() const;

    /* The parts, canonical (sorted, without duplicates). */
    const std::vector<WorldGrant>& world_grants() const { return world_; }
    const std::vector<NameEntry>& name_entries() const { return names_; }
    const std::vector<NameRule>& call_rules() const { return calls_; }
    const std::vector<NameRule>& broadcast_rules() const { return broadcasts_; }

    bool operator==(const EndpointPolicy& other) const;

private:
    /* Transparent hashing, so lookups by string_view allocate nothing. */
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    template <typename T>
    using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;

    /* Lookup tables, derived from the canonical parts by finish(). */
    struct Index {
        NameMap<Access> world_exact;    // xdg grants and the SEE implied by call/broadcast rules
        NameMap<Access> world_subtree;  // keyed by the subtree's root
        NameMap<size_t> names_exact;    // into names_
        NameMap<size_t> names_one_level;
        NameMap<std::vector<MessageRule>> calls_exact, calls_subtree;
        NameMap<std::vector<MessageRule>> broadcasts_exact, broadcasts_subtree;
    };

    void add_json(std::string_view text);                 // endpoint_policy_json.cpp
    void add_rule(std::string_view rule);                 // endpoint_policy_rules.cpp
    void add_rules(std::span<const std::string> rules);  // endpoint_policy_rules.cpp
    void finish();  // sorts, merges duplicates, builds the index

    Access kdbus_access(std::string_view name, const EndpointPeer& peer) const;
    static bool any_rule_matches(const NameMap<std::vector<MessageRule>>& exact,
                                 const NameMap<std::vector<MessageRule>>& subtree, std::string_view name,
                                 std::string_view interface, std::string_view member, std::string_view path);

    std::vector<WorldGrant> world_;
    std::vector<NameEntry> names_;
    std::vector<NameRule> calls_;
    std::vector<NameRule> broadcasts_;
    Index index_;
};

}  // namespace kdbus::policy
