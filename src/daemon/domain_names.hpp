/* Domain names: kdbus's rules for bus and endpoint names ("<uid>-<name>") */
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace kdbus::daemon {

/*
 * kdbus (bus.c, endpoint.c; KDBUS.md "Bus create", "Custom endpoints"): a
 * name is "<uid>-<rest>", the uid being the creator's euid in the domain's
 * user namespace; characters [A-Za-z0-9_] with '-' and '.' allowed except
 * first or last; at most 63 characters in all. Returns an empty string when
 * `name` is valid for `uid`, else the reason (the caller answers
 * InvalidArgs with it).
 */
std::string check_domain_object_name(std::string_view name, uid_t uid);

}  // namespace kdbus::daemon
