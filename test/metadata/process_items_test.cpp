#include <sys/prctl.h>
#include <unistd.h>

#include <climits>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"

using kdbus::metadata::test::ChildProcess;
#include "kdbus/attach_flags.hpp"
#include "metadata/message_metadata.hpp"

namespace kdbus::metadata {
namespace {

constexpr uint64_t from_process = attach::creds | attach::pids | attach::auxgroups | attach::tid_comm |
                                  attach::pid_comm | attach::exe | attach::cmdline | attach::cgroup |
                                  attach::caps | attach::audit;

bool kernel_has_audit() { return ::access("/proc/self/loginuid", R_OK) == 0; }

TEST(ProcessItems, OfTheCurrentProcess) {
    MessageMetadata md;
    capture_process_items(md, from_process, Pidfd::open(::getpid()), ::getpid());
    const uint64_t expected = kernel_has_audit() ? from_process : from_process & ~attach::audit;
    EXPECT_EQ(md.present, expected);

    EXPECT_EQ(md.ids[0], ::getuid());
    EXPECT_EQ(md.ids[1], ::geteuid());
    EXPECT_EQ(md.ids[5], ::getegid());
    EXPECT_EQ(md.pid, ::getpid());
    EXPECT_EQ(md.ppid, ::getppid());

    char comm[17] = {};
    ASSERT_EQ(::prctl(PR_GET_NAME, comm), 0);
    EXPECT_EQ(md.pid_comm, comm);
    EXPECT_EQ(md.tid_comm, comm);

    char exe[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe);
    ASSERT_GT(n, 0);
    EXPECT_EQ(md.exe, std::string(exe, static_cast<size_t>(n)));
    ASSERT_FALSE(md.cmdline.empty());
    EXPECT_NE(md.cmdline[0].find("test_metadata"), std::string::npos);
    EXPECT_EQ(md.cgroup.front(), '/');

    /* We run as root: CAP_SYS_ADMIN (21) is effective and in the bounding set. */
    EXPECT_GE(md.caps.last_cap, 40u);
    EXPECT_TRUE(md.caps.effective[0] & (1u << 21));
    EXPECT_TRUE(md.caps.bounding[0] & (1u << 21));
}

TEST(ProcessItems, OnlyWhatIsWanted) {
    MessageMetadata md;
    capture_process_items(md, attach::pid_comm | attach::timestamp, Pidfd::open(::getpid()), ::getpid());
    EXPECT_EQ(md.present, attach::pid_comm);  // TIMESTAMP is the bus's to fill
    EXPECT_TRUE(md.exe.empty());
}

TEST(ProcessItems, OfAnExitedProcessAreDiscarded) {
    ChildProcess child([](int) {
        ::prctl(PR_SET_NAME, "short-lived");
        return ::getpid();
    });
    const pid_t pid = child.pid();
    Pidfd pidfd = Pidfd::open(pid);
    ASSERT_TRUE(pidfd);
    child.finish();  // exits and is reaped: the pid may be reused now

    MessageMetadata md;
    capture_process_items(md, from_process, pidfd, pid);
    EXPECT_EQ(md.present, 0u);
    EXPECT_TRUE(md.pid_comm.empty());
}

TEST(ProcessItems, StampOutlivesTheSender) {
    ChildProcess child([](int) { return ::getpid(); });
    MessageCredentials stamp;
    stamp.has_creds = true;
    stamp.pid = child.pid();
    stamp.uid = 1000;
    stamp.gid = 1001;
    stamp.pidfd = Pidfd::open(child.pid());
    child.finish();

    MessageMetadata md;
    capture_process_items(md, attach::creds | attach::pids | attach::exe, stamp);
    /* What the kernel stamped at send time survives; the rest is gone. */
    EXPECT_EQ(md.present, attach::creds | attach::pids);
    EXPECT_EQ(md.ids[0], 1000u);
    EXPECT_EQ(md.ids[4], 1001u);
    EXPECT_EQ(md.ids[1], 0xffffffffu);  // euid unknown, not guessed
    EXPECT_EQ(md.pid, stamp.pid);
    EXPECT_EQ(md.ppid, 0);
}

TEST(ProcessItems, ConnectionPidfdIsNotTrustedForAnotherPid) {
    ChildProcess child([](int) { return ::getpid(); });
    MessageCredentials stamp;  // a stamp without pidfd, from the child
    stamp.has_creds = true;
    stamp.pid = child.pid();
    stamp.uid = ::getuid();
    stamp.gid = ::getgid();
    Pidfd ours = Pidfd::open(::getpid());  // the connection's, but another process

    MessageMetadata md;
    capture_process_items(md, attach::pids | attach::pid_comm, stamp, &ours);
    EXPECT_EQ(md.present, attach::pids);
    EXPECT_EQ(md.pid, child.pid());

    Pidfd childs = Pidfd::open(child.pid());
    MessageMetadata md2;
    capture_process_items(md2, attach::pids | attach::pid_comm, stamp, &childs);
    EXPECT_EQ(md2.present, attach::pids | attach::pid_comm);
    EXPECT_EQ(md2.ppid, ::getpid());
}

TEST(ProcessItems, Parsers) {
    std::array<uint32_t, 8> ids{};
    ASSERT_TRUE(parse_status_ids("Name:\tx\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n", ids));
    EXPECT_EQ(ids, (std::array<uint32_t, 8>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_FALSE(parse_status_ids("Uid:\t1\t2\n", ids));

    auto args = split_cmdline(std::string_view("ls\0-l\0\0x\0", 9));
    ASSERT_EQ(args.size(), 4u);
    EXPECT_EQ(args[1], "-l");
    EXPECT_EQ(args[2], "");
    EXPECT_EQ(args[3], "x");
}

}  // namespace
}  // namespace kdbus::metadata
