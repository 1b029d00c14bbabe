// dbus-daemon behaviours that its own test suite pins and that kdbusd
// reproduces: connection limits answered at Hello, what monitors see of
// refused messages and in which order, destination= monitor rules that
// follow name ownership, and the driver's answers at a non-canonical path.
// Every test also holds against /usr/bin/dbus-daemon (KDBUSD_TEST_DAEMON),
// except the second half of OverMaxIncomingBytesTheBusStopsReadingTheSender:
// dbus-daemon 1.14 did not resume reading the sender within 20 s after the
// queued message left (docs/compat.md).
#include <sys/prctl.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const char* const kLimitedConfig = R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS_DIR@/bus</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
  <limit name="max_connections_per_user">2</limit>
</busconfig>
)";

// Like dbus-daemon's forbidding.conf: some messages may not be sent.
const char* const kForbiddingConfig = R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS_DIR@/bus</listen>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
    <allow user="*"/>
    <deny send_interface="com.example.CannotSend"/>
    <deny send_interface="com.example.CannotBroadcast" send_broadcast="true"/>
  </policy>
</busconfig>
)";

CallResult become_monitor(SdBusPeer& peer, const char* path = kDriverPath) {
  sd_bus_message* m = nullptr;
  sd_bus_message_new_method_call(peer.bus(), &m, kDriverName, path, "org.freedesktop.DBus.Monitoring",
                                 "BecomeMonitor");
  MessagePtr call(m);
  sd_bus_message_append(m, "as", 0);
  sd_bus_message_append(m, "u", 0u);
  return peer.call_message(std::move(call));
}

TEST(ConnectionLimits, OverTheLimitHelloFailsWithLimitsExceededAndTheSlotIsReusable) {
  BusDaemon bus(kLimitedConfig);
  auto first = std::make_unique<SdBusPeer>(bus.address());
  SdBusPeer second(bus.address());
  std::vector<std::string> get_id{"dbus-send", "--bus=" + bus.address(), "--print-reply",
                                  "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus.GetId"};
  auto refused = run_command(get_id, milliseconds(10000));
  EXPECT_FALSE(refused.ok()) << refused.describe();
  EXPECT_THAT(refused.err, HasSubstr("Failed to register"));  // dbus-send prints the text only
  EXPECT_THAT(refused.err, HasSubstr("The maximum number of active connections for UID"));

  first.reset();
  // The bus notices the disconnect before it answers a new Hello: a round
  // trip on the remaining connection orders the two.
  ASSERT_TRUE(second.call_driver("GetId").ok());
  auto allowed = run_command(get_id, milliseconds(10000));
  EXPECT_TRUE(allowed.ok()) << allowed.describe();
}

const char* const kIncomingLimitConfig = R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS_DIR@/bus</listen>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
  <limit name="max_incoming_bytes">1</limit>
</busconfig>
)";

TEST(ConnectionLimits, OverMaxIncomingBytesTheBusStopsReadingTheSender) {
  BusDaemon bus(kIncomingLimitConfig);
  SdBusPeer sender(bus.address());
  SdBusPeer recipient(bus.address());  // reads only when pumped
  // More than a socket buffer holds: the rest stays queued in the bus,
  // charged to the sender, until the recipient reads.
  std::vector<uint8_t> big(4 << 20, 0x5a);
  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_signal(sender.bus(), &m, "/foo", "com.example.Itest", "Big"), 0);
  MessagePtr signal(m);
  ASSERT_GE(sd_bus_message_set_destination(m, recipient.unique_name().c_str()), 0);
  ASSERT_GE(sd_bus_message_append_array(m, 'y', big.data(), big.size()), 0);
  sender.send_message(std::move(signal));
  uint64_t cookie = sender.send_call(kDriverName, kDriverPath, kDriverInterface, "GetId");
  EXPECT_FALSE(sender.wait_reply(cookie, milliseconds(500))) << "the bus kept reading an over-limit sender";

  ASSERT_TRUE(recipient.wait_for(is_signal("com.example.Itest", "Big"), milliseconds(10000)));
  EXPECT_TRUE(sender.wait_reply(cookie, milliseconds(5000))) << "the bus did not resume reading the sender";
}

class Forbidding : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = std::make_unique<BusDaemon>(kForbiddingConfig);
    monitor_ = std::make_unique<SdBusPeer>(bus_->address());
    sender_ = std::make_unique<SdBusPeer>(bus_->address());
    recipient_ = std::make_unique<SdBusPeer>(bus_->address());
    auto r = become_monitor(*monitor_);
    ASSERT_TRUE(r.ok()) << r.describe();
    monitor_->wait_for(is_name_signal("NameLost", monitor_->unique_name()));
    monitor_->inbox().clear();
  }
  std::unique_ptr<BusDaemon> bus_;
  std::unique_ptr<SdBusPeer> monitor_, sender_, recipient_;
};

TEST_F(Forbidding, MonitorsSeeARefusedUnicastBeforeTheError) {
  uint64_t cookie =
      sender_->emit(recipient_->unique_name().c_str(), "/foo", "com.example.CannotSend", "Unicast");
  auto seen = monitor_->take_until([](const Received& m) { return !m.error_name.empty(); });
  ASSERT_EQ(seen.size(), 2u) << "monitor saw: " << ::testing::PrintToString(briefs(seen));
  EXPECT_TRUE(seen[0].is_signal("com.example.CannotSend", "Unicast"));
  EXPECT_EQ(seen[1].error_name, "org.freedesktop.DBus.Error.AccessDenied");
  EXPECT_EQ(seen[1].sender, kDriverName);
  EXPECT_EQ(seen[1].reply_cookie, cookie);
  auto error = sender_->wait_for([](const Received& m) { return !m.error_name.empty(); });
  ASSERT_TRUE(error) << "the sender got no AccessDenied";
}

TEST_F(Forbidding, ARefusedBroadcastIsReportedToMonitorsOnly) {
  ASSERT_TRUE(recipient_->add_match("type='signal',interface='com.example.CannotBroadcast'").ok());
  monitor_->pump(milliseconds(100));
  monitor_->inbox().clear();  // the AddMatch call and its reply
  uint64_t cookie = sender_->emit(nullptr, "/foo", "com.example.CannotBroadcast", "Broadcast");
  auto seen = monitor_->take_until([](const Received& m) { return !m.error_name.empty(); });
  ASSERT_EQ(seen.size(), 2u) << "monitor saw: " << ::testing::PrintToString(briefs(seen));
  EXPECT_TRUE(seen[0].is_signal("com.example.CannotBroadcast", "Broadcast"));
  EXPECT_EQ(seen[1].error_name, "org.freedesktop.DBus.Error.AccessDenied");
  EXPECT_EQ(seen[1].destination, sender_->unique_name());
  EXPECT_EQ(seen[1].reply_cookie, cookie);
  // The sender is not told (it broadcast to nobody in particular) and the
  // recipient gets nothing: a round trip shows nothing else is on the way.
  ASSERT_TRUE(sender_->call_driver("GetId").ok());
  ASSERT_TRUE(recipient_->call_driver("GetId").ok());
  for (const auto& m : sender_->inbox()) EXPECT_TRUE(m.error_name.empty()) << m.describe();
  for (const auto& m : recipient_->inbox())
    EXPECT_FALSE(m.is_signal("com.example.CannotBroadcast", "Broadcast")) << m.describe();
}

// Gives this process another name (/proc/PID/comm) while it lives; the
// tests run on the process's main thread, whose name that is.
class ProcessName {
 public:
  explicit ProcessName(const char* name) {
    ::prctl(PR_GET_NAME, saved_);
    ok_ = ::prctl(PR_SET_NAME, name) == 0;
  }
  ~ProcessName() { ::prctl(PR_SET_NAME, saved_); }
  ProcessName(const ProcessName&) = delete;
  ProcessName& operator=(const ProcessName&) = delete;
  bool ok() const { return ok_; }

 private:
  char saved_[16] = {};
  bool ok_ = false;
};

// AccessDenied names the sender's process by its comm, which a process
// sets to any bytes (PR_SET_NAME): the error must still be valid D-Bus,
// valid UTF-8 included, and reach the sender.
TEST_F(Forbidding, AccessDeniedReachesASenderWhoseProcessNameIsNotUtf8) {
  CallResult r;
  {
    ProcessName name("itest-\xff\xfe");
    ASSERT_TRUE(name.ok());
    r = sender_->call(recipient_->unique_name().c_str(), "/foo", "com.example.CannotSend", "Call");
  }
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.AccessDenied") << r.describe() << bus_->log();
  EXPECT_THAT(r.error_message, HasSubstr("comm=\"itest-")) << r.error_message;
}

// The same for the copy of a refused broadcast's error that only
// monitors see.
TEST_F(Forbidding, MonitorsSeeTheRefusalOfABroadcastFromAProcessWhoseNameIsNotUtf8) {
  // The AddMatch call and its reply reach the monitor first: no error.
  ASSERT_TRUE(recipient_->add_match("type='signal',interface='com.example.CannotBroadcast'").ok());
  uint64_t cookie;
  {
    ProcessName name("itest-\xff\xfe");
    ASSERT_TRUE(name.ok());
    cookie = sender_->emit(nullptr, "/foo", "com.example.CannotBroadcast", "Broadcast");
    ASSERT_TRUE(sender_->call_driver("GetId").ok());  // the bus has handled the broadcast
  }
  auto seen = monitor_->take_until([](const Received& m) { return !m.error_name.empty(); });
  ASSERT_FALSE(seen.empty()) << bus_->log();
  EXPECT_EQ(seen.back().error_name, "org.freedesktop.DBus.Error.AccessDenied") << bus_->log();
  EXPECT_EQ(seen.back().reply_cookie, cookie);
}

TEST(ConsolePolicy, AtConsoleRulesFollowLogindSeats) {
  // Whether this uid has a seat decides which context applies; the test
  // asks logind the same question the bus does.
  const bool seated = sd_uid_get_seats(getuid(), 0, nullptr) > 0;
  std::string config = kForbiddingConfig;
  config.replace(config.find("</busconfig>"), std::string("</busconfig>").size(),
                 R"(<policy at_console="true"><deny send_interface="com.example.OnConsole"/></policy>
  <policy at_console="false"><deny send_interface="com.example.NotOnConsole"/></policy>
</busconfig>)");
  BusDaemon bus(config);
  SdBusPeer sender(bus.address());
  SdBusPeer recipient(bus.address());
  auto call = [&](const char* iface) {
    return sender.call(recipient.unique_name().c_str(), "/", iface, "Ping").error_name;
  };
  // Only the refused call is checked: the recipient never answers calls.
  auto denied = seated ? "com.example.OnConsole" : "com.example.NotOnConsole";
  EXPECT_EQ(call(denied), "org.freedesktop.DBus.Error.AccessDenied");
}

TEST(MonitorRules, DestinationFollowsTheAddressedConnectionsNames) {
  BusDaemon bus;
  SdBusPeer monitor(bus.address());
  SdBusPeer sender(bus.address());
  SdBusPeer recipient(bus.address());
  ASSERT_EQ(recipient.request_name("com.example.Recipient").u32(), 1u);
  sd_bus_message* m = nullptr;
  sd_bus_message_new_method_call(monitor.bus(), &m, kDriverName, kDriverPath, "org.freedesktop.DBus.Monitoring",
                                 "BecomeMonitor");
  MessagePtr call(m);
  sd_bus_message_append(m, "as", 1, "destination='com.example.Recipient'");
  sd_bus_message_append(m, "u", 0u);
  ASSERT_TRUE(monitor.call_message(std::move(call)).ok());

  sender.emit("com.example.Recipient", "/foo", "com.example.Itest", "ToWellKnown");
  sender.emit(recipient.unique_name().c_str(), "/foo", "com.example.Itest", "ToUnique");
  sender.emit(sender.unique_name().c_str(), "/foo", "com.example.Itest", "ToSelf");
  sender.emit("com.example.Recipient", "/foo", "com.example.Itest", "Last");
  auto seen = monitor.take_until(is_signal("com.example.Itest", "Last"));
  std::vector<std::string> members;
  for (const auto& r : seen)
    if (r.interface == "com.example.Itest") members.push_back(r.member + "->" + r.destination);
  EXPECT_THAT(members, ElementsAre("ToWellKnown->com.example.Recipient", "ToUnique->" + recipient.unique_name(),
                                   "Last->com.example.Recipient"));
}

TEST(DriverPaths, InterfacesOnlyAtTheCanonicalPathAreUnknownElsewhere) {
  BusDaemon bus;
  SdBusPeer peer(bus.address());
  auto get = peer.call(kDriverName, "/", "org.freedesktop.DBus.Properties", "Get", "ss", kDriverInterface,
                       "Features");
  EXPECT_EQ(get.error_name, "org.freedesktop.DBus.Error.UnknownInterface");
  EXPECT_EQ(become_monitor(peer, "/").error_name, "org.freedesktop.DBus.Error.UnknownInterface");
  sd_bus_message* m = nullptr;
  sd_bus_message_new_method_call(peer.bus(), &m, kDriverName, "/com/example/Wrong", kDriverInterface,
                                 "UpdateActivationEnvironment");
  MessagePtr uae(m);
  sd_bus_message_append(m, "a{ss}", 0);
  EXPECT_EQ(peer.call_message(std::move(uae)).error_name, "org.freedesktop.DBus.Error.AccessDenied");
}

}  // namespace
}  // namespace kdbusd::itest
