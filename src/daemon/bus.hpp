/* Bus: connections, names, matches and replies of one message bus, and the
 * router between them */
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/activation.hpp"
#include "daemon/auth_deadlines.hpp"
#include "daemon/bus_message.hpp"
#include "daemon/bus_settings.hpp"
#include "daemon/connection.hpp"
#include "daemon/epoll_watch.hpp"
#include "daemon/fd_admission.hpp"
#include "daemon/match_registry.hpp"
#include "daemon/name_registry.hpp"
#include "daemon/reply_tracker.hpp"

namespace kdbus::daemon {

class Driver;
struct Endpoint;

/* Counters for Debug.Stats.GetStats and the benchmark's sanity checks. */
struct BusStats {
    uint64_t messages_routed = 0;
    uint64_t broadcasts = 0;
    uint64_t deliveries_dropped = 0;
    uint64_t connections_accepted = 0;
    /* Per-receiver accounting (receive_quota.hpp): method calls refused
     * with LimitsExceeded, and messages dropped for their receiver alone
     * (broadcasts, signals, replies; told with MessagesLost). */
    uint64_t quota_refusals = 0;
    uint64_t quota_drops = 0;
    /* LimitsExceeded for a user's connections, names, match rules or
     * pending replies (user_account.hpp). */
    uint64_t user_limit_refusals = 0;
};

class Bus {
public:
    Bus(boost::asio::io_context& io, BusSettings settings);
    ~Bus();
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    /* Takes a listening socket and accepts connections on it; with an
     * endpoint, a custom endpoint's socket whose connections it filters. */
    void add_listener(UniqueFd listen_fd, std::shared_ptr<Endpoint> endpoint = {});
    /* Stops listening on the endpoint's socket and disconnects everyone
     * who came through it (kdbus: closing an endpoint). */
    void remove_endpoint(const Endpoint& endpoint);
    /* How many connections came through `endpoint`. */
    size_t endpoint_connections(const Endpoint& endpoint) const;
    /* Disconnects everyone and stops listening. */
    void shutdown();

    /* From connections. */
    void on_connection_closed(Connection& c);
    void on_message(Connection& from, MessagePtr message);
    void on_authenticated(Connection& c);
    void schedule_flush(Connection& c);
    /* Held by a connection while it dispatches what it read: queues filled
     * meanwhile are written once, when the outermost scope ends, or, in an
     * epoll event's handler, when the last event of its batch has been
     * handled (EpollWatches::BatchEnd). */
    class DispatchScope {
    public:
        explicit DispatchScope(Bus& bus);
        ~DispatchScope();
        DispatchScope(const DispatchScope&) = delete;
        DispatchScope& operator=(const DispatchScope&) = delete;

    private:
        Bus& bus_;
    };
    bool connection_can_authenticate(const PeerCredentials& creds) const;

    Driver& driver() { return *driver_; }
    /* Connections that must complete SASL and Hello by auth_timeout. */
    AuthDeadlines& auth_deadlines() { return auth_deadlines_; }
    /* Called when a connection with a unique name goes away (a domain
     * removes the buses a control connection created). */
    std::function<void(Connection&)> on_disconnect;
    size_t incomplete_connections() const { return unregistered_.size(); }

    /* Used by the driver. */
    const BusSettings& settings() const { return settings_; }
    /* Swaps in a reloaded configuration; every connection's policy is
     * recompiled against it. */
    void set_settings(BusSettings settings);
    /* Policy checks; true when allowed, else AccessDenied went to the sender
     * (when `report`). `from` nullptr: the driver sends. */
    bool may_send(Connection* from, const MessagePtr& m, Connection* to, bool requested_reply, bool report);
    bool may_own(Connection& c, std::string_view name) const;
    /* The same checks, without reporting: the AccessDenied text, or
     * nothing when allowed. */
    std::optional<std::string> send_denial(Connection* from, const MessagePtr& m, Connection* to,
                                           bool requested_reply);
    /* An error from the bus in reply to `call` (not for no-reply calls). */
    void send_error(Connection& to, const wire::Header& call, std::string_view name, std::string_view text);
    /* An error from the bus, without DESTINATION yet (it keeps a view of
     * `name`). Its text may quote bytes from outside (a process name, a
     * file): they are made a valid string (wire::valid_string), or the
     * bus's check of what it builds would drop the error and its caller
     * would wait until its call timed out. */
    static wire::MessageBuilder error_message(std::string_view name, uint32_t reply_serial, std::string_view text);
    /* Queues `m` for `to`, with `to`'s metadata when it asked for some. */
    QuotaRefusal enqueue_to(Connection& to, const MessagePtr& m, QuotaSender charge_to);
    const std::string& guid() const { return guid_; }
    std::vector<uint8_t>& read_buffer() { return read_buffer_; }
    NameRegistry& names() { return names_; }
    MatchRegistry& matches() { return matches_; }
    MatchRegistry& monitor_matches() { return monitor_matches_; }
    ReplyTracker& replies() { return replies_; }
    BusStats& stats() { return stats_; }
    /* What each uid's messages hold in receivers' queues (receive_quota.hpp). */
    UserAccount& user_account(uid_t uid);
    /* The anonymous user a custom endpoint's connections are charged to;
     * it outlives the endpoint, as charges of queued messages may. */
    UserAccount& endpoint_account(const Endpoint& endpoint);
    /* Which fds messages may carry, and receivers' fd policies. */
    FdAdmission& fd_admission() { return fd_admission_; }
    Connection* find(uint64_t id) const;
    /* By unique or well-known name; nullptr if nobody owns it. */
    Connection* resolve(std::string_view name) const;
    const std::unordered_map<uint64_t, ConnectionPtr>& connections() const { return by_id_; }

    /* The LimitsExceeded text if `c` may not get a unique name now. */
    std::optional<std::string> connection_limit_reached(Connection& c);
    /* The LimitsExceeded text if `c`'s user holds all the `r` it may; the
     * refusal is counted, and logged once per episode. */
    std::optional<std::string> user_limit_reached(Connection& c, UserResource r);
    /* Assigns the unique name; called by the driver's Hello. */
    void register_connection(Connection& c);
    /* Turns `c` into a monitor with the given rules (empty: everything). */
    void make_monitor(Connection& c, std::vector<MatchRule> rules);

    /* Sends a message the bus made (driver replies and signals), numbered
     * `serial`: delivered to its destination or by match rules, and to
     * monitors. */
    void send_from_driver(const wire::MessageBuilder& b, uint32_t serial, std::vector<UniqueFd> fds = {});
    /* A message the bus made, numbered `serial`, but not sent; nullptr if
     * malformed (a bug). */
    MessagePtr driver_message(const wire::MessageBuilder& b, uint32_t serial);
    /* Shows `m` to monitors only. */
    void capture(const MessagePtr& m);
    /* Delivers a message that waited for `to` to start, as if just sent by
     * connection `sender_id` (0: by the bus); it was shown to monitors
     * when it arrived. */
    void deliver_held(uint64_t sender_id, const MessagePtr& m, Connection& to);
    Activation& activation() { return activation_; }
    /* The addresses the bus listens on, with its guid (DBUS_STARTER_ADDRESS). */
    const std::string& address() const { return address_; }
    uint32_t next_driver_serial() { return ++driver_serial_; }

    /* Applies name changes: NameOwnerChanged, NameLost, NameAcquired. */
    void announce(std::span<const NameChange> changes);
    void announce(const NameChange& change) { announce(std::span(&change, 1)); }

    bool owns(std::string_view name, std::string_view unique) const;

    /* Once a connection opts in to metadata, every read is stamped with the
     * writer's credentials (SO_PASSCRED) from then on. */
    void enable_credential_stamps();

private:
    void configure_activation();
    /* A listening socket, in the loop's epoll set from add_listener() to
     * close(), level-triggered: accept_ready() takes one connection a
     * report, and epoll reports the listener again while more wait. */
    struct Listener final : EpollWatch::Owner, std::enable_shared_from_this<Listener> {
        Listener(Bus& bus, UniqueFd fd, std::shared_ptr<Endpoint> endpoint)
            : bus(bus), fd(std::move(fd)), endpoint(std::move(endpoint)) {}
        void on_epoll_events(uint32_t) override { bus.accept_ready(*this); }
        void close() {
            watch.reset();
            fd.reset();
        }
        Bus& bus;
        UniqueFd fd;
        std::shared_ptr<Endpoint> endpoint;  // null: the default endpoint
        EpollRegistration watch;
    };
    using ListenerPtr = std::shared_ptr<Listener>;
    void accept_ready(Listener& listener);
    /* A message to `name`, which does not exist for `from`: the error a
     * name nobody owns gets (auto-start is never tried for it). */
    void route_to_hidden(Connection& from, const MessagePtr& m);
    void deliver(Connection& to, const MessagePtr& m);
    /* `capture`: show it to monitors (not for held messages, shown once). */
    void route_unicast(Connection& from, const MessagePtr& m, Connection* dest, bool capture = true);
    /* A message to a name nobody owns: auto-start, or an error. */
    void route_to_unowned(Connection& from, const MessagePtr& m);
    void on_driver_signal(Connection& from, const MessagePtr& m);
    void broadcast(const MessagePtr& m);
    /* Whether a broadcast signal of the driver's (path and interface
     * org.freedesktop.DBus, little-endian `body` of signature sss) would
     * reach anyone: a monitor, or a match rule. */
    bool driver_signal_has_receivers(std::string_view member, std::span<const uint8_t> body);
    void to_eavesdroppers(const MessagePtr& m, Connection* addressed);
    /* An error only monitors see (a broadcast or driver message refused by
     * policy for one recipient). */
    void capture_error(std::string_view destination, const wire::Header& in_reply_to, std::string_view name,
                       std::string_view text);
    /* `addressed`: the connection a unicast goes to (for destination= rules). */
    void to_monitors(const MessagePtr& m, const Connection* addressed = nullptr);
    void flush_all();
    /* The identity the bus policy judges: the uid and the groups, the
     * primary group first (at_console is left to compile_policy). */
    static policy::Peer policy_peer(const Connection& c);
    void compile_policy(Connection& c) { compile_policy(c, policy_peer(c)); }
    void compile_policy(Connection& c, policy::Peer peer);
    void on_reply_timer();
    void arm_reply_timer(uint64_t deadline_ms);

    boost::asio::io_context& io_;
    BusSettings settings_;
    std::string guid_;
    std::unique_ptr<Driver> driver_;
    Activation activation_;
    std::string address_;

    uint64_t next_id_ = 1;
    uint64_t next_serial_number_ = 1;
    uint32_t driver_serial_ = 0;
    uint64_t metadata_seqnum_ = 0;
    bool credential_stamps_ = false;
    /* The daemon's euid, for allows_user: fixed once privileges were
     * dropped, which happens before any bus exists (main.cpp). */
    uid_t bus_uid_;
    AuthDeadlines auth_deadlines_;
    std::unordered_map<uint64_t, ConnectionPtr> by_id_;
    std::unordered_map<Connection*, ConnectionPtr> unregistered_;
    /* One per uid that ever sent; queued messages point into it (a node
     * map: the pointers stay valid). */
    std::unordered_map<uid_t, UserAccount> user_accounts_;
    std::unordered_map<const Endpoint*, UserAccount> endpoint_accounts_;
    std::vector<ListenerPtr> listeners_;
    /* Listeners resting after accept() ran out of file descriptors. */
    std::vector<ListenerPtr> paused_listeners_;
    boost::asio::steady_timer accept_backoff_;

    NameRegistry names_;
    MatchRegistry matches_;
    MatchRegistry monitor_matches_;
    std::vector<uint64_t> monitors_;
    ReplyTracker replies_;
    BusStats stats_;
    FdAdmission fd_admission_;

    std::vector<uint8_t> read_buffer_;
    std::vector<ConnectionPtr> dirty_;
    /* Writes dirty_ at the end of each batch of epoll events. */
    struct BatchFlush final : EpollWatches::BatchEnd {
        explicit BatchFlush(Bus& b) : bus(b) {}
        void on_batch_end() override;
        Bus& bus;
    };
    EpollWatches& watches_;
    BatchFlush batch_flush_{*this};
    bool flush_posted_ = false;
    int dispatch_depth_ = 0;
    std::vector<MatchOwner> scratch_owners_;

    boost::asio::steady_timer reply_timer_;
    uint64_t reply_timer_deadline_ = 0;
    std::function<bool(std::string_view, std::string_view)> owns_fn_;
};

}  // namespace kdbus::daemon
