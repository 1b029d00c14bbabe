// The system bus as systemd/kdbusd.socket and kdbusd-system.service start
// it: systemd-socket-activate binds the socket, and on the first connection
// execs the unit's ExecStart= (`kdbusd --system --address=systemd: --nofork
// --nopidfile --systemd-activation`) with the listening socket as fd 3
// (LISTEN_FDS=1, LISTEN_PID) and a clean environment. Real clients (busctl,
// sd-bus) talk to it, and the Type=notify protocol (READY/STATUS, RELOADING,
// STOPPING) is read from a NOTIFY_SOCKET of the test's own, as the service
// manager would. Issue 4, "systemd".
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus_fixture.hpp"
#include "domain_users.hpp"
#include "process.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

using Clock = std::chrono::steady_clock;

bool is_kdbusd() { return std::filesystem::path(daemon_binary()).filename() == "kdbusd"; }

// A directory the daemon can reach after it drops to user messagebus
// (system.conf's <user>), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kdbusd-sockact-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    std::filesystem::permissions(path_, std::filesystem::perms(0755));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The service manager's end of sd_notify(3): a datagram socket whose
// messages ("READY=1\nSTATUS=…") are read one at a time.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind the notify socket");
    chmod(path.c_str(), 0777);  // the daemon writes to it as messagebus
  }
  ~NotifySocket() { close(fd_); }
  const std::filesystem::path& path() const { return path_; }

  // The next message, or nullopt when none comes in time.
  std::optional<std::string> next(milliseconds timeout = milliseconds(10000)) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

class SocketActivatedSystemBus : public ::testing::Test {
 protected:
  SocketActivatedSystemBus() : socket_(dir_.path() / "system_bus_socket"), notify_(dir_.path() / "notify") {}

  // Starts systemd-socket-activate, which binds the socket and waits; the
  // daemon itself starts only on the first connection.
  void SetUp() override {
    if (access("/usr/bin/systemd-socket-activate", X_OK) != 0)
      GTEST_SKIP() << "systemd-socket-activate (package systemd) is not installed";
    // Its log and the daemon's stderr both come out on stdout, to be read
    // line by line; exec keeps one pid from the activator to the daemon.
    const std::string command = "exec 2>&1; exec systemd-socket-activate --listen=" + socket_.string() +
                                " --setenv=NOTIFY_SOCKET=" + notify_.path().string() + " " + daemon_binary() +
                                " --system --address=systemd: --nofork --nopidfile --systemd-activation";
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{"sh", "-c", command});
    auto listening = process_->wait_for_line(
        [](const std::string& line) { return line.find("Listening on") != std::string::npos; }, milliseconds(10000));
    ASSERT_TRUE(listening) << process_->transcript();
    // kdbusd.socket: SocketMode=0666, the bus policy decides.
    chmod(socket_.c_str(), 0666);
  }
  void TearDown() override {
    if (HasFailure() && process_) std::cerr << "--- systemd-socket-activate + daemon ---\n" << process_->transcript();
  }

  std::string address() const { return "unix:path=" + socket_.string(); }
  // busctl calling the driver, run as `prefix` (e.g. setpriv) if given.
  CommandResult busctl(const std::vector<std::string>& args, std::vector<std::string> prefix = {}) {
    prefix.insert(prefix.end(), {"busctl", "--address=" + address(), "call", "org.freedesktop.DBus",
                                 "/org/freedesktop/DBus", "org.freedesktop.DBus"});
    prefix.insert(prefix.end(), args.begin(), args.end());
    return run_command(prefix, milliseconds(20000));
  }
  CommandResult get_id(std::vector<std::string> prefix = {}) { return busctl({"GetId"}, std::move(prefix)); }

  TempDir dir_;
  std::filesystem::path socket_;
  NotifySocket notify_;
  std::unique_ptr<ChildProcess> process_;
};

TEST_F(SocketActivatedSystemBus, FirstConnectionStartsTheDaemonOnTheInheritedSocket) {
  // Nothing has run yet: the activator holds the socket alone.
  EXPECT_FALSE(notify_.next(milliseconds(0)));

  // busctl's connection is queued on the socket until the daemon, started
  // by it, accepts it from the inherited fd.
  auto first = get_id();
  ASSERT_TRUE(first.ok()) << first.describe();
  EXPECT_THAT(first.out, MatchesRegex("s \"[0-9a-f]{32}\"\n"));
  auto execed = process_->wait_for_line(
      [](const std::string& line) { return line.find("Execing") != std::string::npos; }, milliseconds(1000));
  EXPECT_TRUE(execed) << "the activator execs the daemon in its own process";

  // The socket is still the activator's: the daemon bound nothing itself.
  struct stat st {};
  ASSERT_EQ(lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(process_->pid()) + "/exe"),
            std::filesystem::canonical(daemon_binary()));

  // An sd-bus client: Hello, its own name listed, the same bus id.
  SdBusPeer client(address());
  EXPECT_THAT(client.unique_name(), StartsWith(":1."));
  auto names = client.call_driver("ListNames");
  ASSERT_TRUE(names.ok()) << names.describe();
  EXPECT_THAT(names.strings(), ::testing::Contains(client.unique_name()));
  EXPECT_EQ("s \"" + client.call_driver("GetId").str() + "\"\n", first.out);
}

// The system bus is world-accessible and its policy (Debian's system.conf)
// decides: an unprivileged user may call the driver but not own a name;
// root may reload the configuration.
TEST_F(SocketActivatedSystemBus, UnprivilegedClientsMeetTheSystemPolicy) {
  const TestUser& user = unprivileged_user();
  auto id = get_id(as_user(user, {}));
  ASSERT_TRUE(id.ok()) << id.describe();

  auto own = busctl({"RequestName", "su", "org.example.NotMine", "0"}, as_user(user, {}));
  EXPECT_FALSE(own.ok());
  EXPECT_THAT(own.err, HasSubstr("Access denied")) << own.describe();

  // The unit's ExecReload (`kdbusctl --address … reload`) is this call.
  auto reload = busctl({"ReloadConfig"});
  EXPECT_TRUE(reload.ok()) << reload.describe();
  EXPECT_TRUE(get_id(as_user(user, {})).ok());
}

// systemd/kdbusd-system.service is Type=notify: READY=1 once it accepts
// connections, RELOADING=1 then READY=1 around a reload (SIGHUP, as
// `kill -HUP` or the service manager would send), STOPPING=1 at SIGTERM.
TEST_F(SocketActivatedSystemBus, TellsTheServiceManagerWhatItIsDoing) {
  ASSERT_TRUE(get_id().ok());
  auto ready = notify_.next();
  ASSERT_TRUE(ready) << "no sd_notify message";
  EXPECT_THAT(*ready, HasSubstr("READY=1"));
  if (is_kdbusd()) {
    EXPECT_THAT(*ready, HasSubstr("STATUS=Listening on ")) << *ready;
  }

  ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
  auto reloading = notify_.next();
  ASSERT_TRUE(reloading);
  EXPECT_THAT(*reloading, HasSubstr("RELOADING=1"));
  auto reloaded = notify_.next();
  ASSERT_TRUE(reloaded);
  EXPECT_THAT(*reloaded, HasSubstr("READY=1"));
  EXPECT_TRUE(get_id().ok()) << "still serving after the reload";

  ASSERT_EQ(kill(process_->pid(), SIGTERM), 0);
  auto stopping = notify_.next();
  ASSERT_TRUE(stopping);
  EXPECT_THAT(*stopping, HasSubstr("STOPPING=1"));
  EXPECT_EQ(process_->wait_exit(milliseconds(10000)), 0);
}

// `--address=systemd:` with no inherited socket is a start-up error, not a
// daemon that listens nowhere.
TEST(SocketActivation, SystemdAddressWithoutInheritedSocketsFailsToStart) {
  auto r = run_command({daemon_binary(), "--system", "--address=systemd:", "--nofork", "--nopidfile"},
                       milliseconds(10000));
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_status, 0) << r.describe();
}

}  // namespace
}  // namespace kdbusd::itest
