#include <sys/stat.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kdbus/attach_flags.hpp"
#include "kdbus/interface.hpp"
#include "kdbus/metadata.hpp"
#include "metadata/serialize.hpp"
#include "wire/message.hpp"

namespace kdbus::metadata {
namespace {

FileId id_of(const char* path) {
    struct stat st {};
    EXPECT_EQ(::stat(path, &st), 0);
    return file_id(st);
}

MessageMetadata sample() {
    MessageMetadata md;
    md.present = attach::all;
    md.seqnum = 7;
    md.monotonic_ns = 123456789;
    md.realtime_ns = 1700000000000000000ull;
    md.ids = {1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003};
    md.pid = ::getpid();
    md.tid = 0;
    md.ppid = ::getppid();
    md.auxgroups = {10, 20};
    md.names = {":1.4", "org.example.Sender"};
    md.tid_comm = "worker";
    md.pid_comm = "sender";
    md.exe = "/usr/bin/sender";
    md.root = id_of("/proc/self/root");
    md.cmdline = {"sender", "--flag", ""};
    md.cgroup = "/user.slice/app.scope";
    md.caps.last_cap = 40;
    md.caps.inheritable = {0, 0};
    md.caps.permitted = {0x1, 0x2};
    md.caps.effective = {0x1, 0};
    md.caps.bounding = {0xffffffff, 0x1ff};
    md.userns = id_of("/proc/self/ns/user");
    md.seclabel = "unconfined";
    md.loginuid = 1000;
    md.sessionid = 3;
    md.conn_description = "test peer";
    return md;
}

/* A signal with a one-string body, forwarded as the bus would, with field
 * 128 added. `big` builds it big-endian by hand (the bus never makes
 * big-endian messages itself, but forwards clients' in their order). */
std::vector<uint8_t> stamped_message(bool big, const MessageMetadata& md, uint64_t mask, const NamespaceView& view,
                                     bool* added = nullptr) {
    std::vector<uint8_t> original;
    if (!big) {
        wire::MessageBuilder b(wire::MessageType::signal);
        b.path("/a").interface("org.example.I").member("Sig");
        b.body("s").put_string("payload");
        original = b.finish(5);
    } else {
        /* 'B', signal, no flags, version 1; body: STRING "payload". */
        auto u32 = [&](uint32_t v) {
            for (int i = 3; i >= 0; --i) original.push_back(static_cast<uint8_t>(v >> (8 * i)));
        };
        auto pad = [&](size_t a) {
            while (original.size() % a) original.push_back(0);
        };
        auto field = [&](uint8_t code, char type, std::string_view v) {
            pad(8);
            original.insert(original.end(), {code, 1, static_cast<uint8_t>(type), 0});
            if (type == 'g') {
                original.push_back(static_cast<uint8_t>(v.size()));
            } else {
                u32(static_cast<uint32_t>(v.size()));
            }
            original.insert(original.end(), v.begin(), v.end());
            original.push_back(0);
        };
        original = {'B', 4, 0, 1};
        u32(12);  // body: u32 length 7, "payload", NUL
        u32(5);
        u32(0);   // patched below
        field(1, 'o', "/a");
        field(2, 's', "org.example.I");
        field(3, 's', "Sig");
        field(8, 'g', "s");
        const uint32_t len = static_cast<uint32_t>(original.size() - 16);
        for (int i = 0; i < 4; ++i) original[12 + i] = static_cast<uint8_t>(len >> (8 * (3 - i)));
        pad(8);
        u32(7);
        original.insert(original.end(), {'p', 'a', 'y', 'l', 'o', 'a', 'd', 0});
    }
    wire::Header h;
    const char* err = wire::parse_message(original, h);
    EXPECT_EQ(err, nullptr) << err;

    std::vector<uint8_t> out;
    wire::build_forward_header(h, ":1.4", out);
    bool ok = append_metadata_field(out, h.endian, md, mask, view);
    if (added) *added = ok;
    auto body = std::span<const uint8_t>(original).subspan(h.body_offset);
    out.insert(out.end(), body.begin(), body.end());

    wire::Header again;
    err = wire::parse_message(out, again);
    EXPECT_EQ(err, nullptr) << "stamped message is not valid D-Bus: " << err;
    EXPECT_EQ(again.member, "Sig");
    EXPECT_EQ(again.sender, ":1.4");
    return out;
}

class RoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(RoundTrip, EveryItemSurvives) {
    const MessageMetadata md = sample();
    const NamespaceView view = NamespaceView::daemon();
    auto bytes = stamped_message(GetParam(), md, attach::all, view);
    auto got = read_metadata(bytes.data(), bytes.size());
    ASSERT_TRUE(got);

    ASSERT_TRUE(got->timestamp);
    EXPECT_EQ(got->timestamp->seqnum, 7u);
    EXPECT_EQ(got->timestamp->monotonic_ns, 123456789u);
    EXPECT_EQ(got->timestamp->realtime_ns, 1700000000000000000ull);
    ASSERT_TRUE(got->creds);
    EXPECT_EQ(got->creds->uid, 1000u);
    EXPECT_EQ(got->creds->fsuid, 1003u);
    EXPECT_EQ(got->creds->gid, 2000u);
    EXPECT_EQ(got->creds->fsgid, 2003u);
    ASSERT_TRUE(got->pids);
    EXPECT_EQ(got->pids->pid, static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(got->pids->tid, 0u);
    EXPECT_EQ(got->pids->ppid, static_cast<uint32_t>(::getppid()));
    EXPECT_EQ(got->auxgroups, (std::vector<uint32_t>{10, 20}));
    EXPECT_EQ(got->names, (std::vector<std::string>{":1.4", "org.example.Sender"}));
    EXPECT_EQ(got->tid_comm, "worker");
    EXPECT_EQ(got->pid_comm, "sender");
    EXPECT_EQ(got->exe, "/usr/bin/sender");
    EXPECT_EQ(got->cmdline, (std::vector<std::string>{"sender", "--flag", ""}));
    EXPECT_EQ(got->cgroup, "/user.slice/app.scope");
    ASSERT_TRUE(got->caps);
    EXPECT_EQ(got->caps->last_cap, 40u);
    EXPECT_EQ(got->caps->permitted, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(got->caps->bounding, (std::vector<uint32_t>{0xffffffff, 0x1ff}));
    EXPECT_EQ(got->seclabel, (std::vector<uint8_t>{'u', 'n', 'c', 'o', 'n', 'f', 'i', 'n', 'e', 'd'}));
    ASSERT_TRUE(got->audit);
    EXPECT_EQ(got->audit->loginuid, 1000u);
    EXPECT_EQ(got->audit->sessionid, 3u);
    EXPECT_EQ(got->conn_description, "test peer");
}

TEST_P(RoundTrip, OnlyTheMaskAndWhatWasCaptured) {
    MessageMetadata md = sample();
    md.present &= ~attach::pids;  // could not be captured
    auto bytes = stamped_message(GetParam(), md, attach::creds | attach::pids, NamespaceView::daemon());
    auto got = read_metadata(bytes.data(), bytes.size());
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->creds);
    EXPECT_FALSE(got->pids);
    EXPECT_FALSE(got->timestamp);
    EXPECT_FALSE(got->exe);
}

TEST_P(RoundTrip, NothingDeliveredAddsNoField) {
    MessageMetadata md = sample();
    md.present = attach::pids;
    bool added = true;
    auto bytes = stamped_message(GetParam(), md, attach::creds, NamespaceView::daemon(), &added);
    EXPECT_FALSE(added);
    EXPECT_FALSE(read_metadata(bytes.data(), bytes.size()));
}

INSTANTIATE_TEST_SUITE_P(ByteOrder, RoundTrip, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "big" : "little"; });

TEST(Serialize, ExeDroppedAcrossFsRoots) {
    MessageMetadata md = sample();
    md.root = FileId{md.root.dev, md.root.ino + 1};
    auto bytes = stamped_message(false, md, attach::exe | attach::pid_comm, NamespaceView::daemon());
    auto got = read_metadata(bytes.data(), bytes.size());
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->exe);
    EXPECT_EQ(got->pid_comm, "sender");
}

TEST(Serialize, UnsendableStringsAreDroppedNotAltered) {
    MessageMetadata md = sample();
    md.pid_comm = "bad\xff";
    md.tid_comm = std::string("nul\0x", 5);
    auto bytes = stamped_message(false, md, attach::pid_comm | attach::tid_comm | attach::cgroup,
                                 NamespaceView::daemon());
    auto got = read_metadata(bytes.data(), bytes.size());
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->pid_comm);
    EXPECT_FALSE(got->tid_comm);
    EXPECT_EQ(got->cgroup, "/user.slice/app.scope");
}

TEST(Serialize, CapsZeroedWhereTheyMeanNothing) {
    MessageMetadata md = sample();
    md.userns = FileId{md.userns.dev, md.userns.ino + 1};  // a namespace the receiver is not below
    auto bytes = stamped_message(false, md, attach::caps, NamespaceView::daemon());
    auto got = read_metadata(bytes.data(), bytes.size());
    ASSERT_TRUE(got && got->caps);
    EXPECT_EQ(got->caps->last_cap, 40u);
    EXPECT_EQ(got->caps->effective, (std::vector<uint32_t>{0, 0}));
    EXPECT_EQ(got->caps->bounding, (std::vector<uint32_t>{0, 0}));
}

TEST(Serialize, ValueIntoAWireWriter) {
    wire::Writer w;
    size_t n = append_metadata_value(w, sample(), attach::timestamp | attach::names, NamespaceView::daemon());
    EXPECT_EQ(n, 2u);
    wire::Reader r(w.bytes(), wire::Endian::little);
    EXPECT_TRUE(r.skip_all("a{sv}"));
}

TEST(ReadMetadata, AbsentOrMalformed) {
    wire::MessageBuilder b(wire::MessageType::signal);
    b.path("/a").interface("org.example.I").member("Sig");
    auto plain = b.finish(1);
    EXPECT_FALSE(read_metadata(plain.data(), plain.size()));

    auto bytes = stamped_message(false, sample(), attach::all, NamespaceView::daemon());
    ASSERT_TRUE(read_metadata(bytes.data(), bytes.size()));
    EXPECT_FALSE(read_metadata(bytes.data(), 40));  // cut inside the header fields
    EXPECT_FALSE(read_metadata(bytes.data(), 8));
}

}  // namespace
}  // namespace kdbus::metadata
