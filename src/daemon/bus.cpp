#include "daemon/bus.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <random>

#include <boost/asio/post.hpp>
#include <systemd/sd-login.h>
#include <spdlog/spdlog.h>

#include "daemon/driver.hpp"
#include "daemon/endpoint.hpp"
#include "daemon/errors.hpp"
#include "daemon/metadata_attach.hpp"
#include "daemon/policy_check.hpp"
#include "wire/address.hpp"
#include "wire/message.hpp"
#include "wire/syntax.hpp"

namespace kdbus::daemon {

namespace {

constexpr size_t read_buffer_size = 256 * 1024;

std::string make_guid() {
    std::random_device rd;
    static const char hex[] = "0123456789abcdef";
    std::string s(32, '0');
    for (auto& ch : s) ch = hex[rd() & 15];
    return s;
}

uint64_t now_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

PeerCredentials peer_credentials(int fd) {
    PeerCredentials c;
    ucred uc{};
    socklen_t len = sizeof(uc);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
        c.uid = uc.uid;
        c.gid = uc.gid;
        c.pid = uc.pid;
    }
    gid_t groups[256];
    len = sizeof(groups);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
        c.groups.assign(groups, groups + len / sizeof(gid_t));
    char label[256];
    len = sizeof(label);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERSEC, label, &len) == 0 && len > 0) {
        c.security_label.assign(label, len);
        while (!c.security_label.empty() && c.security_label.back() == '\0') c.security_label.pop_back();
    }
    return c;
}

/* How clients reach a listening socket, for DBUS_STARTER_ADDRESS. */
std::string socket_address(int fd) {
    sockaddr_un sa{};
    socklen_t len = sizeof(sa);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0 || sa.sun_family != AF_UNIX) return {};
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return {};
    if (sa.sun_path[0] == '\0')
        return "unix:abstract=" + wire::escape_address_value(std::string_view(sa.sun_path + 1, n - 1));
    return "unix:path=" + wire::escape_address_value(std::string_view(sa.sun_path, strnlen(sa.sun_path, n)));
}

}  // namespace

Bus::Bus(boost::asio::io_context& io, BusSettings settings)
    : io_(io),
      settings_(std::move(settings)),
      guid_(make_guid()),
      driver_(std::make_unique<Driver>(*this)),
      activation_(*this, io),
      bus_uid_(::geteuid()),
      auth_deadlines_(io),
      accept_backoff_(io),
      read_buffer_(read_buffer_size),
      watches_(boost::asio::use_service<EpollWatches>(io)),
      reply_timer_(io) {
    watches_.add_batch_end(batch_flush_);
    owns_fn_ = [this](std::string_view name, std::string_view unique) { return owns(name, unique); };
    // Names are charged to their owner's user however they change hands.
    // A connection that is leaving is no longer found here: it gives back
    // everything at once (on_connection_closed).
    names_.on_holding_changed = [this](OwnerId id, int delta) {
        Connection* c = find(id);
        if (!c) return;
        if (delta > 0)
            c->hold(UserResource::names);
        else
            c->give_back(UserResource::names, static_cast<size_t>(-delta));
    };
    configure_activation();
}

Bus::~Bus() { watches_.remove_batch_end(batch_flush_); }

void Bus::add_listener(UniqueFd listen_fd, std::shared_ptr<Endpoint> endpoint) {
    // Services started on demand are told the default endpoint only.
    if (std::string a = socket_address(listen_fd.get()); !a.empty() && !endpoint) {
        if (!address_.empty()) address_ += ';';
        address_ += a + ",guid=" + guid_;
        activation_.set_address(address_);
    }
    // An accept that finds nobody must not block: an inherited socket
    // (socket activation) may come blocking.
    if (int flags = ::fcntl(listen_fd.get(), F_GETFL); flags >= 0 && !(flags & O_NONBLOCK))
        ::fcntl(listen_fd.get(), F_SETFL, flags | O_NONBLOCK);
    auto listener = std::make_shared<Listener>(*this, std::move(listen_fd), std::move(endpoint));
    // Level-triggered, so each report takes one connection and the next
    // epoll_wait reports the rest: no accept per connection that finds the
    // queue empty, and a burst is taken in turn with everyone's input.
    // Connections already waiting (socket activation) are reported at once.
    if (!listener->watch.add(io_, listener->fd.get(), EPOLLIN, *listener, EpollWatches::Trigger::level)) {
        spdlog::error("cannot watch a listening socket: {}", std::strerror(errno));
        return;
    }
    listeners_.push_back(std::move(listener));
}

void Bus::remove_endpoint(const Endpoint& endpoint) {
    auto is_it = [&endpoint](const ListenerPtr& l) { return l->endpoint.get() == &endpoint; };
    for (auto& l : listeners_)
        if (is_it(l)) l->close();
    std::erase_if(listeners_, is_it);
    std::erase_if(paused_listeners_, is_it);
    std::vector<ConnectionPtr> doomed;
    for (auto& [id, c] : by_id_)
        if (c->endpoint && c->endpoint->endpoint.get() == &endpoint) doomed.push_back(c);
    for (auto& [p, c] : unregistered_)
        if (c->endpoint && c->endpoint->endpoint.get() == &endpoint) doomed.push_back(c);
    for (auto& c : doomed) c->close("endpoint removed");
}

size_t Bus::endpoint_connections(const Endpoint& endpoint) const {
    size_t n = 0;
    for (const auto& [id, c] : by_id_)
        if (c->endpoint && c->endpoint->endpoint.get() == &endpoint) ++n;
    return n;
}

void Bus::accept_ready(Listener& listener) {
    if (!listener.fd) return;  // closed meanwhile (its endpoint was removed)
    int fd = ::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        // Nobody after all, or this connection only failed: the listener
        // is reported again while anyone waits.
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
            errno == EPROTO || errno == EPERM)
            return;
        // Out of fds or memory: stop the reports for a little instead of
        // spinning on a listener that stays readable. Nothing here may
        // need a new fd or object that could fail now.
        const int err = errno;
        listener.watch.modify(0);
        paused_listeners_.push_back(listener.shared_from_this());
        if (paused_listeners_.size() == 1) {
            spdlog::warn("accept: {}; pausing for 100 ms", std::strerror(err));
            accept_backoff_.expires_after(std::chrono::milliseconds(100));
            accept_backoff_.async_wait([this](const boost::system::error_code& e) {
                if (e) return;
                auto paused = std::move(paused_listeners_);
                paused_listeners_.clear();
                for (auto& l : paused)
                    if (l->watch) l->watch.modify(EPOLLIN);  // reported at once if anyone waits
            });
        }
        return;
    }
    UniqueFd conn_fd(fd);
    auto creds = peer_credentials(fd);
    if (unregistered_.size() >= settings_.limits.max_incomplete_connections) {
        spdlog::warn("refusing connection from uid {}: too many incomplete connections", creds.uid);
        return;
    }
    ++stats_.connections_accepted;
    auto c = std::make_shared<Connection>(*this, io_, std::move(conn_fd), std::move(creds), next_serial_number_++);
    if (listener.endpoint) {
        // The policy's user and group entries match the euid
        // and every gid the peer had when it connected.
        auto binding = std::make_shared<EndpointBinding>();
        binding->endpoint = listener.endpoint;
        binding->peer = c->policy_peer();
        c->endpoint = std::move(binding);
    }
    unregistered_.emplace(c.get(), c);
    if (credential_stamps_) c->enable_credential_stamps();
    c->start();
}

void Bus::shutdown() {
    for (auto& l : listeners_) l->close();
    listeners_.clear();
    paused_listeners_.clear();
    accept_backoff_.cancel();
    std::vector<ConnectionPtr> all;
    for (auto& [id, c] : by_id_) all.push_back(c);
    for (auto& [p, c] : unregistered_) all.push_back(c);
    for (auto& c : all) c->close("bus shutting down");
    reply_timer_.cancel();
}

bool Bus::connection_can_authenticate(const PeerCredentials&) const { return true; }

void Bus::set_settings(BusSettings settings) {
    settings_ = std::move(settings);
    // New limits apply from now on; what a user holds beyond them stays
    // until it is given back.
    for (auto& [uid, account] : user_accounts_) account.limits = settings_.limits.for_user(uid);
    for (auto& [endpoint, account] : endpoint_accounts_) account.limits = settings_.limits.per_user;
    for (auto& [id, c] : by_id_) compile_policy(*c);
    configure_activation();
}

void Bus::configure_activation() {
    Activation::Settings a;
    a.servicedirs = settings_.servicedirs;
    a.servicehelper = settings_.servicehelper;
    a.systemd = settings_.systemd_activation;
    a.bus_type = settings_.type;
    a.start_timeout_ms = settings_.limits.service_start_timeout;
    a.max_pending = settings_.limits.max_pending_service_starts;
    activation_.configure(std::move(a));
}

policy::Peer Bus::policy_peer(const Connection& c) {
    const auto& creds = c.credentials();
    policy::Peer peer;
    peer.uid = creds.uid;
    peer.gids.reserve(1 + creds.groups.size());
    peer.gids.push_back(creds.gid);
    for (gid_t g : creds.groups)
        if (g != creds.gid) peer.gids.push_back(g);
    return peer;
}

void Bus::compile_policy(Connection& c, policy::Peer peer) {
    if (!settings_.policy) {
        c.policy.reset();
        return;
    }
    const auto& creds = c.credentials();
    // dbus-daemon (_dbus_unix_user_is_at_console with systemd): a uid is at
    // the console when logind gives it a seat. A local file read, and only
    // at Hello and reload, and only where an at_console policy can use it.
    peer.at_console = settings_.policy->has_console_policies() && sd_uid_get_seats(creds.uid, 0, nullptr) > 0;
    c.policy.emplace(settings_.policy, peer);
}

bool Bus::may_own(Connection& c, std::string_view name) const {
    // A custom endpoint's OWN comes first, then the bus policy (kdbus).
    if (c.endpoint && c.endpoint->access(name) < policy::Access::Own) return false;
    if (settings_.kdbus_policy && !settings_.kdbus_policy->may_own(c, name)) return false;
    return !c.policy || c.policy->can_own(name);
}

bool Bus::may_send(Connection* from, const MessagePtr& m, Connection* to, bool requested_reply, bool report) {
    auto denial = send_denial(from, m, to, requested_reply);
    if (!denial) return true;
    if (report && from) send_error(*from, m->header, error::access_denied, *denial);
    return false;
}

std::optional<std::string> Bus::send_denial(Connection* from, const MessagePtr& m, Connection* to,
                                            bool requested_reply) {
    if (settings_.kdbus_policy) {
        // kdbus has no eavesdropping: only the addressed connection gets
        // a unicast (monitors are not asked).
        if (to && !m->header.destination.empty() && !owns(m->header.destination, to->unique_name))
            return "Eavesdropping is not allowed on a bus with a kdbus policy";
        return settings_.kdbus_policy->send_denial(names_, from, m->header, to, requested_reply);
    }
    if (!settings_.policy) return std::nullopt;
    // A policy that allows every message (a session bus's) is not asked.
    bool check_send = from && from->policy && !from->policy->allows_every_send();
    bool check_receive = to && to->policy && !to->policy->allows_every_receive();
    if (!check_send && !check_receive) return std::nullopt;
    policy::MessageFacts facts = message_facts(*m);
    if (check_send) {
        std::optional<ConnectionNames> receiver;
        if (to) receiver.emplace(names_, *to);
        auto d = from->policy->check_send(facts, to ? &*receiver : nullptr, requested_reply);
        if (!d.allowed) return denial_text(true, facts, d, requested_reply, from, to);
    }
    if (check_receive) {
        std::optional<ConnectionNames> sender;
        if (from) sender.emplace(names_, *from);
        bool eavesdropping = !m->header.destination.empty() && !owns(m->header.destination, to->unique_name);
        auto d = to->policy->check_receive(facts, from ? &*sender : nullptr, requested_reply, eavesdropping);
        if (!d.allowed) return denial_text(false, facts, d, requested_reply, from, to);
    }
    return std::nullopt;
}

void Bus::on_authenticated(Connection& c) {
    if (settings_.policy) {
        const auto& creds = c.credentials();
        // One list of the groups serves both: allows_user() asks only
        // whether a group is in it.
        policy::Peer peer = policy_peer(c);
        if (!settings_.policy->allows_user(creds.uid, peer.gids, bus_uid_)) {
            spdlog::warn("uid {} (pid {}) is not allowed to connect by the configuration", creds.uid, creds.pid);
            c.close("not allowed to connect");
            return;
        }
        compile_policy(c, std::move(peer));
    }
}

std::optional<std::string> Bus::connection_limit_reached(Connection& c) {
    // Checked at Hello, as dbus-daemon does (bus_connections_check_limits):
    // the caller gets LimitsExceeded and may try again later.
    if (by_id_.size() >= settings_.limits.max_completed_connections)
        return "The maximum number of active connections has been reached";
    if (auto text = user_limit_reached(c, UserResource::connections))
        // dbus-daemon's words first: clients and its tests look for them.
        return "The maximum number of active connections for UID " + std::to_string(c.credentials().uid) +
               " has been reached: " + *text;
    return std::nullopt;
}

std::optional<std::string> Bus::user_limit_reached(Connection& c, UserResource r) {
    UserAccount& a = c.account();
    if (!a.full(r)) return std::nullopt;
    ++stats_.user_limit_refusals;
    std::string who = c.endpoint ? "the users of custom endpoint " + c.endpoint->endpoint->name
                                 : "UID " + std::to_string(a.uid);
    std::string text = who + " holds " + std::to_string(a.held(r)) + " " + held_noun(r) + " on this bus, its limit (" +
                       limit_name(r) + "=" + std::to_string(a.limit(r)) + ")";
    // Once per episode: until the user gives one back.
    const auto bit = static_cast<uint8_t>(1u << static_cast<unsigned>(r));
    if (!(a.refusing & bit)) {
        a.refusing |= bit;
        spdlog::warn("{} (uid {}, pid {}, comm {}) refused: {}", c.unique_name.empty() ? "(no name yet)" : c.unique_name,
                     c.credentials().uid, c.credentials().pid, c.comm(), text);
    }
    return text;
}

void Bus::register_connection(Connection& c) {
    auto it = unregistered_.find(&c);
    if (it == unregistered_.end()) return;
    c.id = next_id_++;
    c.unique_name = ":1." + std::to_string(c.id);
    c.activate();
    pin_hello_identity(c);
    c.hold(UserResource::connections);
    by_id_.emplace(c.id, it->second);
    unregistered_.erase(it);
}

Connection* Bus::find(uint64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second.get();
}

Connection* Bus::resolve(std::string_view name) const {
    if (name.empty()) return nullptr;
    if (name[0] == ':') {
        // ":1.N"
        if (name.size() < 4 || name.substr(0, 3) != ":1.") return nullptr;
        uint64_t id = 0;
        for (char ch : name.substr(3)) {
            if (ch < '0' || ch > '9') return nullptr;
            id = id * 10 + static_cast<uint64_t>(ch - '0');
        }
        Connection* c = find(id);
        return c && !c->monitor ? c : nullptr;
    }
    OwnerId owner = names_.primary_owner(name);
    return owner ? find(owner) : nullptr;
}

bool Bus::owns(std::string_view name, std::string_view unique) const {
    if (name == unique) return true;
    if (name.empty() || name[0] == ':') return false;
    Connection* c = resolve(name);
    return c && c->unique_name == unique;
}

void Bus::on_connection_closed(Connection& c) {
    ConnectionPtr keep;
    if (auto it = unregistered_.find(&c); it != unregistered_.end()) {
        keep = it->second;
        unregistered_.erase(it);
        return;
    }
    auto it = by_id_.find(c.id);
    if (it == by_id_.end()) return;
    keep = it->second;
    by_id_.erase(it);
    fd_admission_.forget(c.id);
    // Its connection, names, rules and calls: what follows no longer
    // finds it to charge.
    c.give_back_all();

    // Callers waiting on this connection get NoReply at once; calls it
    // made are forgotten (dbus-daemon: "Message recipient disconnected").
    for (const auto& slot : replies_.remove_connection(c.id)) {
        if (slot.callee == c.id) {
            if (Connection* caller = find(slot.caller)) {
                caller->give_back(UserResource::replies);
                wire::Header fake;
                fake.serial = slot.serial;
                send_error(*caller, fake, error::no_reply,
                           "Message recipient disconnected from message bus without replying");
            }
        }
    }
    matches_.remove_all(c.id);
    if (c.monitor) {
        monitor_matches_.remove_all(c.id);
        std::erase(monitors_, c.id);
        return;  // monitors are invisible: no NameOwnerChanged
    }
    std::vector<NameChange> changes;  // allocates only if it owned names
    names_.release_all(c.id, changes);
    announce(changes);
    announce(NameChange{c.unique_name, c.id, 0});
    if (on_disconnect) on_disconnect(c);
}

void Bus::make_monitor(Connection& c, std::vector<MatchRule> rules) {
    // The monitor gives up everything it had, as if it disconnected; like
    // dbus-daemon it is told so with NameLost of its unique name, which
    // busctl waits for before it prints anything.
    std::vector<NameChange> changes;
    names_.release_all(c.id, changes);
    matches_.remove_all(c.id);
    c.give_back(UserResource::match_rules, c.holding(UserResource::match_rules));
    announce(changes);
    {
        wire::MessageBuilder b(wire::MessageType::signal);
        b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameLost");
        b.sender("org.freedesktop.DBus").destination(c.unique_name);
        b.body("s").put_string(c.unique_name);
        send_from_driver(b, next_driver_serial());
    }
    c.monitor = true;
    announce(NameChange{c.unique_name, c.id, 0});
    if (rules.empty()) rules.emplace_back();
    for (auto& r : rules) monitor_matches_.add(c.id, r);
    monitors_.push_back(c.id);
}

void Bus::announce(std::span<const NameChange> changes) {
    using wire::MessageBuilder;
    using wire::MessageType;
    auto name_of = [this](OwnerId id) -> std::string {
        if (id == 0) return {};
        Connection* c = find(id);
        return c ? c->unique_name : ":1." + std::to_string(id);
    };
    for (const auto& ch : changes) {
        bool unique = !ch.name.empty() && ch.name[0] == ':';
        // dbus-daemon's order: NameLost to the old owner, NameOwnerChanged
        // to everyone, NameAcquired to the new owner.
        if (ch.old_owner && !unique) {
            if (Connection* c = find(ch.old_owner); c && !c->monitor) {
                MessageBuilder b(MessageType::signal);
                b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameLost");
                b.sender("org.freedesktop.DBus").destination(c->unique_name);
                b.body("s").put_string(ch.name);
                send_from_driver(b, next_driver_serial());
            }
        }
        {
            // Every connect and disconnect announces a unique name that, on
            // most buses, nobody watches: the message is built only for a
            // receiver, and the body (which match rules may test) only when
            // there is a monitor or a rule. Its serial is taken either way,
            // so the numbering of the bus's messages does not depend on who
            // listens.
            uint32_t serial = next_driver_serial();
            bool anyone = !monitors_.empty() || matches_.total() != 0;
            wire::Writer body;
            if (anyone) {
                body.put_string(ch.name);
                body.put_string(name_of(ch.old_owner));
                body.put_string(name_of(ch.new_owner));
                anyone = driver_signal_has_receivers("NameOwnerChanged", body.bytes());
            }
            if (anyone) {
                MessageBuilder b(MessageType::signal);
                b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameOwnerChanged");
                b.sender("org.freedesktop.DBus");
                b.body("sss") = std::move(body);
                send_from_driver(b, serial);
            } else {
                ++stats_.broadcasts;  // sent to nobody, as broadcast() would count it
            }
        }
        if (ch.new_owner) {
            if (Connection* c = find(ch.new_owner)) {
                MessageBuilder b(MessageType::signal);
                b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameAcquired");
                b.sender("org.freedesktop.DBus").destination(c->unique_name);
                b.body("s").put_string(ch.name);
                send_from_driver(b, next_driver_serial());
            }
            // Messages held for an activated service go out now, before
            // the RequestName reply (dbus-daemon bus_registry_acquire_service).
            if (!unique) activation_.name_acquired(ch.name);
        }
    }
}

void Bus::schedule_flush(Connection& c) {
    if (c.flush_scheduled) return;
    c.flush_scheduled = true;
    dirty_.push_back(c.shared_from_this());
    // Inside a read handler the flush happens when it ends (DispatchScope)
    // or when its batch of epoll events does (BatchFlush). Elsewhere
    // (timers, spawned services) post one: posting from a handler costs
    // Asio an extra epoll_wait, a syscall in every routed message.
    if (dispatch_depth_ > 0 || watches_.in_batch() || flush_posted_) return;
    flush_posted_ = true;
    boost::asio::post(io_, [this] { flush_all(); });
}

Bus::DispatchScope::DispatchScope(Bus& bus) : bus_(bus) { ++bus_.dispatch_depth_; }

Bus::DispatchScope::~DispatchScope() {
    if (--bus_.dispatch_depth_ == 0 && !bus_.dirty_.empty() && !bus_.watches_.in_batch()) bus_.flush_all();
}

void Bus::BatchFlush::on_batch_end() {
    if (!bus.dirty_.empty()) bus.flush_all();
}

void Bus::flush_all() {
    flush_posted_ = false;
    std::vector<ConnectionPtr> batch;
    batch.swap(dirty_);
    for (auto& c : batch) {
        c->flush_scheduled = false;
        c->flush();
    }
    if (batch.capacity() > dirty_.capacity()) {
        batch.clear();
        dirty_.swap(batch);
    }
}

/* Routing */

QuotaRefusal Bus::enqueue_to(Connection& to, const MessagePtr& m, QuotaSender charge_to) {
    if (to.attach_recv == 0) return to.enqueue(m, charge_to);
    Connection* sender = m->head.empty() ? nullptr : resolve(m->sender);
    return to.enqueue(m, charge_to, header_with_metadata(*m, sender, to, names_, metadata_seqnum_));
}

UserAccount& Bus::user_account(uid_t uid) {
    auto [it, fresh] = user_accounts_.try_emplace(uid);
    if (fresh) {
        it->second.uid = uid;
        it->second.limits = settings_.limits.for_user(uid);
    }
    return it->second;
}

UserAccount& Bus::endpoint_account(const Endpoint& endpoint) {
    auto [it, fresh] = endpoint_accounts_.try_emplace(&endpoint);
    if (fresh) {
        it->second.uid = endpoint.owner;
        it->second.endpoint_serial = static_cast<uint32_t>(endpoint_accounts_.size());
        it->second.limits = settings_.limits.per_user;
    }
    return it->second;
}

void Bus::enable_credential_stamps() {
    if (credential_stamps_) return;
    credential_stamps_ = true;
    for (auto& [id, c] : by_id_) c->enable_credential_stamps();
    for (auto& [p, c] : unregistered_) c->enable_credential_stamps();
}

void Bus::deliver(Connection& to, const MessagePtr& m) {
    // The bus's answers to `to`'s own calls are in its own half of the
    // queue; its notifications have a share, as kdbus's kernel user had.
    bool answer = m->header.reply_serial != 0;
    QuotaSender charge_to = answer ? QuotaSender::owner() : QuotaSender::kernel();
    if (auto refusal = enqueue_to(to, m, charge_to); refusal != QuotaRefusal::none) {
        ++stats_.deliveries_dropped;
        if (!answer) {
            ++stats_.quota_drops;
            to.count_lost_message();
            to.note_refusal(nullptr, charge_to, refusal);
        }
        // Once per episode: a receiver that stopped reading must not
        // flood the log with one line per message it misses.
        if (!to.drops_logged) {
            to.drops_logged = true;
            spdlog::warn("{} (uid {}, pid {}): outgoing queue full, dropping messages until it drains",
                         to.unique_name, to.credentials().uid, to.credentials().pid);
        }
    }
}

void Bus::send_error(Connection& to, const wire::Header& call, std::string_view name,
                     std::string_view text) {
    if (call.type == wire::MessageType::method_call && (call.flags & wire::flag::no_reply_expected))
        return;
    wire::MessageBuilder b = error_message(name, call.serial, text);
    b.destination(to.unique_name);
    send_from_driver(b, next_driver_serial());
}

wire::MessageBuilder Bus::error_message(std::string_view name, uint32_t reply_serial, std::string_view text) {
    wire::MessageBuilder b(wire::MessageType::error);
    b.error_name(name).reply_serial(reply_serial).sender("org.freedesktop.DBus");
    b.body("s").put_string(wire::valid_string(text));
    return b;
}

MessagePtr Bus::driver_message(const wire::MessageBuilder& b, uint32_t serial) {
    MessagePtr m(new BusMessage);
    b.finish_into(serial, m->raw);
    m->sender = "org.freedesktop.DBus";
    // The bus built it: its header is located, not validated again. The
    // body is: its strings may come from outside (a path, a config or
    // service file, an errno text), and one that is not UTF-8 would make
    // the receiver's library drop the connection.
    if (!wire::read_built_header(m->raw, m->header)) {
        spdlog::error("driver built a malformed message");
        return nullptr;
    }
    if (!wire::body_matches_signature(m->raw, m->header)) {
        spdlog::error("driver built a message whose body does not match its signature {}", m->header.signature);
        return nullptr;
    }
#ifndef NDEBUG
    // Debug builds (and so the sanitizer runs of the tests) still hold
    // every message the bus builds to the full validation.
    wire::Header validated;
    if (const char* err = wire::parse_message(m->raw, validated)) {
        spdlog::error("driver built an invalid message: {}", err);
        assert(!"driver built an invalid message");
    }
#endif
    return m;
}

void Bus::capture(const MessagePtr& m) { to_monitors(m); }

void Bus::deliver_held(uint64_t sender_id, const MessagePtr& m, Connection& to) {
    if (sender_id == 0) {
        if (may_send(nullptr, m, &to, false, false)) deliver(to, m);
        to_eavesdroppers(m, &to);
        return;
    }
    if (Connection* from = find(sender_id)) route_unicast(*from, m, &to, false);
}

void Bus::send_from_driver(const wire::MessageBuilder& b, uint32_t serial, std::vector<UniqueFd> fds) {
    MessagePtr m = driver_message(b, serial);
    if (!m) return;
    m->fds = std::move(fds);
    if (!m->header.destination.empty()) {
        Connection* c = resolve(m->header.destination);
        to_monitors(m, c);
        if (c) {
            if (auto denial = send_denial(nullptr, m, c, m->header.reply_serial != 0)) {
                // dbus-daemon only shows this refusal to monitors: an error
                // from the bus to itself (dbus#457).
                capture_error("org.freedesktop.DBus", m->header, error::access_denied, *denial);
            } else {
                deliver(*c, m);
            }
        }
        to_eavesdroppers(m, c);
        return;
    }
    to_monitors(m);
    broadcast(m);
}

void Bus::capture_error(std::string_view destination, const wire::Header& in_reply_to, std::string_view name,
                        std::string_view text) {
    // dbus-daemon (bus_transaction_capture_error_reply): a copy of a
    // refusal nobody receives, so that monitors see why a message went
    // nowhere.
    if (monitors_.empty()) return;
    wire::MessageBuilder b = error_message(name, in_reply_to.serial, text);
    b.destination(destination);
    if (MessagePtr e = driver_message(b, next_driver_serial())) to_monitors(e);
}

void Bus::on_message(Connection& from, MessagePtr m) {
    const wire::Header& h = m->header;
    if (from.state() == Connection::State::awaiting_hello) {
        bool is_hello = h.type == wire::MessageType::method_call && h.destination == "org.freedesktop.DBus" &&
                        h.member == "Hello" &&
                        (h.interface.empty() || h.interface == "org.freedesktop.DBus");
        if (!is_hello) {
            from.close("first message was not Hello");
            return;
        }
    } else if (from.monitor) {
        from.close("monitors cannot send messages");
        return;
    }
    ++stats_.messages_routed;

    // Before Hello there is no unique name yet; the driver never forwards Hello.
    m->sender = from.unique_name;
    // kdbus: no bus sockets as fds, memfd and fd limits (fd_admission.hpp).
    if (!m->fds.empty() && from.active()) {
        if (auto refusal = fd_admission_.admit(*m, from.credentials().uid, settings_.limits)) {
            send_error(from, h, refusal->error_name, refusal->text);
            return;
        }
    }

    if (h.destination == "org.freedesktop.DBus") {
        // The driver answers with messages of its own: a message to it is
        // forwarded to monitors only, so its forward header is made only
        // when there are monitors (every Hello, AddMatch, GetNameOwner...).
        if (!monitors_.empty()) from.make_forward_header(*m);
        if (h.type == wire::MessageType::signal) {
            // What the signal causes (ActivationFailure's errors) reaches
            // monitors before the signal itself, as in dbus-daemon, whose
            // activation code sends those in a transaction of its own.
            on_driver_signal(from, m);
            to_monitors(m);
            return;
        }
        to_monitors(m);
        if (h.type != wire::MessageType::method_call) return;
        // Hello is always allowed (dbus-daemon).
        if (from.active() && !may_send(&from, m, nullptr, false, true)) return;
        driver_->handle(from, m);
        return;
    }
    from.make_forward_header(*m);
    if (h.destination.empty()) {
        to_monitors(m);
        if (h.type == wire::MessageType::signal)
            broadcast(m);
        else
            to_eavesdroppers(m, nullptr);
        return;
    }

    Connection* dest = resolve(h.destination);
    // A reply on a live slot goes back to whoever called, seen or not
    // (kdbus: replies skip TALK and need only the slot).
    bool answers_call = (h.type == wire::MessageType::method_return || h.type == wire::MessageType::error) &&
                        dest && replies_.contains(dest->id, h.reply_serial, from.id);
    if (from.endpoint && !answers_call && !endpoint_filter::sees(*this, from, h.destination)) {
        route_to_hidden(from, m);
        return;
    }
    if (!dest) {
        if (from.endpoint && !endpoint_filter::may_talk_to_name(from, h.destination, h)) {
            to_monitors(m);
            send_error(from, h, error::access_denied,
                       "The endpoint " + from.endpoint->endpoint->name + " does not allow " + from.unique_name +
                           " to send messages to \"" + std::string(h.destination) + "\"");
            return;
        }
        route_to_unowned(from, m);
        return;
    }
    route_unicast(from, m, dest);
}

void Bus::route_to_hidden(Connection& from, const MessagePtr& m) {
    const wire::Header& h = m->header;
    to_monitors(m);
    if (h.flags & wire::flag::no_auto_start)
        send_error(from, h, error::name_has_no_owner, "Name \"" + std::string(h.destination) + "\" does not exist");
    else
        send_error(from, h, error::service_unknown,
                   Activation::not_provided_text(h.destination));
}

void Bus::route_to_unowned(Connection& from, const MessagePtr& m) {
    const wire::Header& h = m->header;
    if (h.flags & wire::flag::no_auto_start) {
        to_monitors(m);
        send_error(from, h, error::name_has_no_owner, "Name \"" + std::string(h.destination) + "\" does not exist");
        return;
    }
    // Monitors see an ActivationRequest before the message that caused it.
    auto failure = activation_.auto_start(from, m);
    to_monitors(m);
    if (failure) send_error(from, h, failure->name, failure->text);
}

void Bus::on_driver_signal(Connection& from, const MessagePtr& m) {
    const wire::Header& h = m->header;
    // systemd reports a failed start to the bus; only the real systemd
    // (the owner of its name, and privileged) is believed (bus/driver.c).
    if (h.interface != "org.freedesktop.systemd1.Activator" || h.member != "ActivationFailure") return;
    if (!settings_.systemd_activation || h.signature != "sss") return;
    uid_t uid = from.credentials().uid;
    Connection* systemd = resolve("org.freedesktop.systemd1");
    if (systemd != &from || (uid != 0 && uid != ::geteuid())) {
        spdlog::warn("{}: ignoring ActivationFailure from a connection that is not systemd", from.unique_name);
        return;
    }
    wire::Reader r(m->body(), h.endian);
    std::string_view unit, name, text;
    if (!r.read_string(unit) || !r.read_string(name) || !r.read_string(text)) return;
    activation_.systemd_failed(unit, name, text);
}

void Bus::route_unicast(Connection& from, const MessagePtr& m, Connection* dest, bool capture) {
    const wire::Header& h = m->header;
    using wire::MessageType;
    // dbus-daemon shows a message to monitors as it arrives, before any
    // error it causes (bus/dispatch.c captures before dispatching).
    if (capture) to_monitors(m, dest);

    bool is_reply = h.type == MessageType::method_return || h.type == MessageType::error;
    bool requested_reply = is_reply && replies_.contains(dest->id, h.reply_serial, from.id);
    if (from.endpoint && !is_reply) {
        // The sender's endpoint first, then the bus policy (kdbus).
        if (auto denial = endpoint_filter::talk_denial(*this, from, h.destination, *dest, h)) {
            send_error(from, h, error::access_denied, *denial);
            return;
        }
    }
    if (dest->endpoint && h.type == MessageType::signal &&
        !endpoint_filter::may_receive_signal(*this, *dest, &from, h, m->body()))
        return;  // kdbus: a signal the receiver may not get is skipped silently
    if (!may_send(&from, m, dest, requested_reply, true)) return;
    if (is_reply) {
        if (!requested_reply) {
            // Unsolicited or duplicate reply: dropped (kdbus EBADSLT).
            spdlog::debug("{}: dropped unexpected reply to {} serial {}", from.unique_name, dest->unique_name,
                          h.reply_serial);
            return;
        }
        replies_.take(dest->id, h.reply_serial, from.id);
        dest->give_back(UserResource::replies);
    }
    if (!m->fds.empty() && !dest->unix_fds_negotiated()) {
        send_error(from, h, error::not_supported,
                   "Tried to send message with Unix file descriptors to a client that doesn't support that.");
        return;
    }
    if (auto refusal = fd_admission_.refusal_for(*m, dest->id, h.destination)) {
        send_error(from, h, refusal->error_name, refusal->text);
        // kdbus: the caller of a refused reply learns it (EREMOTEIO) instead
        // of waiting for a reply that will never come.
        if (is_reply) {
            wire::Header call;
            call.serial = h.reply_serial;
            send_error(*dest, call, error::no_reply, "The reply carried file descriptors this connection does not "
                                                     "accept (org.kdbusd.Bus1.SetFdPolicy)");
        }
        return;
    }
    if (h.expects_reply()) {
        if (from.holding(UserResource::replies) >= settings_.limits.max_replies_per_connection) {
            send_error(from, h, error::limits_exceeded,
                       "The maximum number of pending replies per connection has been reached");
            return;
        }
        if (auto text = user_limit_reached(from, UserResource::replies)) {
            send_error(from, h, error::limits_exceeded, "The call cannot await a reply: " + *text);
            return;
        }
        uint64_t deadline = 0;
        if (settings_.limits.reply_timeout > 0) {
            deadline = now_ms() + static_cast<uint64_t>(settings_.limits.reply_timeout);
            arm_reply_timer(deadline);
        }
        replies_.add(from.id, h.serial, dest->id, deadline);
        from.hold(UserResource::replies);
    }
    QuotaSender charge_to = from.quota_sender();
    if (auto refusal = enqueue_to(*dest, m, charge_to); refusal != QuotaRefusal::none) {
        // kdbus: a unicast over quota fails for its sender alone (ENOBUFS);
        // what cannot carry an error is dropped for this receiver and
        // counted to it (MessagesLost).
        ++stats_.deliveries_dropped;
        dest->note_refusal(&from, charge_to, refusal);
        if (h.expects_reply()) {
            replies_.take(from.id, h.serial, dest->id);
            from.give_back(UserResource::replies);
            ++stats_.quota_refusals;
            send_error(from, h, error::limits_exceeded, dest->refusal_text(from, charge_to, refusal));
        } else if (is_reply) {
            // The call has no other answer coming: rather than wait for a
            // reply that is gone, the caller gets the refusal as the bus's
            // answer to its call (its own half of the queue).
            ++stats_.quota_drops;
            wire::Header call;
            call.serial = h.reply_serial;
            send_error(*dest, call, error::limits_exceeded,
                       "The reply from " + from.unique_name + " was dropped: " + dest->refusal_text(from, charge_to, refusal));
        } else {
            ++stats_.quota_drops;
            dest->count_lost_message();
        }
        return;
    }
    to_eavesdroppers(m, dest);
}

bool Bus::driver_signal_has_receivers(std::string_view member, std::span<const uint8_t> body) {
    // Name watchers match arg0 on well-known names, so a unique name's
    // NameOwnerChanged usually matches no rule (Bus::announce).
    if (!monitors_.empty()) return true;  // they see every message
    if (matches_.total() == 0) return false;
    wire::Header h;
    h.type = wire::MessageType::signal;
    h.path = "/org/freedesktop/DBus";
    h.interface = "org.freedesktop.DBus";
    h.member = member;
    h.sender = "org.freedesktop.DBus";
    h.signature = "sss";
    h.body_length = static_cast<uint32_t>(body.size());
    MatchInput in{h, body, h.sender, &owns_fn_};
    std::vector<MatchOwner> owners;  // allocates only when there are some
    matches_.collect(in, false, owners);
    return !owners.empty();
}

void Bus::broadcast(const MessagePtr& m) {
    ++stats_.broadcasts;
    MatchInput in{m->header, m->body(), m->sender, &owns_fn_};
    scratch_owners_.clear();
    matches_.collect(in, false, scratch_owners_);
    Connection* sender = m->head.empty() ? nullptr : resolve(m->sender);
    for (MatchOwner id : scratch_owners_) {
        Connection* c = find(id);
        if (!c || c->monitor) continue;
        if (!m->fds.empty() && (!c->unix_fds_negotiated() || fd_admission_.refusal_for(*m, c->id, {}))) continue;
        if (c->endpoint && (!endpoint_filter::may_receive_signal(*this, *c, sender, m->header, m->body()) ||
                            !endpoint_filter::rules_match_as_seen(*this, *c, in)))
            continue;
        if (auto denial = send_denial(sender, m, c, false)) {
            capture_error(m->sender, m->header, error::access_denied, *denial);
            continue;
        }
        // kdbus: a broadcast over a receiver's quota is dropped for it
        // alone and counted to it; the sender is never blocked.
        QuotaSender charge_to = sender ? sender->quota_sender() : QuotaSender::kernel();
        if (auto refusal = enqueue_to(*c, m, charge_to); refusal != QuotaRefusal::none) {
            ++stats_.deliveries_dropped;
            ++stats_.quota_drops;
            c->count_lost_message();
            c->note_refusal(sender, charge_to, refusal);
        }
    }
}

void Bus::to_eavesdroppers(const MessagePtr& m, Connection* addressed) {
    if (matches_.total() == 0) return;
    MatchInput in{m->header, m->body(), m->sender, &owns_fn_};
    if (addressed) in.addressed = addressed->unique_name;
    std::vector<MatchOwner> owners;
    matches_.collect(in, true, owners);
    Connection* sender = m->head.empty() ? nullptr : resolve(m->sender);
    for (MatchOwner id : owners) {
        Connection* c = find(id);
        // Through a custom endpoint nobody eavesdrops (kdbus: no monitors).
        if (!c || c == addressed || c->monitor || c->endpoint) continue;
        if (!m->fds.empty() && (!c->unix_fds_negotiated() || fd_admission_.refusal_for(*m, c->id, {}))) continue;
        if (auto denial = send_denial(sender, m, c, false)) {
            capture_error(m->sender, m->header, error::access_denied, *denial);
            continue;
        }
        enqueue_to(*c, m, QuotaSender::owner());  // a copy it asked for (eavesdrop)
    }
}

void Bus::to_monitors(const MessagePtr& m, const Connection* addressed) {
    if (monitors_.empty()) return;
    MatchInput in{m->header, m->body(), m->sender, &owns_fn_};
    if (addressed) in.addressed = addressed->unique_name;
    std::vector<MatchOwner> owners;
    monitor_matches_.collect(in, false, owners);
    for (MatchOwner id : owners)
        if (Connection* c = find(id)) enqueue_to(*c, m, QuotaSender::owner());  // a monitor's copy
}

/* Reply timeouts */

void Bus::arm_reply_timer(uint64_t deadline_ms) {
    if (reply_timer_deadline_ != 0 && reply_timer_deadline_ <= deadline_ms) return;
    reply_timer_deadline_ = deadline_ms;
    uint64_t now = now_ms();
    reply_timer_.expires_after(std::chrono::milliseconds(deadline_ms > now ? deadline_ms - now : 0));
    reply_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        on_reply_timer();
    });
}

void Bus::on_reply_timer() {
    reply_timer_deadline_ = 0;
    for (const auto& slot : replies_.expire(now_ms())) {
        if (Connection* caller = find(slot.caller)) {
            caller->give_back(UserResource::replies);
            wire::Header call;
            call.serial = slot.serial;
            send_error(*caller, call, error::no_reply,
                       "Message did not receive a reply (timeout by message bus)");
        }
    }
    if (uint64_t next = replies_.earliest_deadline()) arm_reply_timer(next);
}

}  // namespace kdbus::daemon
