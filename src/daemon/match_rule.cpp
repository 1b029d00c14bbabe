/* Match rules: parsing and evaluation (D-Bus specification, "Match Rules") */
#include "daemon/match_rule.hpp"

#include <algorithm>

#include "wire/syntax.hpp"

namespace kdbus::daemon {

namespace {

/* dbus-daemon's DBUS_MAXIMUM_MATCH_RULE_ARG_NUMBER. */
constexpr unsigned max_arg_index = 63;

/* dbus-daemon's ISWHITE (bus/signals.c). */
bool is_white(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

struct Token {
    std::string_view key;
    std::string value;  // unquoted and unescaped
};

/*
 * Splits the text into key=value tokens exactly as dbus-daemon's
 * find_key()/find_value(): whitespace is skipped around keys but is part of
 * values; values run to the next comma outside quotes; inside '…' every
 * byte (backslash included) is literal; outside quotes \' is a quote and a
 * backslash before anything else stays a backslash.
 *
 * Two deliberate differences from dbus-daemon, which silently truncated the
 * rule in both cases: an empty key ("=x") is an error, and there is no limit
 * of 16 keys (the 1024-byte limit bounds the work).
 */
bool tokenize(std::string_view text, std::vector<Token>& tokens, std::string* error) {
    size_t pos = 0;
    const size_t n = text.size();
    while (pos < n) {
        while (pos < n && is_white(text[pos]))
            ++pos;
        const size_t key_start = pos;
        while (pos < n && text[pos] != '=' && !is_white(text[pos]))
            ++pos;
        std::string_view key = text.substr(key_start, pos - key_start);
        while (pos < n && is_white(text[pos]))
            ++pos;
        if (key.empty()) {
            if (pos == n)
                break;  // an empty rule and trailing whitespace are fine
            *error = "Match rule has an empty key";
            return false;
        }
        if (pos == n || text[pos] != '=') {
            *error = "Match rule has a key with no subsequent '=' character";
            return false;
        }
        ++pos;

        std::string value;
        char quote = '\0';  // '\0' outside quotes, '\'' inside, '\\' after a backslash
        for (; pos < n; ++pos) {
            const char c = text[pos];
            if (quote == '\0') {
                if (c == ',') {
                    ++pos;
                    break;
                }
                if (c == '\'' || c == '\\')
                    quote = c;
                else
                    value += c;
            } else if (quote == '\\') {
                // A backslash only escapes a quote mark.
                if (c != '\'')
                    value += '\\';
                value += c;
                quote = '\0';
            } else if (c == '\'') {
                quote = '\0';
            } else {
                value += c;
            }
        }
        if (quote == '\\') {
            value += '\\';
        } else if (quote == '\'') {
            *error = "Unbalanced quotation marks in match rule";
            return false;
        }
        tokens.push_back({key, std::move(value)});
    }
    return true;
}

/* dbus-daemon _dbus_validate_bus_namespace(): a bus name, or a prefix of
 * one made of whole elements, so a single element ("com") is valid too. */
bool is_valid_bus_namespace(std::string_view v) {
    if (wire::is_valid_bus_name(v))
        return true;
    if (v.empty() || v.find('.') != std::string_view::npos)
        return false;
    std::string probe(v);
    probe += ".x";
    return wire::is_valid_bus_name(probe);
}

std::optional<wire::MessageType> type_from_string(std::string_view s) {
    using wire::MessageType;
    if (s == "signal")
        return MessageType::signal;
    if (s == "method_call")
        return MessageType::method_call;
    if (s == "method_return")
        return MessageType::method_return;
    if (s == "error")
        return MessageType::error;
    return std::nullopt;
}

std::string_view type_to_string(wire::MessageType t) {
    using wire::MessageType;
    switch (t) {
    case MessageType::signal: return "signal";
    case MessageType::method_call: return "method_call";
    case MessageType::method_return: return "method_return";
    case MessageType::error: return "error";
    case MessageType::invalid: break;
    }
    return "invalid";
}

/* argN, argNpath, arg0namespace (dbus-daemon bus_match_rule_parse_arg_match). */
bool parse_arg_key(std::string_view key, std::string value, MatchRule& rule, std::string* error) {
    const std::string k(key);
    if (key.size() < 4) {
        *error = "Key '" + k + "' in match rule starts with 'arg' but lacks an arg number. "
                 "Should be 'arg0' or 'arg7' for example.";
        return false;
    }
    size_t end = 3;
    unsigned long index = 0;
    while (end < key.size() && key[end] >= '0' && key[end] <= '9') {
        index = std::min<unsigned long>(index * 10 + static_cast<unsigned>(key[end] - '0'), 100000);
        ++end;
    }
    if (end == 3) {
        *error = "Key '" + k + "' in match rule starts with 'arg' but could not parse arg "
                 "number. Should be 'arg0' or 'arg7' for example.";
        return false;
    }
    ArgCondition cond;
    const std::string_view rest = key.substr(end);
    if (rest.empty()) {
        cond.kind = ArgCondition::Kind::string;
    } else if (rest == "path") {
        cond.kind = ArgCondition::Kind::path;
    } else if (key == "arg0namespace") {
        cond.kind = ArgCondition::Kind::arg0_namespace;
        if (!is_valid_bus_namespace(value)) {
            *error = "arg0namespace='" + value + "' is not a valid prefix of a bus name";
            return false;
        }
    } else {
        const std::string n = std::to_string(index);
        *error = "Key '" + k + "' in match rule contains junk after argument number (" + n +
                 "). Only 'arg" + n + "path' (for example) or 'arg0namespace' are valid";
        return false;
    }
    if (index > max_arg_index) {
        *error = "Key '" + k + "' in match rule has arg number " + std::to_string(index) +
                 " but the maximum is " + std::to_string(max_arg_index);
        return false;
    }
    cond.index = static_cast<uint8_t>(index);
    auto pos = std::lower_bound(rule.args.begin(), rule.args.end(), cond.index,
                                [](const ArgCondition& a, uint8_t i) { return a.index < i; });
    if (pos != rule.args.end() && pos->index == cond.index) {
        *error = "Argument " + k + " matched more than once in match rule";
        return false;
    }
    cond.value = std::move(value);
    rule.args.insert(pos, std::move(cond));
    return true;
}

/* Sets a name-like key once, after checking its syntax. */
bool set_once(std::string& field, std::string_view key, std::string value, bool valid,
              std::string_view what, std::string* error) {
    if (!field.empty()) {
        *error = "Key " + std::string(key) + " specified twice in match rule";
        return false;
    }
    if (!valid) {
        *error = std::string(what) + " '" + value + "' is invalid";
        return false;
    }
    field = std::move(value);
    return true;
}

/* key='value' with the only escape the syntax has: a quote becomes '\''. */
void append_pair(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty())
        out += ',';
    out += key;
    out += "='";
    for (char c : value) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
}

/* argNpath (specification): equal, or one is a prefix of the other and
 * that shorter one ends in '/'. */
bool path_arg_matches(std::string_view expected, std::string_view actual) {
    if (actual.size() < expected.size())
        return !actual.empty() && actual.back() == '/' && expected.starts_with(actual);
    if (expected.size() < actual.size())
        return !expected.empty() && expected.back() == '/' && actual.starts_with(expected);
    return actual == expected;
}

/* arg0namespace: equal, or a prefix followed by '.'. */
bool namespace_arg_matches(std::string_view expected, std::string_view actual) {
    return actual.starts_with(expected) &&
           (actual.size() == expected.size() || actual[expected.size()] == '.');
}

/* path_namespace: equal, or a prefix followed by '/'; "/" matches all. */
bool path_in_namespace(std::string_view ns, std::string_view path) {
    if (!path.starts_with(ns))
        return false;
    return ns.size() == 1 || path.size() == ns.size() || path[ns.size()] == '/';
}

}  // namespace

std::optional<MatchRule> MatchRule::parse(std::string_view text, std::string* error) {
    std::string scratch;
    if (error == nullptr)
        error = &scratch;
    if (text.size() > MatchRule::max_text_length) {
        *error = "Match rule text is " + std::to_string(text.size()) + " bytes, maximum is " +
                 std::to_string(MatchRule::max_text_length);
        return std::nullopt;
    }
    std::vector<Token> tokens;
    if (!tokenize(text, tokens, error))
        return std::nullopt;

    MatchRule rule;
    for (Token& t : tokens) {
        const std::string_view key = t.key;
        std::string& value = t.value;
        bool ok = true;
        if (key == "type") {
            if (rule.type) {
                *error = "Key type specified twice in match rule";
                return std::nullopt;
            }
            rule.type = type_from_string(value);
            if (!rule.type) {
                *error = "Invalid message type (" + value + ") in match rule";
                return std::nullopt;
            }
        } else if (key == "sender") {
            ok = set_once(rule.sender, key, value, wire::is_valid_bus_name(value),
                          "Sender name", error);
        } else if (key == "interface") {
            ok = set_once(rule.interface, key, value, wire::is_valid_interface_name(value),
                          "Interface name", error);
        } else if (key == "member") {
            ok = set_once(rule.member, key, value, wire::is_valid_member_name(value),
                          "Member name", error);
        } else if (key == "path" || key == "path_namespace") {
            if (!rule.path.empty() || !rule.path_namespace.empty()) {
                *error = "path or path_namespace specified twice in match rule";
                return std::nullopt;
            }
            std::string& field = key == "path" ? rule.path : rule.path_namespace;
            ok = set_once(field, key, value, wire::is_valid_object_path(value), "Path", error);
        } else if (key == "destination") {
            ok = set_once(rule.destination, key, value, wire::is_valid_bus_name(value),
                          "Destination name", error);
        } else if (key == "eavesdrop") {
            // Repeats are allowed, the last one wins: dbus-monitor and bustle
            // append eavesdrop='true' to rules that may carry one already.
            if (value == "true") {
                rule.eavesdrop = true;
            } else if (value == "false") {
                rule.eavesdrop = false;
            } else {
                *error = "eavesdrop='" + value + "' is invalid, it should be 'true' or 'false'";
                return std::nullopt;
            }
        } else if (key.starts_with("arg")) {
            ok = parse_arg_key(key, std::move(value), rule, error);
        } else {
            *error = "Unknown key \"" + std::string(key) + "\" in match rule";
            return std::nullopt;
        }
        if (!ok)
            return std::nullopt;
    }
    return rule;
}

/* The order and quoting of dbus-daemon's match_rule_to_string(), so
 * GetAllMatchRules reads the same on both daemons. */
std::string MatchRule::to_string() const {
    std::string out;
    if (type)
        append_pair(out, "type", type_to_string(*type));
    if (!interface.empty())
        append_pair(out, "interface", interface);
    if (!member.empty())
        append_pair(out, "member", member);
    if (!path.empty())
        append_pair(out, "path", path);
    if (!path_namespace.empty())
        append_pair(out, "path_namespace", path_namespace);
    if (!sender.empty())
        append_pair(out, "sender", sender);
    if (!destination.empty())
        append_pair(out, "destination", destination);
    if (eavesdrop)
        append_pair(out, "eavesdrop", "true");
    for (const ArgCondition& a : args) {
        std::string key = "arg" + std::to_string(a.index);
        if (a.kind == ArgCondition::Kind::path)
            key += "path";
        else if (a.kind == ArgCondition::Kind::arg0_namespace)
            key += "namespace";
        append_pair(out, key, a.value);
    }
    return out;
}

void MessageArgs::parse(unsigned upto) {
    const std::string_view signature = in_.header.signature;
    while (!done_ && parsed_ <= upto) {
        if (signature_pos_ >= signature.size() || parsed_ == max_args) {
            done_ = true;
            break;
        }
        const std::string_view rest = signature.substr(signature_pos_);
        const size_t length = wire::single_type_length(rest);
        Arg arg{rest[0], {}};
        bool ok;
        if (arg.type == 's')
            ok = reader_.read_string(arg.value);
        else if (arg.type == 'o')
            ok = reader_.read_object_path(arg.value);
        else
            ok = reader_.skip_value(rest.substr(0, length));
        if (!ok || length == 0) {
            done_ = true;  // a malformed body has no more arguments
            break;
        }
        args_[parsed_++] = arg;
        signature_pos_ += length;
    }
}

std::optional<std::string_view> MessageArgs::string_arg(unsigned index, bool allow_path) {
    if (index >= max_args)
        return std::nullopt;
    parse(index);
    if (index >= parsed_)
        return std::nullopt;
    const Arg& a = args_[index];
    if (a.type == 's' || (allow_path && a.type == 'o'))
        return a.value;
    return std::nullopt;
}

/*
 * dbus-daemon match_rule_matches(), without its eavesdropping logic (the
 * registry's caller decides which rules may see a unicast message).
 */
bool rule_matches(const MatchRule& rule, const MatchInput& in, MessageArgs& args) {
    const wire::Header& h = in.header;
    if (rule.type && *rule.type != h.type)
        return false;
    // An absent header field is an empty view and never equals a rule's
    // value, which parse() guarantees is non-empty.
    if (!rule.interface.empty() && h.interface != rule.interface)
        return false;
    if (!rule.member.empty() && h.member != rule.member)
        return false;
    if (!rule.sender.empty() && in.sender != rule.sender) {
        // sender= on a well-known name follows its primary owner now.
        if (in.owns == nullptr || !(*in.owns)(rule.sender, in.sender))
            return false;
    }
    if (!rule.destination.empty()) {
        if (h.destination.empty())
            return false;
        if (in.addressed.empty()) {
            if (h.destination != rule.destination)
                return false;
        } else if (rule.destination != in.addressed &&
                   (in.owns == nullptr || !(*in.owns)(rule.destination, in.addressed))) {
            return false;
        }
    }
    if (!rule.path.empty() && h.path != rule.path)
        return false;
    if (!rule.path_namespace.empty() && !path_in_namespace(rule.path_namespace, h.path))
        return false;
    for (const ArgCondition& cond : rule.args) {
        const bool is_path = cond.kind == ArgCondition::Kind::path;
        // dbus-daemon ≥ 1.5 compares strings only (and object paths for argNpath).
        std::optional<std::string_view> actual = args.string_arg(cond.index, is_path);
        if (!actual)
            return false;
        switch (cond.kind) {
        case ArgCondition::Kind::string:
            if (*actual != cond.value)
                return false;
            break;
        case ArgCondition::Kind::path:
            if (!path_arg_matches(cond.value, *actual))
                return false;
            break;
        case ArgCondition::Kind::arg0_namespace:
            if (!namespace_arg_matches(cond.value, *actual))
                return false;
            break;
        }
    }
    return true;
}

}  // namespace kdbus::daemon
