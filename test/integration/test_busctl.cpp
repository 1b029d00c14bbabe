// busctl (sd-bus's command-line client) against the bus under test.
#include <nlohmann/json.hpp>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class Busctl : public BusTest {
 protected:
  std::vector<std::string> busctl(std::initializer_list<std::string> args) const {
    std::vector<std::string> argv{"busctl", "--address=" + address(), "--no-pager"};
    argv.insert(argv.end(), args);
    return argv;
  }
};

TEST_F(Busctl, ListShowsDriverAndOwnedName) {
  SdBusPeer service(address());
  ASSERT_EQ(service.request_name("com.example.Itest.Service").u32(), 1u);
  auto r = run(busctl({"list"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("org.freedesktop.DBus"));
  EXPECT_THAT(r.out, HasSubstr("com.example.Itest.Service"));
  EXPECT_THAT(r.out, HasSubstr(service.unique_name()));
}

TEST_F(Busctl, CallGetIdMatchesDriver) {
  SdBusPeer peer(address());
  std::string id = peer.call_driver("GetId").str();
  ASSERT_EQ(id.size(), 32u);
  auto r = run(busctl({"call", kDriverName, kDriverPath, kDriverInterface, "GetId"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "s \"" + id + "\"\n");
}

TEST_F(Busctl, IntrospectDriverListsMethods) {
  auto r = run(busctl({"introspect", kDriverName, kDriverPath}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\\.RequestName +method +su +u(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\\.NameOwnerChanged +signal +sss(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("org.freedesktop.DBus.Introspectable"));
}

TEST_F(Busctl, CallUnknownMethodFails) {
  auto r = run(busctl({"call", kDriverName, kDriverPath, kDriverInterface, "NoSuchMethod"}));
  EXPECT_NE(r.exit_status, 0) << r.describe();
  EXPECT_FALSE(r.timed_out);
}

TEST_F(Busctl, MonitorCapturesSignal) {
  SdBusPeer emitter(address());
  ChildProcess monitor(busctl({"monitor", "--json=short",
                               "--match=type='signal',interface='com.example.Itest'"}),
                       bus_->client_env());
  nlohmann::json seen;
  auto line = repeat_until_line(
      monitor,
      [&] { emitter.emit(nullptr, "/com/example/Itest", "com.example.Itest", "Ping", "s", "hello"); },
      [&](const std::string& l) {
        auto j = nlohmann::json::parse(l, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || j.value("member", "") != "Ping") return false;
        seen = j;
        return true;
      },
      milliseconds(10000));
  ASSERT_TRUE(line) << "busctl monitor printed:\n" << monitor.transcript();
  EXPECT_EQ(seen["type"], "signal");
  EXPECT_EQ(seen["sender"], emitter.unique_name());
  EXPECT_EQ(seen["path"], "/com/example/Itest");
  EXPECT_EQ(seen["interface"], "com.example.Itest");
  EXPECT_EQ(seen["payload"]["type"], "s");
  EXPECT_EQ(seen["payload"]["data"][0], "hello");
}

}  // namespace
}  // namespace kdbusd::itest
