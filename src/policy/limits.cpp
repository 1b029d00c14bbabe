/* Limits: the table of limit names (dbus-daemon bus/config-parser.c set_limit) */
#include "policy/limits.hpp"

#include <array>
#include <utility>

namespace kdbus::policy {

std::optional<LimitInfo> find_limit(std::string_view name)
{
    /* Byte and fd quotas may exceed an int (they are longs in dbus-daemon);
     * timeouts and counts must fit in one. */
    static constexpr std::array<std::pair<std::string_view, LimitInfo>, 27> table{{
        {"max_incoming_bytes", {&Limits::max_incoming_bytes, false, false}},
        {"max_incoming_unix_fds", {&Limits::max_incoming_unix_fds, false, false}},
        {"max_outgoing_bytes", {&Limits::max_outgoing_bytes, false, false}},
        {"max_outgoing_unix_fds", {&Limits::max_outgoing_unix_fds, false, false}},
        {"max_message_size", {&Limits::max_message_size, false, false}},
        {"max_message_unix_fds", {&Limits::max_message_unix_fds, false, false}},
        {"service_start_timeout", {&Limits::service_start_timeout, true, false}},
        {"auth_timeout", {&Limits::auth_timeout, true, false}},
        {"pending_fd_timeout", {&Limits::pending_fd_timeout, true, false}},
        {"reply_timeout", {&Limits::reply_timeout, true, false}},
        {"max_completed_connections", {&Limits::max_completed_connections, true, false}},
        {"max_incomplete_connections", {&Limits::max_incomplete_connections, true, false}},
        {"max_connections_per_user", {&Limits::max_connections_per_user, true, true}},
        {"max_pending_service_starts", {&Limits::max_pending_service_starts, true, false}},
        {"max_names_per_connection", {&Limits::max_names_per_connection, true, false}},
        {"max_match_rules_per_connection", {&Limits::max_match_rules_per_connection, true, false}},
        {"max_replies_per_connection", {&Limits::max_replies_per_connection, true, false}},
        {"max_queued_messages_per_user", {&Limits::max_queued_messages_per_user, true, true}},
        {"max_queued_unix_fds_per_user", {&Limits::max_queued_unix_fds_per_user, true, true}},
        {"max_queued_bytes_per_user", {&Limits::max_queued_bytes_per_user, false, true}},
        {"max_names_per_user", {&Limits::max_names_per_user, true, true}},
        {"max_match_rules_per_user", {&Limits::max_match_rules_per_user, true, true}},
        {"max_replies_per_user", {&Limits::max_replies_per_user, true, true}},
        {"max_containers", {&Limits::max_containers, true, false}},
        {"max_containers_per_user", {&Limits::max_containers_per_user, true, false}},
        {"max_container_metadata_bytes", {&Limits::max_container_metadata_bytes, true, false}},
        {"max_connections_per_container", {&Limits::max_connections_per_container, true, false}},
    }};
    for (const auto& [key, info] : table) {
        if (key == name)
            return info;
    }
    return std::nullopt;
}

}  // namespace kdbus::policy
