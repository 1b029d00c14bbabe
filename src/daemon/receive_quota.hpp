/* ReceiveQuota: one receiver's queue, shared fairly between the users who
 * send to it (kdbus's per-receiver accounting, KDBUS.md "Quotas") */
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "daemon/user_account.hpp"

namespace kdbus::daemon {

/* Whom a queued message is charged to. */
struct QuotaSender {
    enum class Kind : uint8_t {
        /* The receiver's own half of its queue (kdbus: "half the pool is
         * always reserved for the pool owner"): the bus's answers to the
         * receiver's own calls, and monitor and eavesdrop copies it asked
         * for. Outside every share; bounded by the whole queue. */
        owner,
        /* The bus's notifications (NameOwnerChanged, NameAcquired …):
         * kdbus's kernel user, with a share of its own. */
        kernel,
        /* A client's message, charged to the client's uid. */
        user,
    };
    Kind kind = Kind::owner;
    UserAccount* account = nullptr;  // set for `user`

    static QuotaSender owner() { return {}; }
    static QuotaSender kernel() { return {Kind::kernel, nullptr}; }
    static QuotaSender user(UserAccount& a) { return {Kind::user, &a}; }
};

/* The receiver's side of admitting a message. A user's side is its
 * account's limits (queued_messages and queued_unix_fds in one queue,
 * queued_bytes on the bus); the bus's notifications are held to `kernel`. */
struct QuotaLimits {
    size_t queue_bytes = 0;  // the receiver's whole queue (max_outgoing_bytes)
    uid_t receiver_uid = 0;
    const UserLimits* kernel = nullptr;  // the bus's default per-user limits
};

/* Why a message was not queued. */
enum class QuotaRefusal : uint8_t {
    none,
    queue_full,     // the receiver's queue (max_outgoing_bytes), or its shared half, is used up
    queue_fds,      // the receiver's queue holds max_outgoing_unix_fds
    user_share,     // the sender's third of what is left
    user_messages,  // messages_per_user
    user_fds,       // fds_per_user
    user_total,     // bytes_per_user, across the bus
};

/* For LimitsExceeded texts and logs: what was exceeded, in a few words. */
const char* describe(QuotaRefusal refusal);

class ReceiveQuota {
public:
    /*
     * kdbus (ipc/kdbus/connection.c, kdbus_conn_quota_inc): of the
     * receiver's queue, half is its own; the other half is shared, and a
     * sender may hold at most a third of what is free of it, counting its
     * own bytes as free: (queue/2 − accounted + own)/3. Early senders are
     * favoured but a third always stays for the next one, and the share
     * shrinks as more users talk to the receiver.
     *
     * Unlike kdbus, a sender with nothing queued in this receiver may
     * always queue one message (if the whole shared half is not used up),
     * however large: a reading receiver then still gets every message up
     * to max_message_size, as dbus-daemon lets one message overshoot a
     * queue limit. The bus-wide per-uid bound likewise admits one message
     * when the uid has nothing queued anywhere.
     *
     * kdbus's message cap guards a receiver against other users: peers
     * of one uid pipeline thousands of calls to each other (dbus-daemon,
     * which has no such cap, tests exactly that in /echo/session), so
     * between connections of one uid only the byte bounds apply.
     */
    QuotaRefusal admit(const QuotaSender& sender, size_t bytes, size_t fds, const QuotaLimits& limits) const;
    void charge(const QuotaSender& sender, size_t bytes, size_t fds);
    /* admit(), and charge() what it admits: the sender's share is looked
     * up once (this runs for every message queued). */
    QuotaRefusal try_charge(const QuotaSender& sender, size_t bytes, size_t fds, const QuotaLimits& limits);
    void release(const QuotaSender& sender, size_t bytes, size_t fds);

    /* A refusal of `sender`: true if it starts an episode (the caller logs
     * it then, and only then). An episode ends when the sender's share of
     * this queue empties, or the queue drains (end_episodes). */
    bool begin_episode(const QuotaSender& sender);
    void end_episodes();

    /* Bytes held in the shared half (kernel and user shares). */
    size_t accounted_bytes() const { return accounted_; }
    /* What one sender holds here (0 if nothing). */
    size_t bytes_of(const QuotaSender& sender) const;
    size_t messages_of(const QuotaSender& sender) const;

private:
    struct Share {
        uint64_t key;
        size_t bytes = 0;
        size_t messages = 0;
        size_t fds = 0;
        bool refusing = false;
    };
    static uint64_t key_of(const QuotaSender& sender);
    Share* find(uint64_t key);
    const Share* find(uint64_t key) const;
    Share& get(uint64_t key);
    QuotaRefusal refusal(const Share* own, const QuotaSender& sender, size_t bytes, size_t fds,
                         const QuotaLimits& limits) const;
    void add(Share& s, const QuotaSender& sender, size_t bytes, size_t fds);

    /* Few users talk to one receiver at a time: a flat vector beats a hash. */
    std::vector<Share> shares_;
    size_t accounted_ = 0;
};

}  // namespace kdbus::daemon
