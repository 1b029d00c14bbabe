// The bus's sockets are in its epoll set edge-triggered and never re-armed
// (src/daemon/epoll_watch.hpp): an edge reports what arrived, once. These
// tests make one edge carry more than one read takes, by stopping the
// daemon (SIGSTOP) while clients act, so that everything is surely waiting
// when it runs again, and check that nothing behind the first read is
// left for an edge that never comes.
//
// HangupTest: a client sends its last message and hangs up. A read that
// takes the data and stops short must not be mistaken for "nothing more
// will come": the EOF behind it has no edge of its own. The message must
// be delivered and the client's name must go.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "bus_fixture.hpp"
#include "metadata_raw_connection.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

constexpr const char* kInterface = "org.example.Hangup";

class HangupTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { bus_ = std::make_unique<BusDaemon>(kOpenBusConfig); }
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }
  std::unique_ptr<BusDaemon> bus_;
};

// How the client hangs up: SHUT_RDWR reports EPOLLHUP (as close() does);
// SHUT_WR only EPOLLRDHUP, an end of stream the client can still read past.
TEST_P(HangupTest, AHangUpThatArrivesWithTheLastMessageIsSeen) {
  SdBusPeer watcher(bus_->address());
  ASSERT_TRUE(watcher.add_match(std::string("type='signal',interface='") + kInterface + "'").ok());
  ASSERT_TRUE(watcher.add_match("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'").ok());

  for (int round = 0; round < 3; ++round) {
    RawBusConnection client(socket_path());
    client.authenticate_and_hello();
    const std::string name = client.unique_name();

    ASSERT_EQ(::kill(bus_->pid(), SIGSTOP), 0);
    client.emit("/org/example/Hangup", kInterface, "Last");
    int hung_up = ::shutdown(client.fd(), GetParam());
    ASSERT_EQ(::kill(bus_->pid(), SIGCONT), 0);
    ASSERT_EQ(hung_up, 0);

    auto last = watcher.wait_for([&](const Received& m) { return m.member == "Last" && m.sender == name; });
    EXPECT_TRUE(last) << "round " << round << ": the message sent before the hang-up was lost";
    auto gone = watcher.wait_for([&](const Received& m) {
      return m.member == "NameOwnerChanged" && m.args.size() == 3 && m.args[0] == name && m.args[2].empty();
    });
    EXPECT_TRUE(gone) << "round " << round << ": the bus did not see " << name << " hang up";
  }
}

// AcceptBurstTest: many connections wait on the listener, which is
// level-triggered and takes one a report; every one must be accepted
// without a new connection arriving.
TEST(AcceptBurstTest, EveryConnectionOfABurstIsAccepted) {
  std::string config = kOpenBusConfig;  // all of the burst are incomplete at once
  config.insert(config.find("</busconfig>"), "  <limit name=\"max_incomplete_connections\">1000</limit>\n");
  BusDaemon bus(config);
  const std::string path = (bus.dir() / "bus").string();
  constexpr int kBurst = 150;
  std::vector<std::unique_ptr<RawBusConnection>> clients;
  ASSERT_EQ(::kill(bus.pid(), SIGSTOP), 0);
  for (int i = 0; i < kBurst; ++i) clients.push_back(std::make_unique<RawBusConnection>(path));
  ASSERT_EQ(::kill(bus.pid(), SIGCONT), 0);
  for (int i = 0; i < kBurst; ++i) {
    clients[static_cast<size_t>(i)]->authenticate_and_hello();  // throws after 5 s without an answer
    EXPECT_FALSE(clients[static_cast<size_t>(i)]->unique_name().empty()) << "connection " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shutdown, HangupTest, ::testing::Values(SHUT_RDWR, SHUT_WR),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == SHUT_WR ? std::string("WriteSide") : std::string("BothSides");
                         });

}  // namespace
}  // namespace kdbusd::itest
