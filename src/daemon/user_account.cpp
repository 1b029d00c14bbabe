#include "daemon/user_account.hpp"

namespace kdbus::daemon {

const char* limit_name(UserResource r) {
    switch (r) {
        case UserResource::connections: return "max_connections_per_user";
        case UserResource::names: return "max_names_per_user";
        case UserResource::match_rules: return "max_match_rules_per_user";
        case UserResource::replies: return "max_replies_per_user";
    }
    return "?";
}

const char* held_noun(UserResource r) {
    switch (r) {
        case UserResource::connections: return "connections";
        case UserResource::names: return "names (owned or queued for)";
        case UserResource::match_rules: return "match rules";
        case UserResource::replies: return "calls awaiting a reply";
    }
    return "?";
}

}  // namespace kdbus::daemon
