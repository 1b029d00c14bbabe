#include "daemon/epoll_watch.hpp"

#include <cerrno>

#include <boost/asio/post.hpp>

namespace kdbus::daemon {

namespace {

using Reactor = boost::asio::detail::epoll_reactor;

/* The reactor's epoll fd is a private member. An explicit instantiation
 * may name it ([temp.spec.general]: access is not checked there), and
 * hands the member pointer out through a friend. */
int Reactor::*reactor_epoll_fd();

template <int Reactor::*Member>
struct ReactorEpollFd {
    friend int Reactor::*reactor_epoll_fd() { return Member; }
};

template struct ReactorEpollFd<&Reactor::epoll_fd_>;

/* The same for the scheduler's queue of ready operations and for an
 * operation's completion function, by which a watch's event is known. */
using Scheduler = boost::asio::detail::scheduler;
using Operation = boost::asio::detail::scheduler_operation;
using OperationQueue = boost::asio::detail::op_queue<Operation>;
using CompleteFn = void (*)(void*, Operation*, const boost::system::error_code&, std::size_t);

OperationQueue Scheduler::*scheduler_queue();
CompleteFn Operation::*operation_complete_fn();

template <OperationQueue Scheduler::*Queue, CompleteFn Operation::*Fn>
struct SchedulerInternals {
    friend OperationQueue Scheduler::*scheduler_queue() { return Queue; }
    friend CompleteFn Operation::*operation_complete_fn() { return Fn; }
};

template struct SchedulerInternals<&Scheduler::op_queue_, &Operation::func_>;

}  // namespace

void EpollWatch::complete(void* owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                          std::size_t events) {
    if (!owner) return;  // the io_context is being destroyed: nothing to tell
    auto* watch = static_cast<EpollWatch*>(base);
    EpollWatches& watches = watch->watches_;
    // The scheduler counts every operation it runs as a unit of work done;
    // an event is none (as for Asio's own descriptor states), so give it
    // back — unless the handler removed this very watch: then the unit of
    // work the watch held ends with the handler, not inside it, where the
    // io_context would stop if it were the last and the handler could not
    // add the next (a connection closes, another is accepted).
    watches.in_batch_ = true;
    if (!watch->owner_) {
        watches.scheduler_.compensating_work_started();
    } else {
        watches.running_ = watch;
        watches.running_removed_ = false;
        watch->owner_->on_epoll_events(static_cast<uint32_t>(events));
        if (!watches.running_removed_) watches.scheduler_.compensating_work_started();
        watches.running_ = nullptr;
    }
    if (!watches.next_is_watch()) watches.end_batch();
}

bool EpollWatches::next_is_watch() const {
    // One thread runs the io_context (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE),
    // so the queue is read without its lock. During a handler the
    // scheduler's queue holds what runs after it: the rest of the batch,
    // then the reactor task; handlers posted meanwhile go behind those.
    Operation* next = boost::asio::detail::op_queue_access::front(scheduler_.*scheduler_queue());
    return next && next->*operation_complete_fn() == &EpollWatch::complete;
}

void EpollWatches::end_batch() {
    in_batch_ = false;
    // By index: a hook may add or remove hooks (a bus made or dropped).
    for (size_t i = 0; i < batch_end_.size(); ++i) batch_end_[i]->on_batch_end();
}

void EpollWatches::remove_batch_end(BatchEnd& hook) { std::erase(batch_end_, &hook); }

EpollWatches::EpollWatches(boost::asio::execution_context& context)
    : service(context),
      io_(static_cast<boost::asio::io_context&>(context)),
      scheduler_(boost::asio::use_service<boost::asio::detail::scheduler>(context)) {
    auto& reactor = boost::asio::use_service<Reactor>(context);
    reactor.init_task();  // the scheduler waits on the reactor (as Asio's own I/O objects make it)
    epoll_fd_ = reactor.*reactor_epoll_fd();
}

EpollWatches::~EpollWatches() = default;

EpollWatch* EpollWatches::add(int fd, uint32_t events, EpollWatch::Owner& owner, Trigger trigger) {
    EpollWatch* watch;
    if (!free_.empty()) {
        watch = free_.back();
        free_.pop_back();
    } else {
        all_.push_back(std::unique_ptr<EpollWatch>(new EpollWatch(*this)));
        watch = all_.back().get();
    }
    epoll_event ev{};
    ev.events = events | static_cast<uint32_t>(trigger);
    ev.data.ptr = watch;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int err = errno;
        free_.push_back(watch);  // never in the set: no event of it can be queued
        errno = err;
        return nullptr;
    }
    watch->owner_ = &owner;
    watch->fd_ = fd;
    watch->trigger_ = static_cast<uint32_t>(trigger);
    // A watched descriptor is work, as a pending async_wait is: the
    // io_context does not run out of work while a socket waits for input.
    scheduler_.work_started();
    return watch;
}

int EpollWatches::modify(EpollWatch& watch, uint32_t events) {
    epoll_event ev{};
    ev.events = events | watch.trigger_;
    ev.data.ptr = &watch;
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, watch.fd_, &ev);
}

void EpollWatches::remove(EpollWatch& watch) {
    // Explicitly, not by close(): a descriptor duplicated elsewhere (a
    // child between fork and exec) would keep its registration alive.
    epoll_event ev{};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watch.fd_, &ev);
    watch.owner_ = nullptr;
    watch.fd_ = -1;
    if (&watch == running_) {
        // Removed by its own handler (a hang-up): complete() no longer
        // touches it, so it is free at once, and its unit of work ends
        // when the handler does.
        running_ = nullptr;
        running_removed_ = true;
        free_.push_back(&watch);
        return;
    }
    // An event of it may be queued behind the running handler; the watch
    // is the queued operation, so it is reused only once that has run.
    // The scheduler puts its reactor task behind every batch of events it
    // queues, so a queued watch always has a successor, and one without is
    // free at once. A queued one is freed by a handler posted now, which
    // runs after the event (at shutdown the post is dropped and the watch
    // is freed with the others). Not posting when it is not needed
    // matters: a posted handler makes the scheduler poll epoll once more
    // before it runs, a syscall per connection closed.
    boost::asio::detail::operation* op = &watch;
    if (boost::asio::detail::op_queue_access::next(op) == nullptr)
        free_.push_back(&watch);
    else
        boost::asio::post(io_, [this, w = &watch] { free_.push_back(w); });
    scheduler_.work_finished();  // after the post, which is work of its own
}

bool EpollRegistration::add(boost::asio::io_context& io, int fd, uint32_t events, EpollWatch::Owner& owner,
                            EpollWatches::Trigger trigger) {
    reset();
    watches_ = &boost::asio::use_service<EpollWatches>(io);
    watch_ = watches_->add(fd, events, owner, trigger);
    return watch_ != nullptr;
}

void EpollRegistration::reset() {
    if (!watch_) return;
    watches_->remove(*watch_);
    watch_ = nullptr;
}

}  // namespace kdbus::daemon
