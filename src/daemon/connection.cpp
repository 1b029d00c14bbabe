#include "daemon/connection.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "daemon/bus.hpp"
#include "daemon/endpoint.hpp"
#include "daemon/fd_admission.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

namespace {

/* Per recvmsg, the room for SCM_RIGHTS: dbus-daemon's per-message maximum
 * is configurable, and several messages may arrive in one read. */
constexpr size_t max_fds_per_read = 253;
/* At most this many reads per wake-up, so one busy client cannot starve
 * the others (the loop comes back to it on the next readiness). */
constexpr int reads_per_wakeup = 8;
/* And at most this many messages or bytes dispatched per wake-up: one read
 * of the shared buffer can hold thousands of small messages, and routing
 * them all before anyone else is served is what lets a flooder delay a
 * bystander (issue 6). What is left waits in partial_ for a posted
 * resumption, behind every handler already ready. */
constexpr size_t messages_per_wakeup = 64;
constexpr size_t bytes_per_wakeup = 1024 * 1024;
/* A message larger than half the shared read buffer is read straight into
 * its own bytes, at most this much per recvmsg (one whole 1 MiB message
 * after its first bytes), and at most bytes_per_wakeup of it per wake-up. */
constexpr size_t large_chunk = 1024 * 1024;
/* After a large message, the next read into the shared buffer is this
 * small: a large message that follows is then copied out of the shared
 * buffer for these bytes only, not for a whole buffer of it (256 KiB, a
 * quarter of a 1 MiB message read three times). Small messages that
 * follow cost one short read more. */
constexpr size_t expect_large_read = 4096;
/* A connection's socket starts with the kernel's default send buffer
 * (net.core.wmem_default, 208 KiB): a 1 MiB message then leaves the bus in
 * five sendmsg, each after the receiver has drained the last (on one CPU:
 * a wait, two context switches and a wake-up each). A receiver that has
 * drained a full buffer while at least raise_send_buffer_at more was
 * queued for it gets one of raised_send_buffer (the kernel's 1 MiB):
 * large messages then take one or two sendmsg. Receivers that never read
 * keep the default, so what the kernel holds for them beyond the bus's
 * queue and its quotas stays 208 KiB; one that read once holds at most
 * 1 MiB there. */
constexpr size_t raise_send_buffer_at = 256 * 1024;
constexpr size_t raised_send_buffer = 512 * 1024;
/* Writes are gathered into one sendmsg of at most this many pieces. */
constexpr size_t max_iov = 256;

/* What a connection's socket is watched for; EPOLLOUT is added while a
 * write is blocked. EPOLLHUP and EPOLLERR are always reported. */
constexpr uint32_t read_events = EPOLLIN | EPOLLRDHUP;
constexpr uint32_t hangup_events = EPOLLRDHUP | EPOLLHUP | EPOLLERR;

}  // namespace

Connection::Connection(Bus& bus, boost::asio::io_context& io, UniqueFd fd, PeerCredentials creds,
                       uint64_t serial)
    : serial_number(serial),
      bus_(bus),
      io_(io),
      fd_(std::move(fd)),
      pending_fd_timer_(io),
      creds_(std::move(creds)) {
    auth_deadline_.connection = this;
    large_read_.connection = this;
    wire::SaslServer::Options opts;
    opts.peer_uid = creds_.uid;
    opts.allow_anonymous = bus_.settings().allow_anonymous;
    const auto& mechs = bus_.settings().auth_mechanisms;
    if (!mechs.empty()) {
        opts.allow_external = std::find(mechs.begin(), mechs.end(), "EXTERNAL") != mechs.end();
        if (std::find(mechs.begin(), mechs.end(), "ANONYMOUS") == mechs.end())
            opts.allow_anonymous = false;
    }
    opts.guid = bus_.guid();
    sasl_.emplace(std::move(opts));
}

Connection::~Connection() = default;

void Connection::start() {
    if (auto ms = bus_.settings().limits.auth_timeout; ms > 0)
        bus_.auth_deadlines().add(auth_deadline_, AuthDeadlines::Clock::now() + std::chrono::milliseconds(ms));
    // Clients write the SASL greeting as soon as connect() returns, which
    // is before accept() (sd-bus writes BEGIN and Hello with it): read
    // first, then add the socket to epoll. The ADD reports the socket at
    // once if anything arrived after the read, and nothing if not, so no
    // wake-up is spent on what was read here.
    readable_ = true;
    on_readable();
    if (state_ == State::closed) return;
    if (!watch_.add(io_, fd_.get(), write_blocked_ ? read_events | EPOLLOUT : read_events, *this)) {
        spdlog::warn("conn {}: cannot watch its socket: {}", serial_number, std::strerror(errno));
        close("epoll refused the socket");
    }
}

void Connection::activate() {
    state_ = State::active;
    AuthDeadlines::remove(auth_deadline_);
}

void Connection::on_epoll_events(uint32_t events) {
    if (state_ == State::closed) return;
    auto self = shared_from_this();  // a handler below may close it and drop the bus's reference
    // Input first: what a peer sent before it hung up is routed before a
    // write to it fails.
    if (events & (EPOLLIN | hangup_events)) {
        readable_ = true;
        if (events & hangup_events) hangup_ = true;
        if (may_read()) on_readable();
        if (state_ == State::closed) return;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && write_blocked_) {
        write_blocked_ = false;
        // The receiver drained what the kernel held for it: if much more
        // waits, a larger buffer saves it wake-ups from now on.
        if (!send_buffer_raised_ && queued_bytes_ - out_offset_ >= raise_send_buffer_at) raise_send_buffer();
        flush();
        if (state_ == State::closed) return;
        // Drained: stop the reports of room that every read of the peer's
        // would raise from now on.
        if (!write_blocked_) watch_.modify(read_events);
    }
}

bool Connection::may_read() {
    if (state_ == State::closed) return false;
    // Over max_incoming_bytes / max_incoming_unix_fds: wait until what it
    // sent has left the bus (IncomingCharge::on_release re-arms).
    if (incoming_ && incoming_->over()) return false;
    if (backlogged()) return false;  // pop_written() re-arms
    if (large_length_ && !may_read_large()) return false;  // end_large_read() of an older one re-arms
    return true;
}

void Connection::arm_read() {
    // Complete messages may wait in partial_ (yielded_), or input the
    // socket reported that was not read to its end: no new edge would
    // report either, so come back after the handlers ready now.
    if (!(readable_ || yielded_) || resume_posted_ || !may_read()) return;
    resume_posted_ = true;
    boost::asio::post(io_, [self = shared_from_this()] {
        self->resume_posted_ = false;
        if (self->may_read()) self->on_readable();
    });
}

void Connection::on_readable() {
    Bus::DispatchScope scope(bus_);
    auto& buffer = bus_.read_buffer();
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * max_fds_per_read)];
    read_messages_ = 0;
    read_bytes_ = 0;
    if (yielded_) {
        // What the last wake-up left for later comes first, in order. It
        // is consumed where it is: copied back into the read buffer at
        // every yield, a flood of small messages cost a pass over up to
        // 256 KiB per 64 messages. Held here, not in partial_, while the
        // bus routes it (close() clears partial_).
        yielded_ = false;
        std::vector<uint8_t> pending = std::move(partial_);
        partial_ = {};
        size_t start = std::exchange(partial_start_, 0);
        auto consumed = consume(std::span<const uint8_t>(pending).subspan(start));
        if (!consumed || state_ == State::closed) return;
        // Else it ended at a yield, at an incomplete message, or in a
        // large message that took the rest (large_ holds it then).
        if (!large_length_ && start + *consumed < pending.size()) {
            partial_ = std::move(pending);
            partial_start_ = start + *consumed;
        }
    }

    size_t large_read_now = 0;  // into large_, this wake-up
    for (int round = 0; round < reads_per_wakeup && !yielded_; ++round) {
        if (!may_read()) break;  // a limit paused it; whatever lifts the pause calls arm_read()
        if (read_budget_spent()) {
            yielded_ = true;  // nothing left behind but the socket's data
            break;
        }
        uint8_t* dst;
        size_t room;
        size_t have = 0;
        bool into_large = large_length_ != 0;
        if (into_large) {
            // Room for one more chunk only, within the reserved capacity;
            // resize() does not write (MessageBytes), the kernel's copy is
            // the only one.
            large_.resize(std::min(large_length_, large_filled_ + large_chunk));
            dst = large_.data() + large_filled_;
            room = large_.size() - large_filled_;
        } else {
            have = partial_.size() - partial_start_;
            if (have) std::memcpy(buffer.data(), partial_.data() + partial_start_, have);
            dst = buffer.data() + have;
            room = buffer.size() - have;
            if (large_expected_ && have == 0) room = expect_large_read;
        }

        iovec iov{dst, room};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                readable_ = false;
                break;
            }
            close("read error");
            return;
        }
        bool got_fds = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                got_fds = true;
                size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
                for (size_t i = 0; i < count; ++i) in_fds_.emplace_back(fds[i]);
            } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                       c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
                // A stream read never spans writes with different
                // credentials, so this stamp belongs to every byte read.
                ucred uc;
                std::memcpy(&uc, CMSG_DATA(c), sizeof(uc));
                stamp_pid_ = uc.pid;
                stamp_uid_ = uc.uid;
                stamp_gid_ = uc.gid;
            }
        }
        if (msg.msg_flags & MSG_CTRUNC) {
            close("too many file descriptors in one read");
            return;
        }
        if (!unix_fds_ && !in_fds_.empty()) {
            close("file descriptors sent without negotiation");
            return;
        }
        if (in_fds_.size() > std::max<size_t>(bus_.settings().limits.max_message_unix_fds, 16) * 4) {
            close("too many pending file descriptors");
            return;
        }
        if (n == 0) {
            close("end of stream");
            return;
        }

        if (into_large) {
            large_filled_ += static_cast<size_t>(n);
            account().reading += static_cast<size_t>(n);
            if (large_filled_ < large_length_) {
                // Fairness: others are served between the chunks of a
                // huge message; a posted resumption reads on (as when the
                // read budget is spent, nothing is left but the socket's).
                large_read_now += static_cast<size_t>(n);
                if (large_read_now >= bytes_per_wakeup) {
                    yielded_ = true;
                    break;
                }
            } else {
                end_large_read();
                MessageBytes whole = std::move(large_);
                large_ = {};
                large_length_ = 0;
                large_filled_ = 0;
                large_expected_ = true;
                if (!take_message(std::move(whole))) return;
            }
        } else {
            if (!dispatch(buffer, have + static_cast<size_t>(n))) return;
            if (!large_length_) large_expected_ = false;
        }
        // A short read drained the socket: no need to see EAGAIN, any byte
        // that arrives later raises a new edge. Unless the kernel stopped
        // at a boundary of its own — after a write that carried fds, or at
        // a change of writer under SO_PASSCRED (net/unix/af_unix.c,
        // unix_stream_read_generic) — or the edge that woke us carried a
        // hang-up, whose EOF waits behind the data with no edge to come.
        if (static_cast<size_t>(n) < room && !got_fds && !credential_stamps_ && !hangup_) {
            readable_ = false;
            break;
        }
    }
    watch_pending_fds();
    arm_read();
}

bool Connection::dispatch(std::vector<uint8_t>& buffer, size_t total) {
    auto consumed = consume(std::span<const uint8_t>(buffer.data(), total));
    if (!consumed) return false;  // closed
    if (large_length_) {
        // consume() started a large message and copied the rest into it.
        partial_.clear();
        partial_.shrink_to_fit();
        partial_start_ = 0;
    } else {
        partial_.assign(buffer.data() + *consumed, buffer.data() + total);
        partial_start_ = 0;
        if (partial_.empty()) partial_.shrink_to_fit();
    }
    return state_ != State::closed;
}

bool Connection::backlogged() const {
    // kdbus: the receiver's own half of the pool holds what it asked for
    // (the bus's answers to its calls); when its queue is full a call
    // fails. Here the connection is not read until it reads: a client that
    // calls without ever reading makes the bus hold at most this much for
    // it, on a session bus with max_outgoing_bytes of 10^9 too.
    const auto& limits = bus_.settings().limits;
    const size_t own_bound = account_ ? account_->limits.queued_bytes : limits.per_user.queued_bytes;
    return !out_.empty() && queued_bytes_ >= std::min(limits.max_outgoing_bytes, own_bound);
}

bool Connection::read_budget_spent() const {
    return read_messages_ >= messages_per_wakeup || read_bytes_ >= bytes_per_wakeup;
}

void Connection::watch_pending_fds() {
    // File descriptors of a message not yet complete: a client must finish
    // it within pending_fd_timeout, or it could pin fds in the bus forever
    // (dbus-daemon bus/connection.c, pending_unix_fds_timeout_cb).
    if (in_fds_.empty()) {
        if (pending_fd_timer_armed_) pending_fd_timer_.cancel();
        pending_fd_timer_armed_ = false;
        return;
    }
    auto ms = bus_.settings().limits.pending_fd_timeout;
    if (pending_fd_timer_armed_ || ms <= 0) return;
    pending_fd_timer_armed_ = true;
    pending_fd_timer_.expires_after(std::chrono::milliseconds(ms));
    pending_fd_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || !self->pending_fd_timer_armed_) return;
        self->pending_fd_timer_armed_ = false;
        if (!self->in_fds_.empty()) self->close("file descriptors pending longer than pending_fd_timeout");
    });
}

std::optional<size_t> Connection::consume(std::span<const uint8_t> data) {
    size_t pos = 0;
    while (pos < data.size()) {
        if (state_ == State::closed) return std::nullopt;
        if (state_ == State::authenticating) {
            std::string reply;
            size_t used = sasl_->feed(data.subspan(pos), reply);
            pos += used;
            if (!reply.empty()) {
                // Authentication replies are short and the socket is fresh:
                // write them directly, in order, ahead of any message.
                const char* p = reply.data();
                size_t left = reply.size();
                while (left > 0) {
                    ssize_t w = ::send(fd_.get(), p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (w < 0 && errno == EINTR) continue;
                    if (w <= 0) {
                        close("write error during authentication");
                        return std::nullopt;
                    }
                    p += w;
                    left -= static_cast<size_t>(w);
                }
            }
            switch (sasl_->state()) {
                case wire::SaslServer::State::failed:
                    close("authentication failed");
                    return std::nullopt;
                case wire::SaslServer::State::done:
                    unix_fds_ = sasl_->unix_fd_negotiated();
                    sasl_.reset();
                    state_ = State::awaiting_hello;
                    bus_.on_authenticated(*this);
                    continue;
                case wire::SaslServer::State::in_progress:
                    if (used == 0) return pos;
                    continue;
            }
        }

        size_t left = data.size() - pos;
        if (left < wire::fixed_header_size) break;
        if (read_budget_spent()) {
            yielded_ = true;  // fairness: the rest after other connections
            break;
        }
        const char* error = nullptr;
        size_t length = wire::message_length(
            std::span<const uint8_t, wire::fixed_header_size>(data.data() + pos, wire::fixed_header_size),
            std::min(bus_.settings().limits.max_message_size, wire::max_message_size), &error);
        if (length == 0) {
            spdlog::info("conn {}: invalid message framing: {}", serial_number, error ? error : "?");
            close("invalid message");
            return std::nullopt;
        }
        if (left < length) {
            if (length > bus_.read_buffer().size() / 2) {
                // Read the rest straight into the message's own buffer:
                // reserved whole, filled as it arrives.
                large_.reserve(length);
                large_.resize(left);
                std::memcpy(large_.data(), data.data() + pos, left);
                large_length_ = length;
                large_filled_ = left;
                start_large_read(left);
                return data.size();
            }
            break;
        }
        MessageBytes bytes = copy_message_bytes(data.subspan(pos, length));
        pos += length;
        if (!take_message(std::move(bytes))) return std::nullopt;
    }
    return pos;
}

void Connection::charge(BusMessage& m) {
    if (!incoming_) {
        incoming_ = std::make_shared<IncomingCharge>();
        std::weak_ptr<Connection> weak = weak_from_this();
        incoming_->on_release = [weak] {
            // Back under the limits: read again (dbus-daemon resumes
            // reading the connection the same way).
            if (auto c = weak.lock()) c->arm_read();
        };
    }
    const auto& limits = bus_.settings().limits;
    incoming_->max_bytes = limits.max_incoming_bytes;
    incoming_->max_fds = limits.max_incoming_unix_fds;
    incoming_->bytes += m.raw.size();
    incoming_->fds += m.fds.size();
    m.fds_charged = m.fds.size();
    m.charge = incoming_;
}

bool Connection::take_message(MessageBytes bytes) {
    ++read_messages_;
    read_bytes_ += bytes.size();
    MessagePtr m(new BusMessage);
    m->raw = std::move(bytes);
    m->stamp_pid = stamp_pid_;
    m->stamp_uid = stamp_uid_;
    m->stamp_gid = stamp_gid_;
    // Not for Hello: a connection that sends nothing else (an idle one)
    // holds no cache.
    if (!header_cache_ && state_ == State::active) header_cache_ = std::make_unique<wire::HeaderCache>();
    const char* err = header_cache_ ? header_cache_->parse(m->raw, m->header) : wire::parse_message(m->raw, m->header);
    if (err) {
        spdlog::info("{}: invalid message: {}", unique_name.empty() ? std::to_string(serial_number) : unique_name, err);
        close("invalid message");
        return false;
    }
    uint32_t nfds = m->header.unix_fds;
    if (nfds > 0) {
        if (nfds > bus_.settings().limits.max_message_unix_fds || nfds > in_fds_.size()) {
            close("message announces file descriptors that were not sent");
            return false;
        }
        m->fds.reserve(nfds);
        for (uint32_t i = 0; i < nfds; ++i) {
            m->fds.push_back(std::move(in_fds_.front()));
            in_fds_.pop_front();
        }
    }
    charge(*m);
    // Unknown message types must be ignored (D-Bus specification).
    if (m->header.type < wire::MessageType::method_call || m->header.type > wire::MessageType::signal)
        return true;
    bus_.on_message(*this, std::move(m));
    return state_ != State::closed;
}

void Connection::make_forward_header(BusMessage& m) {
    m.head.reserve(m.header.body_offset + 32 + m.sender.size());
    if (header_cache_)
        header_cache_->forward_header(m.raw, m.header, m.sender, m.head);
    else
        wire::build_forward_header(m.header, m.sender, m.head);
}

UniqueFd Connection::peer_pidfd() {
    constexpr int so_peerpidfd = 77;  // Linux 6.5; Debian 12's headers predate it
    int fd = -1;
    socklen_t len = sizeof(fd);
    if (::getsockopt(fd_.get(), SOL_SOCKET, so_peerpidfd, &fd, &len) < 0) return UniqueFd();
    return UniqueFd(fd);
}

void Connection::enable_credential_stamps() {
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
    credential_stamps_ = true;
}

namespace {

QuotaLimits quota_limits(const BusLimits& l, uid_t receiver) {
    return {l.max_outgoing_bytes, receiver, &l.per_user};
}

/* /proc/PID/comm, for a log line once per refusal episode. */
std::string process_comm(pid_t pid) {
    if (pid <= 0) return "?";
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    if (!std::getline(in, comm) || comm.empty()) return "?";
    return comm;
}

}  // namespace

namespace {

/* The fds a message counts in the per-receiver quota: sealed memfds are
 * payload there, not fds (kdbus; fd_admission.hpp took the census). */
size_t quota_fds(const BusMessage& m) {
    return m.in_flight_fds ? m.in_flight_fds->census.counted_as_fds() : m.fds.size();
}

}  // namespace

QuotaRefusal Connection::enqueue(const MessagePtr& m, QuotaSender charge_to, std::vector<uint8_t> own_header) {
    if (state_ == State::closed) return QuotaRefusal::queue_full;
    const auto& limits = bus_.settings().limits;
    OutEntry entry{m, std::move(own_header), false, charge_to};
    size_t size = entry.size();
    size_t fds = m->fds.size();
    // As dbus-daemon: a message is accepted while the queue is below the
    // limit, so one message may overshoot it by at most its own size.
    if (queued_bytes_ >= limits.max_outgoing_bytes) return QuotaRefusal::queue_full;
    if (fds && queued_fds_ + fds > limits.max_outgoing_unix_fds) return QuotaRefusal::queue_fds;
    if (auto refusal = quota_.try_charge(charge_to, size, quota_fds(*m), quota_limits(limits, creds_.uid));
        refusal != QuotaRefusal::none)
        return refusal;
    out_.push_back(std::move(entry));
    queued_bytes_ += size;
    queued_fds_ += fds;
    bus_.schedule_flush(*this);
    return QuotaRefusal::none;
}

UserAccount& Connection::account() {
    if (!account_)
        account_ = endpoint ? &bus_.endpoint_account(*endpoint->endpoint) : &bus_.user_account(creds_.uid);
    return *account_;
}

void Connection::hold(UserResource r) {
    ++held_[static_cast<size_t>(r)];
    ++account().held(r);
}

void Connection::give_back(UserResource r, size_t n) {
    if (n == 0) return;
    held_[static_cast<size_t>(r)] -= n;
    UserAccount& a = account();
    a.held(r) -= n;
    a.refusing &= static_cast<uint8_t>(~(1u << static_cast<unsigned>(r)));
}

void Connection::give_back_all() {
    for (auto r : {UserResource::connections, UserResource::names, UserResource::match_rules, UserResource::replies})
        give_back(r, holding(r));
}

std::string Connection::comm() const { return process_comm(creds_.pid); }

const policy::EndpointPeer& Connection::policy_peer() const {
    if (!policy_peer_) {
        policy::EndpointPeer p{creds_.uid, {creds_.gid}};
        for (gid_t g : creds_.groups)
            if (g != creds_.gid) p.gids.push_back(g);
        policy_peer_ = std::move(p);
    }
    return *policy_peer_;
}

void Connection::note_refusal(Connection* sender, const QuotaSender& charge, QuotaRefusal refusal) {
    // Once per episode (until this sender's share of the queue, or the
    // queue, drains): a flood must not become a flood of log lines.
    if (!quota_.begin_episode(charge)) return;
    if (sender)
        spdlog::warn("{} (uid {}, pid {}, comm {}): messages to {} (uid {}, pid {}) refused until its queue "
                     "drains: {}",
                     sender->unique_name, sender->credentials().uid, sender->credentials().pid,
                     process_comm(sender->credentials().pid), unique_name, creds_.uid, creds_.pid,
                     describe(refusal));
    else
        spdlog::warn("{} (uid {}, pid {}, comm {}): the bus's notifications to it dropped until its queue "
                     "drains: {}",
                     unique_name, creds_.uid, creds_.pid, process_comm(creds_.pid), describe(refusal));
}

std::string Connection::refusal_text(const Connection& sender, const QuotaSender& charge,
                                     QuotaRefusal refusal) const {
    const auto& limits = bus_.settings().limits;
    std::string who = sender.endpoint ? "endpoint " + sender.endpoint->endpoint->name
                                      : "uid " + std::to_string(sender.credentials().uid);
    std::string text = "The message to " + unique_name + " was refused: " + describe(refusal) + " (" + who +
                       " has " + std::to_string(quota_.bytes_of(charge)) + " bytes in " +
                       std::to_string(quota_.messages_of(charge)) + " messages queued for it; its queue holds " +
                       std::to_string(queued_bytes_) + " of " + std::to_string(limits.max_outgoing_bytes) +
                       " bytes";
    if (charge.kind == QuotaSender::Kind::user)
        text += ", and " + who + " holds " + std::to_string(charge.account->bytes) + " of " +
                std::to_string(charge.account->limits.queued_bytes) + " bytes on the bus";
    return text + ")";
}

void Connection::report_lost_messages() {
    if (lost_messages_ == 0 || state_ != State::active) return;
    constexpr size_t about_its_size = 160;  // no message built while there is surely no room
    if (quota_.admit(QuotaSender::kernel(), about_its_size, 0, quota_limits(bus_.settings().limits, creds_.uid)) !=
        QuotaRefusal::none)
        return;
    // The bus's own signal, in the bus's share of the queue: if that share
    // is full it waits, counting on, until the queue drains — then it
    // always fits (an empty share admits one message), so the count is
    // never lost itself.
    wire::MessageBuilder b(wire::MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.kdbusd.Bus1").member("MessagesLost");
    b.sender("org.freedesktop.DBus").destination(unique_name);
    b.body("u").put_u32(static_cast<uint32_t>(std::min<size_t>(lost_messages_, UINT32_MAX)));
    MessagePtr m = bus_.driver_message(b, bus_.next_driver_serial());
    if (!m) return;
    // Through the bus: a receiver of metadata gets its TIMESTAMP on this
    // one too, as on every message of the bus.
    if (bus_.enqueue_to(*this, m, QuotaSender::kernel()) != QuotaRefusal::none) return;
    lost_messages_ = 0;
    bus_.capture(m);
}

void Connection::flush() {
    if (state_ == State::closed || write_blocked_) return;
    iovec iov[max_iov];
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 253)];

    while (!out_.empty()) {
        size_t niov = 0;
        size_t skip = out_offset_;
        OutEntry& first = out_.front();
        bool send_fds = !first.message->fds.empty() && !first.fds_sent;
        for (size_t i = 0; i < out_.size() && niov + 2 <= max_iov; ++i) {
            const auto& e = out_[i];
            if (i > 0 && !e.message->fds.empty()) break;  // its fds must ride on its first byte
            for (auto part : {e.header(), e.message->body()}) {
                if (skip >= part.size()) {
                    skip -= part.size();
                    continue;
                }
                iov[niov].iov_base = const_cast<uint8_t*>(part.data() + skip);
                iov[niov].iov_len = part.size() - skip;
                skip = 0;
                ++niov;
            }
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = niov;
        if (send_fds) {
            const auto& fds = first.message->fds;
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            int* out = reinterpret_cast<int*>(CMSG_DATA(c));
            for (size_t i = 0; i < fds.size(); ++i) out[i] = fds[i].get();
        }
        ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                arm_write();
                return;
            }
            close("write error");
            return;
        }
        if (send_fds) first.fds_sent = true;
        size_t written = static_cast<size_t>(n);
        while (written > 0 && !out_.empty()) {
            auto& e = out_.front();
            size_t remaining = e.size() - out_offset_;
            if (written >= remaining) {
                written -= remaining;
                pop_written();
            } else {
                out_offset_ += written;
                written = 0;
            }
        }
    }
}

void Connection::raise_send_buffer() {
    // SO_SNDBUFFORCE where the bus may (CAP_NET_ADMIN), as sd-bus does for
    // its own sockets; else SO_SNDBUF, which net.core.wmem_max caps. The
    // kernel doubles either for its bookkeeping.
    send_buffer_raised_ = true;
    int size = static_cast<int>(raised_send_buffer);
    int fd = fd_.get();
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

void Connection::pop_written() {
    bool was_backlogged = backlogged();
    auto& e = out_.front();
    queued_bytes_ -= e.size();
    queued_fds_ -= e.message->fds.size();
    quota_.release(e.charged_to, e.size(), quota_fds(*e.message));
    out_.pop_front();
    out_offset_ = 0;
    if (out_.empty()) {
        drops_logged = false;
        quota_.end_episodes();
    }
    // Room again: tell the receiver what it lost meanwhile (kdbus returned
    // the count with the next RECV).
    report_lost_messages();
    if (was_backlogged && !backlogged()) arm_read();
}

void Connection::arm_write() {
    if (write_blocked_ || state_ == State::closed) return;
    write_blocked_ = true;
    if (!watch_) return;  // start() adds the socket with EPOLLOUT
    // Reported at once if there is room again already (a MOD re-polls).
    if (watch_.modify(read_events | EPOLLOUT) != 0) close("cannot watch for room to write");
}

void Connection::close(const char* reason) {
    if (state_ == State::closed) return;
    auto self = shared_from_this();  // the bus drops its reference below
    spdlog::debug("{} (uid {}, pid {}): disconnected: {}",
                  unique_name.empty() ? "conn " + std::to_string(serial_number) : unique_name,
                  creds_.uid, creds_.pid, reason);
    state_ = State::closed;
    AuthDeadlines::remove(auth_deadline_);
    pending_fd_timer_.cancel();
    bus_.on_connection_closed(*this);
    watch_.reset();
    fd_.reset();
    while (!out_.empty()) {
        auto& e = out_.front();
        quota_.release(e.charged_to, e.size(), quota_fds(*e.message));
        out_.pop_front();
    }
    in_fds_.clear();
    partial_.clear();
    partial_start_ = 0;
    if (large_length_) end_large_read();
    large_ = {};
    large_length_ = 0;
}

bool Connection::may_read_large() {
    UserAccount& a = account();
    return &a.readers.front() == &large_read_ || a.reading + a.bytes < a.limits.queued_bytes;
}

void Connection::start_large_read(size_t bytes) {
    UserAccount& a = account();
    a.reading += bytes;
    a.readers.push_back(large_read_);
}

void Connection::end_large_read() {
    UserAccount& a = account();
    a.reading -= large_filled_;
    large_read_.unlink();
    // Room for the others: the next oldest reads on now whatever the room.
    for (LargeRead& r : a.readers) r.connection->arm_read();
}

}  // namespace kdbus::daemon
