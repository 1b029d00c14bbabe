/* Connection: one client socket — authentication, framing, and its queue */
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/container/devector.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/auth_deadlines.hpp"
#include "daemon/bus_message.hpp"
#include "daemon/epoll_watch.hpp"
#include "daemon/receive_quota.hpp"
#include "daemon/unique_fd.hpp"
#include "metadata/namespace_view.hpp"
#include "metadata/pidfd.hpp"
#include "policy/endpoint_policy.hpp"
#include "policy/policy.hpp"
#include "wire/header_cache.hpp"
#include "wire/sasl.hpp"

namespace kdbus::daemon {

class Bus;
struct EndpointBinding;

/* Who is on the other end, from SO_PEERCRED/SO_PEERGROUPS at accept(). */
struct PeerCredentials {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    pid_t pid = 0;
    std::vector<gid_t> groups;
    std::string security_label;
};

class Connection final : public std::enable_shared_from_this<Connection>, private EpollWatch::Owner {
public:
    enum class State {
        authenticating,  // SASL
        awaiting_hello,  // BEGIN received, Hello not yet
        active,          // has a unique name
        closed,
    };

    Connection(Bus& bus, boost::asio::io_context& io, UniqueFd fd, PeerCredentials creds,
               uint64_t serial_number);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();

    /*
     * Queues a message for this connection, charged to `charge_to` (see
     * receive_quota.hpp). Returns why it was refused, queueing nothing, if
     * it would exceed the connection's queue limits (max_outgoing_bytes,
     * max_outgoing_unix_fds) or the sender's share of them.
     */
    QuotaRefusal enqueue(const MessagePtr& message, QuotaSender charge_to = QuotaSender::owner(),
                         std::vector<uint8_t> own_header = {});
    /* This connection's user: its uid's account, or its custom endpoint's
     * anonymous user (kdbus). Everything it makes the bus hold is charged
     * there. */
    UserAccount& account();
    /* This connection as a sender. */
    QuotaSender quota_sender() { return QuotaSender::user(account()); }
    /* How many of `r` this connection holds (its share of its account's). */
    size_t holding(UserResource r) const { return held_[static_cast<size_t>(r)]; }
    /* Charges one more `r` to this connection and its account. */
    void hold(UserResource r);
    /* Gives `n` of `r` back; a refusal episode of the account ends. */
    void give_back(UserResource r, size_t n = 1);
    /* Gives back everything it still holds: it is leaving the bus. */
    void give_back_all();
    /* The command name of the peer's process (/proc/PID/comm), "?" if
     * unknown: for logs of refusals. */
    std::string comm() const;
    /* A message for this connection was refused under `refusal`: logs the
     * first refusal of an episode, with the sender's unique name, uid, pid
     * and comm (`sender` nullptr: the bus's own message). */
    void note_refusal(Connection* sender, const QuotaSender& charge, QuotaRefusal refusal);
    /* The LimitsExceeded text for a sender whose call was refused. */
    std::string refusal_text(const Connection& sender, const QuotaSender& charge, QuotaRefusal refusal) const;
    /* A message was dropped for this connection without an error to its
     * sender: told with org.kdbusd.Bus1.MessagesLost once it has room. */
    void count_lost_message() { ++lost_messages_; }
    /* Asks the kernel to stamp every read with the writer's credentials. */
    void enable_credential_stamps();
    /* Writes what is queued; called by the bus once per loop iteration. */
    void flush();
    /* Disconnects (idempotent); the bus forgets the connection. */
    void close(const char* reason);

    /* Hello succeeded: the connection now has a unique name. */
    void activate();

    State state() const { return state_; }
    bool active() const { return state_ == State::active; }
    const PeerCredentials& credentials() const { return creds_; }
    /* What kdbus-style policies match (the euid and every gid), built on
     * first use: credentials never change. */
    const policy::EndpointPeer& policy_peer() const;
    bool unix_fds_negotiated() const { return unix_fds_; }
    /* Makes m.head, the header that `m`, a message this connection sent,
     * is forwarded with (SENDER m.sender): copied from the last one when
     * the header cache recognised m's header fields. */
    void make_forward_header(BusMessage& m);
    /* A pidfd of the process that connected (SO_PEERPIDFD); empty where
     * the kernel has none. */
    UniqueFd peer_pidfd();
    size_t queued_bytes() const { return queued_bytes_; }
    size_t queued_messages() const { return out_.size(); }
    size_t lost_messages() const { return lost_messages_; }

    /* Set by the bus at Hello. */
    uint64_t id = 0;
    std::string unique_name;
    /* Monitors receive copies of traffic and can do nothing else. */
    bool monitor = false;
    /* The configuration's rules that apply to this peer; unset when the
     * bus has no policy (everything allowed). */
    std::optional<policy::ConnectionPolicy> policy;
    /* Set for connections that came through a custom endpoint: its policy
     * applies to them first, for everyone (kdbus: no owner bypass). */
    std::shared_ptr<const EndpointBinding> endpoint;
    /* kdbus attach flags (org.kdbusd.Bus1.UpdateAttachFlags): what this
     * connection lets receivers see of it, and what it wants to receive.
     * The receiver's namespaces are captured when it first opts in. */
    uint64_t attach_send = 0;
    uint64_t attach_recv = 0;
    std::optional<metadata::NamespaceView> namespaces;
    struct HelloIdentity {
        std::array<uint32_t, 8> ids;  // uid euid suid fsuid gid egid sgid fsgid
        pid_t ppid;
    };
    std::optional<HelloIdentity> hello_identity;
    /* A pidfd of the process that wrote this connection's latest stamped
     * message, kept across messages so metadata capture does not open one
     * per message; reopened when the stamped pid changes. */
    metadata::Pidfd writer_pidfd;
    pid_t writer_pid = 0;
    std::string description;
    /* Set while the connection is on the bus's list of queues to write
     * at the end of this loop iteration. */
    bool flush_scheduled = false;
    /* A full queue was reported; cleared when the queue drains. */
    bool drops_logged = false;
    /* A number for logs before the connection has a unique name. */
    const uint64_t serial_number;

private:
    struct OutEntry {
        MessagePtr message;
        /* This receiver's own header (with metadata), else the shared one. */
        std::vector<uint8_t> own_header;
        bool fds_sent = false;
        QuotaSender charged_to;

        std::span<const uint8_t> header() const {
            return own_header.empty() ? message->header_bytes() : std::span<const uint8_t>(own_header);
        }
        size_t size() const { return header().size() + message->body().size(); }
    };

    /* The socket's readiness, as epoll reported it (epoll_watch.hpp). */
    void on_epoll_events(uint32_t events) override;
    /* Not paused by a limit: reading it now would be allowed. */
    bool may_read();
    /* After a pause or a wake-up that left something unread: reads on
     * from a posted handler, since no new epoll edge may come for it. */
    void arm_read();
    void on_readable();
    /* Dispatches the complete messages in buffer[0, total) and keeps the
     * rest in partial_; false when the connection was closed. */
    bool dispatch(std::vector<uint8_t>& buffer, size_t total);
    /* Consumes complete units from `data`; returns the bytes consumed, or
     * nothing when the connection was closed. Stops early, leaving
     * complete messages behind, when the read budget is spent. */
    std::optional<size_t> consume(std::span<const uint8_t> data);
    bool read_budget_spent() const;
    /* Its own queue is full: it is not read until it reads. */
    bool backlogged() const;
    bool take_message(MessageBytes bytes);
    /* Charges a message to this connection's incoming account. */
    void charge(BusMessage& m);
    void arm_write();
    void raise_send_buffer();
    /* Removes the written front of the queue and gives back its charge. */
    void pop_written();
    /* Queues MessagesLost(count) if the bus's share of the queue has room. */
    void report_lost_messages();
    /* Arms or cancels the pending_fd_timeout after a read. */
    void watch_pending_fds();

    Bus& bus_;
    boost::asio::io_context& io_;
    UniqueFd fd_;
    /* In the loop's epoll set from start() to close(), edge-triggered
     * for input and hang-up; for output too while a write is blocked. */
    EpollRegistration watch_;
    /* On the bus's list of connections that must say Hello by auth_timeout. */
    AuthDeadlines::Entry auth_deadline_;
    boost::asio::steady_timer pending_fd_timer_;
    bool pending_fd_timer_armed_ = false;
    PeerCredentials creds_;
    State state_ = State::authenticating;
    std::optional<wire::SaslServer> sasl_;
    bool unix_fds_ = false;

    /* Input: complete messages are cut out of the bus's shared read buffer;
     * only a partial message stays here, so idle connections hold no
     * buffer. A message larger than the shared buffer is read straight
     * into its own allocation of exactly its size, which holds (and
     * touches) only what has arrived: a header that declares 32 MiB and
     * stops costs the daemon what was sent, not 32 MiB. */
    std::vector<uint8_t> partial_;
    size_t partial_start_ = 0;     // partial_'s bytes before it were consumed after a yield
    MessageBytes large_;           // capacity: the message; size: what was read, plus the next chunk
    size_t large_length_ = 0;      // the whole message; 0 when none is being read
    size_t large_filled_ = 0;
    /* The last message read was large: the next read into the shared
     * buffer is a small one, so that if the next message is large too only
     * its first bytes are copied out of that buffer into large_. */
    bool large_expected_ = false;
    /* Once a receiver has drained a full kernel buffer while much is still
     * queued, the buffer is raised, once (on_epoll_events). */
    bool send_buffer_raised_ = false;
    LargeRead large_read_;         // in account().readers while large_ fills
    /* The user's bytes in flight are bounded (UserAccount::reading): the
     * oldest large message of the user reads on, others wait for room. */
    bool may_read_large();
    void start_large_read(size_t bytes);
    void end_large_read();
    // devector, not deque: libstdc++'s deque allocates ~560 bytes even
    // when empty, a third of an idle connection (docs/performance.md).
    boost::container::devector<UniqueFd> in_fds_;
    std::shared_ptr<IncomingCharge> incoming_;
    /* The header fields this connection sent last, validated
     * (wire/header_cache.hpp); made at its first message after Hello. */
    std::unique_ptr<wire::HeaderCache> header_cache_;
    /* Per readable event (fairness): what has been dispatched so far. A
     * connection that used its budget yields to the event loop with
     * complete messages left in partial_ (`yielded_`), and is resumed by
     * a posted handler rather than by the socket's readiness. */
    size_t read_messages_ = 0;
    size_t read_bytes_ = 0;
    bool yielded_ = false;
    pid_t stamp_pid_ = 0;
    uid_t stamp_uid_ = static_cast<uid_t>(-1);
    gid_t stamp_gid_ = static_cast<gid_t>(-1);

    /* Output. */
    boost::container::devector<OutEntry> out_;
    size_t out_offset_ = 0;  // bytes of out_.front() already written
    size_t queued_bytes_ = 0;
    size_t queued_fds_ = 0;
    ReceiveQuota quota_;
    UserAccount* account_ = nullptr;      // set by account()
    std::array<size_t, 4> held_{};        // per UserResource
    mutable std::optional<policy::EndpointPeer> policy_peer_;
    size_t lost_messages_ = 0;        // not yet reported with MessagesLost
    /* Epoll reported input that has not been read to the end yet: set by
     * every edge, cleared by a read that proves the socket drained. With
     * edge triggering nothing else would report it again. */
    bool readable_ = false;
    /* Epoll reported a hang-up: its EOF may sit behind data, so a short
     * read no longer proves the socket drained; read to EAGAIN or EOF. */
    bool hangup_ = false;
    /* SO_PASSCRED is on: a read may stop short at a change of writer. */
    bool credential_stamps_ = false;
    bool write_blocked_ = false;      // EAGAIN; watching for EPOLLOUT
    bool resume_posted_ = false;      // arm_read()'s handler is pending
};

using ConnectionPtr = std::shared_ptr<Connection>;

}  // namespace kdbus::daemon
