// Per-user limits against the real daemon (issue 6, "fair accounting"):
// names, match rules and calls awaiting a reply are charged to the uid
// whose connections hold them, across all its connections; a uid at its
// limit gets LimitsExceeded naming the limit, gets room back as its
// connections give things back, and other uids are not affected. Any
// per-user limit can be set for one uid with <limit user="...">.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "bus_fixture.hpp"
#include "domain_users.hpp"
#include "metadata_forked_task.hpp"
#include "metadata_raw_connection.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

namespace wire = kdbus::wire;
using namespace std::chrono_literals;

constexpr const char* kLimitsExceeded = "org.freedesktop.DBus.Error.LimitsExceeded";

std::string config_with(const std::string& limits) {
  std::string c = kOpenBusConfig;
  c.insert(c.find("</busconfig>"), limits);
  return c;
}

// The reply to a driver call, as "ok" or "<error name>: <text>".
std::string outcome(const RawMessage& reply) {
  if (!reply.is_error()) return "ok";
  std::string_view text;
  auto body = reply.body();
  body.read_string(text);
  return reply.error_name + ": " + std::string(text);
}

std::string request_name(RawBusConnection& c, const std::string& name) {
  return outcome(c.call_driver("org.freedesktop.DBus", "RequestName", "su", [&](wire::Writer& w) {
    w.put_string(name);
    w.put_u32(0);
  }));
}

std::string release_name(RawBusConnection& c, const std::string& name) {
  return outcome(c.call_driver("org.freedesktop.DBus", "ReleaseName", "s",
                               [&](wire::Writer& w) { w.put_string(name); }));
}

std::string match_call(RawBusConnection& c, const char* member, const std::string& rule) {
  return outcome(c.call_driver("org.freedesktop.DBus", member, "s", [&](wire::Writer& w) { w.put_string(rule); }));
}

std::string rule(int i) { return "type='signal',member='Tick" + std::to_string(i) + "'"; }

// Calls `dest` (which never answers): "pending" if the bus took the call
// and holds its reply slot, else the error it answered with. A driver
// round trip after the call orders it: an error would be there by then.
std::string unanswered_call(RawBusConnection& c, const std::string& dest) {
  wire::MessageBuilder b(wire::MessageType::method_call);
  b.path("/").interface("org.example.Idle").member("Wait").destination(dest);
  uint32_t serial = c.next_serial();
  c.send_bytes(b.finish(serial));
  c.call_driver("org.freedesktop.DBus", "GetId");
  auto error = c.wait_for([serial](const RawMessage& m) { return m.is_error() && m.reply_serial == serial; }, 0ms);
  return error ? outcome(*error) : "pending";
}

class UserLimitsTest : public ::testing::Test {
 protected:
  void start(const std::string& limits) {
    bus_ = std::make_unique<BusDaemon>(config_with(limits));
    // Lets other uids reach the socket (the bus directory is mkdtemp's 0700).
    ::chmod(bus_->dir().c_str(), 0755);
    ::chmod(socket_path().c_str(), 0777);
  }
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }
  std::unique_ptr<RawBusConnection> connect() {
    auto c = std::make_unique<RawBusConnection>(socket_path());
    c->authenticate_and_hello();
    return c;
  }
  // Runs `body` as the unprivileged test user on its own connection and
  // returns the line it sends back.
  std::string as_other_user(const std::function<std::string(RawBusConnection&)>& body) {
    const TestUser& user = unprivileged_user();
    std::string path = socket_path();
    ForkedTask task([&](TaskChannel& channel) {
      become(user.uid, user.gid);
      RawBusConnection c(path);
      c.authenticate_and_hello();
      channel.send(body(c));
      return 0;
    });
    auto line = task.channel().read_line(10000ms);
    EXPECT_EQ(task.wait_exit(), 0);
    return line.value_or("(no answer)");
  }
  std::unique_ptr<BusDaemon> bus_;
};

TEST_F(UserLimitsTest, NamesAreChargedToTheUidAcrossItsConnections) {
  start(R"(  <limit name="max_names_per_user">3</limit>
)");
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(request_name(*a, "org.example.A1"), "ok");
  EXPECT_EQ(request_name(*a, "org.example.A2"), "ok");
  EXPECT_EQ(request_name(*b, "org.example.B1"), "ok");
  // The fourth, on either connection, is one too many for the uid.
  std::string refused = request_name(*b, "org.example.B2");
  EXPECT_THAT(refused, ::testing::StartsWith(kLimitsExceeded));
  EXPECT_THAT(refused, ::testing::HasSubstr("max_names_per_user=3"));
  // Asking again for a name it already owns takes nothing more.
  EXPECT_EQ(outcome(a->call_driver("org.freedesktop.DBus", "RequestName", "su", [](wire::Writer& w) {
              w.put_string("org.example.A1");
              w.put_u32(0);
            })),
            "ok");

  // Another uid owns names of its own.
  EXPECT_EQ(as_other_user([](RawBusConnection& c) { return request_name(c, "org.example.Other"); }), "ok");

  // Released or gone with their connection, names make room again.
  EXPECT_EQ(release_name(*a, "org.example.A2"), "ok");
  EXPECT_EQ(request_name(*b, "org.example.B2"), "ok");
  EXPECT_THAT(request_name(*b, "org.example.B3"), ::testing::StartsWith(kLimitsExceeded));
  a.reset();
  auto c = connect();
  EXPECT_EQ(request_name(*c, "org.example.C1"), "ok");
  EXPECT_THAT(request_name(*c, "org.example.C2"), ::testing::StartsWith(kLimitsExceeded));
}

TEST_F(UserLimitsTest, AWaitInANamesQueueCountsUntilItIsGivenUp) {
  start(R"(  <limit name="max_names_per_user">2</limit>
)");
  // Another uid owns the name and lets it be replaced; root waits in the
  // queue for it, which costs one of root's two names.
  const TestUser& user = unprivileged_user();
  std::string path = socket_path();
  ForkedTask owner([&](TaskChannel& channel) {
    become(user.uid, user.gid);
    RawBusConnection c(path);
    c.authenticate_and_hello();
    auto r = c.call_driver("org.freedesktop.DBus", "RequestName", "su", [](wire::Writer& w) {
      w.put_string("org.example.Shared");
      w.put_u32(1);  // ALLOW_REPLACEMENT
    });
    channel.send(outcome(r));
    channel.expect("bye", 10000ms);
    return 0;
  });
  ASSERT_EQ(owner.channel().read_line(10000ms).value_or(""), "ok");
  auto a = connect();
  EXPECT_EQ(request_name(*a, "org.example.Mine"), "ok");
  auto queued = a->call_driver("org.freedesktop.DBus", "RequestName", "su", [](wire::Writer& w) {
    w.put_string("org.example.Shared");
    w.put_u32(0);  // queue behind the owner
  });
  uint32_t result = 0;
  auto body = queued.body();
  ASSERT_TRUE(!queued.is_error() && body.read_u32(result)) << queued.describe();
  EXPECT_EQ(result, 2u) << "IN_QUEUE";
  EXPECT_THAT(request_name(*a, "org.example.Third"), ::testing::StartsWith(kLimitsExceeded));
  // Leaving the queue gives the name back.
  EXPECT_EQ(release_name(*a, "org.example.Shared"), "ok");
  EXPECT_EQ(request_name(*a, "org.example.Third"), "ok");
  owner.channel().send("bye");
  EXPECT_EQ(owner.wait_exit(), 0);
}

TEST_F(UserLimitsTest, MatchRulesAreChargedToTheUidAcrossItsConnections) {
  start(R"(  <limit name="max_match_rules_per_user">4</limit>
)");
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(match_call(*a, "AddMatch", rule(1)), "ok");
  EXPECT_EQ(match_call(*a, "AddMatch", rule(1)), "ok") << "an equal rule is one more reference";
  EXPECT_EQ(match_call(*b, "AddMatch", rule(2)), "ok");
  EXPECT_EQ(match_call(*b, "AddMatch", rule(3)), "ok");
  std::string refused = match_call(*a, "AddMatch", rule(4));
  EXPECT_THAT(refused, ::testing::StartsWith(kLimitsExceeded));
  EXPECT_THAT(refused, ::testing::HasSubstr("max_match_rules_per_user=4"));

  EXPECT_EQ(as_other_user([](RawBusConnection& c) { return match_call(c, "AddMatch", rule(1)); }), "ok");

  EXPECT_EQ(match_call(*a, "RemoveMatch", rule(1)), "ok");
  EXPECT_EQ(match_call(*b, "AddMatch", rule(4)), "ok");
  EXPECT_THAT(match_call(*b, "AddMatch", rule(5)), ::testing::StartsWith(kLimitsExceeded));
  b.reset();  // its three rules go with it
  auto c = connect();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(match_call(*c, "AddMatch", rule(10 + i)), "ok") << i;
  EXPECT_THAT(match_call(*c, "AddMatch", rule(13)), ::testing::StartsWith(kLimitsExceeded));

  SdBusPeer observer(bus_->address());
  EXPECT_EQ(bus_stat(observer, "UserLimitRefusals"), 3u);
}

TEST_F(UserLimitsTest, CallsAwaitingAReplyAreChargedToTheCallersUid) {
  start(R"(  <limit name="max_replies_per_user">3</limit>
)");
  auto service = connect();  // never reads what it is sent
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(unanswered_call(*a, service->unique_name()), "pending");
  EXPECT_EQ(unanswered_call(*a, service->unique_name()), "pending");
  EXPECT_EQ(unanswered_call(*b, service->unique_name()), "pending");
  std::string refused = unanswered_call(*b, service->unique_name());
  EXPECT_THAT(refused, ::testing::StartsWith(kLimitsExceeded));
  EXPECT_THAT(refused, ::testing::HasSubstr("max_replies_per_user=3"));

  // Calls of another uid still go through.
  std::string dest = service->unique_name();
  EXPECT_EQ(as_other_user([dest](RawBusConnection& c) { return unanswered_call(c, dest); }), "pending");

  // A caller that goes away gives its slots back.
  a.reset();
  EXPECT_EQ(unanswered_call(*b, service->unique_name()), "pending");
  EXPECT_EQ(unanswered_call(*b, service->unique_name()), "pending");
  EXPECT_THAT(unanswered_call(*b, service->unique_name()), ::testing::StartsWith(kLimitsExceeded));
  // So does a callee that goes away: its callers get NoReply.
  service.reset();
  auto no_reply = b->wait_for(
      [](const RawMessage& m) { return m.error_name == "org.freedesktop.DBus.Error.NoReply"; }, 5000ms);
  EXPECT_TRUE(no_reply.has_value());
  auto other_service = connect();
  EXPECT_EQ(unanswered_call(*b, other_service->unique_name()), "pending");
}

TEST_F(UserLimitsTest, ALimitCanBeSetForOneUid) {
  const TestUser& user = unprivileged_user();
  start("  <limit name=\"max_match_rules_per_user\" user=\"" + std::to_string(user.uid) + R"(">1</limit>
  <limit name="max_names_per_user" user="root">1</limit>
)");
  // Root may own one name, but add rules as every uid may.
  auto a = connect();
  EXPECT_EQ(request_name(*a, "org.example.One"), "ok");
  EXPECT_THAT(request_name(*a, "org.example.Two"), ::testing::StartsWith(kLimitsExceeded));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(match_call(*a, "AddMatch", rule(i)), "ok");
  // The test user may add one rule, but own names as every uid may.
  std::string line = as_other_user([](RawBusConnection& c) {
    std::ostringstream out;
    out << match_call(c, "AddMatch", rule(1)) << " | " << match_call(c, "AddMatch", rule(2)) << " | "
        << request_name(c, "org.example.U1") << " | " << request_name(c, "org.example.U2");
    return out.str();
  });
  EXPECT_THAT(line, ::testing::MatchesRegex("ok \\| " + std::string(kLimitsExceeded) + ".* \\| ok \\| ok"));
}

// A reload gives a uid already on the bus its new limits at once (every
// account is refreshed, Bus::set_settings): a raised limit admits more, a
// lowered one refuses the next request; what is held stays held.
TEST_F(UserLimitsTest, AReloadGivesAConnectedUidItsNewLimits) {
  start(R"(  <limit name="max_names_per_user">2</limit>
)");
  auto a = connect();
  EXPECT_EQ(request_name(*a, "org.example.A1"), "ok");
  EXPECT_EQ(request_name(*a, "org.example.A2"), "ok");
  EXPECT_THAT(request_name(*a, "org.example.A3"), ::testing::StartsWith(kLimitsExceeded));

  auto reload_with = [&](int names) {
    const auto path = bus_->dir() / "bus.conf";
    std::stringstream text;
    text << std::ifstream(path).rdbuf();
    std::string conf = text.str();
    const std::string key = R"(<limit name="max_names_per_user">)";
    size_t at = conf.find(key) + key.size();
    conf.replace(at, conf.find('<', at) - at, std::to_string(names));
    std::ofstream(path) << conf;
    return outcome(a->call_driver("org.freedesktop.DBus", "ReloadConfig"));
  };
  ASSERT_EQ(reload_with(4), "ok");
  EXPECT_EQ(request_name(*a, "org.example.A3"), "ok");
  EXPECT_EQ(request_name(*a, "org.example.A4"), "ok");
  std::string refused = request_name(*a, "org.example.A5");
  EXPECT_THAT(refused, ::testing::StartsWith(kLimitsExceeded));
  EXPECT_THAT(refused, ::testing::HasSubstr("max_names_per_user=4"));

  ASSERT_EQ(reload_with(1), "ok");
  refused = request_name(*a, "org.example.A5");
  EXPECT_THAT(refused, ::testing::HasSubstr("max_names_per_user=1"));
  EXPECT_EQ(release_name(*a, "org.example.A4"), "ok") << "names held over the new limit stay held";
  EXPECT_EQ(release_name(*a, "org.example.A1"), "ok");
}

}  // namespace
}  // namespace kdbusd::itest
