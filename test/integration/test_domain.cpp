// kdbusd --domain DIR over real sockets with real clients: the control
// socket and org.kdbusd.Control1, bus creation and its name rules, bus
// lifetime (creator connection, persist, RemoveBus, SIGTERM), access modes,
// privilege by uid and user namespace, the built-in 0-system bus with
// Debian's system policy, and CreateDomain into another process's
// namespaces. KDBUS.md rows Domain, Bus create, Privilege; test-bus.c.
#include <fcntl.h>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "domain_control.hpp"
#include "domain_fixture.hpp"
#include "domain_users.hpp"
#include "metadata_forked_task.hpp"
#include "process.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kThirdUid = 54321;  // neither root nor the test user: a stranger

struct FileInfo {
  bool exists = false;
  mode_t mode = 0;  // permission bits only
  uid_t owner = 0;
  bool is_socket = false;
};

FileInfo file_info(const std::filesystem::path& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return {};
  return FileInfo{true, st.st_mode & 07777, st.st_uid, S_ISSOCK(st.st_mode)};
}

std::string ns_of(pid_t pid, const char* ns) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns, ec);
  return ec ? std::string() : target.string();
}

BusOptions options(std::optional<bool> persist, std::optional<std::string> access = std::nullopt) {
  BusOptions o;
  o.persist = persist;
  o.access = std::move(access);
  return o;
}

// "ok" or the error's name, for outcomes carried over a task channel.
std::string outcome(const CallResult& r) { return r.ok() ? "ok" : r.error_name; }

class DomainMode : public ::testing::Test {
 protected:
  void SetUp() override {
    domain_ = std::make_unique<DomainDaemon>();
    control_ = std::make_unique<ControlClient>(domain_->control_address());
  }
  void TearDown() override {
    if (HasFailure() && domain_) std::cerr << "--- kdbusd --domain stderr ---\n" << domain_->log();
    control_.reset();
    domain_.reset();
  }

  DomainDaemon& domain() { return *domain_; }
  ControlClient& control() { return *control_; }

  // Runs fn in a forked child as uid/gid (root of its own user namespace
  // with `userns`), on its own control connection; returns its answer.
  std::string as_uid(uid_t uid, gid_t gid, const std::function<std::string(ControlClient&)>& fn,
                     bool userns = false) {
    const std::string address = domain().control_address();
    ForkedTask task([&](TaskChannel& ch) {
      become(uid, gid);
      if (userns) enter_own_user_namespace();
      ControlClient c(address);
      ch.send(fn(c));
      return 0;
    });
    auto line = task.channel().read_line(milliseconds(10000));
    EXPECT_EQ(task.wait_exit(), 0);
    return line.value_or("(no answer)");
  }
  std::string as_user(const std::function<std::string(ControlClient&)>& fn, bool userns = false) {
    const TestUser& u = unprivileged_user();
    return as_uid(u.uid, u.gid, fn, userns);
  }

  // A round trip on the control connection: everything the daemon was
  // asked before it (a disconnect it has seen, a removal) is done.
  void settle() { control().list_buses(); }

  std::unique_ptr<DomainDaemon> domain_;
  std::unique_ptr<ControlClient> control_;
};

/* The control socket */

TEST_F(DomainMode, ControlSocketIsWorldWritableAndAnswersHello) {
  EXPECT_EQ(domain().control_address(), "unix:path=" + domain().control_socket().string());
  auto info = file_info(domain().control_socket());
  ASSERT_TRUE(info.exists);
  EXPECT_TRUE(info.is_socket);
  EXPECT_EQ(info.mode, 0666u) << "kdbus: control is mode 0666";
  EXPECT_EQ(file_info(domain().dir()).mode, 0755u);
  EXPECT_THAT(control().peer().unique_name(), HasSubstr(":1."));

  // Anyone may open it: an unprivileged uid gets through Hello too.
  EXPECT_EQ(as_user([](ControlClient& c) { return c.peer().unique_name().empty() ? "no name" : "hello"; }),
            "hello");

  // busctl, as DESIGN.md promises.
  auto r = run_command({"busctl", "--address=" + domain().control_address(), "call", kDriverName, kControlPath,
                        kControlInterface, "ListBuses"},
                       milliseconds(10000));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_THAT(r.out, HasSubstr("a(ssuu)"));
}

/* CreateBus */

TEST_F(DomainMode, CreateBusReturnsTheAddressOfAWorkingBus) {
  auto created = control().create_bus("0-test");
  ASSERT_TRUE(created.ok()) << created.describe();
  EXPECT_EQ(created.str(), domain().bus_address("0-test"));
  EXPECT_TRUE(file_info(domain().bus_socket("0-test")).is_socket);

  SdBusPeer client(created.str());
  EXPECT_THAT(client.unique_name(), HasSubstr(":1."));
  std::string id = client.call_driver("GetId").str();
  EXPECT_EQ(id.size(), 32u);

  // Each bus has its own id: the system bus and the control socket differ.
  SdBusPeer system(domain().bus_address("0-system"));
  EXPECT_NE(system.call_driver("GetId").str(), id);
  EXPECT_NE(control().peer().call_driver("GetId").str(), id);

  // ... and its own names: a name owned here does not exist on 0-system.
  ASSERT_TRUE(client.request_name("org.example.Here").ok());
  auto has = system.call_driver("NameHasOwner", "s", "org.example.Here");
  ASSERT_TRUE(has.ok()) << has.describe();
  EXPECT_FALSE(has.boolean());

  // busctl speaks to it and sees the same id.
  auto r = run_command({"busctl", "--address=" + created.str(), "call", kDriverName, kDriverPath, kDriverInterface,
                        "GetId"},
                       milliseconds(10000));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "s \"" + id + "\"\n");
  auto list = run_command({"busctl", "--address=" + created.str(), "list", "--no-pager"}, milliseconds(10000));
  ASSERT_TRUE(list.ok()) << list.describe();
  EXPECT_THAT(list.out, HasSubstr("org.example.Here"));
}

TEST_F(DomainMode, NameOfSixtyThreeCharactersIsAccepted) {
  std::string name = "0-" + std::string(61, 'a');
  ASSERT_EQ(name.size(), 63u);
  auto created = control().create_bus(name);
  EXPECT_TRUE(created.ok()) << created.describe();
  // '-', '.' and '_' inside the name are fine.
  EXPECT_TRUE(control().create_bus("0-a-b.c_d").ok());
}

struct InvalidName {
  const char* why;
  std::string name;
};

class DomainInvalidName : public DomainMode, public ::testing::WithParamInterface<InvalidName> {};

// test-bus.c: no uid prefix, '@' or a trailing '-' → EINVAL; here the
// remaining rules of kdbus_verify_uid_prefix / kdbus_sysname_is_valid too.
TEST_P(DomainInvalidName, IsInvalidArgs) {
  auto r = control().create_bus(GetParam().name);
  EXPECT_EQ(r.error_name, kErrorInvalidArgs) << GetParam().why << ": " << r.describe();
  EXPECT_FALSE(file_info(domain().dir() / GetParam().name).exists);
  EXPECT_FALSE(control().find_bus(GetParam().name));
}

INSTANTIATE_TEST_SUITE_P(
    KdbusRules, DomainInvalidName,
    ::testing::Values(InvalidName{"no uid prefix", "test"}, InvalidName{"another uid's prefix", "1000-test"},
                      InvalidName{"prefix without dash", "0test"}, InvalidName{"only the prefix", "0-"},
                      InvalidName{"'@'", "0-te@st"}, InvalidName{"trailing '-'", "0-test-"},
                      InvalidName{"trailing '.'", "0-test."}, InvalidName{"leading '.'", "0-.test"},
                      InvalidName{"leading '-'", "0--test"}, InvalidName{"'/'", "0-a/b"},
                      InvalidName{"64 characters", "0-" + std::string(62, 'a')}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

TEST_F(DomainMode, DuplicateNameIsAnError) {
  ASSERT_TRUE(control().create_bus("0-twice").ok());
  auto again = control().create_bus("0-twice");
  EXPECT_EQ(again.error_name, kErrorFailed) << again.describe();
  EXPECT_THAT(again.error_message, HasSubstr("exists already"));
  // The same from another control connection, and for the built-in bus.
  ControlClient other(domain().control_address());
  EXPECT_EQ(other.create_bus("0-twice").error_name, kErrorFailed);
  EXPECT_EQ(other.create_bus("0-system").error_name, kErrorFailed);
}

/* Lifetime */

// kdbus: a bus lives while its owner's handle is open, unless persistent.
TEST_F(DomainMode, BusWithoutPersistGoesWithItsCreatorsConnection) {
  auto creator = std::make_unique<ControlClient>(domain().control_address());
  auto created = creator->create_bus("0-transient");
  ASSERT_TRUE(created.ok()) << created.describe();
  ASSERT_TRUE(creator->create_bus("0-kept", options(true)).ok());
  SdBusPeer client(created.str());
  SdBusPeer kept_client(domain().bus_address("0-kept"));
  ASSERT_TRUE(control().find_bus("0-transient"));

  creator->disconnect();
  EXPECT_TRUE(wait_disconnected(client)) << "the bus's clients are disconnected with it";
  settle();
  EXPECT_FALSE(control().find_bus("0-transient"));
  EXPECT_FALSE(file_info(domain().bus_socket("0-transient")).exists);
  EXPECT_FALSE(file_info(domain().dir() / "0-transient").exists);

  // The persistent one survives its creator, with its client.
  auto kept = control().find_bus("0-kept");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->connections, 1u);
  EXPECT_TRUE(kept_client.call_driver("GetId").ok());
  SdBusPeer late(domain().bus_address("0-kept"));
  EXPECT_TRUE(late.call_driver("GetId").ok());
}

TEST_F(DomainMode, RemoveBusByOwnerDisconnectsItsClients) {
  ASSERT_TRUE(control().create_bus("0-gone", options(true)).ok());
  SdBusPeer client(domain().bus_address("0-gone"));
  ASSERT_TRUE(client.request_name("org.example.Client").ok());

  auto removed = control().remove_bus("0-gone");
  ASSERT_TRUE(removed.ok()) << removed.describe();
  EXPECT_TRUE(wait_disconnected(client));
  EXPECT_FALSE(control().find_bus("0-gone"));
  EXPECT_FALSE(file_info(domain().dir() / "0-gone").exists) << "DIR/<name>/ goes with the bus";

  EXPECT_EQ(control().remove_bus("0-gone").error_name, kErrorServiceUnknown);
  // The name is free again.
  EXPECT_TRUE(control().create_bus("0-gone").ok());
}

TEST_F(DomainMode, RemoveBusByAnotherUidIsAccessDenied) {
  ASSERT_TRUE(control().create_bus("0-mine", options(true, "world")).ok());
  SdBusPeer client(domain().bus_address("0-mine"));
  EXPECT_EQ(as_user([](ControlClient& c) { return outcome(c.remove_bus("0-mine")) + " " +
                                                  outcome(c.remove_bus("0-system")) + " " +
                                                  outcome(c.remove_bus("0-nothing")); }),
            std::string(kErrorAccessDenied) + " " + kErrorAccessDenied + " " + kErrorServiceUnknown);
  EXPECT_TRUE(control().find_bus("0-mine"));
  EXPECT_TRUE(client.call_driver("GetId").ok());
}

/* Unprivileged users and access modes */

// DESIGN.md: each user creates their own bus (<uid>-user) through the
// control socket without privilege; kdbus: the bus belongs to its creator,
// and without MAKE_ACCESS_* only the owner may open it.
TEST_F(DomainMode, UnprivilegedUserCreatesTheirUserBus) {
  const TestUser& user = unprivileged_user();
  const std::string name = std::to_string(user.uid) + "-user";
  const std::string address = domain().control_address();
  ForkedTask owner([&](TaskChannel& ch) {
    become(user.uid, user.gid);
    ControlClient c(address);
    auto created = c.create_bus(name);
    ch.send(created.ok() ? created.str() : created.describe());
    ch.expect("close");
    c.disconnect();
    return 0;
  });
  auto created = owner.channel().read_line(milliseconds(10000));
  ASSERT_EQ(created, domain().bus_address(name));

  auto socket = file_info(domain().bus_socket(name));
  EXPECT_TRUE(socket.is_socket);
  EXPECT_EQ(socket.owner, user.uid);
  EXPECT_EQ(socket.mode, 0600u) << "access owner";
  auto dir = file_info(domain().dir() / name);
  EXPECT_EQ(dir.owner, user.uid);
  EXPECT_EQ(dir.mode, 0700u);

  auto listed = control().find_bus(name);
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->owner_uid, user.uid);
  EXPECT_EQ(listed->address, domain().bus_address(name));

  // The owner connects; a stranger cannot open a 0600 socket.
  const std::string bus = *created;
  EXPECT_EQ(as_user([&](ControlClient&) {
              SdBusPeer peer(bus);
              return std::string("connected");
            }),
            "connected");
  EXPECT_THAT(as_uid(kThirdUid, kThirdUid,
                     [&](ControlClient&) {
                       try {
                         SdBusPeer peer(bus);
                         return std::string("connected");
                       } catch (const std::exception& e) {
                         return std::string("refused: ") + e.what();
                       }
                     }),
              HasSubstr("refused"));

  // Its name carries its own uid: root's prefix is not its to use.
  EXPECT_EQ(as_user([](ControlClient& c) { return outcome(c.create_bus("0-stolen")); }), kErrorInvalidArgs);

  owner.channel().send("close");
  EXPECT_EQ(owner.wait_exit(), 0);
  // Not persistent: it goes with the user's control connection.
  EXPECT_TRUE(wait_until([&] { return !control().find_bus(name); }, [&](milliseconds t) { control().peer().pump(t); },
                         milliseconds(5000)));
  EXPECT_FALSE(file_info(domain().bus_socket(name)).exists);
}

struct AccessCase {
  const char* access;
  mode_t socket_mode;
  mode_t dir_mode;
};

class DomainAccess : public DomainMode, public ::testing::WithParamInterface<AccessCase> {};

// kdbus MAKE_ACCESS_GROUP/WORLD: dir 0500 + g/o rx, endpoint 0600 + g/o rw
// (kdbusd's directory keeps the owner's w, to create endpoints in it).
TEST_P(DomainAccess, SetsTheModes) {
  ASSERT_TRUE(control().create_bus("0-access", options(std::nullopt, GetParam().access)).ok());
  EXPECT_EQ(file_info(domain().bus_socket("0-access")).mode, GetParam().socket_mode);
  EXPECT_EQ(file_info(domain().dir() / "0-access").mode, GetParam().dir_mode);
}

INSTANTIATE_TEST_SUITE_P(Kdbus, DomainAccess,
                         ::testing::Values(AccessCase{"owner", 0600, 0700}, AccessCase{"group", 0660, 0750},
                                           AccessCase{"world", 0666, 0755}),
                         [](const auto& info) { return std::string(info.param.access); });

TEST_F(DomainMode, WorldBusIsOpenToOtherUsers) {
  const TestUser& user = unprivileged_user();
  const std::string name = std::to_string(user.uid) + "-shared";
  const std::string address = domain().control_address();
  ForkedTask owner([&](TaskChannel& ch) {
    become(user.uid, user.gid);
    ControlClient c(address);
    auto created = c.create_bus(name, options(true, "world"));
    ch.send(created.ok() ? created.str() : created.describe());
    return 0;
  });
  auto created = owner.channel().read_line(milliseconds(10000));
  ASSERT_EQ(created, domain().bus_address(name));
  EXPECT_EQ(owner.wait_exit(), 0);
  auto socket = file_info(domain().bus_socket(name));
  EXPECT_EQ(socket.owner, user.uid);
  EXPECT_EQ(socket.mode, 0666u);
  const std::string bus = *created;
  EXPECT_EQ(as_uid(kThirdUid, kThirdUid,
                   [&](ControlClient&) {
                     SdBusPeer peer(bus);
                     return outcome(peer.call_driver("GetId"));
                   }),
            "ok");
  // Persistent: still there after its creator exited; and its owner may
  // remove it from a new connection.
  settle();
  EXPECT_TRUE(control().find_bus(name));
  EXPECT_EQ(as_user([&](ControlClient& c) { return outcome(c.remove_bus(name)); }), "ok");
  EXPECT_FALSE(control().find_bus(name));
}

// KDBUS.md limits: 16 buses per user per domain (EMFILE); DESIGN.md: every
// resource a client can make the daemon hold is bounded per uid. Each bus
// is a listening socket and a directory, so an unprivileged user must not
// be able to make them without end.
TEST_F(DomainMode, BusesPerUserAreBounded) {
  const std::string prefix = std::to_string(unprivileged_user().uid) + "-many";
  EXPECT_EQ(as_user([&](ControlClient& c) {
              // The first 16 succeed silently; the 17th's outcome is the answer.
              std::string failures;
              for (int i = 0; i < 16; ++i)
                if (!c.create_bus(prefix + std::to_string(i)).ok()) failures += std::to_string(i) + " failed; ";
              return failures + outcome(c.create_bus(prefix + "16"));
            }),
            "org.freedesktop.DBus.Error.LimitsExceeded");
}

/* Listing and statistics */

TEST_F(DomainMode, ListBusesShowsOwnersAndConnectionCounts) {
  ASSERT_TRUE(control().create_bus("0-listed", options(true)).ok());
  SdBusPeer a(domain().bus_address("0-listed"));
  SdBusPeer b(domain().bus_address("0-listed"));
  const TestUser& user = unprivileged_user();
  const std::string user_bus = std::to_string(user.uid) + "-listed";
  EXPECT_EQ(as_user([&](ControlClient& c) { return outcome(c.create_bus(user_bus, options(true))); }), "ok");

  auto buses = control().list_buses();
  auto row = [&](const std::string& name) {
    for (const auto& bus : buses)
      if (bus.name == name) return bus;
    ADD_FAILURE() << "no bus " << name << " listed";
    return BusListing{};
  };
  auto listed = row("0-listed");
  EXPECT_EQ(listed.address, domain().bus_address("0-listed"));
  EXPECT_EQ(listed.owner_uid, 0u);
  EXPECT_EQ(listed.connections, 2u);
  auto theirs = row(user_bus);
  EXPECT_EQ(theirs.owner_uid, user.uid);
  EXPECT_EQ(theirs.connections, 0u);
  EXPECT_EQ(row("0-system").owner_uid, 0u);
  EXPECT_EQ(buses.size(), 3u);

  b.disconnect();
  EXPECT_TRUE(wait_until(
      [&] {
        auto listed_now = control().find_bus("0-listed");
        return listed_now && listed_now->connections == 1u;
      },
                         [&](milliseconds t) { a.pump(t); }, milliseconds(5000)));
}

TEST_F(DomainMode, GetStatsCountsPerBusAndForTheDomain) {
  ASSERT_TRUE(control().create_bus("0-stats").ok());
  SdBusPeer service(domain().bus_address("0-stats"));
  SdBusPeer client(domain().bus_address("0-stats"));
  ASSERT_TRUE(service.request_name("org.example.Stats").ok());
  ASSERT_TRUE(client.add_match("type='signal',interface='org.example.Stats'").ok());
  client.send_call("org.example.Stats", "/", "org.example.Stats", "Ping");
  ASSERT_TRUE(service.wait_for(is_method_call("Ping")));

  auto stats = control().get_stats("0-stats");
  EXPECT_EQ(stats["Buses"], 1u);
  EXPECT_EQ(stats["Connections"], 2u);
  EXPECT_GE(stats["BusNames"], 1u);
  EXPECT_GE(stats["MatchRules"], 1u);
  EXPECT_GE(stats["MessagesRouted"], 1u);
  EXPECT_TRUE(stats.count("Broadcasts"));
  EXPECT_TRUE(stats.count("DeliveriesDropped"));

  SdBusPeer on_system(domain().bus_address("0-system"));
  auto all = control().get_stats("");
  EXPECT_EQ(all["Buses"], 2u) << "0-system and 0-stats";
  EXPECT_EQ(all["Connections"], 3u);
  EXPECT_EQ(control().get_stats_call("0-nothing").error_name, kErrorServiceUnknown);
}

/* The system bus */

TEST_F(DomainMode, SystemBusExistsWithDebiansSystemPolicy) {
  auto socket = file_info(domain().bus_socket("0-system"));
  ASSERT_TRUE(socket.is_socket);
  EXPECT_EQ(socket.mode, 0666u) << "the system bus is world-accessible; its policy decides";
  EXPECT_EQ(socket.owner, 0u);
  auto listed = control().find_bus("0-system");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->owner_uid, 0u);

  SdBusPeer root(domain().bus_address("0-system"));
  const std::string root_name = root.unique_name();
  const std::string bus = domain().bus_address("0-system");
  // system.conf: <deny own="*"/> and <deny send_type="method_call"/> by
  // default; the driver stays reachable.
  EXPECT_EQ(as_user([&](ControlClient&) {
              SdBusPeer peer(bus);
              return outcome(peer.call_driver("GetId")) + " " +
                     outcome(peer.request_name("org.example.Unlisted")) + " " +
                     outcome(peer.call(root_name.c_str(), "/", "org.freedesktop.DBus.Peer", "Ping"));
            }),
            std::string("ok ") + kErrorAccessDenied + " " + kErrorAccessDenied);
}

/* User namespaces */

// DESIGN.md: anyone, including root inside an unprivileged user namespace,
// may run kdbusd --domain DIR.
TEST(DomainUserNamespace, RootInUserNamespaceRunsADomain) {
  DomainDaemon::Options options;
  options.wrapper = {"unshare", "-Ur"};
  DomainDaemon domain(options);
  EXPECT_EQ(domain.control_address(), "unix:path=" + domain.control_socket().string());
  EXPECT_NE(ns_of(domain.pid(), "user"), ns_of(getpid(), "user"));
  // root ran unshare -Ur, so uid 0 maps to uid 0: we are uid 0 there too.
  ControlClient control(domain.control_address());
  auto created = control.create_bus("0-x");
  ASSERT_TRUE(created.ok()) << created.describe() << "\n" << domain.log();
  SdBusPeer client(created.str());
  EXPECT_TRUE(client.call_driver("GetId").ok());
}

class DomainOfAnUnprivilegedUser : public ::testing::Test {
 protected:
  void SetUp() override {
    const TestUser& user = unprivileged_user();
    DomainDaemon::Options options;
    options.wrapper = as_user(user, {"unshare", "-Ur"});
    options.owner = std::make_pair(user.uid, user.gid);
    domain_ = std::make_unique<DomainDaemon>(options);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- kdbusd --domain stderr ---\n" << domain_->log();
  }
  std::unique_ptr<DomainDaemon> domain_;
};

// The user's domain: its files are the user's; the user is uid 0 in it,
// from inside the namespace (nsenter) and from outside alike, since
// SO_PEERCRED is translated into the daemon's namespace.
TEST_F(DomainOfAnUnprivilegedUser, TheUserIsRootInIt) {
  const TestUser& user = unprivileged_user();
  auto control = file_info(domain_->control_socket());
  EXPECT_EQ(control.owner, user.uid);
  EXPECT_EQ(control.mode, 0666u);
  auto system = file_info(domain_->bus_socket("0-system"));
  EXPECT_TRUE(system.is_socket) << "the daemon is uid 0 in its namespace, so it makes 0-system";
  EXPECT_EQ(system.owner, user.uid);

  const std::string pid = std::to_string(domain_->pid());
  auto inside = run_command(as_user(user, {"nsenter", "--target", pid, "--user", "--preserve-credentials", "busctl",
                                           "--address=" + domain_->control_address(), "call", kDriverName,
                                           kControlPath, kControlInterface, "CreateBus", "sa{sv}", "0-inside", "1",
                                           "persist", "b", "true"}),
                            milliseconds(10000));
  ASSERT_TRUE(inside.ok()) << inside.describe();
  EXPECT_EQ(inside.out, "s \"" + domain_->bus_address("0-inside") + "\"\n");

  const std::string address = domain_->control_address();
  ForkedTask outside([&](TaskChannel& ch) {
    become(user.uid, user.gid);
    ControlClient c(address);
    ch.send(outcome(c.create_bus("0-outside")) + " " + outcome(c.create_bus(std::to_string(user.uid) + "-outside")) +
            " " + outcome(c.remove_bus("0-inside")));
    return 0;
  });
  EXPECT_EQ(outside.channel().read_line(milliseconds(10000)), std::string("ok ") + kErrorInvalidArgs + " ok");
  EXPECT_EQ(outside.wait_exit(), 0);
}

// Host root is not mapped in the user's namespace: it appears as the
// overflow uid, so uid 0's names are not its to create.
TEST_F(DomainOfAnUnprivilegedUser, HostRootIsNotUidZeroInIt) {
  ControlClient control(domain_->control_address());
  EXPECT_EQ(control.create_bus("0-host").error_name, kErrorInvalidArgs);
}

// KDBUS.md "Privilege": privileged = CAP_IPC_OWNER in the domain's user
// namespace. Host root holds every capability in the namespaces below its
// own (user_namespaces(7)), so kdbus would let it remove any bus of a
// domain that lives in a child user namespace.
TEST_F(DomainOfAnUnprivilegedUser, HostRootIsPrivilegedInIt) {
  ControlClient control(domain_->control_address());
  auto removed = control.remove_bus("0-system");
  EXPECT_TRUE(removed.ok()) << removed.describe();
}

// KDBUS.md "Privilege" rule 2: root inside a child user namespace is not
// uid 0 in its parent's domain — it is the uid that made the namespace —
// and its full capability set counts in its own namespace only.
TEST_F(DomainMode, RootOfAChildUserNamespaceIsNotPrivileged) {
  const TestUser& user = unprivileged_user();
  EXPECT_EQ(as_user(
                [&](ControlClient& c) {
                  return outcome(c.create_bus("0-x")) + " " + outcome(c.remove_bus("0-system")) + " " +
                         outcome(c.create_bus(std::to_string(user.uid) + "-ns"));
                },
                /*userns=*/true),
            std::string(kErrorInvalidArgs) + " " + kErrorAccessDenied + " ok");
  EXPECT_TRUE(control().find_bus("0-system"));

  // Even where that uid is 0: host root's own `unshare -Ur` maps 0 to 0,
  // so the daemon sees uid 0 — the owner of 0-system, as in kdbus, where
  // both are kuid 0 — with every capability, but in the child namespace,
  // which is below the domain's: another user's bus is not its to remove.
  const std::string users_bus = std::to_string(user.uid) + "-mine";
  ASSERT_EQ(as_user([&](ControlClient& c) { return outcome(c.create_bus(users_bus, options(true))); }), "ok");
  auto child_root = run_command({"unshare", "-Ur", "busctl", "--address=" + domain().control_address(), "call",
                                 kDriverName, kControlPath, kControlInterface, "RemoveBus", "s", users_bus},
                                milliseconds(10000));
  EXPECT_FALSE(child_root.ok());
  EXPECT_THAT(child_root.err, HasSubstr("Access denied")) << child_root.describe();
  EXPECT_TRUE(control().find_bus(users_bus));
}

// KDBUS.md "Privilege": what counts is CAP_IPC_OWNER in the domain's user
// namespace, not uid 0. Root without it (dropped from the bounding set
// before exec) may not remove another user's bus; an unprivileged user
// holding it (ambient) may remove root's.
TEST_F(DomainMode, PrivilegeIsCapIpcOwnerNotUidZero) {
  const TestUser& user = unprivileged_user();
  const std::string users_bus = std::to_string(user.uid) + "-mine";
  ASSERT_EQ(as_user([&](ControlClient& c) { return outcome(c.create_bus(users_bus, options(true))); }), "ok");
  auto remove_bus = [&](std::vector<std::string> argv, const std::string& bus) {
    argv.insert(argv.end(), {"busctl", "--address=" + domain().control_address(), "call", kDriverName, kControlPath,
                             kControlInterface, "RemoveBus", "s", bus});
    return run_command(argv, milliseconds(10000));
  };

  auto root_without = remove_bus({"setpriv", "--bounding-set=-ipc_owner"}, users_bus);
  EXPECT_FALSE(root_without.ok());
  EXPECT_THAT(root_without.err, HasSubstr("Access denied")) << root_without.describe();
  EXPECT_TRUE(control().find_bus(users_bus));

  // as_user's setpriv, told to keep CAP_IPC_OWNER through the uid change.
  auto user_with =
      remove_bus(itest::as_user(user, {"--inh-caps=+ipc_owner", "--ambient-caps=+ipc_owner"}), "0-system");
  EXPECT_TRUE(user_with.ok()) << user_with.describe();
  EXPECT_FALSE(control().find_bus("0-system"));
}

/* Stopping */

TEST_F(DomainMode, SigtermRemovesEverySocket) {
  ASSERT_TRUE(control().create_bus("0-a", options(true)).ok());
  SdBusPeer client(domain().bus_address("0-a"));
  EXPECT_EQ(domain().terminate(), 0) << domain().log();
  EXPECT_TRUE(wait_disconnected(client));
  EXPECT_TRUE(wait_disconnected(control().peer()));
  EXPECT_FALSE(file_info(domain().control_socket()).exists);
  EXPECT_FALSE(file_info(domain().bus_socket("0-a")).exists);
  EXPECT_FALSE(file_info(domain().bus_socket("0-system")).exists);
  EXPECT_FALSE(file_info(domain().dir() / "0-a").exists);
}

/* CreateDomain */

// A container: new user, pid and mount namespaces, with a tmpfs of its own
// on `mount_point`, so a domain made there is visible only inside it.
class Container {
 public:
  explicit Container(const std::filesystem::path& mount_point) {
    std::filesystem::create_directories(mount_point);
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "unshare", "-Urpm", "--fork", "--kill-child", "sh", "-c",
        "mount -t tmpfs container " + mount_point.string() + " && echo ready && exec sleep 120"});
    auto line = process_->read_line(milliseconds(10000));
    if (line != "ready") throw std::runtime_error("the container did not start");
    // unshare --fork waits for its child, pid 1 of the new pid namespace:
    // that is the container's process.
    std::ifstream children("/proc/" + std::to_string(process_->pid()) + "/task/" +
                           std::to_string(process_->pid()) + "/children");
    children >> pid_;
    if (pid_ <= 0) throw std::runtime_error("no container process");
  }
  pid_t pid() const { return pid_; }
  std::filesystem::path root() const { return "/proc/" + std::to_string(pid_) + "/root"; }

 private:
  std::unique_ptr<ChildProcess> process_;
  pid_t pid_ = 0;
};

TEST_F(DomainMode, CreateDomainStartsADaemonInTheTargetsNamespaces) {
  const auto mount_point = domain().temp_dir() / "container";
  Container container(mount_point);
  const auto dir = mount_point / "kdbus";

  auto created = control().create_domain(static_cast<uint32_t>(container.pid()), dir.string());
  ASSERT_TRUE(created.ok()) << created.describe() << "\n" << domain().log();
  EXPECT_EQ(created.str(), dir.string());

  auto domains = control().list_domains();
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0].dir, dir.string());
  EXPECT_EQ(domains[0].target, std::to_string(container.pid()));
  const pid_t child = static_cast<pid_t>(domains[0].pid);
  for (const char* ns : {"user", "pid", "mnt"})
    EXPECT_EQ(ns_of(child, ns), ns_of(container.pid(), ns)) << ns;

  // Its control socket is in the container's mount namespace only. The
  // new daemon prints nothing to us: wait for the socket (bounded).
  const auto inside = container.root() / dir.relative_path() / "control";
  ASSERT_TRUE(wait_until([&] { return file_info(inside).is_socket; },
                         [&](milliseconds t) { control().peer().pump(t); }, milliseconds(10000)))
      << domain().log();
  EXPECT_FALSE(file_info(dir / "control").exists) << "the host's mount point has no tmpfs";

  ControlClient inner("unix:path=" + inside.string());
  EXPECT_TRUE(inner.find_bus("0-system")) << "root of the container's namespace is uid 0 there";
}

TEST_F(DomainMode, CreateDomainNeedsPrivilegeAndAnAbsoluteDirectory) {
  EXPECT_EQ(control().create_domain(static_cast<uint32_t>(getpid()), "relative/dir").error_name,
            kErrorInvalidArgs);
  const auto pid = static_cast<uint32_t>(getpid());
  const std::string dir = (domain().temp_dir() / "nested").string();
  EXPECT_EQ(as_user([&](ControlClient& c) { return outcome(c.create_domain(pid, dir)); }), kErrorAccessDenied);
  EXPECT_TRUE(control().list_domains().empty());
}

}  // namespace
}  // namespace kdbusd::itest
