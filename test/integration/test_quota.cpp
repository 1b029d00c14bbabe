// kdbus's per-receiver accounting against the real daemon (issue 6,
// KDBUS.md "Quotas", daemon/receive_quota.hpp): of a receiver's queue
// (max_outgoing_bytes) half is its own and each sending user may hold a
// third of what is free of the other half, at most 256 messages and 16 fds;
// one uid holds at most 128 MiB in all queues. A call over quota gets
// LimitsExceeded; a broadcast over quota is dropped for that receiver alone
// and counted to it with org.kdbusd.Bus1.MessagesLost.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bus_fixture.hpp"
#include "domain_users.hpp"
#include "hostile_client.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata_forked_task.hpp"
#include "metadata_raw_connection.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

namespace wire = kdbus::wire;
using namespace std::chrono_literals;

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;
constexpr const char* kLimitsExceeded = "org.freedesktop.DBus.Error.LimitsExceeded";

// Receivers' queues of 4 MiB: the shared half is 2 MiB, so the first
// sending user may hold 699,050 bytes (a third), two 256 KiB messages. The
// flooder's own account (max_incoming_bytes) is far above it, so refusal,
// not throttling, is what happens. A message is bigger than a socket's
// kernel buffer (208 KiB here), so what the bus queues stays in its queue
// until the receiver reads, rather than vanishing into the kernel.
constexpr size_t kQueue = 4 * MiB;
constexpr size_t kBody = 256 * KiB;
std::string quota_config() {
  std::string c = kOpenBusConfig;
  c.insert(c.find("</busconfig>"), R"(  <limit name="max_outgoing_bytes">4194304</limit>
  <limit name="max_incoming_bytes">67108864</limit>
  <limit name="max_message_size">1048576</limit>
)");
  return c;
}

// How many messages of `body` bytes (plus at most `overhead` of header)
// fit in a third of `free_bytes`: the lower and upper bound. The first
// message of a sender always fits (a reading receiver must get any
// message up to max_message_size).
std::pair<size_t, size_t> messages_in_third(size_t free_bytes, size_t body, size_t overhead = 256) {
  return {std::max<size_t>(1, free_bytes / 3 / (body + overhead)), std::max<size_t>(1, free_bytes / 3 / body)};
}

// What came of a burst: how many of its messages the bus refused, and the
// text of the first refusal.
struct Burst {
  size_t sent = 0;
  size_t refused = 0;
  std::string first_text;
};

// Sends `count` messages, then a driver round trip: the bus handles one
// connection's messages in order, so every refusal of the burst has
// arrived before the round trip's reply.
Burst send_burst(RawBusConnection& c, const std::function<std::vector<uint8_t>(uint32_t)>& make, size_t count) {
  Burst b;
  uint32_t first = c.next_serial();
  uint32_t last = first;
  c.send_bytes(make(first));
  for (size_t i = 1; i < count; ++i) c.send_bytes(make(last = c.next_serial()));
  b.sent = count;
  c.call_driver("org.freedesktop.DBus", "GetId");
  auto refusal = [&](const RawMessage& m) {
    return m.is_error() && m.reply_serial >= first && m.reply_serial <= last;
  };
  while (auto e = c.wait_for(refusal, 0ms)) {
    if (e->error_name != kLimitsExceeded) throw std::runtime_error("unexpected error " + e->describe());
    if (b.refused++ == 0) {
      std::string_view text;
      auto body = e->body();
      if (body.read_string(text)) b.first_text = text;
    }
  }
  return b;
}

class QuotaTest : public ::testing::Test {
 protected:
  void start(const std::string& config = quota_config()) { bus_ = std::make_unique<BusDaemon>(config); }
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }
  // Lets other uids reach the socket (the bus directory is mkdtemp's 0700).
  void open_socket_to_everyone() {
    ::chmod(bus_->dir().c_str(), 0755);
    ::chmod(socket_path().c_str(), 0777);
  }
  std::unique_ptr<BusDaemon> bus_;
};

TEST_F(QuotaTest, OneUserGetsAThirdOfTheFreeQueueAndAnotherUserStillDelivers) {
  start();
  open_socket_to_everyone();
  RawBusConnection receiver(socket_path());  // reads only at the end
  receiver.authenticate_and_hello();
  const std::string to = receiver.unique_name();

  // Root floods first: a third of the shared half, then LimitsExceeded.
  RawBusConnection root(socket_path());
  root.authenticate_and_hello();
  Burst mine = send_burst(root, [&](uint32_t s) { return bulky_call(to, kBody, s); }, 8);
  size_t root_queued = mine.sent - mine.refused;
  auto [lo, hi] = messages_in_third(kQueue / 2, kBody);
  EXPECT_GE(root_queued, lo);
  EXPECT_LE(root_queued, hi);
  EXPECT_GT(mine.refused, 0u);
  EXPECT_THAT(mine.first_text, ::testing::HasSubstr("The message to " + to + " was refused"));
  EXPECT_THAT(mine.first_text, ::testing::HasSubstr("share of the receiver's queue"));
  EXPECT_THAT(mine.first_text, ::testing::HasSubstr("uid 0 has"));
  // More of the same stays refused: the share does not grow by asking.
  Burst again = send_burst(root, [&](uint32_t s) { return bulky_call(to, kBody, s); }, 3);
  EXPECT_EQ(again.refused, 3u);

  // Another uid still delivers: a third of what root left free.
  const TestUser& user = unprivileged_user();
  std::string path = socket_path();
  ForkedTask other([&](TaskChannel& channel) {
    become(user.uid, user.gid);
    RawBusConnection c(path);
    c.authenticate_and_hello();
    Burst b = send_burst(c, [&](uint32_t s) { return bulky_call(to, kBody, s); }, 8);
    channel.send(std::to_string(b.sent - b.refused) + " " + std::to_string(b.refused));
    channel.expect("bye", 10000ms);
    return 0;
  });
  auto line = other.channel().read_line(10000ms);
  ASSERT_TRUE(line.has_value());
  size_t other_queued = 0, other_refused = 0;
  std::istringstream(*line) >> other_queued >> other_refused;
  size_t root_bytes = root_queued * kBody;
  auto [olo, ohi] = messages_in_third(kQueue / 2 - root_bytes, kBody);
  EXPECT_GE(other_queued, std::max<size_t>(olo, 1)) << *line;
  EXPECT_LE(other_queued, ohi + 1) << *line;
  EXPECT_GT(other_refused, 0u) << *line;

  // The receiver gets every message that was queued, in order of arrival.
  size_t taken = 0;
  while (taken < root_queued + other_queued) {
    auto m = receiver.wait_for([](const RawMessage& m) { return m.member == "Take"; }, 5000ms);
    if (!m) break;
    ++taken;
  }
  EXPECT_EQ(taken, root_queued + other_queued);
  other.channel().send("bye");
  EXPECT_EQ(other.wait_exit(), 0);

  SdBusPeer observer(bus_->address());
  EXPECT_EQ(bus_stat(observer, "QuotaRefusals"), mine.refused + again.refused + other_refused);
  // One log line per episode: per (receiver, user), not per refusal.
  std::string log = bus_->log();
  size_t lines = 0;
  for (size_t pos = log.find("refused until its queue drains"); pos != std::string::npos;
       pos = log.find("refused until its queue drains", pos + 1))
    ++lines;
  EXPECT_EQ(lines, 2u) << log;
  EXPECT_THAT(log, ::testing::HasSubstr("comm test_integratio"));  // /proc/PID/comm (15 chars)
}

TEST_F(QuotaTest, AReplyOverTheCallersQuotaReachesTheCallerAsLimitsExceeded) {
  start();
  open_socket_to_everyone();
  RawBusConnection caller(socket_path());  // reads only once every reply was routed
  caller.authenticate_and_hello();
  // Another uid's service answers each call with a 256 KiB body: more
  // than its third of the caller's shared half holds.
  constexpr int kCalls = 6;
  const TestUser& user = unprivileged_user();
  std::string path = socket_path();
  ForkedTask service([&](TaskChannel& channel) {
    become(user.uid, user.gid);
    RawBusConnection c(path);
    c.authenticate_and_hello();
    channel.send(c.unique_name());
    for (int i = 0; i < kCalls; ++i) {
      auto call = c.wait_for([](const RawMessage& m) { return m.member == "Fetch"; }, 10000ms);
      if (!call) return 4;
      wire::MessageBuilder b(wire::MessageType::method_return);
      b.destination(call->sender).reply_serial(call->serial);
      b.body("s").put_string(std::string(kBody, 'r'));
      c.send_bytes(b.finish(c.next_serial()));
    }
    c.call_driver("org.freedesktop.DBus", "GetId");  // every reply has been routed
    channel.send("replied");
    return 0;
  });
  auto name = service.channel().read_line(10000ms);
  ASSERT_TRUE(name.has_value());
  std::vector<uint32_t> serials;
  for (int i = 0; i < kCalls; ++i) {
    wire::MessageBuilder b(wire::MessageType::method_call);
    b.path("/").interface("org.example.Bulk").member("Fetch").destination(*name);
    serials.push_back(caller.next_serial());
    caller.send_bytes(b.finish(serials.back()));
  }
  ASSERT_EQ(service.channel().read_line(20000ms).value_or("(nothing)"), "replied");
  EXPECT_EQ(service.wait_exit(), 0);

  // Every call has exactly one answer, in order: its reply, or the bus's
  // LimitsExceeded for a reply that did not fit (no caller waits forever).
  size_t replies = 0, refusals = 0;
  std::string first_text;
  for (uint32_t serial : serials) {
    auto answer = caller.wait_for([serial](const RawMessage& m) { return m.reply_serial == serial; }, 5000ms);
    ASSERT_TRUE(answer.has_value()) << "call " << serial << " got no answer";
    if (!answer->is_error()) {
      ++replies;
      continue;
    }
    EXPECT_EQ(answer->error_name, kLimitsExceeded);
    EXPECT_EQ(answer->sender, "org.freedesktop.DBus");
    if (refusals++ == 0) {
      std::string_view text;
      auto body = answer->body();
      body.read_string(text);
      first_text = text;
    }
  }
  EXPECT_GE(replies, 1u);
  EXPECT_GT(refusals, 0u);
  EXPECT_THAT(first_text, ::testing::HasSubstr("The reply from " + *name + " was dropped"));
}

TEST_F(QuotaTest, BroadcastsOverQuotaAreDroppedForTheReceiverAloneAndCountedWithMessagesLost) {
  start();
  RawBusConnection slow(socket_path());  // reads only at the end
  slow.authenticate_and_hello();
  slow.add_match(kFloodRule);
  RawBusConnection quick(socket_path());  // reads as it goes
  quick.authenticate_and_hello();
  quick.add_match(kFloodRule);
  RawBusConnection sender(socket_path());
  sender.authenticate_and_hello();

  constexpr size_t kSignals = 12;
  size_t quick_got = 0;
  uint32_t first = sender.next_serial();
  for (size_t i = 0; i < kSignals; ++i) {
    sender.send_bytes(bulky_signal(kBody, i == 0 ? first : sender.next_serial()));
    // The reading subscriber keeps up, so it loses nothing.
    if (quick.wait_for(is_raw_signal("Spam"), 5000ms)) ++quick_got;
  }
  auto sync = sender.call_driver("org.freedesktop.DBus", "GetId");
  EXPECT_FALSE(sync.is_error());
  EXPECT_EQ(quick_got, kSignals);
  // The sender is never told: a broadcast has no one error to give.
  EXPECT_FALSE(sender.wait_for([](const RawMessage& m) { return m.is_error(); }, 0ms).has_value());

  // The slow subscriber gets what fitted, then one MessagesLost with the
  // number of the rest.
  size_t spam = 0;
  std::optional<RawMessage> lost;
  while (!lost) {
    auto m = slow.receive(5000ms);
    if (!m) break;
    if (m->member == "Spam") ++spam;
    if (m->member == "MessagesLost") lost = std::move(m);
  }
  ASSERT_TRUE(lost.has_value()) << "no MessagesLost after " << spam << " signals";
  EXPECT_EQ(lost->interface, "org.kdbusd.Bus1");
  EXPECT_EQ(lost->path, "/org/freedesktop/DBus");
  EXPECT_EQ(lost->sender, "org.freedesktop.DBus");
  EXPECT_EQ(lost->destination, slow.unique_name());
  uint32_t count = 0;
  auto body = lost->body();
  ASSERT_TRUE(body.read_u32(count));
  auto [lo, hi] = messages_in_third(kQueue / 2, kBody);
  EXPECT_GE(spam, lo);
  EXPECT_LE(spam, hi);
  EXPECT_EQ(spam + count, kSignals);

  // A second episode is counted afresh, and only once: coalesced into one
  // signal however many were dropped.
  for (size_t i = 0; i < kSignals; ++i) {
    sender.send_bytes(bulky_signal(kBody, sender.next_serial()));
    if (quick.wait_for(is_raw_signal("Spam"), 5000ms)) ++quick_got;
  }
  sender.call_driver("org.freedesktop.DBus", "GetId");
  EXPECT_EQ(quick_got, 2 * kSignals);
  size_t spam2 = 0, reports = 0;
  uint32_t count2 = 0;
  while (spam2 + count2 < kSignals) {
    auto m = slow.receive(5000ms);
    if (!m) break;
    if (m->member == "Spam") ++spam2;
    if (m->member == "MessagesLost") {
      ++reports;
      uint32_t c = 0;
      auto b = m->body();
      b.read_u32(c);
      count2 += c;
    }
  }
  EXPECT_EQ(spam2 + count2, kSignals);
  EXPECT_EQ(reports, 1u);

  SdBusPeer observer(bus_->address());
  EXPECT_EQ(bus_stat(observer, "QuotaDrops"), count + count2);
  EXPECT_EQ(bus_stat(observer, "QuotaRefusals"), 0u);
}

// The bus's own messages carry TIMESTAMP to a receiver that asked for it
// (kdbus: kernel messages carry only TIMESTAMP), MessagesLost too, though
// it is queued when room comes back rather than routed.
TEST_F(QuotaTest, MessagesLostCarriesTheTimestampItsReceiverAskedFor) {
  start();
  RawBusConnection slow(socket_path());  // reads only at the end
  slow.authenticate_and_hello();
  slow.update_attach_flags(0, kdbus::attach::timestamp);
  slow.add_match(kFloodRule);
  RawBusConnection sender(socket_path());
  sender.authenticate_and_hello();
  for (size_t i = 0; i < 12; ++i) sender.send_bytes(bulky_signal(kBody, sender.next_serial()));
  EXPECT_FALSE(sender.call_driver("org.freedesktop.DBus", "GetId").is_error());  // all routed by now

  std::optional<RawMessage> lost;
  while (!lost) {
    auto m = slow.receive(5000ms);
    if (!m) break;
    if (m->member == "MessagesLost") lost = std::move(m);
  }
  ASSERT_TRUE(lost.has_value()) << "no MessagesLost";
  auto md = lost->metadata();
  ASSERT_TRUE(md.has_value()) << "MessagesLost without field 128 to a receiver of TIMESTAMP";
  EXPECT_TRUE(md->timestamp.has_value());
  EXPECT_FALSE(md->creds.has_value()) << "the bus's message carries TIMESTAMP only";
}

TEST_F(QuotaTest, ASenderMayQueueSixteenFdsForOneReceiver) {
  start();
  SdBusPeer receiver(bus_->address());  // negotiates fds, never reads
  SdBusPeer sender(bus_->address());
  const std::string to = receiver.unique_name();
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  // One large call first, so that the receiver's kernel buffer is full and
  // what follows stays in the bus's queue for it.
  std::string filler(512 * KiB, 'x');
  sender.send_call(to.c_str(), "/sink", "org.example.Sink", "Take", "s", filler.c_str());
  std::vector<uint64_t> cookies;
  for (int i = 0; i < 20; ++i)
    cookies.push_back(sender.send_call(to.c_str(), "/sink", "org.example.Sink", "TakeFd", "h", pipe_fds[0]));
  // The last four are over the 16 fds root may have queued for the
  // receiver; their errors come in order, the last one last.
  auto got = sender.take_until([&](const Received& r) { return r.reply_cookie == cookies.back(); });
  size_t refused = 0;
  std::string text;
  for (auto& r : got) {
    if (r.error_name != kLimitsExceeded) continue;
    if (refused++ == 0) text = r.args.empty() ? "" : r.args[0];
  }
  EXPECT_EQ(refused, 4u);  // kdbus KDBUS_CONN_MAX_FDS_PER_USER: 16
  // Root's first sixteen wait for the receiver, fds and all.
  size_t fds_received = 0;
  while (fds_received < 16 && receiver.wait_for(is_method_call("TakeFd"))) ++fds_received;
  EXPECT_EQ(fds_received, 16u);
  EXPECT_THAT(text, ::testing::HasSubstr("file descriptors"));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

// conf/session.conf as shipped, listening in the test's directory.
std::string shipped_session_config() {
  std::ifstream in(std::filesystem::path(KDBUSD_ITEST_SOURCE_DIR) / "../../conf/session.conf");
  std::string c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto open = c.find("<listen>");
  auto close = c.find("</listen>");
  if (open == std::string::npos || close == std::string::npos) throw std::runtime_error("no <listen> in session.conf");
  c.replace(open, close + 9 - open, "<listen>unix:path=@BUS_DIR@/bus</listen>");
  return c;
}

TEST_F(QuotaTest, ShippedSessionConfigHoldsAtMost128MiBForOneFloodingUid) {
  start(shipped_session_config());
  // A reading receiver gets a 16 MiB body.
  constexpr size_t kBig = 16 * MiB;
  RawBusConnection reader(socket_path());
  reader.authenticate_and_hello();
  RawBusConnection writer(socket_path());
  writer.authenticate_and_hello();
  writer.send_bytes(bulky_call(reader.unique_name(), kBig, writer.next_serial()));
  auto big = reader.wait_for([](const RawMessage& m) { return m.member == "Take"; }, 10000ms);
  ASSERT_TRUE(big.has_value());
  EXPECT_GT(big->bytes.size(), kBig);
  big.reset();

  // Three receivers that never read, flooded with 16 MiB calls: the queue
  // of each would take ~159 MiB (a third of half of max_outgoing_bytes =
  // 10^9), but the uid may hold 128 MiB in all.
  size_t rss_before = resident_bytes(bus_->pid());
  std::vector<std::unique_ptr<RawBusConnection>> sinks;
  size_t queued = 0, refused = 0;
  std::string text;
  for (size_t burst : {4, 4, 4}) {
    sinks.push_back(std::make_unique<RawBusConnection>(socket_path()));
    sinks.back()->authenticate_and_hello();
    // Built once per receiver; each copy gets its own serial (bytes 8–11).
    auto call = bulky_call(sinks.back()->unique_name(), kBig, 1);
    auto with_serial = [&](uint32_t s) {
      std::memcpy(call.data() + 8, &s, sizeof s);  // little-endian, as built
      return call;
    };
    Burst b = send_burst(writer, with_serial, burst);
    queued += b.sent - b.refused;
    refused += b.refused;
    if (text.empty()) text = b.first_text;
  }
  size_t rss_after = resident_bytes(bus_->pid());
  // 4 + 3: 7 × (16 MiB + header) fit in 128 MiB, an 8th does not,
  // though each receiver's own queue would take ~159 MiB of it.
  EXPECT_EQ(queued, 7u);
  EXPECT_EQ(refused, 5u);
  EXPECT_THAT(text, ::testing::HasSubstr("bytes queued on the bus"));
  // What the daemon holds grows by the queued messages only (plus the
  // allocator's slack), not by all 192 MiB that was sent.
  EXPECT_LT(rss_after, rss_before + 128 * MiB + 32 * MiB)
      << "daemon RSS " << rss_after / MiB << " MiB (was " << rss_before / MiB << " MiB)";

  // Once the receivers are gone the uid's account is free again.
  std::vector<std::string> names;
  for (auto& s : sinks) names.push_back(s->unique_name());
  sinks.clear();
  for (const auto& name : names) {
    // Each call waits on the bus; the bus sees the hang-up soon after.
    auto deadline = std::chrono::steady_clock::now() + 5000ms;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = writer.call_driver("org.freedesktop.DBus", "NameHasOwner", "s",
                                  [&](wire::Writer& w) { w.put_string(name); });
      bool owned = true;
      auto body = r.body();
      if (!r.is_error()) body.read_bool(owned);
      if (!owned) break;
    }
  }
  RawBusConnection reader2(socket_path());
  reader2.authenticate_and_hello();
  writer.send_bytes(bulky_call(reader2.unique_name(), kBig, writer.next_serial()));
  EXPECT_TRUE(reader2.wait_for([](const RawMessage& m) { return m.member == "Take"; }, 10000ms).has_value());
}

}  // namespace
}  // namespace kdbusd::itest
