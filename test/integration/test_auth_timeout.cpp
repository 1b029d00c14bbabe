// auth_timeout: a connection that has not completed SASL and Hello within
// the limit is closed (dbus-daemon: bus_connections_expire_incomplete);
// one that has is never touched. kdbusd keeps every waiting connection on
// one list under one timer, so these tests also cover a timer that fires
// for a connection that already said Hello, and one that is re-armed for a
// connection that arrived later.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "bus_fixture.hpp"
#include "metadata_raw_connection.hpp"

namespace kdbusd::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Long enough for SASL and Hello of the clients that must survive it, also
// under an ASan daemon on a loaded machine.
constexpr milliseconds kAuthTimeout = 1000ms;
// Generous: the daemon closes at kAuthTimeout; a loaded CI machine may be late.
constexpr milliseconds kCloseBound = 10000ms;

std::string config_with_auth_timeout() {
  std::string c = kOpenBusConfig;
  c.insert(c.find("</busconfig>"),
           "  <limit name=\"auth_timeout\">" + std::to_string(kAuthTimeout.count()) + "</limit>\n");
  return c;
}

// Reads (and discards) until end of stream; true if the daemon closed the
// connection within `bound`. Every wait is a bounded poll.
bool closed_by_daemon(int fd, milliseconds bound) {
  auto deadline = Clock::now() + bound;
  char buf[256];
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
  }
}

class AuthTimeoutTest : public ::testing::Test {
 protected:
  void SetUp() override { bus_ = std::make_unique<BusDaemon>(config_with_auth_timeout()); }
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }
  std::unique_ptr<BusDaemon> bus_;
};

TEST_F(AuthTimeoutTest, SilentConnectionIsClosedAtTheTimeoutNotBefore) {
  auto start = Clock::now();
  RawBusConnection silent(socket_path());
  ASSERT_TRUE(closed_by_daemon(silent.fd(), kCloseBound)) << bus_->log();
  EXPECT_GE(Clock::now() - start, kAuthTimeout - 50ms);
}

TEST_F(AuthTimeoutTest, AuthenticatedWithoutHelloIsClosedToo) {
  RawBusConnection half(socket_path());
  // SASL EXTERNAL to the end (BEGIN), then no Hello.
  static const char sasl[] = "\0AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n";
  ASSERT_EQ(::send(half.fd(), sasl, sizeof sasl - 1, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof sasl - 1));
  EXPECT_TRUE(closed_by_daemon(half.fd(), kCloseBound)) << bus_->log();
}

TEST_F(AuthTimeoutTest, ConnectionThatSaidHelloOutlivesTheTimeout) {
  RawBusConnection early(socket_path());  // its deadline comes first
  RawBusConnection client(socket_path());
  ASSERT_NO_THROW(client.authenticate_and_hello());
  // Once the silent one, which connected first, is gone, the client's own
  // deadline has passed too.
  ASSERT_TRUE(closed_by_daemon(early.fd(), kCloseBound)) << bus_->log();
  RawBusConnection late(socket_path());
  ASSERT_TRUE(closed_by_daemon(late.fd(), kCloseBound)) << bus_->log();
  auto reply = client.call_driver("org.freedesktop.DBus", "GetId");
  EXPECT_FALSE(reply.is_error()) << reply.describe();
}

TEST_F(AuthTimeoutTest, EveryWaitingConnectionIsClosedInTurn) {
  // One connects before a client that completes Hello and one after it:
  // the timer first fires for the earliest, then must be armed again for
  // the last.
  RawBusConnection first(socket_path());
  RawBusConnection client(socket_path());
  ASSERT_NO_THROW(client.authenticate_and_hello());
  RawBusConnection last(socket_path());
  EXPECT_TRUE(closed_by_daemon(first.fd(), kCloseBound)) << bus_->log();
  EXPECT_TRUE(closed_by_daemon(last.fd(), kCloseBound)) << bus_->log();
  auto reply = client.call_driver("org.freedesktop.DBus", "GetId");
  EXPECT_FALSE(reply.is_error()) << reply.describe();
}

}  // namespace
}  // namespace kdbusd::itest
