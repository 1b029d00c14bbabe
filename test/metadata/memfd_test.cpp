// classify_fd over real fds: memfds with and without the four seals, files,
// pipes, and AF_UNIX sockets whose peer is or is not "the daemon" (KDBUS.md
// rows "Payload / memfd" and "FDs").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "metadata/memfd.hpp"

namespace kdbus::metadata {
namespace {

struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

int memfd_with(unsigned seals) {
    int fd = ::memfd_create("memfd-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    EXPECT_GE(fd, 0);
    if (seals) {
        EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, seals), 0);
    }
    return fd;
}

constexpr pid_t not_us = 1;  // a "daemon" that is not this process

TEST(ClassifyFd, MemfdNeedsAllFourSealsToBeSealed) {
    Fd sealed(memfd_with(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL));
    EXPECT_EQ(classify_fd(sealed.fd, not_us), FdKind::sealed_memfd);
    for (unsigned missing : {F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_SEAL}) {
        Fd partly(memfd_with(required_memfd_seals() & ~missing));
        EXPECT_EQ(classify_fd(partly.fd, not_us), FdKind::unsealed_memfd) << "missing seal " << missing;
    }
    Fd open_memfd(memfd_with(0));
    EXPECT_EQ(classify_fd(open_memfd.fd, not_us), FdKind::unsealed_memfd);
    // Without MFD_ALLOW_SEALING a memfd reports F_SEAL_SEAL only.
    Fd unsealable(::memfd_create("memfd-test", MFD_CLOEXEC));
    EXPECT_EQ(classify_fd(unsealable.fd, not_us), FdKind::unsealed_memfd);
}

TEST(ClassifyFd, FilesAndPipesArePlain) {
    Fd file(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(classify_fd(file.fd, not_us), FdKind::plain);
    Fd path_only(::open("/", O_PATH | O_CLOEXEC));
    EXPECT_EQ(classify_fd(path_only.fd, not_us), FdKind::plain);
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    Fd r(p[0]), w(p[1]);
    EXPECT_EQ(classify_fd(r.fd, not_us), FdKind::plain);
}

TEST(ClassifyFd, UnixSocketIsABusSocketOnlyWhenItsPeerIsTheDaemon) {
    int s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    Fd a(s[0]), b(s[1]);
    // The peer of a socketpair end is this process.
    EXPECT_EQ(classify_fd(a.fd, ::getpid()), FdKind::bus_socket);
    EXPECT_EQ(classify_fd(a.fd, not_us), FdKind::plain);
    // A listener: SO_PEERCRED names whoever called listen().
    Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string name = "kdbusd-memfd-test-" + std::to_string(::getpid());  // abstract
    std::memcpy(sa.sun_path + 1, name.data(), name.size());
    ASSERT_EQ(::bind(listener.fd, reinterpret_cast<sockaddr*>(&sa),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
              0);
    ASSERT_EQ(::listen(listener.fd, 1), 0);
    EXPECT_EQ(classify_fd(listener.fd, ::getpid()), FdKind::bus_socket);
    Fd inet(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(classify_fd(inet.fd, ::getpid()), FdKind::plain);
}

TEST(FdCensus, CountsKindsAndRemembersTheFirstOffenders) {
    FdCensus c;
    c.add(FdKind::sealed_memfd, 0);
    c.add(FdKind::plain, 1);
    c.add(FdKind::bus_socket, 2);
    c.add(FdKind::unsealed_memfd, 3);
    EXPECT_EQ(c.total(), 4u);
    EXPECT_EQ(c.counted_as_fds(), 3u) << "a sealed memfd is a payload, not an fd";
    EXPECT_EQ(c.first_not_sealed, 1u);
    EXPECT_EQ(c.first_bus_socket, 2u);
}

}  // namespace
}  // namespace kdbus::metadata
