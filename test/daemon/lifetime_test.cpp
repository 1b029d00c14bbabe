// Handlers that outlive their owner. Asio runs a completed handler even
// when the object that started the wait is gone: a bus removed in the same
// turn of the loop in which one of its timers fires is destroyed (posted
// by Domain::remove_bus) before that timer's handler runs. These tests
// make that order happen; under ASan (as CI runs them) a handler that
// touches its owner is a heap-use-after-free.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "daemon/auth_deadlines.hpp"

namespace kdbus::daemon {
namespace {

TEST(AuthDeadlines, AHandlerQueuedAsItsOwnerGoesLeavesItAlone) {
    boost::asio::io_context io;
    auto deadlines = std::make_unique<AuthDeadlines>(io);
    AuthDeadlines::Entry entry;  // no connection: closing it would crash
    deadlines->add(entry, AuthDeadlines::Clock::now() - std::chrono::seconds(1));
    // Queued behind the reactor: the reactor's pass completes the expired
    // timer, whose handler is then queued behind this one.
    bool destroyed = false;
    boost::asio::post(io, [&] {
        AuthDeadlines::remove(entry);
        deadlines.reset();
        destroyed = true;
    });
    io.run();
    EXPECT_TRUE(destroyed);
}

}  // namespace
}  // namespace kdbus::daemon
