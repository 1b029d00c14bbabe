/* Limits: the table of limit names (dbus-daemon bus/config-parser.c set_limit) */
#include "policy/limits.hpp"

#include <array>
#include <utility>

namespace kdbus::policy {

std::optional<LimitInfo> find_limit(std::string_view name)
{
    /* Byte and fd quotas may exceed an int (they are longs in dbus-daemon);
     * timeouts and counts must fit in one. */
    static constexpr std::array<std::pair<std::string_view, LimitInfo>, 24> table{{
        {"max_incoming_bytes", {&Limits::max_incoming_bytes, false}},
        {"max_incoming_unix_fds", {&Limits::max_incoming_unix_fds, false}},
        {"max_outgoing_bytes", {&Limits::max_outgoing_bytes, false}},
        {"max_outgoing_unix_fds", {&Limits::max_outgoing_unix_fds, false}},
        {"max_message_size", {&Limits::max_message_size, false}},
        {"max_message_unix_fds", {&Limits::max_message_unix_fds, false}},
        {"service_start_timeout", {&Limits::service_start_timeout, true}},
        {"auth_timeout", {&Limits::auth_timeout, true}},
        {"pending_fd_timeout", {&Limits::pending_fd_timeout, true}},
        {"reply_timeout", {&Limits::reply_timeout, true}},
        {"max_completed_connections", {&Limits::max_completed_connections, true}},
        {"max_incomplete_connections", {&Limits::max_incomplete_connections, true}},
        {"max_connections_per_user", {&Limits::max_connections_per_user, true}},
        {"max_pending_service_starts", {&Limits::max_pending_service_starts, true}},
        {"max_names_per_connection", {&Limits::max_names_per_connection, true}},
        {"max_match_rules_per_connection", {&Limits::max_match_rules_per_connection, true}},
        {"max_replies_per_connection", {&Limits::max_replies_per_connection, true}},
        {"max_queued_messages_per_user", {&Limits::max_queued_messages_per_user, true}},
        {"max_queued_unix_fds_per_user", {&Limits::max_queued_unix_fds_per_user, true}},
        {"max_queued_bytes_per_user", {&Limits::max_queued_bytes_per_user, false}},
        {"max_containers", {&Limits::max_containers, true}},
        {"max_containers_per_user", {&Limits::max_containers_per_user, true}},
        {"max_container_metadata_bytes", {&Limits::max_container_metadata_bytes, true}},
        {"max_connections_per_container", {&Limits::max_connections_per_container, true}},
    }};
    for (const auto& [key, info] : table) {
        if (key == name)
            return info;
    }
    return std::nullopt;
}

}  // namespace kdbus::policy
