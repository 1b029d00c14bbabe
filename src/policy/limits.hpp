/* Limits: every <limit name=...> dbus-daemon knows, with its built-in
 * defaults (dbus-daemon 1.14 bus/config-parser.c, bus_config_parser_new) */
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kdbus::policy {

struct Limits {
    /* bytes and fds: queued per connection, and per message */
    int64_t max_incoming_bytes = 127 * 1024 * 1024;
    int64_t max_incoming_unix_fds = 64;  // DBUS_DEFAULT_MESSAGE_UNIX_FDS * 4
    int64_t max_outgoing_bytes = 127 * 1024 * 1024;
    int64_t max_outgoing_unix_fds = 64;
    int64_t max_message_size = 32 * 1024 * 1024;
    int64_t max_message_unix_fds = 16;
    /* timeouts, in milliseconds */
    int64_t service_start_timeout = 25000;
    int64_t auth_timeout = 30000;
    int64_t pending_fd_timeout = 150000;
    /* dbus-daemon's default is -1, "never"; a configured value is ≥ 0, and
     * 0 means "never" too (bus/expirelist.c expires only when > 0). */
    int64_t reply_timeout = -1;
    /* counts */
    int64_t max_completed_connections = 2048;
    int64_t max_incomplete_connections = 64;
    int64_t max_connections_per_user = 256;
    int64_t max_pending_service_starts = 512;
    int64_t max_names_per_connection = 512;
    int64_t max_match_rules_per_connection = 512;
    int64_t max_replies_per_connection = 128;
    /* kdbusd's own (kdbus's per-receiver quota, KDBUS.md "Quotas"): what
     * one sending user may queue for one receiver, and hold on the bus. */
    int64_t max_queued_messages_per_user = 256;
    int64_t max_queued_unix_fds_per_user = 16;
    int64_t max_queued_bytes_per_user = 128ll * 1024 * 1024;
    /* org.freedesktop.DBus.Containers1 (accepted, not implemented) */
    int64_t max_containers = 512;
    int64_t max_containers_per_user = 16;
    int64_t max_container_metadata_bytes = 4096;
    int64_t max_connections_per_container = 8;

    /* true when reply_timeout asks for a timeout at all */
    bool has_reply_timeout() const { return reply_timeout > 0; }
};

/* How set_limit treats a limit name. */
struct LimitInfo {
    int64_t Limits::*field;
    bool must_be_int;  // fits in a C int (timeouts and counts)
};

/* nullopt for a name dbus-daemon does not know ("There is no limit called"). */
std::optional<LimitInfo> find_limit(std::string_view name);

}  // namespace kdbus::policy
