// kdbus per-message metadata over real sockets: the attach-flag calls of
// org.kdbusd.Bus1, header field 128 as receivers see it, and translation
// into a receiver's user and pid namespaces (DESIGN.md "Fixed interfaces";
// KDBUS.md rows "Attach flags", "CONN_INFO", the metadata item table and
// §3 rules 4–8). Receivers are raw connections (client libraries drop
// unknown header fields); senders are sd-bus, raw, or forked children where
// a test needs another uid or namespace.
#include <algorithm>
#include <csignal>
#include <fstream>
#include <sched.h>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "bus_fixture.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata_forked_task.hpp"
#include "metadata_raw_connection.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

namespace attach = kdbus::attach;
namespace wire = kdbus::wire;
using ::testing::Contains;
using ::testing::Each;
using ::testing::Not;

constexpr const char* kBus1 = "org.kdbusd.Bus1";
constexpr const char* kInterface = "org.example.Meta";
constexpr const char* kPath = "/org/example/meta";
constexpr const char* kMatch = "type='signal',interface='org.example.Meta'";
constexpr uint32_t kOtherUid = 12345;  // an unprivileged uid the tests switch to
constexpr uint32_t kOverflowId = kdbus::metadata_field::overflow_id;

using Flags = std::pair<uint64_t, uint64_t>;  // send mask, receive mask

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string self_comm() {
  std::string comm = read_file("/proc/self/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

std::vector<std::string> self_cmdline() {
  std::string raw = read_file("/proc/self/cmdline");
  std::vector<std::string> args;
  for (size_t pos = 0; pos < raw.size();) {
    size_t nul = raw.find('\0', pos);
    if (nul == std::string::npos) nul = raw.size();
    args.push_back(raw.substr(pos, nul - pos));
    pos = nul + 1;
  }
  return args;
}

int item_count(const kdbus::Metadata& md) {
  return md.timestamp.has_value() + md.creds.has_value() + md.pids.has_value() + md.auxgroups.has_value() +
         md.names.has_value() + md.tid_comm.has_value() + md.pid_comm.has_value() + md.exe.has_value() +
         md.cmdline.has_value() + md.cgroup.has_value() + md.caps.has_value() + md.seclabel.has_value() +
         md.audit.has_value() + md.conn_description.has_value();
}

int count_of(const std::vector<uint8_t>& codes, uint8_t code) {
  return static_cast<int>(std::count(codes.begin(), codes.end(), code));
}

class Metadata : public BusTest {
 protected:
  std::string socket_path() const { return (bus_->dir() / "bus").string(); }

  // A raw connection that asked for `recv_mask` and listens to the test
  // signals. recv_mask 0 leaves the attach flags untouched.
  std::unique_ptr<RawBusConnection> receiver(uint64_t recv_mask) {
    auto c = std::make_unique<RawBusConnection>(socket_path());
    c->authenticate_and_hello();
    if (recv_mask) c->update_attach_flags(0, recv_mask);
    c->add_match(kMatch);
    return c;
  }

  static CallResult update_attach_flags(SdBusPeer& peer, uint64_t send_mask, uint64_t recv_mask) {
    return peer.call(kDriverName, kDriverPath, kBus1, "UpdateAttachFlags", "tt", send_mask, recv_mask);
  }

  static RawMessage set_attach_flags(RawBusConnection& c, uint64_t send_mask, uint64_t recv_mask) {
    return c.call_driver(kBus1, "UpdateAttachFlags", "tt", [&](wire::Writer& w) {
      w.put_u64(send_mask);
      w.put_u64(recv_mask);
    });
  }

  static Flags attach_flags(RawBusConnection& c) {
    auto r = c.call_driver(kBus1, "GetAttachFlags");
    EXPECT_FALSE(r.is_error()) << r.describe();
    EXPECT_EQ(r.signature, "tt");
    Flags f{~0ull, ~0ull};
    auto body = r.body();
    body.read_u64(f.first);
    body.read_u64(f.second);
    return f;
  }

  // The metadata of `name` as `caller` gets it from GetConnectionMetadata.
  static RawMessage connection_metadata(RawBusConnection& caller, const std::string& name, uint64_t mask) {
    return caller.call_driver(kBus1, "GetConnectionMetadata", "st", [&](wire::Writer& w) {
      w.put_string(name);
      w.put_u64(mask);
    });
  }

  // The next test signal `member` at `rx`, failing the test if none comes.
  static RawMessage expect_signal(RawBusConnection& rx, const std::string& member) {
    auto m = rx.wait_for(is_raw_signal(member));
    if (!m) throw std::runtime_error("signal " + member + " did not arrive");
    return std::move(*m);
  }
};

// §3 rule 4: metadata is receiver opt-in. Before UpdateAttachFlags a
// receiver's messages carry no field 128; after it, exactly the items asked
// for (here Timestamp and Creds, not Pids).
TEST_F(Metadata, ReceiverOptsIn) {
  auto rx = receiver(0);
  SdBusPeer tx(address());

  tx.emit(nullptr, kPath, kInterface, "Before");
  auto before = expect_signal(*rx, "Before");
  EXPECT_FALSE(before.metadata().has_value());
  EXPECT_EQ(count_of(before.header_field_codes(), 128), 0);

  rx->update_attach_flags(0, attach::timestamp | attach::creds);
  tx.emit(nullptr, kPath, kInterface, "After");
  auto after = expect_signal(*rx, "After");
  EXPECT_EQ(count_of(after.header_field_codes(), 128), 1);
  auto md = after.metadata();
  ASSERT_TRUE(md.has_value()) << "no field 128 after UpdateAttachFlags";
  EXPECT_TRUE(md->timestamp.has_value());
  ASSERT_TRUE(md->creds.has_value());
  EXPECT_EQ(md->creds->uid, getuid());
  EXPECT_FALSE(md->pids.has_value()) << "Pids was not asked for";
  EXPECT_EQ(item_count(*md), 2);

  // Opting out again stops it.
  rx->update_attach_flags(0, 0);
  tx.emit(nullptr, kPath, kInterface, "Out");
  EXPECT_FALSE(expect_signal(*rx, "Out").metadata().has_value());
}

// kdbus: unknown attach-flag bits are EINVAL (test-connection.c
// connection-update, ALL+1); the flags stay as they were.
TEST_F(Metadata, UnknownBitsAreInvalidArgs) {
  auto c = receiver(0);
  ASSERT_FALSE(set_attach_flags(*c, attach::pid_comm, attach::creds).is_error());
  for (auto [send, recv] : {Flags{attach::all + 1, 0}, Flags{0, attach::all + 1}, Flags{0, 1ull << 63},
                            Flags{1ull << 14, attach::creds}}) {
    EXPECT_EQ(set_attach_flags(*c, send, recv).error_name, "org.freedesktop.DBus.Error.InvalidArgs")
        << std::hex << send << " " << recv;
  }
  EXPECT_EQ(attach_flags(*c), Flags(attach::pid_comm, attach::creds));
}

TEST_F(Metadata, GetAttachFlagsRoundTrip) {
  auto c = receiver(0);
  EXPECT_EQ(attach_flags(*c), Flags(0, 0));  // kdbusd's default: nothing either way
  for (Flags f : {Flags{attach::exe | attach::cmdline, attach::all}, Flags{attach::all, attach::timestamp},
                  Flags{attach::implicit, 0}, Flags{0, 0}}) {
    auto r = set_attach_flags(*c, f.first, f.second);
    ASSERT_FALSE(r.is_error()) << r.describe();
    EXPECT_EQ(attach_flags(*c), f);
  }
}

// Opting in must not cost a client its messages. sd-bus (hence busctl and
// sdbus-c++) skips an unknown header field with message_skip_fields(),
// which returns -EBADMSG on any struct or dict entry, and then drops the
// whole message: field 128 as a{sv} makes every message that carries it
// — here the reply to UpdateAttachFlags itself (Timestamp) and a peer's
// signal (Creds) — vanish for an sd-bus receiver.
// DISABLED: DESIGN.md fixes the field as a{sv}; carrying it in a form
// sd-bus can skip (e.g. ay) is a design change, raised on issue 5 and in
// docs/compat.md. Enable once the format is decided.
TEST_F(Metadata, DISABLED_SdBusReceiverThatOptsInStillGetsItsMessages) {
  SdBusPeer rx(address());
  ASSERT_TRUE(rx.add_match(kMatch).ok());
  auto r = rx.call(kDriverName, kDriverPath, kBus1, "UpdateAttachFlags", "tt", uint64_t{0},
                   attach::timestamp | attach::creds);
  EXPECT_TRUE(r.ok()) << "reply to UpdateAttachFlags lost: " << r.describe();

  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "ToSdBus");
  EXPECT_TRUE(rx.wait_for(is_signal(kInterface, "ToSdBus"), milliseconds(2000)).has_value())
      << "an sd-bus receiver with attach flags lost a signal";
}

// kdbus cc6a928: the implicit items flow on the receiver's request alone
// (the sender here never called UpdateAttachFlags), and the values are the
// sender's: this very process.
TEST_F(Metadata, ImplicitItemsNeedNoSenderConsent) {
  auto rx = receiver(attach::implicit);
  SdBusPeer tx(address());
  ASSERT_EQ(tx.request_name("org.example.MetaSender").u32(), 1u);
  ASSERT_TRUE(tx.call(kDriverName, kDriverPath, kBus1, "SetConnectionDescription", "s", "meta-sender").ok());

  tx.emit(nullptr, kPath, kInterface, "Implicit");
  auto md = expect_signal(*rx, "Implicit").metadata();
  ASSERT_TRUE(md.has_value());
  ASSERT_TRUE(md->timestamp.has_value());
  ASSERT_TRUE(md->creds.has_value());
  EXPECT_EQ(md->creds->uid, getuid());
  EXPECT_EQ(md->creds->euid, geteuid());
  EXPECT_EQ(md->creds->gid, getgid());
  EXPECT_EQ(md->creds->egid, getegid());
  ASSERT_TRUE(md->pids.has_value());
  EXPECT_EQ(md->pids->pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(md->pids->ppid, static_cast<uint32_t>(getppid()));
  ASSERT_TRUE(md->auxgroups.has_value());
  std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
  groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
  EXPECT_EQ(std::set<uint32_t>(md->auxgroups->begin(), md->auxgroups->end()),
            std::set<uint32_t>(groups.begin(), groups.end()));
  ASSERT_TRUE(md->names.has_value());
  EXPECT_THAT(*md->names, Contains("org.example.MetaSender"));
  EXPECT_EQ(md->conn_description, "meta-sender");
  // Nothing beyond what was asked for.
  EXPECT_FALSE(md->pid_comm || md->exe || md->cmdline || md->caps || md->cgroup);
}

// kdbus cc6a928: process items flow without the sender's consent when the
// receiver could read them in /proc itself — same pid namespace, no
// hidepid, root. Values are this process's own /proc.
TEST_F(Metadata, ProcessItemsWhenReceiverCouldReadProc) {
  auto rx = receiver(attach::all);
  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "Proc");
  auto md = expect_signal(*rx, "Proc").metadata();
  ASSERT_TRUE(md.has_value());
  EXPECT_EQ(md->pid_comm, self_comm());
  EXPECT_EQ(md->tid_comm, self_comm());  // the main thread sent it
  EXPECT_EQ(md->exe, std::filesystem::read_symlink("/proc/self/exe").string());
  ASSERT_TRUE(md->cmdline.has_value());
  EXPECT_EQ(*md->cmdline, self_cmdline());
  EXPECT_TRUE(md->cgroup.has_value());
  ASSERT_TRUE(md->caps.has_value());
  EXPECT_GT(md->caps->last_cap, 0u);
  ASSERT_FALSE(md->caps->effective.empty());
  EXPECT_NE(md->caps->effective[0] & (1u << 21), 0u) << "root's CAP_SYS_ADMIN missing from Caps";
}

// kdbus: kernel messages carry only TIMESTAMP; the driver is kdbusd's
// kernel. Its signals and replies carry no item about any process.
TEST_F(Metadata, DriverMessagesCarryOnlyTimestamp) {
  auto rx = receiver(attach::all);
  rx->add_match("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'");
  rx->request_name("org.example.MetaDriver");

  auto changed = rx->wait_for([](const RawMessage& m) {
    return m.member == "NameOwnerChanged" && m.sender == "org.freedesktop.DBus";
  });
  ASSERT_TRUE(changed.has_value());
  auto md = changed->metadata();
  ASSERT_TRUE(md.has_value()) << "a driver signal to an opted-in receiver carries Timestamp";
  EXPECT_TRUE(md->timestamp.has_value());
  EXPECT_EQ(item_count(*md), 1);

  // (Its first NameAcquired, for the unique name, predates the opt-in.)
  auto acquired = rx->wait_for([](const RawMessage& m) {
    std::string_view name;
    auto body = m.body();
    return m.member == "NameAcquired" && body.read_string(name) && name == "org.example.MetaDriver";
  });
  ASSERT_TRUE(acquired.has_value());
  ASSERT_TRUE(acquired->metadata().has_value());
  EXPECT_EQ(item_count(*acquired->metadata()), 1);

  // A driver reply may carry the timestamp, but never anything else.
  auto reply = rx->call_driver("org.freedesktop.DBus", "GetId");
  ASSERT_FALSE(reply.is_error()) << reply.describe();
  if (auto r = reply.metadata()) {
    EXPECT_TRUE(r->timestamp.has_value());
    EXPECT_EQ(item_count(*r), 1);
  }
}

// The bus strips field 128 (and every header field the specification does
// not define) from what clients send: a sender cannot plant metadata.
TEST_F(Metadata, ForgedFieldIsStripped) {
  auto plain = receiver(0);
  auto opted = receiver(attach::all);
  RawBusConnection tx(socket_path());
  tx.authenticate_and_hello();

  // A signal whose header also holds a forged field 128 (Creds of uid 4242,
  // a foreign name, a description) and an undefined field 129.
  wire::Writer w;
  for (uint8_t b : {uint8_t('l'), uint8_t(4), uint8_t(0), uint8_t(1)}) w.put_byte(b);
  w.put_u32(0);  // body length
  w.put_u32(tx.next_serial());
  auto fields = w.begin_array(8);
  auto field = [&](uint8_t code, std::string_view sig) {
    w.begin_struct();
    w.put_byte(code);
    w.begin_variant(sig);
  };
  field(1, "o");
  w.put_object_path(kPath);
  field(2, "s");
  w.put_string(kInterface);
  field(3, "s");
  w.put_string("Forged");
  field(128, "a{sv}");
  auto dict = w.begin_array(8);
  w.begin_struct();
  w.put_string("Creds");
  w.begin_variant("(uuuuuuuu)");
  w.begin_struct();
  for (int i = 0; i < 8; ++i) w.put_u32(4242);
  w.begin_struct();
  w.put_string("Names");
  w.begin_variant("as");
  auto names = w.begin_array(4);
  w.put_string("org.forged.Name");
  w.end_array(names);
  w.begin_struct();
  w.put_string("ConnDescription");
  w.begin_variant("s");
  w.put_string("forged");
  w.end_array(dict);
  field(129, "s");
  w.put_string("junk");
  w.end_array(fields);
  w.align(8);
  tx.send_bytes(w.bytes());

  auto seen_plain = expect_signal(*plain, "Forged");
  EXPECT_EQ(count_of(seen_plain.header_field_codes(), 128), 0) << "forged field reached a receiver that never asked";
  EXPECT_EQ(count_of(seen_plain.header_field_codes(), 129), 0);
  EXPECT_FALSE(seen_plain.metadata().has_value());

  auto seen_opted = expect_signal(*opted, "Forged");
  EXPECT_EQ(count_of(seen_opted.header_field_codes(), 128), 1);
  EXPECT_EQ(count_of(seen_opted.header_field_codes(), 129), 0);
  auto md = seen_opted.metadata();
  ASSERT_TRUE(md.has_value());
  ASSERT_TRUE(md->creds.has_value());
  EXPECT_EQ(md->creds->uid, getuid()) << "the forged Creds came through";
  ASSERT_TRUE(md->names.has_value());
  EXPECT_THAT(*md->names, Not(Contains("org.forged.Name")));
  EXPECT_NE(md->conn_description, "forged");
}

// Credentials are those of the moment of sending (DESIGN.md: "captured when
// the message is sent, not when the sender connected"): one connection,
// two messages, a uid change in between.
TEST_F(Metadata, SenderChangingUidBetweenMessages) {
  auto rx = receiver(attach::creds);
  const std::string path = socket_path();
  ForkedTask sender([&](TaskChannel& ch) {
    RawBusConnection tx(path);
    tx.authenticate_and_hello();
    tx.emit(kPath, kInterface, "AsRoot");
    ch.send("sent");
    ch.expect("go");
    if (setresgid(kOtherUid, kOtherUid, kOtherUid) < 0 || setresuid(kOtherUid, kOtherUid, kOtherUid) < 0)
      throw std::runtime_error("setresuid failed");
    tx.emit(kPath, kInterface, "AsOther");
    ch.send("sent");
    ch.expect("done");  // stay alive until the test has both messages
    return 0;
  });
  sender.channel().expect("sent");
  auto first = expect_signal(*rx, "AsRoot").metadata();
  sender.channel().send("go");
  sender.channel().expect("sent");
  auto second = expect_signal(*rx, "AsOther").metadata();
  sender.channel().send("done");
  EXPECT_EQ(sender.wait_exit(), 0);

  ASSERT_TRUE(first && first->creds);
  EXPECT_EQ(first->creds->uid, 0u);
  EXPECT_EQ(first->creds->gid, 0u);
  ASSERT_TRUE(second && second->creds);
  EXPECT_EQ(second->creds->uid, kOtherUid);
  EXPECT_EQ(second->creds->euid, kOtherUid);
  EXPECT_EQ(second->creds->gid, kOtherUid);
}

// The same, without giving the bus time to route the first message before
// the uid changes: the daemon is stopped while the sender writes both. The
// first message's SCM_CREDENTIALS say uid 0, and that is what the receiver
// must see, however late the bus gets to it.
TEST_F(Metadata, CredsAreThoseOfTheSendNotOfTheRouting) {
  auto rx = receiver(attach::creds);
  const std::string path = socket_path();
  ForkedTask sender([&](TaskChannel& ch) {
    RawBusConnection tx(path);
    tx.authenticate_and_hello();
    ch.send("ready");
    ch.expect("go");
    tx.emit(kPath, kInterface, "AsRoot");
    if (setresgid(kOtherUid, kOtherUid, kOtherUid) < 0 || setresuid(kOtherUid, kOtherUid, kOtherUid) < 0)
      throw std::runtime_error("setresuid failed");
    tx.emit(kPath, kInterface, "AsOther");
    ch.send("sent");
    ch.expect("done");
    return 0;
  });
  sender.channel().expect("ready");

  // The daemon is this test's child, so waitpid(WUNTRACED) says when it is
  // really stopped.
  const pid_t daemon = bus_->pid();
  ASSERT_EQ(kill(daemon, SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{daemon};
  int status = 0;
  ASSERT_EQ(waitpid(daemon, &status, WUNTRACED), daemon);
  ASSERT_TRUE(WIFSTOPPED(status));

  sender.channel().send("go");
  sender.channel().expect("sent");
  ASSERT_EQ(kill(daemon, SIGCONT), 0);

  auto first = expect_signal(*rx, "AsRoot").metadata();
  auto second = expect_signal(*rx, "AsOther").metadata();
  sender.channel().send("done");
  EXPECT_EQ(sender.wait_exit(), 0);

  ASSERT_TRUE(first && first->creds);
  EXPECT_EQ(first->creds->uid, 0u) << "Creds read when routing, not the SCM_CREDENTIALS of the send";
  EXPECT_EQ(first->creds->gid, 0u);
  ASSERT_TRUE(second && second->creds);
  EXPECT_EQ(second->creds->uid, kOtherUid);
}

// TIMESTAMP's seqnum is per bus, so it orders messages of different
// senders; every receiver of one broadcast sees the same seqnum.
TEST_F(Metadata, SeqnumIncreasesAcrossSenders) {
  auto rx = receiver(attach::timestamp);
  auto rx2 = receiver(attach::timestamp);
  SdBusPeer a(address());
  SdBusPeer b(address());

  std::vector<kdbus::Metadata::Timestamp> stamps;
  int n = 0;
  for (SdBusPeer* tx : {&a, &b, &a, &b}) {
    const std::string member = "Tick" + std::to_string(n++);
    tx->emit(nullptr, kPath, kInterface, member.c_str());
    auto md = expect_signal(*rx, member).metadata();
    auto md2 = expect_signal(*rx2, member).metadata();
    ASSERT_TRUE(md && md->timestamp && md2 && md2->timestamp) << member;
    EXPECT_EQ(md->timestamp->seqnum, md2->timestamp->seqnum) << member;
    stamps.push_back(*md->timestamp);
  }
  for (size_t i = 1; i < stamps.size(); ++i) {
    EXPECT_GT(stamps[i].seqnum, stamps[i - 1].seqnum) << i;
    EXPECT_GE(stamps[i].monotonic_ns, stamps[i - 1].monotonic_ns) << i;
  }
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const uint64_t now_ns = uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
  EXPECT_LE(stamps.back().realtime_ns, now_ns);
  EXPECT_GT(stamps.back().realtime_ns, now_ns - 60ull * 1000000000ull);
}

// NAMES: the sender's well-known names at the time of sending.
TEST_F(Metadata, NamesListsTheSendersNames) {
  auto rx = receiver(attach::names);
  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "NoName");
  auto none = expect_signal(*rx, "NoName").metadata();
  ASSERT_TRUE(none.has_value());
  if (none->names) {
    EXPECT_THAT(*none->names, Not(Contains("org.example.MetaA")));
  }

  ASSERT_EQ(tx.request_name("org.example.MetaA").u32(), 1u);
  ASSERT_EQ(tx.request_name("org.example.MetaB").u32(), 1u);
  tx.emit(nullptr, kPath, kInterface, "Named");
  auto named = expect_signal(*rx, "Named").metadata();
  ASSERT_TRUE(named && named->names);
  EXPECT_THAT(*named->names, Contains("org.example.MetaA"));
  EXPECT_THAT(*named->names, Contains("org.example.MetaB"));

  ASSERT_EQ(tx.release_name("org.example.MetaA").u32(), 1u);
  tx.emit(nullptr, kPath, kInterface, "Released");
  auto released = expect_signal(*rx, "Released").metadata();
  ASSERT_TRUE(released && released->names);
  EXPECT_THAT(*released->names, Not(Contains("org.example.MetaA")));
  EXPECT_THAT(*released->names, Contains("org.example.MetaB"));
}

// kdbus CONN_INFO: the target's metadata, by unique or well-known name;
// a forked child is the target so its pid differs from the caller's.
TEST_F(Metadata, GetConnectionMetadataOfAPeer) {
  const std::string path = socket_path();
  ForkedTask target([&](TaskChannel& ch) {
    RawBusConnection c(path);
    c.authenticate_and_hello();
    c.request_name("org.example.MetaTarget");
    ch.send(c.unique_name());
    ch.expect("done");
    return 0;
  });
  auto unique = target.channel().read_line();
  ASSERT_TRUE(unique && unique->starts_with(":")) << unique.value_or("(nothing)");

  RawBusConnection caller(socket_path());
  caller.authenticate_and_hello();
  for (const std::string& name : {*unique, std::string("org.example.MetaTarget")}) {
    auto reply = connection_metadata(caller, name, attach::all);
    ASSERT_FALSE(reply.is_error()) << name << ": " << reply.describe();
    auto md = reply.body_metadata();
    ASSERT_TRUE(md.has_value()) << name << ": reply is not a metadata a{sv}";
    ASSERT_TRUE(md->creds.has_value()) << name;
    EXPECT_EQ(md->creds->uid, 0u);
    ASSERT_TRUE(md->pids.has_value()) << name;
    EXPECT_EQ(md->pids->pid, static_cast<uint32_t>(target.pid()));
    EXPECT_EQ(md->pids->ppid, static_cast<uint32_t>(getpid()));
    ASSERT_TRUE(md->names.has_value());
    EXPECT_THAT(*md->names, Contains("org.example.MetaTarget"));
    EXPECT_FALSE(md->timestamp.has_value()) << "a connection has no timestamp";
    // Requested ∩ the target's send mask, which is empty: no process items.
    EXPECT_FALSE(md->pid_comm || md->exe || md->cmdline) << name;
  }
  // Only what was asked for.
  auto only_pids = connection_metadata(caller, *unique, attach::pids).body_metadata();
  ASSERT_TRUE(only_pids.has_value());
  EXPECT_TRUE(only_pids->pids.has_value());
  EXPECT_EQ(item_count(*only_pids), 1);

  target.channel().send("done");
  EXPECT_EQ(target.wait_exit(), 0);
}

TEST_F(Metadata, GetConnectionMetadataOfUnknownNameIsNameHasNoOwner) {
  RawBusConnection caller(socket_path());
  caller.authenticate_and_hello();
  for (const char* name : {":1.9999", "org.example.Nobody"}) {
    auto reply = connection_metadata(caller, name, attach::creds);
    EXPECT_EQ(reply.error_name, "org.freedesktop.DBus.Error.NameHasNoOwner") << name << ": " << reply.describe();
  }
  auto bad = connection_metadata(caller, caller.unique_name(), attach::all + 1);
  EXPECT_EQ(bad.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
}

// CONN_INFO process items follow the target's send mask (the querier's
// /proc access does not count there).
TEST_F(Metadata, GetConnectionMetadataProcessItemsNeedTargetConsent) {
  SdBusPeer target(address());
  RawBusConnection caller(socket_path());
  caller.authenticate_and_hello();
  auto before = connection_metadata(caller, target.unique_name(), attach::pid_comm | attach::creds).body_metadata();
  ASSERT_TRUE(before.has_value());
  EXPECT_TRUE(before->creds.has_value());
  EXPECT_FALSE(before->pid_comm.has_value());

  ASSERT_TRUE(update_attach_flags(target, attach::pid_comm, 0).ok());
  auto after = connection_metadata(caller, target.unique_name(), attach::pid_comm | attach::creds).body_metadata();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->pid_comm, self_comm());
}

// kdbus test-connection.c connection-info: CONN_INFO returns the creds
// cached at HELLO, also after the target dropped privileges.
TEST_F(Metadata, GetConnectionMetadataCredsAreThoseOfHello) {
  const std::string path = socket_path();
  ForkedTask target([&](TaskChannel& ch) {
    RawBusConnection c(path);
    c.authenticate_and_hello();
    if (setresgid(kOtherUid, kOtherUid, kOtherUid) < 0 || setresuid(kOtherUid, kOtherUid, kOtherUid) < 0)
      throw std::runtime_error("setresuid failed");
    ch.send(c.unique_name());
    ch.expect("done");
    return 0;
  });
  auto unique = target.channel().read_line();
  ASSERT_TRUE(unique && unique->starts_with(":")) << unique.value_or("(nothing)");
  RawBusConnection caller(socket_path());
  caller.authenticate_and_hello();
  auto md = connection_metadata(caller, *unique, attach::creds).body_metadata();
  target.channel().send("done");
  EXPECT_EQ(target.wait_exit(), 0);
  ASSERT_TRUE(md && md->creds);
  EXPECT_EQ(md->creds->uid, 0u) << "GetConnectionMetadata reads the target's current creds, not those of its Hello";
  EXPECT_EQ(md->creds->gid, 0u);
}

// CONN_DESCRIPTION: set with SetConnectionDescription, seen by receivers
// (implicit, no consent needed) and by GetConnectionMetadata.
TEST_F(Metadata, ConnectionDescription) {
  auto rx = receiver(attach::conn_description);
  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "Undescribed");
  auto undescribed = expect_signal(*rx, "Undescribed").metadata();
  EXPECT_FALSE(undescribed && undescribed->conn_description) << "no description was set";

  ASSERT_TRUE(tx.call(kDriverName, kDriverPath, kBus1, "SetConnectionDescription", "s", "meta tx").ok());
  tx.emit(nullptr, kPath, kInterface, "Described");
  auto described = expect_signal(*rx, "Described").metadata();
  ASSERT_TRUE(described.has_value());
  EXPECT_EQ(described->conn_description, "meta tx");
  EXPECT_EQ(item_count(*described), 1);

  auto queried = connection_metadata(*rx, tx.unique_name(), attach::conn_description).body_metadata();
  ASSERT_TRUE(queried.has_value());
  EXPECT_EQ(queried->conn_description, "meta tx");
}

// §3 rule 6, test-metadata-ns.c: a receiver in a child user namespace that
// maps only uid/gid kOtherUid sees the root sender's ids as the overflow id.
TEST_F(Metadata, ReceiverInChildUsernsSeesOverflowIds) {
  const std::string path = socket_path();
  ForkedTask rx([&](TaskChannel& ch) {
    // Connected first: the bus directory is root's and 0700, which the
    // namespace's uid could not traverse; the namespace that counts is the
    // one the receiver is in when it says Hello and opts in.
    RawBusConnection c(path);
    if (unshare(CLONE_NEWUSER) < 0) throw std::runtime_error("unshare(CLONE_NEWUSER) failed");
    ch.send("unshared");
    ch.expect("mapped");
    c.authenticate_and_hello();
    c.update_attach_flags(0, attach::creds | attach::pids | attach::auxgroups);
    c.add_match(kMatch);
    ch.send("ready");
    auto m = c.wait_for(is_raw_signal("ToUserns"));
    if (!m) throw std::runtime_error("no signal in the user namespace");
    ch.send(to_hex(m->bytes));
    return 0;
  });
  rx.channel().expect("unshared");
  const std::string proc = "/proc/" + std::to_string(rx.pid());
  const std::string map = "0 " + std::to_string(kOtherUid) + " 1\n";
  std::ofstream(proc + "/setgroups") << "deny";
  std::ofstream(proc + "/uid_map") << map;
  std::ofstream(proc + "/gid_map") << map;
  rx.channel().send("mapped");
  auto ready = rx.channel().read_line();
  ASSERT_EQ(ready, "ready");

  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "ToUserns");
  auto hex = rx.channel().read_line();
  ASSERT_TRUE(hex.has_value());
  ASSERT_FALSE(hex->starts_with("error")) << *hex;
  EXPECT_EQ(rx.wait_exit(), 0);
  auto bytes = from_hex(*hex);
  auto md = kdbus::read_metadata(bytes.data(), bytes.size());
  ASSERT_TRUE(md && md->creds);
  for (uint32_t id : {md->creds->uid, md->creds->euid, md->creds->suid, md->creds->fsuid, md->creds->gid,
                      md->creds->egid, md->creds->sgid, md->creds->fsgid})
    EXPECT_EQ(id, kOverflowId);
  // Same pid namespace: the pid is the real one.
  ASSERT_TRUE(md->pids.has_value());
  EXPECT_EQ(md->pids->pid, static_cast<uint32_t>(getpid()));
  if (md->auxgroups) {
    EXPECT_THAT(*md->auxgroups, Each(kOverflowId));
  }
}

// §3 rule 6, test-metadata-ns.c: a receiver in a child pid namespace sees
// the pids of processes outside it as 0, and — unable to read their /proc —
// gets process items only with the sender's consent (kdbus cc6a928).
TEST_F(Metadata, ReceiverInChildPidnsSeesPidZero) {
  const std::string path = socket_path();
  ForkedTask rx([&](TaskChannel& ch) {
    if (unshare(CLONE_NEWPID) < 0) throw std::runtime_error("unshare(CLONE_NEWPID) failed");
    pid_t init = fork();  // pid 1 of the new namespace
    if (init < 0) throw std::runtime_error("fork failed");
    if (init == 0) {
      int code = 2;
      try {
        RawBusConnection c(path);
        c.authenticate_and_hello();
        c.update_attach_flags(0, attach::pids | attach::pid_comm);
        c.add_match(kMatch);
        ch.send("ready " + std::to_string(getpid()));
        for (const char* member : {"Unconsented", "Consented"}) {
          auto m = c.wait_for(is_raw_signal(member));
          if (!m) throw std::runtime_error(std::string("no ") + member + " in the pid namespace");
          ch.send(to_hex(m->bytes));
        }
        code = 0;
      } catch (const std::exception& e) {
        ch.send(std::string("error: ") + e.what());
      }
      _exit(code);
    }
    int status = 0;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
  });
  auto ready = rx.channel().read_line();
  ASSERT_EQ(ready, "ready 1");

  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "Unconsented");
  auto first = rx.channel().read_line();
  ASSERT_TRUE(first && !first->starts_with("error")) << first.value_or("(nothing)");
  ASSERT_TRUE(update_attach_flags(tx, attach::pid_comm, 0).ok());
  tx.emit(nullptr, kPath, kInterface, "Consented");
  auto second = rx.channel().read_line();
  ASSERT_TRUE(second && !second->starts_with("error")) << second.value_or("(nothing)");
  EXPECT_EQ(rx.wait_exit(), 0);

  auto b1 = from_hex(*first);
  auto md1 = kdbus::read_metadata(b1.data(), b1.size());
  ASSERT_TRUE(md1 && md1->pids);
  EXPECT_EQ(md1->pids->pid, 0u);
  EXPECT_EQ(md1->pids->tid, 0u);
  EXPECT_EQ(md1->pids->ppid, 0u);
  EXPECT_FALSE(md1->pid_comm.has_value()) << "PidComm without consent to a receiver that cannot see the sender";

  auto b2 = from_hex(*second);
  auto md2 = kdbus::read_metadata(b2.data(), b2.size());
  ASSERT_TRUE(md2 && md2->pids);
  EXPECT_EQ(md2->pids->pid, 0u);
  EXPECT_EQ(md2->pid_comm, self_comm()) << "the sender consented to PidComm";
}

// §3 rule 5 (kdbus 4230223): translation uses the receiver's namespaces as
// they were at its Hello. This receiver says Hello in the daemon's user
// namespace and only then enters a child one (mapping only kOtherUid)
// before opting in: root's uid 0 is still expressible in the namespaces
// pinned at Hello.
TEST_F(Metadata, ReceiverNamespacesArePinnedAtHello) {
  const std::string path = socket_path();
  ForkedTask rx([&](TaskChannel& ch) {
    RawBusConnection c(path);
    c.authenticate_and_hello();
    if (unshare(CLONE_NEWUSER) < 0) throw std::runtime_error("unshare(CLONE_NEWUSER) failed");
    ch.send("unshared");
    ch.expect("mapped");
    c.update_attach_flags(0, attach::creds);
    c.add_match(kMatch);
    ch.send("ready");
    auto m = c.wait_for(is_raw_signal("AfterUnshare"));
    if (!m) throw std::runtime_error("no signal");
    ch.send(to_hex(m->bytes));
    return 0;
  });
  rx.channel().expect("unshared");
  const std::string proc = "/proc/" + std::to_string(rx.pid());
  const std::string map = "0 " + std::to_string(kOtherUid) + " 1\n";
  std::ofstream(proc + "/setgroups") << "deny";
  std::ofstream(proc + "/uid_map") << map;
  std::ofstream(proc + "/gid_map") << map;
  rx.channel().send("mapped");
  ASSERT_EQ(rx.channel().read_line(), "ready");

  SdBusPeer tx(address());
  tx.emit(nullptr, kPath, kInterface, "AfterUnshare");
  auto hex = rx.channel().read_line();
  ASSERT_TRUE(hex && !hex->starts_with("error")) << hex.value_or("(nothing)");
  auto bytes = from_hex(*hex);
  auto md = kdbus::read_metadata(bytes.data(), bytes.size());
  ASSERT_TRUE(md && md->creds);
  EXPECT_EQ(md->creds->uid, 0u) << "translated into the namespaces of UpdateAttachFlags, not of Hello";
}

// The README's example (metadata_service_example.cpp): a GDBus service in
// C++ that opts in and authorises calls from the Creds the bus attached.
#ifdef KDBUSD_METADATA_EXAMPLE
class MetadataReadmeExample : public BusTest {
 protected:
  std::unique_ptr<ChildProcess> start_vault(uint32_t allowed_uid) {
    auto vault = std::make_unique<ChildProcess>(
        std::vector<std::string>{KDBUSD_METADATA_EXAMPLE, address(), std::to_string(allowed_uid)});
    auto ready = vault->wait_for_line([](const std::string& l) { return l == "ready"; }, milliseconds(10000));
    EXPECT_TRUE(ready) << vault->transcript() << bus_->log();
    return vault;
  }
  CommandResult open_vault() {
    return run({"gdbus", "call", "--address", address(), "--dest", "org.example.Vault", "--object-path",
                "/org/example/Vault", "--method", "org.example.Vault.Open"});
  }
};

TEST_F(MetadataReadmeExample, CallerWithTheAllowedUidGetsIn) {
  auto vault = start_vault(::geteuid());
  auto result = open_vault();
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_THAT(result.out, ::testing::HasSubstr("opened for pid ")) << result.out;
  EXPECT_THAT(result.out, Not(::testing::HasSubstr("opened for pid 0'")))
      << "the caller's pid comes from its Pids item";
}

TEST_F(MetadataReadmeExample, CallerWithAnotherUidIsRefusedFromItsCreds) {
  auto vault = start_vault(kOtherUid);
  auto result = open_vault();
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.err, ::testing::HasSubstr("AccessDenied"));
  EXPECT_THAT(result.err, ::testing::HasSubstr("uid " + std::to_string(::geteuid()) + " may not open the vault"));
}

TEST(MetadataReadme, ShowsTheCodeTheTestsRun) {
  // The README's C++ block is the part of the example between its
  // "README: begin" and "README: end" markers, verbatim.
  std::string readme = read_file(std::string(KDBUSD_ITEST_SOURCE_DIR) + "/../../README.md");
  std::string source = read_file(std::string(KDBUSD_ITEST_SOURCE_DIR) + "/metadata_service_example.cpp");
  auto begin = source.find("// README: begin\n");
  auto end = source.find("// README: end");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  begin += std::string("// README: begin\n").size();
  std::string excerpt = source.substr(begin, end - begin);
  EXPECT_NE(readme.find("```cpp\n" + excerpt + "```"), std::string::npos)
      << "README.md's \"Per-message metadata\" C++ block differs from metadata_service_example.cpp";
}
#endif

}  // namespace
}  // namespace kdbusd::itest
