/* Rule Parser: <allow>/<deny> attributes, as dbus-daemon 1.14 validates them */
#include "policy/rule_parser.hpp"

#include <cerrno>
#include <cstdlib>

namespace kdbus::policy {

std::optional<long> parse_dbus_int(std::string_view text)
{
    const std::string copy(text);
    const char* start = copy.c_str();
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(start, &end, 0);
    if (end == start || errno != 0)
        return std::nullopt;
    return value;
}

namespace {

/* The attributes dbus-daemon knows on <allow>/<deny>; each may appear once
 * (expat already refuses duplicates). */
struct RuleAttributes {
    std::optional<std::string_view> send_interface, send_member, send_error, send_destination,
        send_destination_prefix, send_path, send_type, send_broadcast, send_requested_reply;
    std::optional<std::string_view> receive_interface, receive_member, receive_error,
        receive_sender, receive_path, receive_type, receive_requested_reply;
    std::optional<std::string_view> eavesdrop, max_fds, min_fds;
    std::optional<std::string_view> own, own_prefix, user, group, log;

    std::optional<std::string_view>* slot(std::string_view name)
    {
        struct Entry {
            std::string_view name;
            std::optional<std::string_view> RuleAttributes::*member;
        };
        static constexpr Entry table[] = {
            {"send_interface", &RuleAttributes::send_interface},
            {"send_member", &RuleAttributes::send_member},
            {"send_error", &RuleAttributes::send_error},
            {"send_destination", &RuleAttributes::send_destination},
            {"send_destination_prefix", &RuleAttributes::send_destination_prefix},
            {"send_path", &RuleAttributes::send_path},
            {"send_type", &RuleAttributes::send_type},
            {"send_broadcast", &RuleAttributes::send_broadcast},
            {"send_requested_reply", &RuleAttributes::send_requested_reply},
            {"receive_interface", &RuleAttributes::receive_interface},
            {"receive_member", &RuleAttributes::receive_member},
            {"receive_error", &RuleAttributes::receive_error},
            {"receive_sender", &RuleAttributes::receive_sender},
            {"receive_path", &RuleAttributes::receive_path},
            {"receive_type", &RuleAttributes::receive_type},
            {"receive_requested_reply", &RuleAttributes::receive_requested_reply},
            {"eavesdrop", &RuleAttributes::eavesdrop},
            {"max_fds", &RuleAttributes::max_fds},
            {"min_fds", &RuleAttributes::min_fds},
            {"own", &RuleAttributes::own},
            {"own_prefix", &RuleAttributes::own_prefix},
            {"user", &RuleAttributes::user},
            {"group", &RuleAttributes::group},
            {"log", &RuleAttributes::log},
        };
        for (const Entry& e : table) {
            if (e.name == name)
                return &(this->*e.member);
        }
        return nullptr;
    }
};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

/* "*" is the config file's wildcard; in a Rule, unset is. */
std::optional<std::string> unless_wildcard(const std::optional<std::string_view>& v)
{
    if (!v || *v == "*")
        return std::nullopt;
    return std::string(*v);
}

bool parse_bool(std::string_view attr, std::string_view value)
{
    if (value == "true")
        return true;
    if (value == "false")
        return false;
    throw RuleError("Bad value " + quoted(value) + " for " + std::string(attr) +
                    " attribute, must be true or false");
}

MessageType parse_type(const std::optional<std::string_view>& v)
{
    if (!v || *v == "*")
        return MessageType::invalid;
    if (auto t = message_type_from_string(*v))
        return *t;
    throw RuleError("Bad message type " + quoted(*v));
}

uint32_t parse_fds(std::string_view attr, const std::optional<std::string_view>& v,
                   uint32_t fallback)
{
    if (!v)
        return fallback;
    auto n = parse_dbus_int(*v);
    if (!n || *n < 0 || *n > static_cast<long>(Rule::kMaxFds))
        throw RuleError("Bad value " + quoted(*v) + " for " + std::string(attr) +
                        " attribute, must be an integer in range 0 to " +
                        std::to_string(Rule::kMaxFds) + " inclusive");
    return static_cast<uint32_t>(*n);
}

}  // namespace

std::optional<Rule> parse_rule(bool allow, const Attributes& attributes,
                               const RuleParseContext& context)
{
    const std::string element = allow ? "allow" : "deny";
    RuleAttributes a;
    for (const auto& [name, value] : attributes) {
        auto* slot = a.slot(name);
        if (slot == nullptr)
            throw RuleError("Attribute " + quoted(name) + " is invalid on <" + element +
                            "> element in this context");
        if (*slot)
            throw RuleError("Attribute " + quoted(name) + " repeated twice on the same <" +
                            element + "> element");
        *slot = value;
    }

    const bool any_send = a.send_destination || a.send_destination_prefix || a.send_broadcast ||
                          a.send_path || a.send_type || a.send_interface || a.send_member ||
                          a.send_error || a.send_requested_reply;
    /* <allow eavesdrop="true"/> alone is a receive rule (receive_sender="*"
     * eavesdrop="true"); with send_ attributes it modifies the send rule. */
    const bool any_receive = a.receive_sender || a.receive_path || a.receive_type ||
                             a.receive_interface || a.receive_member || a.receive_error ||
                             a.receive_requested_reply || (!any_send && a.eavesdrop);
    const bool any_message = any_send || any_receive || a.eavesdrop || a.max_fds || a.min_fds;

    if (!(any_send || any_receive || a.own || a.own_prefix || a.user || a.group))
        throw RuleError("Element <" + element + "> must have one or more attributes");

    if ((a.send_member && !a.send_interface && !a.send_path) ||
        (a.receive_member && !a.receive_interface && !a.receive_path))
        throw RuleError("On element <" + element +
                        ">, if you specify a member you must specify an interface or a path. "
                        "Keep in mind that not all messages have an interface field.");

    const std::string combination = "Invalid combination of attributes on element <" + element + ">: ";
    if (int(any_message) + int(bool(a.own)) + int(bool(a.own_prefix)) + int(bool(a.user)) +
            int(bool(a.group)) > 1)
        throw RuleError(combination +
                        "own, own_prefix, user, group and the message-related attributes "
                        "cannot be combined");
    if (any_send && any_receive)
        throw RuleError(combination + "send and receive attributes cannot be combined");
    if ((a.send_member || a.send_interface) && a.send_error)
        throw RuleError(combination +
                        "send_error cannot be combined with send_member or send_interface");
    if (a.send_destination && a.send_destination_prefix)
        throw RuleError(combination +
                        "send_destination cannot be combined with send_destination_prefix");
    if ((a.receive_member || a.receive_interface) && a.receive_error)
        throw RuleError(combination +
                        "receive_error cannot be combined with receive_member or "
                        "receive_interface");

    Rule rule;
    rule.allow = allow;
    /* allow rules match only requested replies, deny rules only
     * unrequested ones, unless *_requested_reply says otherwise. */
    rule.requested_reply = allow;
    rule.log = a.log && *a.log == "true";

    if (any_send || any_receive) {
        const bool send = any_send;
        rule.kind = send ? RuleKind::send : RuleKind::receive;
        rule.type = parse_type(send ? a.send_type : a.receive_type);
        if (a.eavesdrop)
            rule.eavesdrop = parse_bool("eavesdrop", *a.eavesdrop);
        if (send) {
            if (a.send_broadcast) {
                const bool broadcast = parse_bool("send_broadcast", *a.send_broadcast);
                if (broadcast && a.send_destination)
                    throw RuleError("Rule with send_broadcast=\"true\" and send_destination=" +
                                    quoted(*a.send_destination) + " cannot match anything");
                rule.broadcast = broadcast ? Tristate::yes : Tristate::no;
            }
            if (a.send_requested_reply)
                rule.requested_reply = parse_bool("send_requested_reply", *a.send_requested_reply);
        } else if (a.receive_requested_reply) {
            rule.requested_reply = parse_bool("receive_requested_reply", *a.receive_requested_reply);
        }
        rule.max_fds = parse_fds("max_fds", a.max_fds, Rule::kMaxFds);
        rule.min_fds = parse_fds("min_fds", a.min_fds, 0);
        rule.path = unless_wildcard(send ? a.send_path : a.receive_path);
        rule.interface = unless_wildcard(send ? a.send_interface : a.receive_interface);
        rule.member = unless_wildcard(send ? a.send_member : a.receive_member);
        rule.error_name = unless_wildcard(send ? a.send_error : a.receive_error);
        if (send && a.send_destination_prefix) {
            /* No wildcard here: the prefix is always a name. */
            rule.name = std::string(*a.send_destination_prefix);
            rule.name_is_prefix = true;
        } else {
            rule.name = unless_wildcard(send ? a.send_destination : a.receive_sender);
        }
        return rule;
    }

    if (a.own || a.own_prefix) {
        rule.kind = RuleKind::own;
        if (a.own) {
            rule.name = unless_wildcard(a.own);
        } else {
            rule.name = std::string(*a.own_prefix);
            rule.name_is_prefix = true;
        }
        return rule;
    }

    const bool is_user = bool(a.user);
    const std::string_view who = is_user ? *a.user : *a.group;
    rule.kind = is_user ? RuleKind::user : RuleKind::group;
    if (who != "*") {
        auto id = is_user ? context.lookup_user(who) : context.lookup_group(who);
        if (!id) {
            if (context.warn)
                context.warn(std::string(is_user ? "Unknown username " : "Unknown group ") +
                             quoted(who) + " on element <" + element + ">");
            return std::nullopt;
        }
        rule.id = *id;
    }
    return rule;
}

}  // namespace kdbus::policy
