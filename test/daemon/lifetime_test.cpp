// Handlers that outlive their owner. Asio runs a completed handler even
// when the object that started the wait is gone: a bus removed in the same
// turn of the loop in which one of its timers fires is destroyed (posted
// by Domain::remove_bus) before that timer's handler runs. These tests
// make that order happen; under ASan (as CI runs them) a handler that
// touches its owner is a heap-use-after-free.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "daemon/activation.hpp"
#include "daemon/auth_deadlines.hpp"
#include "daemon/bus.hpp"
#include "daemon/connection.hpp"

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

// An activation's start timeout: the bus gives a service 1 ms to take its
// name, and is destroyed in the turn of the loop in which that fires.
TEST(Activation, AStartTimeoutQueuedAsItsBusGoesLeavesItAlone) {
    char dir_template[] = "/tmp/kdbusd-lifetime-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::filesystem::path dir = dir_template;
    // The service never takes its name, and exits by itself 0.2 s later so
    // that io.run() ends (the process object lives until it is reaped).
    std::ofstream(dir / "org.example.Slow.service")
        << "[D-BUS Service]\nName=org.example.Slow\nExec=/bin/sleep 0.2\n";

    boost::asio::io_context io;
    BusSettings settings;
    settings.type = "session";
    settings.servicedirs = {policy::ServiceDir{dir.string()}};
    settings.limits.service_start_timeout = 1;
    auto bus = std::make_unique<Bus>(io, std::move(settings));
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd peer(sv[1]);
    auto caller = std::make_shared<Connection>(*bus, io, UniqueFd(sv[0]), PeerCredentials{}, 1);
    wire::Header call;
    call.serial = 1;
    ASSERT_FALSE(bus->activation().start_by_name(*caller, call, "org.example.Slow"));

    // The timeout falls due before the loop first runs (a spin: nothing
    // may run meanwhile), so the loop's first reactor pass completes the
    // timer and queues its handler behind this one.
    const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
    while (std::chrono::steady_clock::now() < due) {
    }
    bool destroyed = false;
    boost::asio::post(io, [&] {
        caller.reset();
        bus.reset();
        destroyed = true;
    });
    io.run();
    EXPECT_TRUE(destroyed);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kdbus::daemon
