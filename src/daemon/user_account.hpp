/* UserAccount: everything one uid makes a bus hold, charged as it is
 * taken and released as it is given back (issue 6, "fair accounting") */
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include <boost/intrusive/list.hpp>

#include "daemon/bus_settings.hpp"

namespace kdbus::daemon {

class Connection;

/* A connection in the middle of reading a message too large for the bus's
 * read buffer (Connection::large_); unlinks itself when it goes. */
struct LargeRead : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
    Connection* connection = nullptr;
};

/* What an account is charged for besides queued bytes and fds (which the
 * receivers' queues charge, receive_quota.hpp). */
enum class UserResource : uint8_t { connections, names, match_rules, replies };

/* The bus keeps one per uid that ever connected, and one per custom
 * endpoint (kdbus: all of an endpoint's connections are charged to one
 * anonymous user); queued messages and connections point into it, so it
 * lives as long as the bus. */
struct UserAccount {
    uid_t uid = 0;
    /* Set for the anonymous user of a custom endpoint, whose share is
     * apart from every uid's; 0 for a real uid. */
    uint32_t endpoint_serial = 0;
    /* This uid's limits (BusLimits::for_user), refreshed on reload. */
    UserLimits limits;

    /* In receivers' queues, all of them together. */
    size_t bytes = 0;
    size_t fds = 0;
    /* Held on the bus by all of the user's connections. */
    size_t connections = 0;
    size_t names = 0;        // owned or queued for
    size_t match_rules = 0;  // AddMatch references
    size_t replies = 0;      // method calls awaiting a reply
    /* Bytes of messages still arriving on the user's connections, and
     * those connections, oldest first. With `bytes` they are held under
     * limits.queued_bytes: the others wait while the oldest, which always
     * reads on (one message always fits), finishes. */
    size_t reading = 0;
    boost::intrusive::list<LargeRead, boost::intrusive::constant_time_size<false>> readers;

    size_t& held(UserResource r) {
        switch (r) {
            case UserResource::connections: return connections;
            case UserResource::names: return names;
            case UserResource::match_rules: return match_rules;
            case UserResource::replies: return replies;
        }
        return connections;
    }
    size_t limit(UserResource r) const {
        switch (r) {
            case UserResource::connections: return limits.connections;
            case UserResource::names: return limits.names;
            case UserResource::match_rules: return limits.match_rules;
            case UserResource::replies: return limits.replies;
        }
        return 0;
    }
    /* Whether one more would exceed the limit. */
    bool full(UserResource r) { return held(r) >= limit(r); }

    /* Refusals of each resource logged in the current episode (bit per
     * UserResource; cleared when one is given back). */
    uint8_t refusing = 0;
};

/* For LimitsExceeded texts: the limit's name in the configuration, and
 * what is counted. */
const char* limit_name(UserResource r);
const char* held_noun(UserResource r);

}  // namespace kdbus::daemon
