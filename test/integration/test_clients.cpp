// Library clients against the bus under test: python3-dbus (GLib main loop)
// and sdbus-c++, each exporting an object with a method and a signal and
// calling the other side's.
#include <algorithm>
#include <future>
#include <sdbus-c++/sdbus-c++.h>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kIface = "com.example.Itest";
constexpr const char* kPath = "/com/example/Itest";

std::string script(const char* name) { return std::string(KDBUSD_ITEST_SOURCE_DIR) + "/" + name; }

class Clients : public BusTest {
 protected:
  // Starts py_service.py on name and waits for it to own the name.
  std::unique_ptr<ChildProcess> start_python_service(const std::string& name) {
    auto service = std::make_unique<ChildProcess>(
        std::vector<std::string>{KDBUSD_ITEST_PYTHON, script("py_service.py"), name}, bus_->client_env());
    auto ready = service->read_line(milliseconds(10000));
    EXPECT_TRUE(ready) << "py_service.py did not start; printed: " << service->transcript();
    if (ready) {
      EXPECT_THAT(*ready, StartsWith("READY :"));
    }
    return service;
  }
  CommandResult run_python_client(const std::string& name) {
    return run({KDBUSD_ITEST_PYTHON, script("py_client.py"), name}, milliseconds(20000));
  }
};

// An sdbus-c++ object with the same interface as py_service.py.
class SdbusCppService {
 public:
  SdbusCppService(const std::string& address, const std::string& name)
      : connection_(sdbus::createSessionBusConnectionWithAddress(address)) {
    connection_->requestName(name);
    object_ = sdbus::createObject(*connection_, kPath);
    object_->registerMethod("Echo").onInterface(kIface).withInputParamNames("text").withOutputParamNames("upper")
        .implementedAs([this](const std::string& text) {
          object_->emitSignal("Pinged").onInterface(kIface).withArguments(text);
          std::string upper = text;
          std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
          return upper;
        });
    object_->registerMethod("Fail").onInterface(kIface).implementedAs(
        [] { throw sdbus::Error("com.example.Itest.Error.Boom", "it went boom"); });
    object_->registerSignal("Pinged").onInterface(kIface).withParameters<std::string>("text");
    object_->finishRegistration();
    connection_->enterEventLoopAsync();
  }
  ~SdbusCppService() { connection_->leaveEventLoop(); }

 private:
  std::unique_ptr<sdbus::IConnection> connection_;
  std::unique_ptr<sdbus::IObject> object_;
};

TEST_F(Clients, PythonServiceCalledFromSdBus) {
  auto service = start_python_service("com.example.Itest.Python");
  SdBusPeer client(address());
  ASSERT_TRUE(client.add_match("type='signal',sender='com.example.Itest.Python',member='Pinged'").ok());
  auto r = client.call("com.example.Itest.Python", kPath, kIface, "Echo", "s", "hello");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.str(), "HELLO");
  auto signal = client.wait_for(is_signal(kIface, "Pinged"));
  ASSERT_TRUE(signal);
  EXPECT_EQ(signal->args, std::vector<std::string>{"hello"});
  EXPECT_EQ(signal->path, kPath);
  EXPECT_EQ(signal->sender, client.call_driver("GetNameOwner", "s", "com.example.Itest.Python").str());
  EXPECT_TRUE(client.call("com.example.Itest.Python", kPath, kIface, "Quit").ok());
  EXPECT_EQ(service->wait_exit(milliseconds(10000)), 0);
}

TEST_F(Clients, PythonClientCallsPythonService) {
  auto service = start_python_service("com.example.Itest.Python");
  auto r = run_python_client("com.example.Itest.Python");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("REPLY HELLO\n"));
  EXPECT_THAT(r.out, HasSubstr("SIGNAL hello :"));
}

TEST_F(Clients, SdbusCppProxyCallsAdaptorAndReceivesSignal) {
  SdbusCppService service(address(), "com.example.Itest.SdbusCpp");
  auto proxy = sdbus::createProxy(sdbus::createSessionBusConnectionWithAddress(address()),
                                  "com.example.Itest.SdbusCpp", kPath);
  std::promise<std::string> pinged;
  auto pinged_future = pinged.get_future();
  proxy->uponSignal("Pinged").onInterface(kIface).call([&](const std::string& text) { pinged.set_value(text); });
  proxy->finishRegistration();

  std::string reply;
  proxy->callMethod("Echo").onInterface(kIface).withTimeout(std::chrono::seconds(5)).withArguments(std::string("hi"))
      .storeResultsTo(reply);
  EXPECT_EQ(reply, "HI");
  ASSERT_EQ(pinged_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(pinged_future.get(), "hi");
}

TEST_F(Clients, SdbusCppErrorReachesProxy) {
  SdbusCppService service(address(), "com.example.Itest.SdbusCpp");
  auto proxy = sdbus::createProxy(sdbus::createSessionBusConnectionWithAddress(address()),
                                  "com.example.Itest.SdbusCpp", kPath);
  proxy->finishRegistration();
  try {
    proxy->callMethod("Fail").onInterface(kIface).withTimeout(std::chrono::seconds(5));
    FAIL() << "Fail() returned";
  } catch (const sdbus::Error& e) {
    EXPECT_EQ(e.getName(), "com.example.Itest.Error.Boom");
    EXPECT_EQ(e.getMessage(), "it went boom");
  }
}

TEST_F(Clients, SdbusCppProxyToMissingServiceFails) {
  auto proxy = sdbus::createProxy(sdbus::createSessionBusConnectionWithAddress(address()),
                                  "com.example.Itest.Nobody", kPath);
  proxy->finishRegistration();
  try {
    proxy->callMethod("Echo").onInterface(kIface).withTimeout(std::chrono::seconds(5))
        .withArguments(std::string("x"));
    FAIL() << "call to a missing service returned";
  } catch (const sdbus::Error& e) {
    EXPECT_EQ(e.getName(), "org.freedesktop.DBus.Error.ServiceUnknown");
  }
}

TEST_F(Clients, PythonClientCallsSdbusCppService) {
  SdbusCppService service(address(), "com.example.Itest.SdbusCpp");
  auto r = run_python_client("com.example.Itest.SdbusCpp");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("REPLY HELLO\n"));
  EXPECT_THAT(r.out, HasSubstr("SIGNAL hello :"));
}

TEST_F(Clients, SdbusCppProxyCallsPythonService) {
  auto service = start_python_service("com.example.Itest.Python");
  auto proxy = sdbus::createProxy(sdbus::createSessionBusConnectionWithAddress(address()),
                                  "com.example.Itest.Python", kPath);
  std::promise<std::string> pinged;
  auto pinged_future = pinged.get_future();
  proxy->uponSignal("Pinged").onInterface(kIface).call([&](const std::string& text) { pinged.set_value(text); });
  proxy->finishRegistration();
  std::string reply;
  proxy->callMethod("Echo").onInterface(kIface).withTimeout(std::chrono::seconds(5))
      .withArguments(std::string("mixed")).storeResultsTo(reply);
  EXPECT_EQ(reply, "MIXED");
  ASSERT_EQ(pinged_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(pinged_future.get(), "mixed");
}

}  // namespace
}  // namespace kdbusd::itest
