// gdbus (GLib's GDBus command-line client) against the bus under test.
#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;

// gdbus --address opens a peer-to-peer style connection that never says
// Hello (dbus-daemon still answers its driver calls, but drops its
// broadcasts); --session with DBUS_SESSION_BUS_ADDRESS is a real bus client.
class Gdbus : public BusTest {
 protected:
  std::vector<std::string> gdbus(const std::string& verb, std::initializer_list<std::string> args) const {
    std::vector<std::string> argv{"gdbus", verb, "--session"};
    argv.insert(argv.end(), args);
    return argv;
  }
};

TEST_F(Gdbus, CallListNames) {
  SdBusPeer service(address());
  ASSERT_EQ(service.request_name("com.example.Itest.Service").u32(), 1u);
  auto r = run(gdbus("call", {"--dest", kDriverName, "--object-path", kDriverPath, "--method",
                              "org.freedesktop.DBus.ListNames"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("'org.freedesktop.DBus'"));
  EXPECT_THAT(r.out, HasSubstr("'com.example.Itest.Service'"));
  EXPECT_THAT(r.out, HasSubstr("'" + service.unique_name() + "'"));
}

// A client that calls the driver without Hello first (as gdbus --address
// does) is answered: dbus-daemon compatibility.
TEST_F(Gdbus, CallWithAddressBeforeHello) {
  auto r = run({"gdbus", "call", "--address", address(), "--dest", kDriverName, "--object-path",
                kDriverPath, "--method", "org.freedesktop.DBus.NameHasOwner", kDriverName});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "(true,)\n");
}

TEST_F(Gdbus, CallGetNameOwnerOfMissingNameFails) {
  auto r = run(gdbus("call", {"--dest", kDriverName, "--object-path", kDriverPath, "--method",
                              "org.freedesktop.DBus.GetNameOwner", "com.example.Nobody"}));
  EXPECT_NE(r.exit_status, 0) << r.describe();
  EXPECT_THAT(r.err, HasSubstr("org.freedesktop.DBus.Error.NameHasNoOwner"));
}

TEST_F(Gdbus, IntrospectDriver) {
  auto r = run(gdbus("introspect", {"--dest", kDriverName, "--object-path", kDriverPath}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("interface org.freedesktop.DBus {"));
  EXPECT_THAT(r.out, HasSubstr("RequestName("));
  EXPECT_THAT(r.out, HasSubstr("NameOwnerChanged("));
  EXPECT_THAT(r.out, HasSubstr("interface org.freedesktop.DBus.Introspectable {"));
}

TEST_F(Gdbus, EmitReachesSubscriber) {
  SdBusPeer subscriber(address());
  ASSERT_TRUE(subscriber.add_match("type='signal',interface='com.example.Itest'").ok());
  auto r = run(gdbus("emit", {"--object-path", "/com/example/Itest", "--signal",
                              "com.example.Itest.Ping", "'hello from gdbus'"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  auto got = subscriber.wait_for(is_signal("com.example.Itest", "Ping"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->path, "/com/example/Itest");
  EXPECT_EQ(got->signature, "s");
  ASSERT_EQ(got->args.size(), 1u);
  EXPECT_EQ(got->args[0], "hello from gdbus");
  EXPECT_EQ(got->sender.front(), ':');
}

TEST_F(Gdbus, EmitToUniqueNameReachesOnlyThatPeer) {
  SdBusPeer target(address());
  auto r = run(gdbus("emit", {"--dest", target.unique_name(), "--object-path", "/com/example/Itest",
                              "--signal", "com.example.Itest.Direct", "uint32 7"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  // Unicast signals need no match rule.
  auto got = target.wait_for(is_signal("com.example.Itest", "Direct"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->destination, target.unique_name());
  EXPECT_EQ(got->args, std::vector<std::string>{"7"});
}

TEST_F(Gdbus, MonitorSeesSignalsOfWatchedName) {
  SdBusPeer service(address());
  ASSERT_EQ(service.request_name("com.example.Itest.Service").u32(), 1u);
  ChildProcess monitor(gdbus("monitor", {"--dest", "com.example.Itest.Service"}), bus_->client_env());
  auto line = repeat_until_line(
      monitor,
      [&] { service.emit(nullptr, "/com/example/Itest", "com.example.Itest", "Ping", "s", "watched"); },
      [](const std::string& l) { return l.find("com.example.Itest.Ping") != std::string::npos; },
      milliseconds(10000));
  ASSERT_TRUE(line) << "gdbus monitor printed:\n" << monitor.transcript();
  EXPECT_EQ(*line, "/com/example/Itest: com.example.Itest.Ping ('watched',)");
  EXPECT_THAT(monitor.transcript(),
              HasSubstr("The name com.example.Itest.Service is owned by " + service.unique_name()));
}

}  // namespace
}  // namespace kdbusd::itest
