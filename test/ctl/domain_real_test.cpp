// kdbusctl's bus and domain commands against the real daemon in domain mode
// (kdbusd --domain DIR), as an administrator and as an unprivileged user:
// what it prints, and what really happened in DIR and on the buses.
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "domain_fixture.hpp"
#include "domain_users.hpp"
#include "kdbusctl_runner.hpp"

namespace kdbusctl::test {
namespace {

using kdbusd::itest::DomainDaemon;
using kdbusd::itest::run_command;
using kdbusd::itest::unprivileged_user;
using nlohmann::json;
using ::testing::HasSubstr;

bool socket_exists(const std::filesystem::path& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

class DomainRealTest : public ::testing::Test {
 protected:
  void SetUp() override { domain_ = std::make_unique<DomainDaemon>(); }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kdbusd --domain stderr ---\n" << domain_->log();
  }

  std::vector<std::string> with_domain(std::vector<std::string> args) {
    args.insert(args.begin(), {"--domain", domain_->dir().string()});
    return args;
  }
  CommandResult ctl(std::vector<std::string> args) { return kdbusctl(with_domain(std::move(args))); }
  json ctl_json(std::vector<std::string> args) { return kdbusctl_json(with_domain(std::move(args))); }
  // kdbusctl run as the unprivileged test user.
  CommandResult ctl_as_user(std::vector<std::string> args) {
    args = with_domain(std::move(args));
    args.insert(args.begin(), kdbusctl_binary());
    return run_command(kdbusd::itest::as_user(unprivileged_user(), args), milliseconds(10000));
  }
  // The `bus list --json` row of `name`, or null.
  json listed(const std::string& name) {
    for (const auto& row : ctl_json({"bus", "list"}))
      if (row.value("name", "") == name) return row;
    return json();
  }
  // A bus call through busctl: its exit status and output.
  CommandResult busctl_call(const std::string& address, std::vector<std::string> args) {
    std::vector<std::string> argv = {"busctl", "--address=" + address, "call", "org.freedesktop.DBus",
                                     "/org/freedesktop/DBus", "org.freedesktop.DBus"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, milliseconds(10000));
  }

  std::unique_ptr<DomainDaemon> domain_;
};

TEST_F(DomainRealTest, BusCreateListRemove) {
  auto created = ctl({"bus", "create", "0-ctl", "--persist"});
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(created.out, domain_->bus_address("0-ctl") + "\n");
  EXPECT_TRUE(socket_exists(domain_->bus_socket("0-ctl")));
  EXPECT_EQ(mode_of(domain_->bus_socket("0-ctl")), 0600u) << "owner access by default";

  // Persistent: there after kdbusctl exited, and usable.
  EXPECT_EQ(listed("0-ctl"), json({{"name", "0-ctl"},
                                   {"address", domain_->bus_address("0-ctl")},
                                   {"owner_uid", 0},
                                   {"connections", 0}}));
  auto table = ctl({"bus", "list"});
  ASSERT_TRUE(table.ok()) << table.describe();
  EXPECT_THAT(table.out, HasSubstr("0-ctl"));
  EXPECT_THAT(table.out, HasSubstr("0-system"));
  EXPECT_TRUE(busctl_call(domain_->bus_address("0-ctl"), {"GetId"}).ok());

  auto removed = ctl({"bus", "remove", "0-ctl"});
  ASSERT_TRUE(removed.ok()) << removed.describe();
  EXPECT_FALSE(socket_exists(domain_->bus_socket("0-ctl")));
  EXPECT_TRUE(listed("0-ctl").is_null());

  auto again = ctl({"bus", "remove", "0-ctl"});
  EXPECT_EQ(again.exit_status, 1) << again.describe();
  EXPECT_THAT(again.err, HasSubstr("ServiceUnknown"));
}

TEST_F(DomainRealTest, BusCreateWorldAndPolicy) {
  auto policy = domain_->temp_dir() / "policy.xml";
  std::ofstream(policy) << R"(<busconfig>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <deny own="*"/>
    <allow own="org.example.Allowed"/>
  </policy>
</busconfig>)";
  auto created = ctl({"bus", "create", "0-pol", "--persist", "--world", "--policy", policy.string()});
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(mode_of(domain_->bus_socket("0-pol")), 0666u);
  const std::string bus = domain_->bus_address("0-pol");
  EXPECT_TRUE(busctl_call(bus, {"RequestName", "su", "org.example.Allowed", "0"}).ok());
  auto denied = busctl_call(bus, {"RequestName", "su", "org.example.Other", "0"});
  EXPECT_EQ(denied.exit_status, 1) << "the bus's own policy applies: " << denied.describe();
  EXPECT_THAT(denied.err, HasSubstr("Access denied")) << denied.describe();
}

TEST_F(DomainRealTest, BusCreateJson) {
  auto created = ctl_json({"bus", "create", "0-json", "--persist"});
  EXPECT_EQ(created, json({{"address", domain_->bus_address("0-json")}}));
}

TEST_F(DomainRealTest, BusWithoutPersistGoesWhenKdbusctlExits) {
  auto created = ctl({"bus", "create", "0-brief"});
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(created.out, domain_->bus_address("0-brief") + "\n");
  // kdbusctl's control connection closed when it exited; by the time a new
  // kdbusctl has authenticated, the daemon has seen that close.
  EXPECT_TRUE(listed("0-brief").is_null());
  EXPECT_FALSE(socket_exists(domain_->bus_socket("0-brief")));
}

TEST_F(DomainRealTest, ErrorsExitWithStatusOne) {
  auto foreign = ctl({"bus", "create", "1000-x"});
  EXPECT_EQ(foreign.exit_status, 1) << foreign.describe();
  EXPECT_THAT(foreign.err, HasSubstr("InvalidArgs"));
  auto duplicate = ctl({"bus", "create", "0-system"});
  EXPECT_EQ(duplicate.exit_status, 1) << duplicate.describe();
  EXPECT_THAT(duplicate.err, HasSubstr("exists already"));
}

TEST_F(DomainRealTest, UnprivilegedUser) {
  const auto& user = unprivileged_user();
  const std::string name = std::to_string(user.uid) + "-user";
  auto created = ctl_as_user({"bus", "create", name, "--persist"});
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(created.out, domain_->bus_address(name) + "\n");
  EXPECT_EQ(listed(name).value("owner_uid", -1), static_cast<int>(user.uid));

  auto denied = ctl_as_user({"bus", "remove", "0-system"});
  EXPECT_EQ(denied.exit_status, 1) << denied.describe();
  EXPECT_THAT(denied.err, HasSubstr("AccessDenied"));
  EXPECT_FALSE(listed("0-system").is_null());

  auto removed = ctl_as_user({"bus", "remove", name});
  EXPECT_TRUE(removed.ok()) << removed.describe();
  EXPECT_TRUE(listed(name).is_null());
}

TEST_F(DomainRealTest, StatsAndDomainList) {
  ASSERT_TRUE(ctl({"bus", "create", "0-s", "--persist"}).ok());
  auto stats = ctl_json({"stats", "0-s"});
  EXPECT_EQ(stats.value("Buses", 0), 1);
  auto all = ctl_json({"stats"});
  EXPECT_EQ(all.value("Buses", 0), 2);
  EXPECT_EQ(ctl_json({"domain", "list"}), json::array());
}

}  // namespace
}  // namespace kdbusctl::test
