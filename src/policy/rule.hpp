/* Policy Rule: one <allow>/<deny> of a dbus-daemon configuration, and the
 * wire-independent facts about a message that rules are matched against */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <initializer_list>
#include <vector>

namespace kdbus::policy {

/* Message types with their wire codes (D-Bus specification). `invalid` in a
 * rule means "any type" (send_type="*" or no send_type at all). */
enum class MessageType : uint8_t {
    invalid = 0,
    method_call = 1,
    method_return = 2,
    error = 3,
    signal = 4,
};

/* "method_call" → MessageType::method_call; nullopt for anything else. */
std::optional<MessageType> message_type_from_string(std::string_view s);
std::string_view to_string(MessageType t);

/* What a message looks like to the policy: header fields as views (an empty
 * view means the field is absent; valid messages never have empty ones). */
struct MessageFacts {
    MessageType type = MessageType::invalid;
    std::string_view path;
    std::string_view interface;
    std::string_view member;
    std::string_view error_name;
    std::string_view destination;  // as the sender wrote it
    std::string_view sender;       // unique name, or org.freedesktop.DBus for the driver
    bool has_reply_serial = false; // REPLY_SERIAL present: requested_reply rules apply
    uint32_t n_fds = 0;

    /* dbus-daemon: a broadcast is a signal without a destination. */
    bool is_broadcast() const { return destination.empty() && type == MessageType::signal; }
};

/* Which names a connection owns or waits in the queue for, plus its unique
 * name. send_destination / receive_sender rules name the *owner* of a name,
 * so the policy asks the other party's connection rather than the header
 * (dbus-daemon bus/policy.c: bus_service_owner_in_queue). The broker
 * implements this on its connection object; NameList below is a plain one. */
class NameOwnership {
public:
    virtual ~NameOwnership() = default;
    /* Primary or queued owner of `name` (or `name` is its unique name). */
    virtual bool owns(std::string_view name) const = 0;
    /* Owns or queues for any name equal to `prefix` or below it by whole
     * dot-separated words ("a.b" covers "a.b" and "a.b.c", not "a.bc"). */
    virtual bool owns_below(std::string_view prefix) const = 0;
};

/* A fixed list of names (unique name included): for tests, and for callers
 * that have the names at hand. */
class NameList final : public NameOwnership {
public:
    NameList() = default;
    NameList(std::initializer_list<std::string> names) : names_(names) {}
    explicit NameList(std::vector<std::string> names) : names_(std::move(names)) {}
    bool owns(std::string_view name) const override;
    bool owns_below(std::string_view prefix) const override;

private:
    std::vector<std::string> names_;
};

/* True if `name` is `prefix` or starts with `prefix` + '.' (dbus-daemon's
 * _dbus_string_starts_with_words_c_str with '.'). */
bool name_has_prefix(std::string_view name, std::string_view prefix);

enum class RuleKind : uint8_t {
    send,     // any send_* attribute
    receive,  // any receive_* attribute, or eavesdrop alone
    own,      // own / own_prefix
    user,     // user: who may connect
    group,    // group: who may connect
};

enum class Tristate : uint8_t { any, yes, no };

/* One <allow> or <deny>. An unset optional is a wildcard ("*" or absent). */
struct Rule {
    RuleKind kind = RuleKind::send;
    bool allow = false;

    /* send / receive */
    MessageType type = MessageType::invalid;
    std::optional<std::string> path;
    std::optional<std::string> interface;
    std::optional<std::string> member;
    std::optional<std::string> error_name;
    /* send: send_destination(_prefix); receive: receive_sender;
     * own: own / own_prefix. */
    std::optional<std::string> name;
    bool name_is_prefix = false;
    Tristate broadcast = Tristate::any;  // send_broadcast
    /* dbus-daemon's default: true for <allow> (only requested replies are
     * allowed), false for <deny> (only unrequested replies are denied). */
    bool requested_reply = false;
    bool eavesdrop = false;
    bool log = false;
    uint32_t min_fds = 0;
    uint32_t max_fds = kMaxFds;

    /* user / group: unset means "*" */
    std::optional<uint32_t> id;

    /* Where the rule was written, for AccessDenied texts and logs. */
    std::string file;
    unsigned line = 0;

    /* DBUS_MAXIMUM_MESSAGE_UNIX_FDS: max_fds at this value never excludes. */
    static constexpr uint32_t kMaxFds = (1u << 27) / 4;

    /* `<deny send_destination="org.example" send_type="method_call"/>` —
     * the rule as configuration text, with " (file:line)". */
    std::string describe() const;
};

/* Rule matching, exactly as dbus-daemon's check_send_rule, check_receive_rule
 * and check_own_rule. `peer` is the receiver (send) or the sender (receive);
 * nullptr means the bus driver or a service not yet activated, and then names
 * are compared with the message's destination or sender field as written. */
bool matches_send(const Rule& rule, const MessageFacts& m, const NameOwnership* receiver,
                  bool requested_reply);
bool matches_receive(const Rule& rule, const MessageFacts& m, const NameOwnership* sender,
                     bool requested_reply, bool eavesdropping);
bool matches_own(const Rule& rule, std::string_view name);

}  // namespace kdbus::policy
