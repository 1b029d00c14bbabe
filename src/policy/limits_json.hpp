/* Limits in a kdbus JSON bus policy: the "limits" object of a CreateBus
 * policy, with the <limit> names of the XML configuration */
#pragma once

#include <string>
#include <string_view>

#include "policy/limits.hpp"

namespace kdbus::policy {

/*
 * A bus created with a JSON policy has no XML to carry <limit>s, so its
 * policy may hold them:
 *
 *   { "talk": [...], "names": {...},
 *     "limits": { "max_match_rules_per_user": 1000,
 *                 "users": { "1000": { "max_names_per_user": 4 } } } }
 *
 * Names and ranges are the XML's (limits.hpp); "users" keys are uids and
 * take only the *_per_user limits. Applies "limits" to `limits` and
 * returns the policy text without it (for EndpointPolicy::from_json); text
 * that is not a JSON object comes back as it was, for the policy parser
 * to report. Throws PolicyError naming the offending key.
 */
std::string take_json_limits(std::string_view text, Limits& limits);

}  // namespace kdbus::policy
