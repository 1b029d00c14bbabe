/* Rule Parser: the attributes of one <allow>/<deny> element into a Rule,
 * with dbus-daemon 1.14's validation and error texts
 * (bus/config-parser.c, append_rule_from_element) */
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/rule.hpp"

namespace kdbus::policy {

/* Attributes in document order, as expat reports them. */
using Attributes = std::vector<std::pair<std::string_view, std::string_view>>;

/* A rule dbus-daemon refuses; what() is its error text. */
class RuleError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RuleParseContext {
    std::function<std::optional<uid_t>(std::string_view)> lookup_user;
    std::function<std::optional<gid_t>(std::string_view)> lookup_group;
    /* Receives dbus-daemon's warnings (unknown user or group). */
    std::function<void(std::string)> warn;
};

/* The Rule for `<allow ...>` (allow = true) or `<deny ...>`; nullopt when
 * dbus-daemon drops it with a warning (user= or group= naming nobody).
 * Throws RuleError. */
std::optional<Rule> parse_rule(bool allow, const Attributes& attributes,
                               const RuleParseContext& context);

/* strtol(…, 0) as dbus-daemon's _dbus_string_parse_int uses it: leading
 * blanks and a sign allowed, trailing text ignored, no digits or overflow
 * fail. */
std::optional<long> parse_dbus_int(std::string_view text);

}  // namespace kdbus::policy
