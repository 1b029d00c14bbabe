#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "metadata/message_credentials.hpp"
#include "metadata/peer_credentials.hpp"

namespace kdbus::metadata {
namespace {

struct SocketPair {
    int fd[2] = {-1, -1};
    SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
    ~SocketPair() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
};

TEST(CapturePeer, SocketpairGivesOurOwnCredentials) {
    SocketPair sp;
    auto pc = capture_peer(sp.fd[0]);
    ASSERT_TRUE(pc);
    EXPECT_EQ(pc->pid, ::getpid());
    EXPECT_EQ(pc->uid, ::geteuid());
    EXPECT_EQ(pc->gid, ::getegid());

    std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
    groups.resize(static_cast<size_t>(::getgroups(static_cast<int>(groups.size()), groups.data())));
    std::vector<gid_t> got = pc->groups;
    std::sort(groups.begin(), groups.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, groups);

    /* SO_PEERPIDFD: kernel ≥ 6.5, which this project targets. */
    ASSERT_TRUE(pc->pidfd);
    EXPECT_EQ(pc->pidfd.pid(), ::getpid());
    EXPECT_TRUE(pc->pidfd.alive());
}

TEST(CapturePeer, NotASocket) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    EXPECT_FALSE(capture_peer(p[0]));
    ::close(p[0]);
    ::close(p[1]);
}

/* Sends one byte with an fd attached, from whoever calls it. */
void send_with_fd(int sock, int fd_to_pass) {
    char byte = 'x';
    struct iovec iov {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    (void)!::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t receive(int sock, MessageCredentials& creds, std::vector<int>& fds, bool& complete) {
    char buf[16];
    struct iovec iov {buf, sizeof buf};
    alignas(struct cmsghdr) char control[control_buffer_size(4)];
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    complete = take_control_messages(msg, creds, fds);
    return n;
}

TEST(MessageCredentials, StampedWithTheWritersCredentials) {
    SocketPair sp;
    auto on = enable_credential_passing(sp.fd[1]);
    ASSERT_TRUE(on.creds);
    ASSERT_TRUE(on.pidfd);  // SO_PASSPIDFD, kernel ≥ 6.5

    /* A different process writes, so the stamp cannot be ours by accident. */
    test::ChildProcess writer([&](int) {
        send_with_fd(sp.fd[0], STDIN_FILENO);
        return ::getpid();
    });
    ASSERT_GT(writer.pid(), 0);

    MessageCredentials creds;
    std::vector<int> fds;
    bool complete = false;
    ASSERT_EQ(receive(sp.fd[1], creds, fds, complete), 1);
    EXPECT_TRUE(complete);
    ASSERT_TRUE(creds.has_creds);
    EXPECT_EQ(creds.pid, writer.pid());
    EXPECT_EQ(creds.uid, ::getuid());
    EXPECT_EQ(creds.gid, ::getgid());
    ASSERT_TRUE(creds.pidfd);
    EXPECT_EQ(creds.pidfd.pid(), writer.pid());
    /* SCM_RIGHTS is handed back, owned by the caller. */
    ASSERT_EQ(fds.size(), 1u);
    EXPECT_GE(::fcntl(fds[0], F_GETFD), 0);
    ::close(fds[0]);
}

TEST(MessageCredentials, TruncatedControlDataIsReported) {
    SocketPair sp;
    enable_credential_passing(sp.fd[1]);
    send_with_fd(sp.fd[0], STDIN_FILENO);

    char buf[4];
    struct iovec iov {buf, sizeof buf};
    /* Room for the credentials only: the fd does not fit. */
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ASSERT_EQ(::recvmsg(sp.fd[1], &msg, MSG_CMSG_CLOEXEC), 1);
    MessageCredentials creds;
    std::vector<int> fds;
    EXPECT_FALSE(take_control_messages(msg, creds, fds));
    for (int fd : fds) ::close(fd);
}

TEST(MessageCredentials, WithoutPassCredThereIsNoStamp) {
    SocketPair sp;
    send_with_fd(sp.fd[0], STDIN_FILENO);
    MessageCredentials creds;
    std::vector<int> fds;
    bool complete = false;
    ASSERT_EQ(receive(sp.fd[1], creds, fds, complete), 1);
    EXPECT_TRUE(complete);
    EXPECT_FALSE(creds.has_creds);
    EXPECT_FALSE(creds.pidfd);
    EXPECT_EQ(fds.size(), 1u);
    for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace kdbus::metadata
