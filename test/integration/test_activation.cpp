// Bus activation over real sockets: .service files, exec activation of a
// real service process (activatable_service.py), StartServiceByName,
// UpdateActivationEnvironment, the errors of failed starts, and systemd
// activation (--systemd-activation) with a fake systemd on the bus.
// Every test also holds against /usr/bin/dbus-daemon (KDBUSD_TEST_DAEMON).
#include <unistd.h>

#include <fstream>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr const char* kService = "com.example.Activated";
constexpr const char* kServicePath = "/com/example/Activated";

// A session bus whose service directory is DIR/services.
const char* const kActivationConfig = R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS_DIR@/bus</listen>
  <auth>EXTERNAL</auth>
  <servicedir>@BUS_DIR@/services</servicedir>
  <limit name="service_start_timeout">@TIMEOUT@</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
  <policy context="mandatory">
    <deny send_destination="com.example.Forbidden"/>
  </policy>
</busconfig>
)";

// The daemon under test, started the way dbus-daemon's own tests start it.
class ActivationBus {
 public:
  explicit ActivationBus(bool systemd_activation, int start_timeout_ms = 20000, const std::string& extra = {}) {
    std::string templ = (std::filesystem::temp_directory_path() / "kdbusd-activation-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    std::filesystem::create_directory(dir_ / "services");
    std::string config = kActivationConfig;
    replace(config, "@BUS_DIR@", dir_.string());
    replace(config, "@TIMEOUT@", std::to_string(start_timeout_ms));
    config.replace(config.find("</busconfig>"), 12, extra + "</busconfig>");
    // Services started as another user must reach the socket.
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
    std::ofstream(dir_ / "bus.conf") << config;
    std::vector<std::string> argv{daemon_binary(), "--config-file=" + (dir_ / "bus.conf").string(), "--nofork",
                                  "--print-address=1"};
    if (systemd_activation) argv.push_back("--systemd-activation");
    process_ = std::make_unique<ChildProcess>(argv, Environment{}, (dir_ / "daemon.stderr").string());
    auto line = process_->read_line(milliseconds(10000));
    if (!line || line->empty()) throw std::runtime_error("the daemon printed no address");
    address_ = *line;
  }
  ~ActivationBus() {
    process_->terminate();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes DIR/services/NAME.service.
  void add_service(const std::string& name, const std::string& exec, const std::string& extra = {}) {
    std::ofstream(dir_ / "services" / (name + ".service"))
        << "[D-BUS Service]\nName=" << name << "\nExec=" << exec << "\n" << extra;
  }
  std::string python_service(const std::string& name) const {
    return std::string(KDBUSD_ITEST_PYTHON) + " " + KDBUSD_ITEST_SOURCE_DIR + "/activatable_service.py " + name;
  }
  const std::string& address() const { return address_; }

 private:
  static void replace(std::string& s, const std::string& key, const std::string& value) {
    for (auto pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + value.size()))
      s.replace(pos, key.size(), value);
  }

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
};

CallResult call_env(SdBusPeer& peer, const char* key) {
  return peer.call(kService, kServicePath, kService, "Env", "s", key);
}

TEST(Activation, AutoStartRunsTheServiceAndDeliversTheHeldCall) {
  ActivationBus bus(false);
  bus.add_service(kService, bus.python_service(kService));
  SdBusPeer client(bus.address());
  EXPECT_THAT(client.call_driver("ListActivatableNames").strings(), Contains(std::string(kService)));

  // The call that starts the service is answered by it.
  auto r = call_env(client, "DBUS_STARTER_BUS_TYPE");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.str(), "session");
  r = call_env(client, "DBUS_STARTER_ADDRESS");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.str(), bus.address());
  EXPECT_TRUE(client.call_driver("NameHasOwner", "s", kService).boolean());
  client.call(kService, kServicePath, kService, "Quit");
}

TEST(Activation, HeldMessagesArriveInOrder) {
  ActivationBus bus(false);
  bus.add_service(kService, bus.python_service(kService));
  SdBusPeer client(bus.address());
  std::vector<uint64_t> cookies;
  for (const char* key : {"DBUS_STARTER_BUS_TYPE", "NO_SUCH_VARIABLE", "DBUS_STARTER_BUS_TYPE"})
    cookies.push_back(client.send_call(kService, kServicePath, kService, "Env", "s", key));
  std::vector<std::string> answers;
  for (uint64_t cookie : cookies) {
    auto reply = client.wait_reply(cookie, milliseconds(10000));
    ASSERT_TRUE(reply) << "no reply to call " << cookie;
    ASSERT_EQ(reply->args.size(), 1u) << reply->describe();
    answers.push_back(reply->args[0]);
  }
  EXPECT_EQ(answers, (std::vector<std::string>{"session", "", "session"}));
  client.call(kService, kServicePath, kService, "Quit");
}

TEST(Activation, StartServiceByNameAndTheActivationEnvironment) {
  ActivationBus bus(false);
  bus.add_service(kService, bus.python_service(kService));
  SdBusPeer client(bus.address());

  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_method_call(client.bus(), &m, kDriverName, kDriverPath, kDriverInterface,
                                           "UpdateActivationEnvironment"),
            0);
  MessagePtr uae(m);
  ASSERT_GE(sd_bus_message_append(m, "a{ss}", 1, "KDBUSD_ITEST_VARIABLE", "from the test"), 0);
  auto set = client.call_message(std::move(uae));
  ASSERT_TRUE(set.ok()) << set.describe();

  EXPECT_EQ(client.call_driver("StartServiceByName", "su", kService, 0u).u32(), 1u);  // started
  EXPECT_EQ(client.call_driver("StartServiceByName", "su", kService, 0u).u32(), 2u);  // already running
  auto r = call_env(client, "KDBUSD_ITEST_VARIABLE");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.str(), "from the test");
  client.call(kService, kServicePath, kService, "Quit");
}

TEST(Activation, FailedStartsAnswerWithDbusDaemonsErrors) {
  ActivationBus bus(false, 1000);
  bus.add_service("com.example.NoProgram", "/nonexistent/kdbusd-itest-program");
  bus.add_service("com.example.Exits", "/bin/sh -c 'exit 3'");
  bus.add_service("com.example.Hangs", "/bin/sleep 30");
  bus.add_service("com.example.Forbidden", "/bin/true");
  SdBusPeer client(bus.address());

  auto start = [&](const char* name) { return client.call_driver("StartServiceByName", "su", name, 0u); };
  EXPECT_EQ(start("com.example.NoProgram").error_name, "org.freedesktop.DBus.Error.Spawn.ExecFailed");
  auto exited = start("com.example.Exits");
  EXPECT_EQ(exited.error_name, "org.freedesktop.DBus.Error.Spawn.ChildExited");
  EXPECT_THAT(exited.error_message, HasSubstr("exited with status 3"));
  auto hangs = client.call(kService, kServicePath, kService, "Env", "s", "x");  // unknown: no file
  EXPECT_EQ(hangs.error_name, "org.freedesktop.DBus.Error.ServiceUnknown");
  auto timed_out = client.call("com.example.Hangs", "/", "com.example.Hangs", "Ping");
  EXPECT_EQ(timed_out.error_name, "org.freedesktop.DBus.Error.TimedOut");
  EXPECT_THAT(timed_out.error_message, HasSubstr("service_start_timeout=1000ms"));
  // Send policy is checked before anything is started.
  EXPECT_EQ(client.call("com.example.Forbidden", "/", "com.example.Forbidden", "Ping").error_name,
            "org.freedesktop.DBus.Error.AccessDenied");

  // NO_AUTO_START: no activation, just "nobody owns it".
  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_method_call(client.bus(), &m, "com.example.Exits", "/", "com.example.Exits", "Ping"), 0);
  MessagePtr call(m);
  ASSERT_GE(sd_bus_message_set_auto_start(m, 0), 0);
  EXPECT_EQ(client.call_message(std::move(call)).error_name, "org.freedesktop.DBus.Error.NameHasNoOwner");
}

// A bus with <servicehelper> is a system bus: services run as their User=.
// dbus-daemon runs its setuid helper there instead (docs/compat.md), so
// this test is kdbusd's own.
TEST(SystemBusActivation, ServicesRunAsTheirUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to start a service as another user";
  if (daemon_binary().find("kdbusd") == std::string::npos) GTEST_SKIP() << "kdbusd starts services without a helper";
  ActivationBus bus(false, 20000, "<servicehelper>/nonexistent/launch-helper</servicehelper>\n");
  bus.add_service(kService, bus.python_service(kService), "User=nobody\n");
  bus.add_service("com.example.NoUser", "/bin/true");
  SdBusPeer client(bus.address());
  auto r = call_env(client, "DBUS_STARTER_BUS_TYPE");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(client.call_driver("GetConnectionUnixUser", "s", kService).u32(), 65534u);  // nobody
  EXPECT_EQ(client.call_driver("StartServiceByName", "su", "com.example.NoUser", 0u).error_name,
            "org.freedesktop.DBus.Error.Spawn.FileInvalid");
  client.call(kService, kServicePath, kService, "Quit");
}

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kSdService = "com.example.SdActivated";
constexpr const char* kSdUnit = "dbus-com.example.SdActivated.service";

bool is_activation_request(const Received& m) {
  return m.is_signal("org.freedesktop.systemd1.Activator", "ActivationRequest") &&
         m.sender == kDriverName && m.path == kDriverPath && m.args == std::vector<std::string>{kSdUnit};
}

TEST(SystemdActivation, ActivationRequestReachesSystemdWhenItConnects) {
  ActivationBus bus(true);
  bus.add_service(kSdService, "/bin/false", std::string("SystemdService=") + kSdUnit + "\n");
  SdBusPeer client(bus.address());
  uint64_t cookie = client.send_call(kSdService, "/", "com.example.SdActivated", "Ping");
  client.pump(milliseconds(100));

  // systemd is not on the bus yet: the request waits for it.
  SdBusPeer systemd(bus.address());
  ASSERT_EQ(systemd.request_name(kSystemd).u32(), 1u);
  auto request = systemd.wait_for(is_activation_request);
  ASSERT_TRUE(request) << "systemd got no ActivationRequest";
  EXPECT_EQ(request->destination, kSystemd);

  // "systemd" starts the service; the held call reaches it.
  SdBusPeer service(bus.address());
  ASSERT_EQ(service.request_name(kSdService).u32(), 1u);
  auto held = service.wait_for(is_method_call("Ping"));
  ASSERT_TRUE(held) << "the held call was not delivered";
  EXPECT_EQ(held->sender, client.unique_name());
  service.reply(*held);
  auto reply = client.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN) << reply->describe();
}

TEST(SystemdActivation, ActivationFailureFromSystemdFailsTheHeldCalls) {
  ActivationBus bus(true);
  bus.add_service(kSdService, "/bin/false", std::string("SystemdService=") + kSdUnit + "\n");
  SdBusPeer systemd(bus.address());
  ASSERT_EQ(systemd.request_name(kSystemd).u32(), 1u);
  SdBusPeer client(bus.address());
  uint64_t cookie = client.send_call(kSdService, "/", "com.example.SdActivated", "Ping");
  ASSERT_TRUE(systemd.wait_for(is_activation_request));

  // Only the owner of org.freedesktop.systemd1 is believed.
  SdBusPeer impostor(bus.address());
  impostor.emit(kDriverName, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Activator",
                "ActivationFailure", "sss", kSdUnit, "com.example.Spoofed", "spoofed");
  systemd.emit(kDriverName, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Activator",
               "ActivationFailure", "sss", kSdUnit, "com.example.Nope", "Computer says no");
  auto reply = client.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->error_name, "com.example.Nope") << reply->describe();
}

TEST(SystemdActivation, UpdateActivationEnvironmentIsPassedToSystemd) {
  ActivationBus bus(true);
  SdBusPeer systemd(bus.address());
  ASSERT_EQ(systemd.request_name(kSystemd).u32(), 1u);
  SdBusPeer client(bus.address());
  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_method_call(client.bus(), &m, kDriverName, kDriverPath, kDriverInterface,
                                           "UpdateActivationEnvironment"),
            0);
  MessagePtr uae(m);
  ASSERT_GE(sd_bus_message_append(m, "a{ss}", 1, "KDBUSD_ITEST", "yes"), 0);
  ASSERT_TRUE(client.call_message(std::move(uae)).ok());
  auto set = systemd.wait_for(is_method_call("SetEnvironment"));
  ASSERT_TRUE(set) << "systemd got no SetEnvironment";
  EXPECT_EQ(set->interface, "org.freedesktop.systemd1.Manager");
  EXPECT_EQ(set->path, "/org/freedesktop/systemd1");
  EXPECT_EQ(set->sender, kDriverName);
}

}  // namespace
}  // namespace kdbusd::itest
