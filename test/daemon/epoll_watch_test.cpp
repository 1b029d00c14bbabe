#include "daemon/epoll_watch.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <functional>

using kdbus::daemon::EpollRegistration;
using kdbus::daemon::EpollWatch;

namespace {

struct Owner : EpollWatch::Owner {
    std::function<void()> on_event;
    int events = 0;
    void on_epoll_events(uint32_t) override {
        ++events;
        if (on_event) on_event();
    }
};

/* A socket pair whose first end is readable. */
struct Readable {
    std::array<int, 2> fds{-1, -1};
    Readable() {
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()), 0);
        EXPECT_EQ(::write(fds[1], "x", 1), 1);
    }
    ~Readable() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    int fd() const { return fds[0]; }
};

/* Runs what is ready, polling epoll again, until nothing is. */
void run_ready(boost::asio::io_context& io) {
    while (io.poll() > 0) {
    }
}

}  // namespace

// Two sockets readable before the loop runs: one epoll_wait queues an event
// of each. The first handler removes the other watch, whose event waits
// behind it, and adds a third socket. Were the removed watch's memory given
// to the third at once, the queued event would run as the third's.
TEST(EpollWatches, AWatchWhoseEventIsQueuedIsNotReusedBeforeTheEventIsDropped) {
    boost::asio::io_context io(1);
    Readable a, b, c;
    Owner oa, ob, oc;
    EpollRegistration ra, rb, rc;
    ASSERT_TRUE(ra.add(io, a.fd(), EPOLLIN, oa));
    ASSERT_TRUE(rb.add(io, b.fd(), EPOLLIN, ob));
    bool done = false;
    auto first = [&](EpollRegistration& other) {
        if (done) return;
        done = true;
        other.reset();
        ASSERT_TRUE(rc.add(io, c.fd(), EPOLLIN, oc));
    };
    oa.on_event = [&] { first(rb); };
    ob.on_event = [&] { first(ra); };
    run_ready(io);
    EXPECT_EQ(oa.events + ob.events, 1) << "the removed watch's event must be dropped";
    EXPECT_EQ(oc.events, 1) << "the new watch reports its socket once";
}

// A handler that removes its own watch (a connection closing on hang-up)
// and adds another (the next connection accepted): the memory is reused at
// once, and the new watch reports only its own socket.
TEST(EpollWatches, AWatchRemovedByItsOwnHandlerIsReusedAtOnce) {
    boost::asio::io_context io(1);
    Readable a, b;
    Owner oa, ob;
    EpollRegistration ra, rb;
    ASSERT_TRUE(ra.add(io, a.fd(), EPOLLIN, oa));
    oa.on_event = [&] {
        ra.reset();
        ASSERT_TRUE(rb.add(io, b.fd(), EPOLLIN, ob));
    };
    run_ready(io);
    EXPECT_EQ(oa.events, 1);
    EXPECT_EQ(ob.events, 1);
    rb.reset();
    EXPECT_EQ(io.poll(), 0u);
    EXPECT_TRUE(io.stopped()) << "no watch left: the io_context ran out of work";
}

namespace {

struct BatchCounter : kdbus::daemon::EpollWatches::BatchEnd {
    std::function<void()> on_end;
    int ends = 0;
    void on_batch_end() override {
        ++ends;
        if (on_end) on_end();
    }
};

/* Two sockets readable before the loop runs, so that one epoll_wait
 * queues an event of each: one batch of two. */
class BatchEnd : public ::testing::Test {
protected:
    void SetUp() override {
        watches.add_batch_end(hook);
        ASSERT_TRUE(ra.add(io, a.fd(), EPOLLIN, oa));
        ASSERT_TRUE(rb.add(io, b.fd(), EPOLLIN, ob));
    }
    void TearDown() override { watches.remove_batch_end(hook); }

    // Declared so that the registrations go first, then the sockets, then
    // the io_context.
    boost::asio::io_context io{1};
    kdbus::daemon::EpollWatches& watches = boost::asio::use_service<kdbus::daemon::EpollWatches>(io);
    BatchCounter hook;
    Readable a, b;
    Owner oa, ob;
    EpollRegistration ra, rb;
};

}  // namespace

// The events of one epoll_wait are handled in a row, and the hook comes
// once, after the last: what the handlers queued is written once per batch.
TEST_F(BatchEnd, ComesOnceAfterTheLastEventOfABatch) {
    bool in_batch_seen = true;
    oa.on_event = ob.on_event = [&] { in_batch_seen = in_batch_seen && watches.in_batch() && hook.ends == 0; };
    int events_at_end = -1;
    hook.on_end = [&] { events_at_end = oa.events + ob.events; };
    run_ready(io);
    EXPECT_TRUE(in_batch_seen) << "the hook came between the events of one batch";
    EXPECT_EQ(hook.ends, 1);
    EXPECT_EQ(events_at_end, 2);
    EXPECT_FALSE(watches.in_batch());
}

// The batch's last event may belong to a watch removed meanwhile: its
// dropped event still ends the batch.
TEST_F(BatchEnd, ADroppedEventStillEndsItsBatch) {
    oa.on_event = [&] { rb.reset(); };
    ob.on_event = [&] { ra.reset(); };
    run_ready(io);
    EXPECT_EQ(oa.events + ob.events, 1);
    EXPECT_EQ(hook.ends, 1);
    EXPECT_FALSE(watches.in_batch());
}
