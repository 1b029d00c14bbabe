/* Watched descriptor: a socket on Asio's epoll reactor whose read wait
 * after a drained read costs no epoll_ctl */
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

// The public headers first: Asio's detail headers assume them.
#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>

namespace kdbus::daemon {

/*
 * Asio's epoll reactor registers a descriptor once, edge-triggered, for
 * input. But stream_descriptor::async_wait is never "speculative", so each
 * one ends in an epoll_ctl(MOD) that makes the kernel look at the socket
 * again: one syscall per message read, a quarter of what routing a message
 * cost. A speculative read operation is queued without it, relying on the
 * edge the kernel raises when new data arrives.
 *
 * wait_read_drained() is that wait, for when the caller has just seen the
 * socket empty (EAGAIN, or a short read that no message boundary of the
 * kernel's can have cut). Any byte that arrives afterwards raises an edge,
 * so it cannot be missed. wait_read() and wait_write() are async_wait's
 * re-checking waits, for every other case.
 *
 * Asio's stream_descriptor keeps its registration private, so this
 * registers the descriptor with the reactor itself, as
 * reactive_descriptor_service does (Boost 1.81's detail interface:
 * register_descriptor, start_op, cancel_ops, deregister_descriptor). Only
 * the epoll reactor is supported, which is what kdbusd builds with.
 * Single-threaded use only, like the rest of the bus.
 */
class WatchedDescriptor {
public:
    /* Takes ownership of `fd`; throws boost::system::system_error if the
     * reactor refuses it. */
    WatchedDescriptor(boost::asio::io_context& io, int fd);
    ~WatchedDescriptor();
    WatchedDescriptor(const WatchedDescriptor&) = delete;
    WatchedDescriptor& operator=(const WatchedDescriptor&) = delete;

    int native_handle() const { return fd_; }
    boost::asio::io_context::executor_type get_executor() const { return io_.get_executor(); }

    /* Each calls `handler(error_code)` once: when the descriptor is ready,
     * or with operation_aborted after cancel() or close(). */
    template <typename Handler>
    void wait_read(Handler&& handler) {
        start(Reactor::read_op, false, std::forward<Handler>(handler));
    }
    /* Precondition: the last read found the socket drained, and the loop
     * has not run since. */
    template <typename Handler>
    void wait_read_drained(Handler&& handler) {
        start(Reactor::read_op, true, std::forward<Handler>(handler));
    }
    template <typename Handler>
    void wait_write(Handler&& handler) {
        start(Reactor::write_op, false, std::forward<Handler>(handler));
    }

    /* Aborts the pending waits. */
    void cancel();
    /* Aborts the pending waits and closes the descriptor (idempotent). */
    void close();

private:
    using Reactor = boost::asio::detail::reactor;

    template <typename Handler>
    struct WaitOp : boost::asio::detail::reactor_op {
        explicit WaitOp(Handler h)
            : reactor_op(boost::system::error_code(), &do_perform, &do_complete), handler(std::move(h)) {}

        // The reactor calls this once from start_op when speculation is
        // allowed, and after every event of the descriptor. The first
        // would be a readiness the caller just saw go away.
        static status do_perform(reactor_op* base) {
            return static_cast<WaitOp*>(base)->speculating ? not_done : done;
        }

        static void do_complete(void* owner, boost::asio::detail::operation* base,
                                const boost::system::error_code& /*result_ec*/, std::size_t /*bytes*/) {
            std::unique_ptr<WaitOp> op(static_cast<WaitOp*>(base));
            if (!owner) return;  // the io_context is being destroyed
            Handler h = std::move(op->handler);
            boost::system::error_code ec = op->ec_;
            op.reset();  // freed before the handler, which may wait again
            h(ec);
        }

        Handler handler;
        bool speculating = false;
    };

    template <typename Handler>
    void start(int op_type, bool drained, Handler&& handler) {
        auto op = std::make_unique<WaitOp<std::decay_t<Handler>>>(std::forward<Handler>(handler));
        op->speculating = drained;
        auto* raw = op.release();  // the reactor owns it until it completes
        reactor_.start_op(op_type, fd_, data_, raw, false, drained);
        // Single-threaded: it can only have been queued or posted, not run.
        raw->speculating = false;
    }

    boost::asio::io_context& io_;
    Reactor& reactor_;
    int fd_;
    Reactor::per_descriptor_data data_ = nullptr;
};

}  // namespace kdbus::daemon
