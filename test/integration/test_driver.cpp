// The bus driver (org.freedesktop.DBus) over real sockets: credentials,
// identity, name queries, Peer, Introspectable, Properties, and argument
// checking.
#include <expat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::MatchesRegex;

class Driver : public BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    peer_ = std::make_unique<SdBusPeer>(address());
  }

  // Properties.Get on the driver; returns the variant's "as" contents.
  std::vector<std::string> string_list_property(const char* name) {
    auto r = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "Get", "ss",
                         kDriverInterface, name);
    EXPECT_TRUE(r.ok()) << name << ": " << r.describe();
    std::vector<std::string> out;
    if (!r.ok()) return out;
    EXPECT_GE(sd_bus_message_enter_container(r.reply.get(), 'v', "as"), 0) << name << " is not a string array";
    char** list = nullptr;
    if (sd_bus_message_read_strv(r.reply.get(), &list) < 0) return out;
    for (char** p = list; p && *p; ++p) {
      out.emplace_back(*p);
      free(*p);
    }
    free(list);
    return out;
  }

  std::unique_ptr<SdBusPeer> peer_;
};

TEST_F(Driver, GetConnectionUnixUser) {
  EXPECT_EQ(peer_->call_driver("GetConnectionUnixUser", "s", peer_->unique_name().c_str()).u32(), getuid());
  ASSERT_EQ(peer_->request_name("com.example.Itest.Creds").u32(), 1u);
  EXPECT_EQ(peer_->call_driver("GetConnectionUnixUser", "s", "com.example.Itest.Creds").u32(), getuid());
  EXPECT_EQ(peer_->call_driver("GetConnectionUnixUser", "s", "com.example.Nobody").error_name,
            "org.freedesktop.DBus.Error.NameHasNoOwner");
}

TEST_F(Driver, GetConnectionUnixProcessID) {
  SdBusPeer other(address());
  // Both connections live in this process.
  EXPECT_EQ(peer_->call_driver("GetConnectionUnixProcessID", "s", other.unique_name().c_str()).u32(),
            static_cast<uint32_t>(getpid()));
  EXPECT_EQ(peer_->call_driver("GetConnectionUnixProcessID", "s", ":1.4242").error_name,
            "org.freedesktop.DBus.Error.NameHasNoOwner");
}

TEST_F(Driver, GetConnectionCredentials) {
  auto r = peer_->call_driver("GetConnectionCredentials", "s", peer_->unique_name().c_str());
  ASSERT_TRUE(r.ok()) << r.describe();
  sd_bus_message* m = r.reply.get();
  std::map<std::string, std::string> creds;  // key -> variant signature
  uint32_t uid = ~0u, pid = ~0u;
  std::vector<uint32_t> groups;
  ASSERT_GE(sd_bus_message_enter_container(m, 'a', "{sv}"), 0);
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    ASSERT_GE(sd_bus_message_read(m, "s", &key), 0);
    const char* contents = nullptr;
    ASSERT_GE(sd_bus_message_peek_type(m, nullptr, &contents), 0);
    creds[key] = contents;
    std::string k = key;
    if (k == "UnixUserID") {
      ASSERT_GE(sd_bus_message_read(m, "v", "u", &uid), 0);
    } else if (k == "ProcessID") {
      ASSERT_GE(sd_bus_message_read(m, "v", "u", &pid), 0);
    } else if (k == "UnixGroupIDs") {
      ASSERT_GE(sd_bus_message_enter_container(m, 'v', "au"), 0);
      ASSERT_GE(sd_bus_message_enter_container(m, 'a', "u"), 0);
      uint32_t g;
      while (sd_bus_message_read(m, "u", &g) > 0) groups.push_back(g);
      ASSERT_GE(sd_bus_message_exit_container(m), 0);
      ASSERT_GE(sd_bus_message_exit_container(m), 0);
    } else {
      ASSERT_GE(sd_bus_message_skip(m, "v"), 0);
    }
    ASSERT_GE(sd_bus_message_exit_container(m), 0);
  }
  ASSERT_GE(sd_bus_message_exit_container(m), 0);
  EXPECT_EQ(creds["UnixUserID"], "u");
  EXPECT_EQ(creds["ProcessID"], "u");
  EXPECT_EQ(uid, getuid());
  EXPECT_EQ(pid, static_cast<uint32_t>(getpid()));
  if (creds.count("UnixGroupIDs")) {
    EXPECT_EQ(creds["UnixGroupIDs"], "au");
    EXPECT_THAT(groups, Contains(getgid()));
  }
  EXPECT_EQ(peer_->call_driver("GetConnectionCredentials", "s", "com.example.Nobody").error_name,
            "org.freedesktop.DBus.Error.NameHasNoOwner");
}

// ProcessFD (dbus-daemon ≥ 1.15, kdbusd): a pidfd of the peer. dbus-daemon
// 1.14 does not send it, so the test requires it only from kdbusd.
TEST_F(Driver, GetConnectionCredentialsProcessFd) {
  auto r = peer_->call_driver("GetConnectionCredentials", "s", peer_->unique_name().c_str());
  ASSERT_TRUE(r.ok()) << r.describe();
  sd_bus_message* m = r.reply.get();
  int pidfd = -1;
  ASSERT_GE(sd_bus_message_enter_container(m, 'a', "{sv}"), 0);
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    ASSERT_GE(sd_bus_message_read(m, "s", &key), 0);
    if (std::string(key) == "ProcessFD")
      ASSERT_GE(sd_bus_message_read(m, "v", "h", &pidfd), 0);
    else
      ASSERT_GE(sd_bus_message_skip(m, "v"), 0);
    ASSERT_GE(sd_bus_message_exit_container(m), 0);
  }
  const char* daemon = getenv("KDBUSD_TEST_DAEMON");
  if (pidfd < 0) {
    ASSERT_TRUE(daemon && std::string(daemon).find("dbus-daemon") != std::string::npos)
        << "kdbusd must send ProcessFD";
    return;
  }
  std::ifstream info("/proc/self/fdinfo/" + std::to_string(pidfd));
  std::string line, pid;
  while (std::getline(info, line))
    if (line.rfind("Pid:", 0) == 0) pid = line.substr(4);
  EXPECT_EQ(std::stoi(pid), getpid()) << "the pidfd names the caller's own process";
}

TEST_F(Driver, GetIdIsStablePerBus) {
  SdBusPeer other(address());
  std::string id = peer_->call_driver("GetId").str();
  EXPECT_THAT(id, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(other.call_driver("GetId").str(), id);
  BusDaemon second_bus;
  SdBusPeer elsewhere(second_bus.address());
  EXPECT_NE(elsewhere.call_driver("GetId").str(), id);
}

// GetMachineId reads /etc/machine-id (else /var/lib/dbus/machine-id). One
// that is not 32 hex digits is no machine id, as dbus-daemon says too: the
// caller gets Failed, not a reply of bytes that are not UTF-8, which the
// bus would drop and leave the caller waiting. The daemon runs in a mount
// namespace of its own, with both files replaced.
TEST(MachineId, OneThatIsNotHexIsAnError) {
  if (!std::filesystem::exists("/etc/machine-id")) GTEST_SKIP() << "no /etc/machine-id to replace";
  char dir_template[] = "/tmp/kdbusd-machine-id-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path bogus = std::filesystem::path(dir_template) / "machine-id";
  std::ofstream(bogus) << std::string(32, '\xff') << "\n";
  const char* script =
      "for f in /etc/machine-id /var/lib/dbus/machine-id; do"
      "  [ -e \"$f\" ] && { mount --bind \"$0\" \"$f\" || exit 1; };"
      " done; exec \"$@\"";
  {
    BusDaemon bus(kOpenBusConfig, {"unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                                   bogus.string()});
    SdBusPeer peer(bus.address());
    auto r = peer.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Peer", "GetMachineId");
    EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.Failed") << r.describe() << bus.log();
  }
  std::filesystem::remove_all(dir_template);
}

TEST_F(Driver, NameHasOwner) {
  EXPECT_TRUE(peer_->call_driver("NameHasOwner", "s", kDriverName).boolean());
  EXPECT_TRUE(peer_->call_driver("NameHasOwner", "s", peer_->unique_name().c_str()).boolean());
  EXPECT_FALSE(peer_->call_driver("NameHasOwner", "s", "com.example.Nobody").boolean());
  EXPECT_FALSE(peer_->call_driver("NameHasOwner", "s", ":1.4242").boolean());
  ASSERT_EQ(peer_->request_name("com.example.Itest.Has").u32(), 1u);
  EXPECT_TRUE(peer_->call_driver("NameHasOwner", "s", "com.example.Itest.Has").boolean());
}

TEST_F(Driver, GetNameOwnerOfDriverIsDriver) {
  EXPECT_EQ(peer_->call_driver("GetNameOwner", "s", kDriverName).str(), kDriverName);
  EXPECT_EQ(peer_->call_driver("GetNameOwner", "s", peer_->unique_name().c_str()).str(), peer_->unique_name());
}

TEST_F(Driver, ListActivatableNames) {
  // No services are configured; the driver itself is always listed.
  EXPECT_THAT(peer_->call_driver("ListActivatableNames").strings(), Contains(kDriverName));
}

TEST_F(Driver, HelloTwiceFails) {
  auto r = peer_->call_driver("Hello");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.Failed") << r.describe();
}

TEST_F(Driver, PeerPing) {
  auto r = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Peer", "Ping");
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_STREQ(sd_bus_message_get_signature(r.reply.get(), 1), "");
}

// Collects the interfaces, members and argument directions of an
// introspection document.
struct IntrospectionDoc {
  std::string root;
  int depth = 0;
  std::string interface, member;
  std::map<std::string, std::set<std::string>> members;  // interface -> "method Name" / "signal Name"
  std::map<std::string, std::string> args;                 // "Iface.Member" -> "in s,in u,out u,"

  static void start(void* data, const XML_Char* name, const XML_Char** attrs) {
    auto* self = static_cast<IntrospectionDoc*>(data);
    std::map<std::string, std::string> a;
    for (int i = 0; attrs[i]; i += 2) a[attrs[i]] = attrs[i + 1];
    std::string element = name;
    if (self->depth++ == 0) self->root = element;
    if (element == "interface") self->interface = a["name"];
    if (element == "method" || element == "signal" || element == "property") {
      self->member = a["name"];
      self->members[self->interface].insert(element + " " + a["name"]);
    }
    if (element == "arg")
      self->args[self->interface + "." + self->member] +=
          (a.count("direction") ? a["direction"] : std::string("in")) + " " + a["type"] + ",";
  }
  static void end(void* data, const XML_Char*) { --static_cast<IntrospectionDoc*>(data)->depth; }

  // Parses xml; returns the parser's error, empty on success.
  std::string parse(const std::string& xml) {
    XML_Parser parser = XML_ParserCreate(nullptr);
    XML_SetUserData(parser, this);
    XML_SetElementHandler(parser, &IntrospectionDoc::start, &IntrospectionDoc::end);
    std::string error;
    if (XML_Parse(parser, xml.data(), static_cast<int>(xml.size()), 1) == XML_STATUS_ERROR)
      error = std::string(XML_ErrorString(XML_GetErrorCode(parser))) + " at line " +
              std::to_string(XML_GetCurrentLineNumber(parser));
    XML_ParserFree(parser);
    return error;
  }
};

TEST_F(Driver, IntrospectIsValidXml) {
  auto r = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Introspectable", "Introspect");
  ASSERT_TRUE(r.ok()) << r.describe();
  std::string xml = r.str();
  IntrospectionDoc doc;
  ASSERT_EQ(doc.parse(xml), "") << xml;
  EXPECT_EQ(doc.root, "node");
  EXPECT_THAT(doc.members["org.freedesktop.DBus"],
              IsSupersetOf({"method Hello", "method RequestName", "method ReleaseName", "method ListNames",
                            "method ListActivatableNames", "method NameHasOwner", "method GetNameOwner",
                            "method AddMatch", "method RemoveMatch", "method GetId", "method ListQueuedOwners",
                            "method GetConnectionUnixUser", "method GetConnectionUnixProcessID",
                            "method GetConnectionCredentials", "signal NameOwnerChanged", "signal NameLost",
                            "signal NameAcquired", "property Features", "property Interfaces"}));
  EXPECT_EQ(doc.args["org.freedesktop.DBus.RequestName"], "in s,in u,out u,");
  EXPECT_EQ(doc.args["org.freedesktop.DBus.NameOwnerChanged"], "in s,in s,in s,");
  EXPECT_THAT(doc.members["org.freedesktop.DBus.Introspectable"], Contains("method Introspect"));
  EXPECT_THAT(doc.members["org.freedesktop.DBus.Properties"], IsSupersetOf({"method Get", "method GetAll"}));
}

TEST_F(Driver, FeaturesAndInterfacesProperties) {
  // Features may legitimately be empty; it must be a string array.
  auto features = string_list_property("Features");
  for (const auto& f : features) EXPECT_FALSE(f.empty());
  auto interfaces = string_list_property("Interfaces");
  // Optional driver interfaces beyond org.freedesktop.DBus itself; monitors
  // (BecomeMonitor) are needed by busctl monitor and dbus-monitor.
  EXPECT_THAT(interfaces, Contains("org.freedesktop.DBus.Monitoring"));
  EXPECT_THAT(interfaces, ::testing::Not(Contains("org.freedesktop.DBus")));
}

TEST_F(Driver, PropertiesGetAll) {
  auto r = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "GetAll", "s",
                       kDriverInterface);
  ASSERT_TRUE(r.ok()) << r.describe();
  std::set<std::string> keys;
  sd_bus_message* m = r.reply.get();
  ASSERT_GE(sd_bus_message_enter_container(m, 'a', "{sv}"), 0);
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    ASSERT_GE(sd_bus_message_read(m, "s", &key), 0);
    keys.insert(key);
    ASSERT_GE(sd_bus_message_skip(m, "v"), 0);
    ASSERT_GE(sd_bus_message_exit_container(m), 0);
  }
  EXPECT_THAT(keys, IsSupersetOf({"Features", "Interfaces"}));
}

TEST_F(Driver, UnknownPropertyAndInterface) {
  auto r = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "Get", "ss",
                       kDriverInterface, "NoSuchProperty");
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.UnknownProperty") << r.describe();
  auto i = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "Get", "ss",
                       "com.example.NoSuchInterface", "Features");
  EXPECT_EQ(i.error_name, "org.freedesktop.DBus.Error.UnknownInterface") << i.describe();
  auto set = peer_->call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "Set", "ssv",
                         kDriverInterface, "Features", "as", 0);
  EXPECT_EQ(set.error_name, "org.freedesktop.DBus.Error.PropertyReadOnly") << set.describe();
}

// The bus numbers its own messages in one sequence, and a NameOwnerChanged
// that nobody receives still takes its number (Bus::announce builds it only
// for a receiver): another peer's Hello takes three serials, its reply,
// NameOwnerChanged and NameAcquired, whether anyone watches or not.
TEST_F(Driver, NameOwnerChangedNobodyReceivesStillTakesItsSerial) {
  auto serial_of_reply = [this] {
    auto r = peer_->call_driver("GetId");
    EXPECT_TRUE(r.ok()) << r.describe();
    uint64_t cookie = 0;
    if (r.ok()) {
      EXPECT_GE(sd_bus_message_get_cookie(r.reply.get(), &cookie), 0);
    }
    return cookie;
  };
  uint64_t before = serial_of_reply();
  SdBusPeer unwatched(address());
  EXPECT_EQ(serial_of_reply(), before + 4);

  ASSERT_TRUE(peer_->add_match("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'").ok());
  before = serial_of_reply();
  SdBusPeer watched(address());
  EXPECT_EQ(serial_of_reply(), before + 4);
  std::string unique = watched.unique_name();
  EXPECT_TRUE(peer_->wait_for([&](const Received& m) {
    return m.member == "NameOwnerChanged" && m.args.size() == 3 && m.args[0] == unique && m.args[2] == unique;
  })) << "no NameOwnerChanged for " << unique;
}

// BecomeMonitor (org.freedesktop.DBus.Monitoring): the monitor loses its
// unique name — NameLost to itself, which busctl monitor waits for before it
// prints anything — and then sees other peers' traffic.
TEST_F(Driver, BecomeMonitor) {
  SdBusPeer watcher(address());
  ASSERT_TRUE(watcher.add_match("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'").ok());
  SdBusPeer monitor(address());
  SdBusPeer emitter(address());
  std::string unique = monitor.unique_name();
  auto r = monitor.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", 0, 0u);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(monitor.wait_for(is_name_signal("NameLost", unique))) << "no NameLost for the monitor's unique name";
  auto gone = watcher.wait_for([&](const Received& m) {
    return m.member == "NameOwnerChanged" && m.args.size() == 3 && m.args[0] == unique && m.args[2].empty();
  });
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->args[1], unique);
  uint64_t cookie = emitter.emit(nullptr, "/com/example/Itest", "com.example.Itest", "Watched", "s", "x");
  auto seen = monitor.wait_for([&](const Received& m) {
    return m.sender == emitter.unique_name() && m.cookie == cookie;
  });
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->member, "Watched");
}

// A call to the driver gets its forward header only when there are monitors
// to forward it to. A client whose driver calls went unforwarded, whose
// header fields the bus has remembered since, must still reach a monitor
// that arrived afterwards with its own SENDER and the call's serial.
TEST_F(Driver, MonitorSeesADriverCallRepeatedAfterItArrived) {
  SdBusPeer client(address());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(client.call_driver("GetNameOwner", "s", kDriverName).ok());
  SdBusPeer monitor(address());
  std::string unique = monitor.unique_name();
  auto r = monitor.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", 0, 0u);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(monitor.wait_for(is_name_signal("NameLost", unique)));
  uint64_t cookie = client.send_call(kDriverName, kDriverPath, kDriverInterface, "GetNameOwner", "s", kDriverName);
  auto seen = monitor.wait_for([&](const Received& m) {
    return m.type == SD_BUS_MESSAGE_METHOD_CALL && m.member == "GetNameOwner";
  });
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->sender, client.unique_name());
  EXPECT_EQ(seen->cookie, cookie);
  EXPECT_EQ(seen->destination, kDriverName);
  EXPECT_EQ(seen->args, std::vector<std::string>{kDriverName});
}

TEST_F(Driver, InvalidArgsForWrongSignatures) {
  EXPECT_EQ(peer_->call_driver("GetNameOwner", "i", 42).error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(peer_->call_driver("GetNameOwner").error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(peer_->call_driver("RequestName", "s", "com.example.Itest.Args").error_name,
            "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(peer_->call_driver("RequestName", "us", 0u, "com.example.Itest.Args").error_name,
            "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(peer_->call_driver("AddMatch", "ss", "type='signal'", "extra").error_name,
            "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(peer_->call_driver("GetId", "s", "unexpected").error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  // The connection is still usable afterwards.
  EXPECT_TRUE(peer_->call_driver("GetId").ok());
}

}  // namespace
}  // namespace kdbusd::itest
