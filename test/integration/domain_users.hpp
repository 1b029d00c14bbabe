// Other users for the domain tests: kdbus decides privilege and bus names
// by uid (KDBUS.md "Privilege", "Bus create"), so the tests act as an
// unprivileged uid, and as root inside a user namespace that uid made.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace kdbusd::itest {

struct TestUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The unprivileged user "kdbusd-itest", created with useradd when missing.
// Throws if it can be neither found nor created.
const TestUser& unprivileged_user();

// argv run as `user` through setpriv, without supplementary groups.
std::vector<std::string> as_user(const TestUser& user, std::vector<std::string> argv);

// In a forked child: drops to uid/gid for good. Throws on failure.
void become(uid_t uid, gid_t gid);

// In a forked child: unshare(CLONE_NEWUSER) mapping the current euid/egid
// to 0 inside, as `unshare -Ur` does — root in its own user namespace, its
// caller's uid everywhere else. Throws on failure.
void enter_own_user_namespace();

}  // namespace kdbusd::itest
