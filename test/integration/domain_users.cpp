#include "domain_users.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <unistd.h>

#include "process.hpp"

namespace kdbusd::itest {

namespace {

constexpr const char* kUserName = "kdbusd-itest";

std::optional<TestUser> lookup(const char* name) {
  passwd* pw = getpwnam(name);
  if (!pw) return std::nullopt;
  return TestUser{name, pw->pw_uid, pw->pw_gid};
}

void write_file(const std::string& path, const std::string& text) {
  errno = 0;
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace

const TestUser& unprivileged_user() {
  static const TestUser user = [] {
    if (auto found = lookup(kUserName)) return *found;
    auto added = run_command({"useradd", "--system", "--user-group", "--no-create-home", "--shell",
                              "/usr/sbin/nologin", kUserName},
                             milliseconds(20000));
    // Another test process may have added it meanwhile: look again either way.
    if (auto found = lookup(kUserName)) return *found;
    throw std::runtime_error("no user " + std::string(kUserName) + " and useradd failed: " + added.describe());
  }();
  return user;
}

std::vector<std::string> as_user(const TestUser& user, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"setpriv", "--reuid=" + std::to_string(user.uid),
                             "--regid=" + std::to_string(user.gid), "--clear-groups"});
  return argv;
}

void become(uid_t uid, gid_t gid) {
  if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
    throw std::runtime_error("cannot become uid " + std::to_string(uid));
  // A uid change clears the dumpable flag, which makes /proc/self root's
  // (proc(5)): enter_own_user_namespace could not write its maps there.
  if (prctl(PR_SET_DUMPABLE, 1) != 0 || prctl(PR_GET_DUMPABLE) != 1)
    throw std::runtime_error("cannot make the process dumpable again");
}

void enter_own_user_namespace() {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) != 0) throw std::runtime_error("unshare(CLONE_NEWUSER) failed");
  // An unprivileged process may map only its own ids, and its gid only
  // after giving up setgroups (user_namespaces(7)).
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
  write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  if (geteuid() != 0) throw std::runtime_error("not root in the new user namespace");
}

}  // namespace kdbusd::itest
