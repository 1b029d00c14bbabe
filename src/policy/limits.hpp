/* Limits: every <limit name=...> dbus-daemon knows, with its built-in
 * defaults (dbus-daemon 1.14 bus/config-parser.c, bus_config_parser_new) */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace kdbus::policy {

struct Limits;

/* <limit name="max_..._per_user" user="NAME|UID">N</limit>: kdbusd's
 * per-uid value of a per-user limit (dbus-daemon has no such attribute). */
struct UserLimit {
    uid_t uid;
    int64_t Limits::*field;
    int64_t value;
};

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
    /* kdbusd's own: what all connections of one uid may hold together.
     * -1 (unset): the daemon's default, but never less than the matching
     * per-connection limit. */
    int64_t max_names_per_user = -1;
    int64_t max_match_rules_per_user = -1;
    int64_t max_replies_per_user = -1;
    /* Per-uid values, in the order the configuration gave them (a later
     * one for the same uid and limit wins). */
    std::vector<UserLimit> per_uid;
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
    bool per_user;     // one uid's limit: may be given for one uid (user=)
};

/* nullopt for a name dbus-daemon does not know ("There is no limit called"). */
std::optional<LimitInfo> find_limit(std::string_view name);

}  // namespace kdbus::policy
