#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata/delivery.hpp"
#include "metadata/namespace_view.hpp"
#include "metadata/serialize.hpp"
#include "kdbus/metadata.hpp"
#include "wire/message.hpp"

namespace kdbus::metadata {
namespace {

using test::ChildProcess;

bool write_file(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
}

FileId id_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return file_id(st);
}

/* A process in a new user namespace where ids 0..9 are our 1000..1009. */
struct UsernsChild {
    ChildProcess child{[](int) { return ::unshare(CLONE_NEWUSER) == 0 ? ::getpid() : -1; }};
    UsernsChild() {
        const std::string proc = "/proc/" + std::to_string(child.pid());
        EXPECT_GT(child.reported(), 0) << "unshare(CLONE_NEWUSER) failed";
        EXPECT_TRUE(write_file(proc + "/setgroups", "deny"));
        EXPECT_TRUE(write_file(proc + "/uid_map", "0 1000 10\n"));
        EXPECT_TRUE(write_file(proc + "/gid_map", "0 2000 10\n"));
    }
    NamespaceView view() {
        auto v = NamespaceView::capture(Pidfd::open(child.pid()), child.pid());
        EXPECT_TRUE(v);
        return v ? std::move(*v) : NamespaceView::daemon();
    }
    FileId userns() { return id_of("/proc/" + std::to_string(child.pid()) + "/ns/user"); }
};

TEST(NamespaceView, DaemonViewIsTheIdentity) {
    auto v = NamespaceView::capture(Pidfd::open(::getpid()), ::getpid());
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->identity_ids());
    EXPECT_EQ(v->uid(1234), 1234u);
    EXPECT_EQ(v->gid(0), 0u);
    EXPECT_EQ(v->pid(::getpid()), static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(v->pid(::getppid()), static_cast<uint32_t>(::getppid()));
    EXPECT_TRUE(v->same_root(id_of("/proc/self/root")));
}

TEST(NamespaceView, UidsTranslateIntoChildUserns) {
    UsernsChild c;
    NamespaceView v = c.view();
    EXPECT_FALSE(v.identity_ids());
    EXPECT_EQ(v.uid(1000), 0u);
    EXPECT_EQ(v.uid(1009), 9u);
    EXPECT_EQ(v.uid(1010), 65534u);  // just past the extent
    EXPECT_EQ(v.uid(0), 65534u);     // host root is unmapped there
    EXPECT_EQ(v.uid(static_cast<uid_t>(-1)), 0xffffffffu);
    EXPECT_EQ(v.gid(2003), 3u);
    EXPECT_EQ(v.gid(1003), 65534u);
    /* kdbus: an unmapped loginuid is "unset", not the overflow id. */
    EXPECT_EQ(v.loginuid(1001), 1u);
    EXPECT_EQ(v.loginuid(0), 0xffffffffu);
}

TEST(NamespaceView, CapsRuleFollowsTheUsernsTree) {
    UsernsChild c;
    NamespaceView child_view = c.view();
    const FileId host = id_of("/proc/self/ns/user");
    /* The receiver's userns is a child of the sender's and was created by
     * the sender's euid (0, us): all capabilities there. */
    EXPECT_EQ(child_view.caps(host, 0), NamespaceView::CapsView::all_ones);
    /* Same tree position, other euid: the ancestor rule gives verbatim. */
    EXPECT_EQ(child_view.caps(host, 1000), NamespaceView::CapsView::verbatim);
    /* Same namespace: verbatim. */
    EXPECT_EQ(child_view.caps(c.userns(), 0), NamespaceView::CapsView::verbatim);
    /* A sender inside the child, seen from the host: nothing. */
    EXPECT_EQ(NamespaceView::daemon().caps(c.userns(), 0), NamespaceView::CapsView::zero);
    EXPECT_EQ(NamespaceView::daemon().caps(host, 1000), NamespaceView::CapsView::verbatim);
}

/* What a receiver in a child user and pid namespace finds in field 128
 * (kdbus test-metadata-ns: CREDS 65534 and PIDS 0 for a host sender). */
std::optional<Metadata> stamp_for(const NamespaceView& view, const MessageMetadata& md) {
    wire::MessageBuilder b(wire::MessageType::signal);
    b.path("/a").interface("org.example.I").member("Sig");
    auto original = b.finish(1);
    wire::Header h;
    EXPECT_EQ(wire::parse_message(original, h), nullptr);
    std::vector<uint8_t> out;
    wire::build_forward_header(h, ":1.1", out);
    EXPECT_TRUE(append_metadata_field(out, h.endian, md, attach::all, view));
    return read_metadata(out.data(), out.size());
}

TEST(NamespaceView, SerializedItemsAreTranslated) {
    UsernsChild c;
    MessageMetadata md;
    md.present = attach::creds | attach::auxgroups | attach::audit | attach::pids;
    md.ids = {1000, 0, 1005, 0xffffffffu, 2000, 0, 2009, 2010};
    md.auxgroups = {2001, 5};
    md.loginuid = 0;
    md.sessionid = 9;
    md.pid = ::getpid();
    md.ppid = ::getppid();

    auto got = stamp_for(c.view(), md);
    ASSERT_TRUE(got && got->creds && got->audit && got->pids);
    EXPECT_EQ(got->creds->uid, 0u);
    EXPECT_EQ(got->creds->euid, 65534u);
    EXPECT_EQ(got->creds->suid, 5u);
    EXPECT_EQ(got->creds->fsuid, 0xffffffffu);
    EXPECT_EQ(got->creds->gid, 0u);
    EXPECT_EQ(got->creds->egid, 65534u);
    EXPECT_EQ(got->creds->sgid, 9u);
    EXPECT_EQ(got->creds->fsgid, 65534u);
    EXPECT_EQ(got->auxgroups, (std::vector<uint32_t>{1, 65534}));
    EXPECT_EQ(got->audit->loginuid, 0xffffffffu);
    EXPECT_EQ(got->audit->sessionid, 9u);
    /* Same pid namespace as us: pids stay. */
    EXPECT_EQ(got->pids->pid, static_cast<uint32_t>(::getpid()));
}

/* A process that is pid 1 of a new pid namespace; reported() is its pid
 * as we see it, pid() its parent's (outside that namespace). */
struct PidnsChild {
    ChildProcess child{[](int release) -> pid_t {
        if (::unshare(CLONE_NEWPID) != 0) return -1;
        pid_t init = ::fork();
        if (init == 0) {
            ChildProcess::wait_for_release(release);
            ::_exit(0);
        }
        return init;
    }};
};

TEST(NamespaceView, PidsTranslateIntoChildPidns) {
    PidnsChild c;
    const pid_t init = c.child.reported();
    ASSERT_GT(init, 0);
    auto v = NamespaceView::capture(Pidfd::open(init), init);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pid(init), 1u);
    EXPECT_EQ(v->tid(init), 1u);
    EXPECT_EQ(v->pid(::getpid()), 0u);       // outside: invisible
    EXPECT_EQ(v->pid(c.child.pid()), 0u);    // its parent is outside too
    EXPECT_EQ(v->pid(0), 0u);

    /* Process items of an invisible sender need the sender's consent. */
    EXPECT_FALSE(v->proc_readable(::getpid()));
    EXPECT_TRUE(v->proc_readable(init));
    EXPECT_EQ(delivered_mask(attach::all, 0, *v, ::getpid()), attach::implicit);
    EXPECT_EQ(delivered_mask(attach::all, 0, *v, init), attach::all);

    MessageMetadata md;
    md.present = attach::pids;
    md.pid = ::getpid();
    md.ppid = ::getppid();
    auto got = stamp_for(*v, md);
    ASSERT_TRUE(got && got->pids);
    EXPECT_EQ(got->pids->pid, 0u);
    EXPECT_EQ(got->pids->ppid, 0u);
    md.pid = init;
    md.ppid = c.child.pid();
    got = stamp_for(*v, md);
    ASSERT_TRUE(got && got->pids);
    EXPECT_EQ(got->pids->pid, 1u);
    EXPECT_EQ(got->pids->ppid, 0u);  // its parent lives outside
}

TEST(NamespaceView, HidepidHidesOtherProcesses) {
    /* The receiver mounts its own /proc with hidepid=invisible; its egid
     * (0) is not the exempt gid. */
    ChildProcess child([](int) -> pid_t {
        if (::unshare(CLONE_NEWNS) != 0) return -1;
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return -1;
        if (::mount("proc", "/proc", "proc", 0, "hidepid=invisible,gid=4242") != 0) return -1;
        return ::getpid();
    });
    ASSERT_GT(child.reported(), 0);
    auto v = NamespaceView::capture(Pidfd::open(child.pid()), child.pid());
    ASSERT_TRUE(v);
    EXPECT_NE(v->pid(::getpid()), 0u);  // visible in its pid namespace …
    EXPECT_FALSE(v->proc_readable(::getpid()));  // … but hidden by its /proc
    EXPECT_TRUE(v->proc_readable(child.pid()));  // itself: always
}

TEST(NamespaceView, GoneProcessHasNoView) {
    ChildProcess child([](int) { return ::getpid(); });
    const pid_t pid = child.pid();
    Pidfd pidfd = Pidfd::open(pid);
    ASSERT_TRUE(pidfd);
    child.finish();
    EXPECT_FALSE(NamespaceView::capture(pidfd, pid));
}

TEST(ParseIdMap, Lines) {
    auto m = parse_id_map("         0       1000          1\n         1     100000      65536\n");
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[1].inner, 1u);
    EXPECT_EQ(m[1].outer, 100000u);
    EXPECT_EQ(m[1].count, 65536u);
}

TEST(ParseProcMount, HidepidForms) {
    auto pm = parse_proc_mount("sysfs /sys sysfs rw 0 0\nproc /proc proc rw,nosuid,hidepid=2,gid=5 0 0\n");
    ASSERT_TRUE(pm);
    EXPECT_EQ(pm->hidepid, 2);
    EXPECT_EQ(pm->gid, 5u);
    pm = parse_proc_mount("proc /proc proc rw,relatime,hidepid=invisible 0 0\nproc /proc proc rw 0 0\n");
    ASSERT_TRUE(pm);
    EXPECT_EQ(pm->hidepid, 0);  // the mount on top wins
    EXPECT_FALSE(parse_proc_mount("proc /mnt/proc proc rw 0 0\n"));
}

}  // namespace
}  // namespace kdbus::metadata
