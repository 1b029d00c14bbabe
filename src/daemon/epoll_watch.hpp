/* EpollWatch: a descriptor in Asio's own epoll set, registered once, whose
 * readiness events reach its owner as the kernel reported them */
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <vector>

// The public headers first: Asio's detail headers assume them.
#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/scheduler.hpp>
#include <boost/version.hpp>

namespace kdbus::daemon {

/*
 * Why not stream_descriptor::async_wait: Asio registers a descriptor
 * edge-triggered without EPOLLRDHUP, and every async_wait re-arms it with
 * an epoll_ctl(MOD) so that the kernel looks at the socket again. That is
 * one syscall per message routed, a quarter of a method call's (docs/
 * performance.md). Waiting for the next edge without the MOD is only safe
 * when the reader knows which events the edge carried: a client that
 * writes and hangs up before the bus reads gives one edge for both, and a
 * short read of the data does not show the EOF behind it.
 *
 * So a watch is added to the epoll set of the io_context's reactor once,
 * edge-triggered with the events its owner asks for (EPOLLRDHUP included;
 * or level-triggered, as listening sockets are), and removed once. The
 * reactor's epoll_wait hands every event of it to the scheduler as an
 * operation — the way it hands its own descriptor states — and the
 * operation calls `Owner::on_epoll_events(events)` on the loop, in turn
 * with every other handler. No re-arming: the owner keeps
 * track of what it has not read yet (Connection: readable_, hangup_).
 * A registered watch counts as work for the io_context, as a pending
 * async_wait does, so run() and poll() do not stop while it waits.
 *
 * This leans on Boost 1.81's epoll reactor (Debian 12's): its run() treats
 * an event's data.ptr as a descriptor_state, of which it only uses the
 * `operation` base — queue link, completion function and task_result_, in
 * which it passes the events. A watch is an `operation` too, first base
 * at offset 0 like the descriptor state's. The reactor's epoll fd is
 * private; epoll_watch.cpp names it through an explicit instantiation, and
 * so the scheduler's queue and an operation's completion function, to see
 * whether the next operation is a watch's event (EpollWatches::BatchEnd).
 * Single-threaded use only, like the rest of the bus.
 */
static_assert(BOOST_VERSION / 100 == 1081, "EpollWatch relies on Boost 1.81's epoll reactor: re-check it");

class EpollWatches;

class EpollWatch : public boost::asio::detail::operation {
public:
    class Owner {
    public:
        /* Some of EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR. */
        virtual void on_epoll_events(uint32_t events) = 0;

    protected:
        ~Owner() = default;
    };

private:
    friend class EpollWatches;
    explicit EpollWatch(EpollWatches& watches) : boost::asio::detail::operation(&complete), watches_(watches) {}
    static void complete(void* owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                         std::size_t events);

    EpollWatches& watches_;
    Owner* owner_ = nullptr;  // null once removed: an event already queued is dropped
    int fd_ = -1;
    uint32_t trigger_ = EPOLLET;  // EPOLLET, or 0: level-triggered
};

/*
 * The watches of one io_context, as an Asio service. It owns their memory
 * until the io_context is destroyed: a watch removed while its event sits
 * in the scheduler's queue must stay valid until that event is dropped,
 * and a removed watch is reused only after every event queued before its
 * removal has run.
 */
class EpollWatches : public boost::asio::execution_context::service {
public:
    inline static boost::asio::execution_context::id id;

    /*
     * Told when the events one epoll_wait returned have all been handled:
     * after the handler of the last watch event queued in a row, before
     * the scheduler runs anything else (a timer, a posted handler, or
     * epoll_wait again). What the handlers produced can be written then,
     * once per receiver for the whole batch (Bus: a service answering
     * eight callers gets their calls in one write, and one wake-up).
     */
    class BatchEnd {
    public:
        virtual void on_batch_end() = 0;

    protected:
        ~BatchEnd() = default;
    };
    void add_batch_end(BatchEnd& hook) { batch_end_.push_back(&hook); }
    void remove_batch_end(BatchEnd& hook);
    /* True while a watch's handler runs: its BatchEnd hooks are due. */
    bool in_batch() const { return in_batch_; }

    explicit EpollWatches(boost::asio::execution_context& context);
    ~EpollWatches() override;

    /* Edge-triggered (the owner reads until EAGAIN, or keeps track of
     * what it left) or level-triggered (reported at every epoll_wait while
     * true: a listening socket, which then needs no accept that fails). */
    enum class Trigger : uint32_t { edge = EPOLLET, level = 0 };
    /* Adds `fd` with `events` (| EPOLLET if edge); nullptr with errno set if epoll
     * refused it. */
    EpollWatch* add(int fd, uint32_t events, EpollWatch::Owner& owner, Trigger trigger = Trigger::edge);
    /* Changes the events; an event already true is reported at once. */
    int modify(EpollWatch& watch, uint32_t events);
    /* Takes `fd` out of the set, before it is closed; its queued events
     * are dropped. */
    void remove(EpollWatch& watch);

private:
    friend class EpollWatch;
    void shutdown() override {}

    boost::asio::io_context& io_;
    boost::asio::detail::scheduler& scheduler_;
    int epoll_fd_;
    std::vector<std::unique_ptr<EpollWatch>> all_;
    std::vector<EpollWatch*> free_;
    /* Whether the operation the scheduler runs next is a watch's event. */
    bool next_is_watch() const;
    void end_batch();

    EpollWatch* running_ = nullptr;  // whose handler runs now
    bool running_removed_ = false;   // ... and it removed its watch
    bool in_batch_ = false;
    std::vector<BatchEnd*> batch_end_;
};

/* A watch held by one owner: added on construction, removed on reset() or
 * destruction. */
class EpollRegistration {
public:
    EpollRegistration() = default;
    ~EpollRegistration() { reset(); }
    EpollRegistration(const EpollRegistration&) = delete;
    EpollRegistration& operator=(const EpollRegistration&) = delete;

    /* Adds `fd`; false, with errno set, if epoll refused it. */
    bool add(boost::asio::io_context& io, int fd, uint32_t events, EpollWatch::Owner& owner,
             EpollWatches::Trigger trigger = EpollWatches::Trigger::edge);
    explicit operator bool() const { return watch_ != nullptr; }
    int modify(uint32_t events) { return watches_->modify(*watch_, events); }
    void reset();

private:
    EpollWatches* watches_ = nullptr;
    EpollWatch* watch_ = nullptr;
};

}  // namespace kdbus::daemon
