/* BusSettings: what one bus needs to know from its configuration */
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/kdbus_bus_policy.hpp"
#include "policy/config.hpp"

namespace kdbus::daemon {

/*
 * Limits, with dbus-daemon's built-in defaults (bus/config-parser.c) where
 * the configuration says nothing. Times are milliseconds; a reply_timeout
 * of 0 or less never times out.
 */
struct BusLimits {
    size_t max_incoming_bytes = 127u * 1024 * 1024;
    size_t max_incoming_unix_fds = 64;
    size_t max_outgoing_bytes = 127u * 1024 * 1024;
    size_t max_outgoing_unix_fds = 64;
    size_t max_message_size = 32u * 1024 * 1024;
    size_t max_message_unix_fds = 16;
    int64_t service_start_timeout = 25000;
    int64_t auth_timeout = 30000;
    int64_t pending_fd_timeout = 150000;
    size_t max_completed_connections = 2048;
    size_t max_incomplete_connections = 64;
    size_t max_connections_per_user = 256;
    size_t max_pending_service_starts = 512;
    size_t max_names_per_connection = 512;
    size_t max_match_rules_per_connection = 512;
    size_t max_replies_per_connection = 128;
    int64_t reply_timeout = -1;
    /* kdbus's per-receiver accounting (receive_quota.hpp, KDBUS.md
     * "Quotas"). A receiver's queue is max_outgoing_bytes, half of it its
     * own; one sending user may hold a third of what is free of the other
     * half, at most this many messages and fds (kdbus KDBUS_CONN_MAX_MSGS,
     * KDBUS_CONN_MAX_FDS_PER_USER), and one uid at most
     * max_queued_bytes_per_user in all queues of the bus together (the
     * bound issue 6 sets for one flooding uid). dbus-daemon has no <limit>
     * for these: they are kdbusd's own. */
    size_t max_queued_messages_per_user = 256;
    size_t max_queued_unix_fds_per_user = 16;
    size_t max_queued_bytes_per_user = 128u * 1024 * 1024;
};

struct BusSettings {
    std::string type;  // "session", "system", or a domain bus name
    std::vector<std::string> auth_mechanisms;  // empty: all supported
    bool allow_anonymous = false;
    BusLimits limits;
    /* nullptr: allow everything (as a config with no <policy> would not,
     * but tests and domain buses built without XML use it). */
    std::shared_ptr<const policy::Policy> policy;
    /* A domain bus created with a JSON policy: kdbus's rules instead of
     * the XML policy (which is then unset). */
    std::optional<KdbusBusPolicy> kdbus_policy;
    /* Activation: where .service files are, the system bus's helper (its
     * presence means "start services as their User="), and whether
     * SystemdService= goes to systemd (--systemd-activation). */
    std::vector<policy::ServiceDir> servicedirs;
    std::optional<std::string> servicehelper;
    bool systemd_activation = false;
};

}  // namespace kdbus::daemon
