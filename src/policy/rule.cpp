/* Policy Rule matching: dbus-daemon 1.14 bus/policy.c, rule by rule */
#include "policy/rule.hpp"

#include <algorithm>

namespace kdbus::policy {

std::optional<MessageType> message_type_from_string(std::string_view s)
{
    if (s == "method_call")
        return MessageType::method_call;
    if (s == "method_return")
        return MessageType::method_return;
    if (s == "error")
        return MessageType::error;
    if (s == "signal")
        return MessageType::signal;
    return std::nullopt;
}

std::string_view to_string(MessageType t)
{
    switch (t) {
    case MessageType::method_call: return "method_call";
    case MessageType::method_return: return "method_return";
    case MessageType::error: return "error";
    case MessageType::signal: return "signal";
    case MessageType::invalid: break;
    }
    return "invalid";
}

bool name_has_prefix(std::string_view name, std::string_view prefix)
{
    if (!name.starts_with(prefix))
        return false;
    return name.size() == prefix.size() || name[prefix.size()] == '.';
}

bool NameList::owns(std::string_view name) const
{
    return std::find(names_.begin(), names_.end(), name) != names_.end();
}

bool NameList::owns_below(std::string_view prefix) const
{
    return std::any_of(names_.begin(), names_.end(),
                       [&](const std::string& n) { return name_has_prefix(n, prefix); });
}

namespace {

/* A field rule matches when the rule leaves it open, the message lacks the
 * field, or they are equal: dbus-daemon lets a message without a path,
 * member or error name through a rule that names one. */
bool field_matches(const std::optional<std::string>& want, std::string_view have)
{
    return !want || have.empty() || *want == have;
}

/* The interface is the exception: a message without one escapes <allow>
 * rules naming an interface but is caught by such <deny> rules
 * (dbus-daemon: "for deny rules, if the message has no interface we want to
 * use the rule"). */
bool interface_matches(const Rule& rule, std::string_view have)
{
    if (!rule.interface)
        return true;
    if (have.empty())
        return !rule.allow;
    return *rule.interface == have;
}

/* requested_reply only concerns replies (messages with REPLY_SERIAL). */
bool reply_state_matches(const Rule& rule, const MessageFacts& m, bool requested_reply)
{
    if (!m.has_reply_serial)
        return true;
    /* <allow requested_reply="true"> (the default) lets only requested
     * replies through, unless it also allows eavesdropping. */
    if (!requested_reply && rule.allow && rule.requested_reply && !rule.eavesdrop)
        return false;
    /* <deny requested_reply="false"> (the default) only stops unrequested
     * replies. */
    if (requested_reply && !rule.allow && !rule.requested_reply)
        return false;
    return true;
}

/* path, interface, member and error name: the same for send and receive
 * rules (dbus-daemon checks them in this order in both). */
bool header_fields_match(const Rule& rule, const MessageFacts& m)
{
    return field_matches(rule.path, m.path) && interface_matches(rule, m.interface) &&
           field_matches(rule.member, m.member) && field_matches(rule.error_name, m.error_name);
}

bool fd_count_matches(const Rule& rule, const MessageFacts& m)
{
    return m.n_fds >= rule.min_fds && m.n_fds <= rule.max_fds;
}

}  // namespace

bool matches_send(const Rule& rule, const MessageFacts& m, const NameOwnership* receiver,
                  bool requested_reply)
{
    if (rule.kind != RuleKind::send)
        return false;
    if (rule.type != MessageType::invalid && rule.type != m.type)
        return false;
    if (!reply_state_matches(rule, m, requested_reply))
        return false;
    if (!header_fields_match(rule, m))
        return false;
    if (rule.broadcast != Tristate::any && (rule.broadcast == Tristate::yes) != m.is_broadcast())
        return false;
    if (rule.name) {
        if (receiver == nullptr) {
            /* The driver, or activation: judged on the destination as
             * written, assuming the activated service will own only it. */
            if (m.destination.empty())
                return false;
            if (rule.name_is_prefix ? !name_has_prefix(m.destination, *rule.name)
                                    : m.destination != *rule.name)
                return false;
        } else if (rule.name_is_prefix ? !receiver->owns_below(*rule.name)
                                       : !receiver->owns(*rule.name)) {
            return false;
        }
    }
    return fd_count_matches(rule, m);
}

bool matches_receive(const Rule& rule, const MessageFacts& m, const NameOwnership* sender,
                     bool requested_reply, bool eavesdropping)
{
    if (rule.kind != RuleKind::receive)
        return false;
    if (rule.type != MessageType::invalid && rule.type != m.type)
        return false;
    /* <allow eavesdrop="false"> (the default) does not cover eavesdropping;
     * <deny eavesdrop="true"> covers only eavesdropping. */
    if (eavesdropping && rule.allow && !rule.eavesdrop)
        return false;
    if (!eavesdropping && !rule.allow && rule.eavesdrop)
        return false;
    if (!reply_state_matches(rule, m, requested_reply))
        return false;
    if (!header_fields_match(rule, m))
        return false;
    if (rule.name) {
        if (sender == nullptr) {
            if (m.sender != *rule.name)
                return false;
        } else if (!sender->owns(*rule.name)) {
            return false;
        }
    }
    return fd_count_matches(rule, m);
}

bool matches_own(const Rule& rule, std::string_view name)
{
    if (rule.kind != RuleKind::own)
        return false;
    if (!rule.name)
        return true;  // own="*"
    return rule.name_is_prefix ? name_has_prefix(name, *rule.name) : name == *rule.name;
}

namespace {

void append_attr(std::string& out, std::string_view key, std::string_view value)
{
    out += ' ';
    out += key;
    out += "=\"";
    out += value;
    out += '"';
}

}  // namespace

std::string Rule::describe() const
{
    std::string out = allow ? "<allow" : "<deny";
    const bool is_send = kind == RuleKind::send;
    const std::string_view dir = is_send ? "send_" : "receive_";
    auto field = [&](std::string_view key, const std::optional<std::string>& v) {
        if (v)
            append_attr(out, std::string(dir) + std::string(key), *v);
    };
    switch (kind) {
    case RuleKind::send:
    case RuleKind::receive:
        if (name)
            append_attr(out,
                        is_send ? (name_is_prefix ? "send_destination_prefix" : "send_destination")
                                : "receive_sender",
                        *name);
        if (type != MessageType::invalid)
            append_attr(out, std::string(dir) + "type", to_string(type));
        field("path", path);
        field("interface", interface);
        field("member", member);
        field("error", error_name);
        if (broadcast != Tristate::any)
            append_attr(out, "send_broadcast", broadcast == Tristate::yes ? "true" : "false");
        if (requested_reply != allow)
            append_attr(out, std::string(dir) + "requested_reply", requested_reply ? "true" : "false");
        if (eavesdrop)
            append_attr(out, "eavesdrop", "true");
        if (min_fds != 0)
            append_attr(out, "min_fds", std::to_string(min_fds));
        if (max_fds != kMaxFds)
            append_attr(out, "max_fds", std::to_string(max_fds));
        break;
    case RuleKind::own:
        append_attr(out, name_is_prefix ? "own_prefix" : "own", name ? *name : "*");
        break;
    case RuleKind::user:
    case RuleKind::group:
        append_attr(out, kind == RuleKind::user ? "user" : "group", id ? std::to_string(*id) : "*");
        break;
    }
    out += "/>";
    if (!file.empty()) {
        out += " (";
        out += file;
        out += ':';
        out += std::to_string(line);
        out += ')';
    }
    return out;
}

}  // namespace kdbus::policy
