// kdbusctl's domain commands against a stand-in control socket that speaks
// org.kdbusd.Control1 as control_client.hpp specifies: what kdbusctl sends
// (method, arguments, a{sv} options) and how it prints the answers.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_control_server.hpp"
#include "kdbusctl_runner.hpp"

namespace kdbusctl::test {
namespace {

using nlohmann::json;

class DomainCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "kdbusctl-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    server_ = std::make_unique<FakeControlServer>(dir_);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // kdbusctl --domain DIR args...
  CommandResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--domain", dir_.string()});
    return kdbusctl(args);
  }
  json ctl_json(std::vector<std::string> args) {
    args.insert(args.begin(), {"--domain", dir_.string()});
    return kdbusctl_json(args);
  }
  // The one call kdbusctl made, or null with a failure.
  json last_call() {
    auto calls = server_->calls();
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? json() : calls.back();
  }

  std::filesystem::path dir_;
  std::unique_ptr<FakeControlServer> server_;
};

TEST_F(DomainCommandsTest, BusCreatePrintsTheAddress) {
  auto result = ctl({"bus", "create", "0-test", "--persist", "--world"});
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_EQ(result.out, "unix:path=" + dir_.string() + "/0-test/bus\n");
  EXPECT_EQ(last_call(), json({{"member", "CreateBus"},
                               {"args", {"0-test", {{"persist", true}, {"access", "world"}}}}}));
}

TEST_F(DomainCommandsTest, BusCreateDefaultsToOwnerAccess) {
  ASSERT_TRUE(ctl({"bus", "create", "0-test"}).ok());
  EXPECT_EQ(last_call()["args"][1], json({{"persist", false}, {"access", "owner"}}));
}

TEST_F(DomainCommandsTest, BusCreateSendsPolicyContents) {
  auto policy = dir_ / "policy.xml";
  std::ofstream(policy) << "<busconfig/>";
  auto created = ctl_json({"bus", "create", "1000-user", "--group", "--policy", policy.string()});
  EXPECT_EQ(created, json({{"address", "unix:path=" + dir_.string() + "/1000-user/bus"}}));
  EXPECT_EQ(last_call()["args"][1],
            json({{"persist", false}, {"access", "group"}, {"policy", "<busconfig/>"}}));
}

TEST_F(DomainCommandsTest, BusListJsonAndTable) {
  auto buses = ctl_json({"bus", "list"});
  ASSERT_EQ(buses.size(), 2u) << buses.dump();
  EXPECT_EQ(buses[1], json({{"name", "1000-user"},
                            {"address", "unix:path=/run/kdbus/1000-user/bus"},
                            {"owner_uid", 1000},
                            {"connections", 1}}));
  auto table = ctl({"bus", "list"});
  ASSERT_TRUE(table.ok()) << table.describe();
  EXPECT_THAT(table.out, ::testing::StartsWith("NAME"));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("0-system +0 +3 +unix:path=/run/kdbus/0-system/bus"));
}

TEST_F(DomainCommandsTest, BusRemove) {
  ASSERT_TRUE(ctl({"bus", "remove", "0-test"}).ok());
  EXPECT_EQ(last_call(), json({{"member", "RemoveBus"}, {"args", {"0-test"}}}));
}

TEST_F(DomainCommandsTest, DaemonErrorsExitOneWithTheErrorName) {
  auto result = ctl({"bus", "remove", FakeControlServer::kMissingBus});
  EXPECT_EQ(result.exit_status, 1) << result.describe();
  EXPECT_THAT(result.err, ::testing::HasSubstr("org.freedesktop.DBus.Error.InvalidArgs: No such bus"));
}

TEST_F(DomainCommandsTest, EndpointCreateSendsRulesInProxySyntax) {
  auto result = ctl({"endpoint", "create", "0-system", "1000-sandbox", "--see", "org.a", "--talk=org.b", "--own",
                     "org.c", "--call", "org.d=Get@/x", "--broadcast", "org.e=@/y", "--mode", "0660", "--owner",
                     "1000"});
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_EQ(result.out, "unix:path=" + dir_.string() + "/0-system/1000-sandbox\n");
  EXPECT_EQ(last_call(),
            json({{"member", "CreateEndpoint"},
                  {"args",
                   {"0-system", "1000-sandbox",
                    {{"rules", {"--see=org.a", "--talk=org.b", "--own=org.c", "--call=org.d=Get@/x",
                                "--broadcast=org.e=@/y"}},
                     {"mode", 0660},
                     {"owner", 1000}}}}}));
}

TEST_F(DomainCommandsTest, EndpointUpdateReplacesPolicy) {
  auto policy = dir_ / "endpoint.json";
  std::ofstream(policy) << R"({"talk": ["org.a"]})";
  ASSERT_TRUE(ctl({"endpoint", "update", "0-system", "1000-sandbox", "--see", "org.z", "--policy", policy.string()}).ok());
  EXPECT_EQ(last_call(), json({{"member", "UpdateEndpointPolicy"},
                               {"args",
                                {"0-system", "1000-sandbox",
                                 {{"rules", {"--see=org.z"}}, {"policy", R"({"talk": ["org.a"]})"}}}}}));
}

TEST_F(DomainCommandsTest, EndpointRemoveAndList) {
  ASSERT_TRUE(ctl({"endpoint", "remove", "0-system", "1000-sandbox"}).ok());
  EXPECT_EQ(last_call(), json({{"member", "RemoveEndpoint"}, {"args", {"0-system", "1000-sandbox"}}}));
  auto endpoints = ctl_json({"endpoint", "list", "0-system"});
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[1]["name"], "1000-sandbox");
  EXPECT_EQ(server_->calls().back(), json({{"member", "ListEndpoints"}, {"args", {"0-system"}}}));
}

TEST_F(DomainCommandsTest, DomainCreateAndList) {
  auto created = ctl({"domain", "create", "--target", "4100", "--dir", "/run/kdbus-ct"});
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(created.out, "/run/kdbus-ct\n");
  EXPECT_EQ(last_call(), json({{"member", "CreateDomain"}, {"args", {4100, "/run/kdbus-ct"}}}));
  auto domains = ctl_json({"domain", "list"});
  EXPECT_EQ(domains, json::array({{{"dir", "/run/kdbus-ct1"}, {"pid", 4242}, {"target", "4100"}}}));
}

TEST_F(DomainCommandsTest, StatsOfOneBusOrTheDomain) {
  EXPECT_EQ(ctl_json({"stats", "0-system"}), json({{"Buses", 2}, {"Connections", 5}}));
  EXPECT_EQ(ctl_json({"stats"}), json({{"Buses", 2}, {"Connections", 5}}));
  auto calls = server_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["args"], json({"0-system"}));
  EXPECT_EQ(calls[1]["args"], json({""}));  // "" = the whole domain
}

TEST_F(DomainCommandsTest, ReloadGoesToControl1) {
  ASSERT_TRUE(ctl({"reload"}).ok());
  EXPECT_EQ(last_call(), json({{"member", "Reload"}, {"args", json::array()}}));
}

TEST(DomainCommandsWithoutDaemon, FailWithStatusOne) {
  auto result = kdbusctl({"--domain", "/nonexistent/kdbusctl-test", "bus", "list"});
  EXPECT_EQ(result.exit_status, 1) << result.describe();
  EXPECT_THAT(result.err, ::testing::StartsWith("kdbusctl: "));
}

}  // namespace
}  // namespace kdbusctl::test
