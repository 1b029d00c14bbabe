/* BusSettings: what one bus needs to know from its configuration */
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/kdbus_bus_policy.hpp"
#include "policy/config.hpp"

namespace kdbus::daemon {

/*
 * What one uid may make a bus hold, across all its connections (issue 6,
 * "every resource is charged to the uid that caused it"). dbus-daemon
 * bounds only connections per uid; the rest are kdbusd's own <limit>s,
 * named max_<what>_per_user, and any of them can be set for one uid with
 * <limit name="..." user="NAME|UID"> (policy/limits.hpp). A custom
 * endpoint's anonymous user (kdbus) gets the defaults.
 */
struct UserLimits {
    size_t connections = 256;  // max_connections_per_user (dbus-daemon's)
    /* Unset in the configuration, these are at least the per-connection
     * limit (bus_config.cpp): one connection may always use all of its
     * own, as on dbus-daemon. */
    size_t names = 4096;         // max_names_per_user: owned or queued for
    size_t match_rules = 16384;  // max_match_rules_per_user
    size_t replies = 4096;       // max_replies_per_user: calls awaiting a reply
    /* kdbus's per-receiver accounting (receive_quota.hpp, KDBUS.md
     * "Quotas"). A receiver's queue is max_outgoing_bytes, half of it its
     * own; one sending user may hold a third of what is free of the other
     * half, at most queued_messages messages and queued_unix_fds fds in
     * one receiver's queue (kdbus KDBUS_CONN_MAX_MSGS,
     * KDBUS_CONN_MAX_FDS_PER_USER), and queued_bytes in all queues of the
     * bus together (the bound issue 6 sets for one flooding uid). */
    size_t queued_messages = 256;              // max_queued_messages_per_user
    size_t queued_unix_fds = 16;               // max_queued_unix_fds_per_user
    size_t queued_bytes = 128u * 1024 * 1024;  // max_queued_bytes_per_user
};

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
    size_t max_pending_service_starts = 512;
    size_t max_names_per_connection = 512;
    size_t max_match_rules_per_connection = 512;
    size_t max_replies_per_connection = 128;
    int64_t reply_timeout = -1;
    /* Every uid's, unless per_uid names it. */
    UserLimits per_user;
    std::unordered_map<uid_t, UserLimits> per_uid;

    const UserLimits& for_user(uid_t uid) const {
        auto it = per_uid.find(uid);
        return it == per_uid.end() ? per_user : it->second;
    }
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
