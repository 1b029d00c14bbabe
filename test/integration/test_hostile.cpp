// Hostile clients against the real daemon (issue 6, DESIGN.md "Rules that
// hold everywhere": every resource a client makes the daemon hold is
// bounded; bad input costs only the offending connection). Each test runs
// an attack for a bounded time while a well-behaved client on the same bus
// times GetId round trips, which must stay under 100 ms throughout.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "bus_fixture.hpp"
#include "hostile_client.hpp"
#include "metadata_forked_task.hpp"
#include "metadata_raw_connection.hpp"

namespace kdbusd::itest {
namespace {

namespace wire = kdbus::wire;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t MiB = 1024 * 1024;
// A well-behaved client's method call must be answered this fast while an
// attack runs (issue 6).
constexpr milliseconds kServiceBound = 100ms;
// How long each flood runs.
constexpr milliseconds kAttack = 3000ms;

// The open bus with small queues: 4 MiB per connection each way, 1 MiB
// messages. What the daemon may hold for a flood is then a few queues, so
// 64 MiB over its resting size is a generous bound that an unbounded queue
// (dbus-daemon holds 959 MiB after 8 s of this) blows through in a second.
constexpr size_t kRssGrowthBound = 64 * MiB;
std::string limited_config(const std::string& extra_limits = {}) {
  std::string c = kOpenBusConfig;
  // The receiver's queue (max_outgoing_bytes) is the binding limit, so a
  // flood is refused with LimitsExceeded; with equal limits the bus may
  // instead stop reading the flooder first (max_incoming_bytes, tested in
  // test_dropin.cpp), and which comes first is a race.
  std::string limits = R"(  <limit name="max_outgoing_bytes">4194304</limit>
  <limit name="max_incoming_bytes">8388608</limit>
  <limit name="max_message_size">1048576</limit>
)" + extra_limits;
  c.insert(c.find("</busconfig>"), limits);
  return c;
}

class HostileTest : public ::testing::Test {
 protected:
  void start(const std::string& config = limited_config()) {
    bus_ = std::make_unique<BusDaemon>(config);
    probe_ = std::make_unique<ServiceProbe>(bus_->address());
  }
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }
  pid_t daemon() const { return bus_->pid(); }
  // Running, not a zombie (a crashed child stays in /proc until reaped).
  bool daemon_alive() const {
    std::ifstream in("/proc/" + std::to_string(daemon()) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
  }

  // Runs the probe while `attacking` holds and for at most `duration`,
  // sampling the daemon's RSS after each call; returns the peak.
  size_t probe_during(milliseconds duration, const std::function<bool()>& attacking = [] { return true; }) {
    size_t peak = resident_bytes(daemon());
    auto deadline = Clock::now() + duration;
    while (Clock::now() < deadline && attacking()) {
      probe_->ping();
      peak = std::max(peak, resident_bytes(daemon()));
    }
    return peak;
  }
  // Waits (pinging: each call is a bounded wait on the bus) until the
  // daemon's open fds are back to `baseline`; returns the last count.
  size_t wait_fds_back_to(size_t baseline, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    size_t now = open_fd_count(daemon());
    while (now > baseline && Clock::now() < deadline) {
      probe_->ping();
      now = open_fd_count(daemon());
    }
    return now;
  }
  void expect_service_held() {
    EXPECT_EQ(probe_->failures(), 0) << probe_->describe();
    EXPECT_LT(probe_->worst(), kServiceBound) << probe_->describe();
    EXPECT_GT(probe_->pings(), 0);
  }

  std::unique_ptr<BusDaemon> bus_;
  std::unique_ptr<ServiceProbe> probe_;
};

/* a client that sends without ever reading */

TEST_F(HostileTest, UnicastFloodToAReceiverThatNeverReadsIsRefusedToTheFlooderAlone) {
  start();
  RawBusConnection receiver(socket_path());  // never reads
  receiver.authenticate_and_hello();
  size_t rss_before = resident_bytes(daemon());
  Flooder flooder(socket_path(), [&](uint32_t serial) { return bulky_call(receiver.unique_name(), 64 * 1024, serial); });
  flooder.start();
  size_t peak = probe_during(kAttack, [&] { return !flooder.hung_up(); });
  flooder.stop();
  auto outcome = flooder.drain();

  EXPECT_GT(flooder.messages_sent(), 64u) << "the flood never filled the receiver's 4 MiB queue";
  EXPECT_LT(peak, rss_before + kRssGrowthBound)
      << "daemon RSS " << peak / MiB << " MiB after a flood (was " << rss_before / MiB << " MiB)";
  EXPECT_TRUE(outcome.disconnected ||
              std::count(outcome.errors.begin(), outcome.errors.end(), "org.freedesktop.DBus.Error.LimitsExceeded") > 0)
      << "the flooder was neither refused nor disconnected";
  // The receiver was not punished: it is still connected and what was
  // queued for it arrives.
  auto first = receiver.wait_for([](const RawMessage& m) { return m.member == "Take"; }, 2000ms);
  EXPECT_TRUE(first.has_value());
  expect_service_held();
}

TEST_F(HostileTest, BroadcastFloodToASubscriberThatNeverReadsStaysBounded) {
  start();
  RawBusConnection subscriber(socket_path());  // never reads
  subscriber.authenticate_and_hello();
  subscriber.add_match(kFloodRule);
  size_t rss_before = resident_bytes(daemon());
  Flooder flooder(socket_path(), [](uint32_t serial) { return bulky_signal(64 * 1024, serial); });
  flooder.start();
  size_t peak = probe_during(kAttack, [&] { return !flooder.hung_up(); });
  flooder.stop();

  EXPECT_GT(flooder.messages_sent(), 64u);
  EXPECT_LT(peak, rss_before + kRssGrowthBound)
      << "daemon RSS " << peak / MiB << " MiB after a broadcast flood (was " << rss_before / MiB << " MiB)";
  // Broadcasts over the subscriber's quota are dropped for it alone: it
  // stays connected and still gets what was queued.
  auto first = subscriber.wait_for([](const RawMessage& m) { return m.member == "Spam"; }, 2000ms);
  EXPECT_TRUE(first.has_value());
  expect_service_held();
}

TEST_F(HostileTest, MessagesThatStopAfterDeclaringHugeLengthsCostOnlyWhatWasSent) {
  start(limited_config(R"(  <limit name="max_message_size">33554432</limit>
)"));
  // Each connection starts a valid 30 MiB message, sends its first 4 KiB
  // and stops: the daemon must not hold 30 MiB for each (32 × 30 MiB
  // would be 960 MiB for 128 KiB sent).
  constexpr int kConnections = 32;
  auto whole = bulky_call(":1.1", 30 * MiB, 1000);
  std::vector<uint8_t> start_of_it(whole.begin(), whole.begin() + 4096);
  whole = {};
  size_t rss_before = resident_bytes(daemon());
  std::vector<std::unique_ptr<RawBusConnection>> stalled;
  for (int i = 0; i < kConnections; ++i) {
    stalled.push_back(std::make_unique<RawBusConnection>(socket_path()));
    stalled.back()->authenticate_and_hello();
    stalled.back()->send_bytes(start_of_it);
  }
  // The probe's calls are read after the bytes sent before them.
  size_t peak = std::max(probe_during(0ms), resident_bytes(daemon()));
  probe_->ping();
  probe_->ping();
  peak = std::max(peak, resident_bytes(daemon()));
  EXPECT_LT(peak, rss_before + 32 * MiB)
      << "daemon RSS " << peak / MiB << " MiB with " << kConnections << " messages started (was "
      << rss_before / MiB << " MiB)";
  stalled.clear();
  expect_service_held();
}

/* a slow reader */

// Writes `bytes[from, to)` without blocking for as long as the peer keeps
// taking them (each wait for room is at most `patience`); returns where
// it stopped.
size_t write_while_taken(int fd, const std::vector<uint8_t>& bytes, size_t from, size_t to,
                         milliseconds patience) {
  while (from < to) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(patience.count())) <= 0) break;
    ssize_t n = ::send(fd, bytes.data() + from, to - from, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    from += static_cast<size_t>(n);
  }
  return from;
}

TEST_F(HostileTest, OneUidsMessagesInFlightAreBoundedAndTheOldestAlwaysCompletes) {
  start(limited_config(R"(  <limit name="max_message_size">33554432</limit>
  <limit name="max_queued_bytes_per_user">16777216</limit>
)"));
  // Two connections of one uid each send 24 MiB messages, more than the
  // uid's 16 MiB. The first, the oldest, is read on; the second waits for
  // room, and is read once the first is whole.
  RawBusConnection receiver(socket_path());
  receiver.authenticate_and_hello();
  auto first = bulky_call(receiver.unique_name(), 24 * MiB, 1000);
  auto second = bulky_call(receiver.unique_name(), 24 * MiB, 1001);
  RawBusConnection a(socket_path()), b(socket_path());
  a.authenticate_and_hello();
  b.authenticate_and_hello();
  a.send_bytes(std::vector<uint8_t>(first.begin(), first.begin() + 20 * MiB));  // the daemon reads nearly all
  size_t b_sent = write_while_taken(b.fd(), second, 0, second.size(), 500ms);
  EXPECT_LT(b_sent, 4 * MiB) << "the daemon read " << b_sent / MiB
                             << " MiB of a second 24 MiB message while the uid held 20 MiB in flight";
  probe_->ping();  // the bus serves everyone else meanwhile

  // The oldest completes and is delivered; then the second is read too.
  a.send_bytes(std::vector<uint8_t>(first.begin() + 20 * MiB, first.end()));
  auto is_take = [](uint32_t serial) {
    return [serial](const RawMessage& m) { return m.member == "Take" && m.serial == serial; };
  };
  EXPECT_TRUE(receiver.wait_for(is_take(1000), 10000ms).has_value()) << "the oldest message never arrived";
  EXPECT_EQ(write_while_taken(b.fd(), second, b_sent, second.size(), 10000ms), second.size());
  EXPECT_TRUE(receiver.wait_for(is_take(1001), 10000ms).has_value()) << "the waiting message never arrived";
  expect_service_held();
}

TEST_F(HostileTest, SlowReaderOneByteAtATimeDoesNotSlowTheBus) {
  start();
  RawBusConnection reader(socket_path());
  reader.authenticate_and_hello();
  int small = 4096;
  ::setsockopt(reader.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  size_t rss_before = resident_bytes(daemon());
  Flooder sender(socket_path(), [&](uint32_t serial) { return bulky_call(reader.unique_name(), 16 * 1024, serial); });
  sender.start();

  // The attack itself: one byte, then a pause; the pause is the attacker's
  // pace, not a synchronisation.
  std::atomic<bool> stop{false};
  std::atomic<size_t> bytes_read{0};
  std::string head;
  std::thread slow([&] {
    while (!stop) {
      char c;
      if (::recv(reader.fd(), &c, 1, MSG_DONTWAIT) == 1) {
        if (head.size() < 4) head += c;
        ++bytes_read;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  size_t peak = probe_during(kAttack);
  stop = true;
  slow.join();
  sender.stop();

  EXPECT_GT(bytes_read.load(), 10u);
  // What the reader got starts a message (the first may be the driver's
  // NameAcquired signal or a flooded call): byte order, then type.
  ASSERT_GE(head.size(), 4u);
  EXPECT_EQ(head[0], 'l');
  EXPECT_TRUE(head[1] == static_cast<char>(wire::MessageType::method_call) ||
              head[1] == static_cast<char>(wire::MessageType::signal))
      << int(head[1]);
  EXPECT_LT(peak, rss_before + kRssGrowthBound);
  expect_service_held();
}

/* connect/disconnect churn */

int churn_cycles() {
  // Issue 6's 10,000: the client never waits for the daemon (but for a
  // ping every 50 cycles), so they take well under a second normally.
  if (const char* env = std::getenv("KDBUSD_HOSTILE_CYCLES")) return std::atoi(env);
  return 10000;
}

TEST_F(HostileTest, ConnectDisconnectChurnLeavesNoFdsOrMemoryBehind) {
  start();
  size_t fds_before = open_fd_count(daemon());
  size_t rss_before = resident_bytes(daemon());
  int passed[2];
  ASSERT_EQ(::pipe2(passed, O_CLOEXEC), 0);
  wire::MessageBuilder with_fd(wire::MessageType::signal);
  with_fd.path("/churn").interface("org.example.Churn").member("Fd").unix_fds(1);
  with_fd.body("h").put_unix_fd(0);
  auto call_bytes = bulky_call(probe_->peer().unique_name(), 256, 2);

  const int cycles = churn_cycles();
  for (int i = 0; i < cycles; ++i) {
    int fd = -1;
    switch (i % 6) {
      case 0:  // connect and leave
        fd = connect_bus_socket(socket_path());
        break;
      case 1: {  // half-finished SASL
        fd = connect_bus_socket(socket_path());
        if (fd >= 0) write_all(fd, "\0AUTH EXTER", 11);
        break;
      }
      case 2: {  // Hello, then half a message
        fd = pipelined_hello(socket_path(), false);
        if (fd >= 0) write_all(fd, call_bytes.data(), call_bytes.size() / 2);
        break;
      }
      case 3: {  // a message carrying an fd, gone before it is delivered
        fd = pipelined_hello(socket_path(), true);
        if (fd >= 0) send_with_fd(fd, with_fd.finish(2), passed[0]);
        break;
      }
      case 4: {  // a call whose reply nobody reads
        fd = pipelined_hello(socket_path(), false);
        if (fd >= 0) write_all(fd, call_bytes.data(), call_bytes.size());
        break;
      }
      case 5: {  // an fd message cut in the middle
        fd = pipelined_hello(socket_path(), true);
        auto bytes = with_fd.finish(2);
        bytes.resize(bytes.size() - 3);
        if (fd >= 0) send_with_fd(fd, bytes, passed[1]);
        break;
      }
    }
    ASSERT_GE(fd, 0) << "cycle " << i << ": connect failed: " << strerror(errno);
    ::close(fd);
    if (i % 50 == 0) probe_->ping();
  }
  ::close(passed[0]);
  ::close(passed[1]);

  size_t fds_after = wait_fds_back_to(fds_before, 10000ms);
  EXPECT_EQ(fds_after, fds_before) << "daemon holds " << fds_after - fds_before << " more fds after " << cycles
                                   << " cycles";
  EXPECT_LT(resident_bytes(daemon()), rss_before + 32 * MiB);
  expect_service_held();
}

/* fd exhaustion */

TEST_F(HostileTest, FdExhaustionFailsAcceptWithoutBusyLoopAndRecovers) {
  start();
  // Lower the running daemon's RLIMIT_NOFILE to what it has open plus a few,
  // as if the machine were out of fds.
  size_t open_now = open_fd_count(daemon());
  rlimit low{open_now + 8, open_now + 8};
  ASSERT_EQ(::prlimit(daemon(), RLIMIT_NOFILE, &low, nullptr), 0) << strerror(errno);

  // Bare connections the daemon must accept (and hold) until it runs out.
  std::vector<int> hogs;
  for (int i = 0; i < 24; ++i) {
    int fd = connect_bus_socket(socket_path());
    ASSERT_GE(fd, 0) << strerror(errno);
    hogs.push_back(fd);
  }
  // Wait until the daemon has taken every fd it may.
  auto deadline = Clock::now() + 5000ms;
  while (open_fd_count(daemon()) < low.rlim_cur && Clock::now() < deadline) probe_->ping();
  ASSERT_GE(open_fd_count(daemon()), low.rlim_cur) << "the daemon never ran out of fds";

  // Out of fds with connections pending: over ~1 s the daemon must idle,
  // not spin on a listener that stays readable. The probe's calls pace
  // the window (each waits for the bus) and prove the bus still serves.
  milliseconds cpu_before = cpu_time(daemon());
  auto window_start = Clock::now();
  while (Clock::now() - window_start < 1000ms) {
    probe_->ping();
    probe_->peer().pump(50ms);
  }
  milliseconds spent = cpu_time(daemon()) - cpu_before;
  EXPECT_LT(spent, 300ms) << "daemon used " << spent.count() << " ms CPU in 1 s while out of fds";

  // A client that connects now waits in the backlog; once fds free up it
  // is served.
  RawBusConnection late(socket_path());
  for (int fd : hogs) ::close(fd);
  EXPECT_NO_THROW(late.authenticate_and_hello(5000ms));
  SdBusPeer fresh(bus_->address());
  EXPECT_TRUE(fresh.call_driver("GetId").ok());
  expect_service_held();
}

/* max_connections_per_user */

TEST_F(HostileTest, ConnectionsBeyondThePerUserLimitAreRefusedWhileAnotherUidConnects) {
  start(limited_config(R"(  <limit name="max_connections_per_user">8</limit>
)"));
  // The probe is one of root's 8.
  std::vector<std::unique_ptr<RawBusConnection>> mine;
  for (int i = 0; i < 7; ++i) {
    mine.push_back(std::make_unique<RawBusConnection>(socket_path()));
    ASSERT_NO_THROW(mine.back()->authenticate_and_hello()) << "connection " << i + 2 << " of 8";
  }
  RawBusConnection ninth(socket_path());
  try {
    ninth.authenticate_and_hello();
    ADD_FAILURE() << "a 9th connection of uid " << ::getuid() << " got a unique name";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("LimitsExceeded"));
  }

  // Another uid is not affected by root's count.
  ::chmod(bus_->dir().c_str(), 0755);
  ::chmod(socket_path().c_str(), 0777);
  std::string path = socket_path();
  ForkedTask nobody([path](TaskChannel& channel) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 3;
    RawBusConnection c(path);
    c.authenticate_and_hello();
    channel.send("hello " + c.unique_name());
    return 0;
  });
  auto line = nobody.channel().read_line(5000ms);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, ::testing::StartsWith("hello :"));
  EXPECT_EQ(nobody.wait_exit(), 0);
  probe_->ping();
  expect_service_held();
}

/* invalid messages */

std::vector<std::filesystem::path> invalid_corpus() {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(
           "/usr/lib/dbus-1.0/installed-tests/dbus/data/invalid-messages", ec))
    if (e.path().extension() == ".message-raw") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(HostileTest, EveryInvalidMessageOfTheDbusTestsCorpusDisconnectsOnlyItsSender) {
  auto files = invalid_corpus();
  if (files.empty()) GTEST_SKIP() << "dbus-tests is not installed";
  start();
  RawBusConnection bystander(socket_path());
  bystander.authenticate_and_hello();
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    RawBusConnection sender(socket_path());
    sender.authenticate_and_hello();
    sender.send_bytes(read_file(file));
    EXPECT_TRUE(wait_for_hangup(sender.fd(), 2000ms)) << "the sender of an invalid message stayed connected";
    probe_->ping();
  }
  // The bystander still has its connection and its name.
  auto r = bystander.call_driver("org.freedesktop.DBus", "GetNameOwner", "s",
                                 [&](wire::Writer& w) { w.put_string(bystander.unique_name()); });
  EXPECT_FALSE(r.is_error()) << r.describe();
  expect_service_held();
}

std::vector<uint8_t> mutation_base() {
  wire::MessageBuilder b(wire::MessageType::signal);
  b.path("/org/example/Mutant").interface("org.example.Mutant").member("Changed");
  auto& w = b.body("suay");
  w.put_string("payload");
  w.put_u32(42);
  auto token = w.begin_array(1);
  for (uint8_t i = 0; i < 16; ++i) w.put_byte(i);
  w.end_array(token);
  return b.finish(7);
}

// Sends `bytes`, then ends its side: whatever the daemon made of the bytes,
// it must hang up on EOF, and not crash.
void send_and_expect_hangup(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& what) {
  RawBusConnection c(path);
  c.authenticate_and_hello();
  ::send(c.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::shutdown(c.fd(), SHUT_WR);
  EXPECT_TRUE(wait_for_hangup(c.fd(), 2000ms)) << what << ": the daemon kept the connection after EOF";
}

TEST_F(HostileTest, TruncationsAndBitFlipsOfAValidMessageHarmNobodyElse) {
  start();
  RawBusConnection bystander(socket_path());
  bystander.authenticate_and_hello();
  bystander.add_match("type='signal',interface='org.example.Mutant'");
  auto base = mutation_base();
  for (size_t len = 1; len < base.size(); len += 3) {
    send_and_expect_hangup(socket_path(), {base.begin(), base.begin() + static_cast<long>(len)},
                           "truncated to " + std::to_string(len));
    if (HasFailure()) break;
  }
  std::mt19937 random(6);  // fixed seed: the same mutants every run
  for (int i = 0; i < 200; ++i) {
    auto mutant = base;
    size_t bit = random() % (mutant.size() * 8);
    mutant[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    send_and_expect_hangup(socket_path(), mutant, "bit " + std::to_string(bit) + " flipped");
    if (i % 10 == 0) probe_->ping();
    if (HasFailure()) break;
  }
  ASSERT_TRUE(daemon_alive());
  // The bystander is still connected (a call answers; mutants it was sent
  // were valid messages and stay queued before the reply).
  auto r = bystander.call_driver("org.freedesktop.DBus", "GetId");
  EXPECT_FALSE(r.is_error()) << r.describe();
  expect_service_held();
}

/* kill -9 in the middle of sending and receiving */

TEST_F(HostileTest, KillNineOfClientsMidTrafficLeavesTheDaemonWhole) {
  start();
  size_t fds_before = open_fd_count(daemon());
  std::string path = socket_path();
  std::vector<std::unique_ptr<ForkedTask>> clients;
  for (int i = 0; i < 6; ++i) {
    bool sender = i % 2 == 0;
    clients.push_back(std::make_unique<ForkedTask>([path, sender](TaskChannel& channel) {
      RawBusConnection c(path);
      c.authenticate_and_hello();
      if (!sender) {
        // A receiver that reads a little, then stops mid-message.
        c.add_match(kFloodRule);
        channel.send("ready");
        for (;;) {
          char buf[1000];
          if (::recv(c.fd(), buf, sizeof buf, 0) <= 0) return 1;
        }
      }
      uint32_t serial = 1000;
      bool told = false;
      for (;;) {
        auto bytes = bulky_signal(32 * 1024, ++serial);
        // Part of a message, then the rest: killed between them sometimes.
        if (!write_all(c.fd(), bytes.data(), bytes.size() / 2)) return 1;
        if (!write_all(c.fd(), bytes.data() + bytes.size() / 2, bytes.size() - bytes.size() / 2)) return 1;
        if (!told && serial > 1010) {
          channel.send("ready");
          told = true;
        }
      }
    }));
  }
  for (auto& c : clients) ASSERT_EQ(c->channel().read_line(5000ms), "ready");
  probe_during(300ms);  // traffic is flowing while the bus keeps serving
  for (auto& c : clients) ::kill(c->pid(), SIGKILL);
  for (auto& c : clients) c->wait_exit(5000ms);
  clients.clear();

  ASSERT_TRUE(daemon_alive());
  size_t fds_after = wait_fds_back_to(fds_before, 5000ms);
  EXPECT_EQ(fds_after, fds_before);
  expect_service_held();
}

}  // namespace
}  // namespace kdbusd::itest
