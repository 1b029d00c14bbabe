// Custom endpoints over real sockets with real clients: CreateEndpoint and
// its rules of who and what, the endpoint policy in both vocabularies
// (xdg-dbus-proxy's --see/--talk/--own/--call/--broadcast and kdbus's
// user/group/world SEE/TALK/OWN), hidden names that do not exist in any
// driver method, signal, error text or metadata item, no monitors, atomic
// UpdateEndpointPolicy, and removal that disconnects. KDBUS.md rows
// "Custom endpoints", "Endpoint + bus policy"; kdbus test-endpoint.c.
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain_control.hpp"
#include "domain_fixture.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata_raw_connection.hpp"
#include "process.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kBus = "0-sandbox";
constexpr const char* kHidden = "org.example.Hidden";
constexpr const char* kNobody = "org.example.Nobody";  // owned by nobody: the reference answers
constexpr const char* kErrorNotSupported = "org.freedesktop.DBus.Error.NotSupported";

struct EndpointSpec {
  std::vector<std::string> rules;  // xdg-dbus-proxy spelling
  std::string policy_json;         // kdbus/kdbusd JSON vocabulary
  std::optional<uint32_t> mode;
};

// CreateEndpoint / UpdateEndpointPolicy with an a{sv} built from spec.
CallResult endpoint_call(SdBusPeer& control, const char* method, const std::string& bus, const std::string& name,
                         const EndpointSpec& spec) {
  sd_bus_message* m = nullptr;
  int r = sd_bus_message_new_method_call(control.bus(), &m, kDriverName, kControlPath, kControlInterface, method);
  MessagePtr msg(m);
  if (r >= 0) r = sd_bus_message_append(m, "ss", bus.c_str(), name.c_str());
  if (r >= 0) r = sd_bus_message_open_container(m, 'a', "{sv}");
  if (r >= 0 && !spec.rules.empty()) {
    r = sd_bus_message_open_container(m, 'e', "sv");
    if (r >= 0) r = sd_bus_message_append(m, "s", "rules");
    if (r >= 0) r = sd_bus_message_open_container(m, 'v', "as");
    if (r >= 0) r = sd_bus_message_open_container(m, 'a', "s");
    for (const auto& rule : spec.rules)
      if (r >= 0) r = sd_bus_message_append(m, "s", rule.c_str());
    for (int i = 0; i < 3 && r >= 0; ++i) r = sd_bus_message_close_container(m);
  }
  if (r >= 0 && !spec.policy_json.empty())
    r = sd_bus_message_append(m, "{sv}", "policy", "s", spec.policy_json.c_str());
  if (r >= 0 && spec.mode) r = sd_bus_message_append(m, "{sv}", "mode", "u", *spec.mode);
  if (r >= 0) r = sd_bus_message_close_container(m);
  EXPECT_GE(r, 0) << "building " << method;
  return control.call_message(std::move(msg));
}

class Endpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    domain_ = std::make_unique<DomainDaemon>();
    control_ = std::make_unique<ControlClient>(domain_->control_address());
    BusOptions o;
    o.persist = true;
    ASSERT_TRUE(control_->create_bus(kBus, o).ok());
  }
  void TearDown() override {
    if (HasFailure() && domain_) std::cerr << "--- kdbusd --domain stderr ---\n" << domain_->log();
    peers_.clear();
    control_.reset();
    domain_.reset();
  }

  // Makes endpoint 0-<name> on kBus; returns its address.
  std::string make_endpoint(const std::string& name, const EndpointSpec& spec) {
    CallResult r = endpoint_call(control_->peer(), "CreateEndpoint", kBus, name, spec);
    EXPECT_TRUE(r.ok()) << r.describe();
    return r.ok() ? r.str() : std::string();
  }
  std::filesystem::path endpoint_socket(const std::string& name) const { return domain_->dir() / kBus / name; }

  // A client of the bus's default endpoint (unfiltered) or of an endpoint.
  SdBusPeer& on_bus() { return *peers_.emplace_back(std::make_unique<SdBusPeer>(domain_->bus_address(kBus))); }
  SdBusPeer& on(const std::string& address) { return *peers_.emplace_back(std::make_unique<SdBusPeer>(address)); }
  // A default-endpoint client owning `names`.
  SdBusPeer& service(std::initializer_list<const char*> names) {
    SdBusPeer& s = on_bus();
    for (const char* n : names) EXPECT_EQ(s.request_name(n).u32(), 1u) << n;
    return s;
  }

  std::unique_ptr<DomainDaemon> domain_;
  std::unique_ptr<ControlClient> control_;
  std::vector<std::unique_ptr<SdBusPeer>> peers_;
};

TEST_F(Endpoints, CreateMakesAPrivateSocketBesideTheBusAndListsIt) {
  std::string address = make_endpoint("0-app", {{"--talk=org.example.Talk"}, {}, {}});
  EXPECT_EQ(address, "unix:path=" + endpoint_socket("0-app").string());
  struct stat st {};
  ASSERT_EQ(::stat(endpoint_socket("0-app").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "kdbus: endpoints default to 0600";

  SdBusPeer& client = on(address);
  (void)client;
  CallResult list = control_->peer().call(kDriverName, kControlPath, kControlInterface, "ListEndpoints", "s", kBus);
  ASSERT_TRUE(list.ok()) << list.describe();
  sd_bus_message* m = list.reply.get();
  ASSERT_GE(sd_bus_message_enter_container(m, 'a', "(ssuu)"), 0);
  const char *name = nullptr, *addr = nullptr;
  uint32_t owner = 99, connections = 0;
  ASSERT_GT(sd_bus_message_read(m, "(ssuu)", &name, &addr, &owner, &connections), 0);
  EXPECT_STREQ(name, "0-app");
  EXPECT_EQ(addr, address);
  EXPECT_EQ(owner, 0u);
  EXPECT_EQ(connections, 1u);

  EXPECT_FALSE(make_endpoint("0-moded", {{}, {}, 0666u}).empty());
  ASSERT_EQ(::stat(endpoint_socket("0-moded").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
}

TEST_F(Endpoints, CreateChecksNameOwnerAndPolicy) {
  auto create = [&](const std::string& bus, const std::string& name, const EndpointSpec& spec) {
    return endpoint_call(control_->peer(), "CreateEndpoint", bus, name, spec);
  };
  EXPECT_EQ(create(kBus, "1000-app", {}).error_name, kErrorInvalidArgs) << "uid prefix must be the caller's";
  EXPECT_EQ(create(kBus, "0-" + std::string(70, 'a'), {}).error_name, kErrorInvalidArgs) << "at most 63 chars";
  EXPECT_EQ(create(kBus, "0-bad/name", {}).error_name, kErrorInvalidArgs);
  EXPECT_EQ(create("0-nosuchbus", "0-app", {}).error_name, kErrorServiceUnknown);
  CallResult bad_rule = create(kBus, "0-app", {{"--talk=not a name"}, {}, {}});
  EXPECT_EQ(bad_rule.error_name, kErrorInvalidArgs);
  EXPECT_THAT(bad_rule.error_message, HasSubstr("not a name"));
  EXPECT_EQ(create(kBus, "0-app", {{}, R"({"bogus": 1})", {}}).error_name, kErrorInvalidArgs);
  EXPECT_FALSE(std::filesystem::exists(endpoint_socket("0-app"))) << "a refused endpoint leaves nothing behind";
  EXPECT_TRUE(create(kBus, "0-app", {}).ok());
  EXPECT_EQ(create(kBus, "0-app", {}).error_name, kErrorFailed) << "duplicate";
}

TEST_F(Endpoints, OnlyTheBusOwnerOrAPrivilegedCallerMayCreateOne) {
  // A stranger (uid 54321, no capabilities) on the world-open control
  // socket: AccessDenied, as kdbus's EPERM for a non-owner.
  CommandResult r = run_command({"setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", "busctl",
                                 "--address=" + domain_->control_address(), "call", kDriverName, kControlPath,
                                 kControlInterface, "CreateEndpoint", "ssa{sv}", kBus, "54321-app", "0"},
                                milliseconds(10000));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.err, HasSubstr("Access denied")) << r.describe();
  EXPECT_FALSE(std::filesystem::exists(endpoint_socket("54321-app")));
}

// The leak test of issue 4: through an endpoint that hides
// org.example.Hidden, every driver method and every signal answers as if
// nobody owned it, and its name appears in no reply, error text or signal.
TEST_F(Endpoints, AHiddenNameDoesNotExistAnywhere) {
  SdBusPeer& hidden = service({kHidden});
  SdBusPeer& talk = service({"org.example.Talk"});
  std::string address = make_endpoint("0-app", {{"--talk=org.example.Talk", "--see=org.example.Seen"}, {}, {}});
  SdBusPeer& sandbox = on(address);
  // Every reply, error and signal the sandbox got, except the answers to
  // calls that named the hidden name themselves (those are compared with
  // the answers for a name nobody owns instead).
  std::vector<std::string> transcript;
  auto record = [&](CallResult r) {
    transcript.push_back(r.describe());
    if (r.ok()) {
      const char* sig = sd_bus_message_get_signature(r.reply.get(), 1);
      if (sig && std::string(sig) == "as")
        for (const auto& s : r.strings()) transcript.push_back(s);
      else if (sig && std::string(sig) == "s")
        transcript.push_back(r.str());
      sd_bus_message_rewind(r.reply.get(), 1);
    }
    return r;
  };
  // The same outcome for the hidden name as for a name nobody owns, with
  // only the name itself differing in the text.
  auto same_as_nobody = [&](const char* member, const char* what) {
    CallResult h = sandbox.call_driver(member, "s", kHidden);
    CallResult n = sandbox.call_driver(member, "s", kNobody);
    EXPECT_EQ(h.error_name, n.error_name) << member;
    std::string expected = n.error_message;
    if (auto at = expected.find(kNobody); at != std::string::npos) expected.replace(at, strlen(kNobody), kHidden);
    EXPECT_EQ(h.error_message, expected) << member;
    EXPECT_FALSE(h.ok()) << member << " " << what;
  };

  EXPECT_TRUE(sandbox.add_match("type='signal'").ok());
  CallResult names = record(sandbox.call_driver("ListNames"));
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(names.strings(), Contains(std::string("org.example.Talk")));
  EXPECT_THAT(names.strings(), Not(Contains(std::string(kHidden))));
  EXPECT_FALSE(record(sandbox.call_driver("NameHasOwner", "s", kHidden)).boolean());
  EXPECT_TRUE(record(sandbox.call_driver("NameHasOwner", "s", "org.example.Talk")).boolean());
  same_as_nobody("GetNameOwner", "owner");
  same_as_nobody("ListQueuedOwners", "owners");
  same_as_nobody("GetConnectionUnixUser", "uid");
  same_as_nobody("GetConnectionUnixProcessID", "pid");
  same_as_nobody("GetConnectionCredentials", "credentials");
  same_as_nobody("GetConnectionSELinuxSecurityContext", "label");
  same_as_nobody("GetAdtAuditSessionData", "audit");
  {
    CallResult h = sandbox.call_driver("StartServiceByName", "su", kHidden, 0u);
    CallResult n = sandbox.call_driver("StartServiceByName", "su", kNobody, 0u);
    EXPECT_EQ(h.error_name, kErrorServiceUnknown) << h.describe();
    EXPECT_EQ(h.error_name, n.error_name);
  }
  {
    CallResult h = sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Debug.Stats",
                                "GetConnectionStats", "s", kHidden);
    CallResult n = sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Debug.Stats",
                                "GetConnectionStats", "s", kNobody);
    EXPECT_EQ(h.error_name, n.error_name);
    CallResult hm = sandbox.call(kDriverName, kDriverPath, "org.kdbusd.Bus1", "GetConnectionMetadata", "st",
                                 kHidden, uint64_t{kdbus::attach::creds});
    CallResult nm = sandbox.call(kDriverName, kDriverPath, "org.kdbusd.Bus1", "GetConnectionMetadata", "st",
                                 kNobody, uint64_t{kdbus::attach::creds});
    EXPECT_EQ(hm.error_name, nm.error_name);
    EXPECT_FALSE(hm.ok());
  }
  // The hidden service's unique name is no way in either (kdbus: ENXIO).
  std::string hidden_unique = hidden.unique_name();
  EXPECT_FALSE(record(sandbox.call_driver("GetConnectionUnixUser", "s", hidden_unique.c_str())).ok());
  EXPECT_FALSE(record(sandbox.call_driver("GetConnectionCredentials", "s", hidden_unique.c_str())).ok());
  // Calling it: the error a name nobody owns gets.
  {
    CallResult h = sandbox.call(kHidden, "/", "org.example.I", "M");
    CallResult n = sandbox.call(kNobody, "/", "org.example.I", "M");
    EXPECT_EQ(h.error_name, n.error_name);
    EXPECT_EQ(h.error_name, "org.freedesktop.DBus.Error.ServiceUnknown");
  }
  record(sandbox.call_driver("GetId"));
  record(sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Introspectable", "Introspect"));
  record(sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Debug.Stats", "GetStats"));
  record(sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Properties", "GetAll", "s", kDriverInterface));
  record(sandbox.call(kDriverName, kDriverPath, "org.kdbusd.Bus1", "GetConnectionMetadata", "st",
                      sandbox.unique_name().c_str(), uint64_t{kdbus::attach::names}));
  CallResult activatable = record(sandbox.call_driver("ListActivatableNames"));
  EXPECT_TRUE(activatable.ok());
  EXPECT_EQ(sandbox.call_driver("ReleaseName", "s", kHidden).u32(), 2u) << "NON_EXISTENT, not NOT_OWNER";
  EXPECT_EQ(sandbox.request_name(kHidden).error_name, sandbox.request_name(kNobody).error_name);
  EXPECT_EQ(record(sandbox.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Debug.Stats", "GetAllMatchRules"))
                .error_name,
            kErrorAccessDenied);

  // Signals: the hidden service's broadcasts and its name's changes never
  // arrive; the talkable service's do. Each step ends with a visible
  // event, and broadcasts keep their order, so absence is checked exactly.
  hidden.emit(nullptr, "/org/example", "org.example.Sig", "FromHidden");
  SdBusPeer& second_hidden = service({"org.example.Hidden.Child"});
  (void)second_hidden;
  EXPECT_EQ(hidden.release_name(kHidden).u32(), 1u);
  talk.emit(nullptr, "/org/example", "org.example.Sig", "FromTalk");
  auto got = sandbox.take_until(is_signal("org.example.Sig", "FromTalk"));
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.back().is_signal("org.example.Sig", "FromTalk"));
  for (const auto& m : got) {
    EXPECT_NE(m.member, "FromHidden");
    transcript.push_back(m.describe());
  }
  for (const auto& line : transcript) EXPECT_THAT(line, Not(HasSubstr("org.example.Hidden"))) << line;
}

// Activatable names follow the same rule: a hidden one is neither listed
// nor started, and answers as a name no .service file provides.
TEST_F(Endpoints, HiddenActivatableNamesAreNeitherListedNorStarted) {
  std::filesystem::path services = domain_->temp_dir() / "services";
  std::filesystem::create_directories(services);
  std::filesystem::path marker = domain_->temp_dir() / "started";
  for (const char* name : {"org.example.Hidden.Activatable", "org.example.Visible.Activatable"})
    std::ofstream(services / (std::string(name) + ".service"))
        << "[D-BUS Service]\nName=" << name << "\nExec=/bin/touch " << marker.string() << "\n";
  BusOptions o;
  o.persist = true;
  o.policy = "<busconfig><servicedir>" + services.string() +
             "</servicedir><policy context=\"default\"><allow user=\"*\"/><allow send_destination=\"*\"/>"
             "<allow receive_sender=\"*\"/><allow own=\"*\"/></policy></busconfig>";
  ASSERT_TRUE(control_->create_bus("0-activating", o).ok());
  CallResult ep = endpoint_call(control_->peer(), "CreateEndpoint", "0-activating", "0-app",
                                {{"--see=org.example.Visible.*"}, {}, {}});
  ASSERT_TRUE(ep.ok()) << ep.describe();
  SdBusPeer& sandbox = on(ep.str());
  CallResult listed = sandbox.call_driver("ListActivatableNames");
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(listed.strings(), Contains(std::string("org.example.Visible.Activatable")));
  EXPECT_THAT(listed.strings(), Not(Contains(std::string("org.example.Hidden.Activatable"))));
  CallResult hidden = sandbox.call_driver("StartServiceByName", "su", "org.example.Hidden.Activatable", 0u);
  CallResult nobody = sandbox.call_driver("StartServiceByName", "su", kNobody, 0u);
  EXPECT_EQ(hidden.error_name, nobody.error_name);
  EXPECT_EQ(hidden.error_name, kErrorServiceUnknown);
  CallResult call = sandbox.call("org.example.Hidden.Activatable", "/", "org.example.I", "M");
  EXPECT_EQ(call.error_name, kErrorServiceUnknown);
  EXPECT_FALSE(std::filesystem::exists(marker)) << "nothing was started for the hidden name";
}

TEST_F(Endpoints, SeeIsNotTalkAndTalkPassesWithRealCredentials) {
  SdBusPeer& seen = service({"org.example.Seen"});
  SdBusPeer& talk = service({"org.example.Talk"});
  (void)seen;
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--see=org.example.Seen", "--talk=org.example.Talk"}, {}, {}}));
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", "org.example.Seen").boolean());
  CallResult denied = sandbox.call("org.example.Seen", "/", "org.example.I", "M");
  EXPECT_EQ(denied.error_name, kErrorAccessDenied) << denied.describe();

  uint64_t cookie = sandbox.send_call("org.example.Talk", "/", "org.example.I", "M");
  auto call = talk.wait_for(is_method_call("M"));
  ASSERT_TRUE(call);
  // The service sees the sandboxed client itself (not a proxy), and where
  // it came from.
  CallResult creds = talk.call_driver("GetConnectionUnixProcessID", "s", call->sender.c_str());
  EXPECT_EQ(creds.u32(), static_cast<uint32_t>(::getpid()));
  CallResult all = talk.call_driver("GetConnectionCredentials", "s", call->sender.c_str());
  ASSERT_TRUE(all.ok());
  bool saw_endpoint = false;
  sd_bus_message* m = all.reply.get();
  ASSERT_GE(sd_bus_message_enter_container(m, 'a', "{sv}"), 0);
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    sd_bus_message_read(m, "s", &key);
    if (std::string(key) == "org.kdbusd.Endpoint") {
      const char* ep = nullptr;
      ASSERT_GE(sd_bus_message_read(m, "v", "s", &ep), 0);
      EXPECT_STREQ(ep, "0-app");
      saw_endpoint = true;
    } else {
      sd_bus_message_skip(m, "v");
    }
    sd_bus_message_exit_container(m);
  }
  EXPECT_TRUE(saw_endpoint);
  // The reply to the sandbox's own call always passes.
  talk.reply(*call, "s", "pong");
  auto reply = sandbox.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN);
}

// A service the sandbox may not see may still call it, and gets the
// sandbox's reply (kdbus: a reply needs only its slot).
TEST_F(Endpoints, HiddenCallersGetTheSandboxesReplies) {
  SdBusPeer& hidden = service({kHidden});
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--own=org.example.App"}, {}, {}}));
  ASSERT_EQ(sandbox.request_name("org.example.App").u32(), 1u);
  uint64_t cookie = hidden.send_call("org.example.App", "/", "org.example.I", "M");
  auto call = sandbox.wait_for(is_method_call("M"));
  ASSERT_TRUE(call);
  sandbox.reply(*call, "s", "answer");
  auto reply = hidden.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN) << reply->describe();
  // The caller stays hidden otherwise.
  EXPECT_FALSE(sandbox.call_driver("GetConnectionUnixUser", "s", call->sender.c_str()).ok());
}

TEST_F(Endpoints, CallRulesFilterByMethodAndPath) {
  SdBusPeer& notifications = service({"org.freedesktop.Notifications"});
  SdBusPeer& sandbox = on(make_endpoint(
      "0-app", {{"--call=org.freedesktop.Notifications=org.freedesktop.Notifications.Notify@/org/freedesktop/"
                 "Notifications"},
                {},
                {}}));
  uint64_t ok = sandbox.send_call("org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                                  "org.freedesktop.Notifications", "Notify");
  auto call = notifications.wait_for(is_method_call("Notify"));
  ASSERT_TRUE(call);
  notifications.reply(*call);
  ASSERT_TRUE(sandbox.wait_reply(ok));
  EXPECT_EQ(sandbox.call("org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                         "org.freedesktop.Notifications", "CloseNotification")
                .error_name,
            kErrorAccessDenied);
  EXPECT_EQ(sandbox.call("org.freedesktop.Notifications", "/elsewhere", "org.freedesktop.Notifications", "Notify")
                .error_name,
            kErrorAccessDenied);
  // A --call rule makes the name visible, not talkable in general.
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", "org.freedesktop.Notifications").boolean());
}

TEST_F(Endpoints, BroadcastRulesFilterSignalsFromSeenNames) {
  SdBusPeer& portal = service({"org.freedesktop.portal.Desktop"});
  SdBusPeer& sandbox =
      on(make_endpoint("0-app", {{"--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*"}, {}, {}}));
  ASSERT_TRUE(sandbox.add_match("type='signal',interface='org.example.Sig'").ok());
  portal.emit(nullptr, "/elsewhere", "org.example.Sig", "Filtered");
  portal.emit(nullptr, "/org/freedesktop/portal/desktop", "org.example.Sig", "Passes");
  auto got = sandbox.take_until(is_signal("org.example.Sig", "Passes"));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().member, "Passes");
  for (const auto& m : got) EXPECT_NE(m.member, "Filtered");
  // It may not call the portal: a broadcast rule is not TALK.
  EXPECT_EQ(sandbox.call("org.freedesktop.portal.Desktop", "/", "org.example.I", "M").error_name,
            kErrorAccessDenied);
}

TEST_F(Endpoints, OwnRulesDecideRequestNameForEveryone) {
  // The test runs as root, the bus's owner: no owner or same-uid bypass.
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--own=org.example.App.*"}, {}, {}}));
  EXPECT_EQ(sandbox.request_name("org.example.App").u32(), 1u);
  EXPECT_EQ(sandbox.request_name("org.example.App.Helper").u32(), 1u);
  EXPECT_EQ(sandbox.request_name("org.example.Other").error_name, kErrorAccessDenied);
  // Others see the name it owns and can call it.
  SdBusPeer& outside = on_bus();
  EXPECT_TRUE(outside.call_driver("NameHasOwner", "s", "org.example.App").boolean());
}

TEST_F(Endpoints, KdbusVocabularyMatchesUsersGroupsAndWorld) {
  service({"org.example.ForRoot"});
  service({"org.example.ForOthers"});
  service({"org.example.Group.One"});
  std::string json = R"({"names": {
      "org.example.ForRoot": [ {"user": 0, "access": "talk"} ],
      "org.example.ForOthers": [ {"user": 1000, "access": "talk"} ],
      "org.example.Group.*": [ {"group": 0, "access": "see"} ] }})";
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{}, json, {}}));
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", "org.example.ForRoot").boolean());
  EXPECT_FALSE(sandbox.call_driver("NameHasOwner", "s", "org.example.ForOthers").boolean());
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", "org.example.Group.One").boolean());
  EXPECT_EQ(sandbox.call("org.example.Group.One", "/", "org.example.I", "M").error_name, kErrorAccessDenied);
}

TEST_F(Endpoints, MonitorsCannotAttach) {
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--talk=org.example.Talk"}, {}, {}}));
  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_method_call(sandbox.bus(), &m, kDriverName, kDriverPath,
                                           "org.freedesktop.DBus.Monitoring", "BecomeMonitor"),
            0);
  MessagePtr msg(m);
  ASSERT_GE(sd_bus_message_append(m, "asu", 0, 0u), 0);
  EXPECT_EQ(sandbox.call_message(std::move(msg)).error_name, kErrorNotSupported);
}

TEST_F(Endpoints, UpdateReplacesThePolicyAtOnce) {
  service({kHidden});
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--talk=org.example.Talk"}, {}, {}}));
  EXPECT_FALSE(sandbox.call_driver("NameHasOwner", "s", kHidden).boolean());
  CallResult u = endpoint_call(control_->peer(), "UpdateEndpointPolicy", kBus, "0-app", {{"--see=org.example.*"}, {}, {}});
  ASSERT_TRUE(u.ok()) << u.describe();
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", kHidden).boolean());
  // Replaced, not merged: the old TALK grant is gone.
  service({"org.example.Talk"});
  EXPECT_EQ(sandbox.call("org.example.Talk", "/", "org.example.I", "M").error_name, kErrorAccessDenied);
  EXPECT_EQ(endpoint_call(control_->peer(), "UpdateEndpointPolicy", kBus, "0-app", {{"--bogus"}, {}, {}}).error_name,
            kErrorInvalidArgs);
  EXPECT_TRUE(sandbox.call_driver("NameHasOwner", "s", kHidden).boolean()) << "a refused update changes nothing";
}

TEST_F(Endpoints, RemovingAnEndpointOrItsBusDisconnectsItsClients) {
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{}, {}, {}}));
  SdBusPeer& outside = on_bus();
  CallResult r = control_->peer().call(kDriverName, kControlPath, kControlInterface, "RemoveEndpoint", "ss", kBus,
                                       "0-app");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(wait_disconnected(sandbox));
  EXPECT_FALSE(std::filesystem::exists(endpoint_socket("0-app")));
  EXPECT_TRUE(outside.call_driver("GetId").ok()) << "the default endpoint stays";

  SdBusPeer& second = on(make_endpoint("0-again", {{}, {}, {}}));
  ASSERT_TRUE(control_->remove_bus(kBus).ok());
  EXPECT_TRUE(wait_disconnected(second));
  EXPECT_FALSE(std::filesystem::exists(endpoint_socket("0-again")));
}

// A sender= rule on a hidden name never fires, even for a sender the
// sandbox may hear through another name: it would tell who owns it.
TEST_F(Endpoints, MatchRulesOnHiddenSendersNeverFire) {
  SdBusPeer& both = service({"org.example.Talk", kHidden});
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--talk=org.example.Talk"}, {}, {}}));
  ASSERT_TRUE(sandbox.add_match("type='signal',sender='org.example.Hidden'").ok());
  ASSERT_TRUE(sandbox.add_match("type='signal',sender='org.example.Talk',member='Marker'").ok());
  both.emit(nullptr, "/org/example", "org.example.Sig", "ViaHiddenRule");
  both.emit(nullptr, "/org/example", "org.example.Sig", "Marker");
  auto got = sandbox.take_until(is_signal("org.example.Sig", "Marker"));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().member, "Marker");
  for (const auto& m : got) EXPECT_NE(m.member, "ViaHiddenRule");
}

// NAMES metadata through an endpoint lists only names the receiver may
// see (a raw reader: client libraries drop field 128).
TEST_F(Endpoints, NamesMetadataLeavesHiddenNamesOut) {
  SdBusPeer& sender = service({"org.example.Talk", kHidden});
  make_endpoint("0-app", {{"--talk=org.example.Talk"}, {}, {}});
  RawBusConnection raw(endpoint_socket("0-app").string());
  raw.authenticate_and_hello();
  raw.update_attach_flags(0, kdbus::attach::names);
  raw.add_match("type='signal',interface='org.example.Sig'");
  sender.emit(nullptr, "/org/example", "org.example.Sig", "WithNames");
  auto m = raw.wait_for(is_raw_signal("WithNames"), milliseconds(5000));
  ASSERT_TRUE(m);
  auto md = m->metadata();
  ASSERT_TRUE(md);
  ASSERT_TRUE(md->names);
  EXPECT_EQ(*md->names, std::vector<std::string>{"org.example.Talk"});
}

}  // namespace
}  // namespace kdbusd::itest

namespace kdbusd::itest {
namespace {

// A bus created with a JSON policy follows kdbus's default-endpoint rules
// (KDBUS.md "Policy model"): the owner and same-uid peers are free, others
// need OWN or TALK entries. A stranger (uid 54321) is driven with busctl.
class JsonPolicyBus : public ::testing::Test {
 protected:
  void SetUp() override {
    domain_ = std::make_unique<DomainDaemon>();
    control_ = std::make_unique<ControlClient>(domain_->control_address());
  }
  void TearDown() override {
    if (HasFailure() && domain_) std::cerr << "--- kdbusd --domain stderr ---\n" << domain_->log();
  }
  CallResult create(const std::string& policy) {
    BusOptions o;
    o.persist = true;
    o.access = "world";
    o.policy = policy;
    return control_->create_bus("0-kdbus", o);
  }
  std::vector<std::string> as_stranger(std::vector<std::string> busctl_args) {
    std::vector<std::string> argv{"setpriv", "--reuid=54321", "--regid=54321", "--clear-groups", "busctl",
                                  "--address=" + domain_->bus_address("0-kdbus")};
    argv.insert(argv.end(), busctl_args.begin(), busctl_args.end());
    return argv;
  }

  std::unique_ptr<DomainDaemon> domain_;
  std::unique_ptr<ControlClient> control_;
};

TEST_F(JsonPolicyBus, OwnAndTalkFollowTheEntries) {
  ASSERT_TRUE(create(R"({"names": {
      "org.example.Open": [ {"world": true, "access": "own"} ],
      "org.example.Service": [ {"user": 54321, "access": "talk"} ] }})")
                  .ok());
  auto request = [&](const char* name) {
    return run_command(as_stranger({"call", kDriverName, kDriverPath, kDriverInterface, "RequestName", "su", name, "0"}),
                       milliseconds(10000));
  };
  CommandResult own = request("org.example.Open");
  EXPECT_TRUE(own.ok()) << own.describe();
  EXPECT_EQ(own.out, "u 1\n");
  CommandResult denied = request("org.example.Closed");
  EXPECT_FALSE(denied.ok());
  EXPECT_THAT(denied.err, HasSubstr("Access denied"));

  // The owner (root) owns what it likes; the stranger may talk to the
  // name its entry covers and to nothing else the owner has.
  SdBusPeer service(domain_->bus_address("0-kdbus"));
  ASSERT_EQ(service.request_name("org.example.Service").u32(), 1u);
  ASSERT_EQ(service.request_name("org.example.Private").u32(), 1u) << "the owner needs no entry";
  SdBusPeer other(domain_->bus_address("0-kdbus"));
  ASSERT_EQ(other.request_name("org.example.Unlisted").u32(), 1u);
  CommandResult no_talk = run_command(as_stranger({"call", "org.example.Unlisted", "/", "org.example.I", "M"}),
                                      milliseconds(10000));
  EXPECT_THAT(no_talk.err, HasSubstr("Access denied")) << no_talk.describe();

  ChildProcess talk(as_stranger({"call", "org.example.Service", "/", "org.example.I", "M"}));
  auto call = service.wait_for(is_method_call("M"));
  ASSERT_TRUE(call) << "the TALK entry lets the call through";
  service.reply(*call, "s", "pong");
  EXPECT_EQ(talk.wait_exit(milliseconds(10000)), std::optional<int>(0));
}

TEST_F(JsonPolicyBus, AnInvalidPolicyIsInvalidArgs) {
  CallResult r = create(R"({"names": {"org.example.Open": [ {"world": true, "access": "write"} ]}})");
  EXPECT_EQ(r.error_name, kErrorInvalidArgs);
  EXPECT_THAT(r.error_message, HasSubstr("write"));
  EXPECT_FALSE(std::filesystem::exists(domain_->bus_socket("0-kdbus")));
}

}  // namespace
}  // namespace kdbusd::itest

namespace kdbusd::itest {
namespace {

// kdbus charged every connection of a custom endpoint to one anonymous
// per-endpoint user: a sandbox does not share (or eat) the quota of the
// uid it runs as. Root floods a receiver that never reads until it is
// refused; a sandbox of the same uid still gets its own share.
TEST_F(Endpoints, AnEndpointIsChargedAsItsOwnUser) {
  SdBusPeer& receiver = service({"org.example.Sink"});
  (void)receiver;
  SdBusPeer& flooder = on_bus();
  SdBusPeer& sandbox = on(make_endpoint("0-app", {{"--talk=org.example.Sink"}, {}, {}}));
  const std::string big(1 << 20, 'x');
  std::optional<Received> refused;
  for (int i = 0; i < 200 && !refused; ++i) {
    flooder.send_call("org.example.Sink", "/", "org.example.I", "Big", "s", big.c_str());
    uint64_t probe = flooder.send_call(kDriverName, kDriverPath, kDriverInterface, "GetId");
    for (auto& m : flooder.take_until([probe](const Received& r) { return r.reply_cookie == probe; }))
      if (m.error_name == "org.freedesktop.DBus.Error.LimitsExceeded") refused = std::move(m);
  }
  ASSERT_TRUE(refused) << "the flooding uid was never refused";
  // The driver answers a message only after routing the ones before it,
  // so a refusal of the sandbox's call would arrive before this reply.
  uint64_t call = sandbox.send_call("org.example.Sink", "/", "org.example.I", "Big", "s", big.c_str());
  uint64_t probe = sandbox.send_call(kDriverName, kDriverPath, kDriverInterface, "GetId");
  auto got = sandbox.take_until([probe](const Received& r) { return r.reply_cookie == probe; });
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().reply_cookie, probe);
  for (const auto& m : got) EXPECT_NE(m.reply_cookie, call) << m.describe();
}

TEST_F(JsonPolicyBus, ItsLimitsComeWithThePolicy) {
  ASSERT_TRUE(create(R"({"names": {"org.example.*": [ {"world": true, "access": "own"} ]},
      "limits": {"max_match_rules_per_user": 3, "users": {"0": {"max_names_per_user": 2}}}})")
                  .ok());
  // Root may own two names on this bus, and add three rules.
  SdBusPeer root(domain_->bus_address("0-kdbus"));
  EXPECT_EQ(root.request_name("org.example.One").u32(), 1u);
  EXPECT_EQ(root.request_name("org.example.Two").u32(), 1u);
  CallResult third = root.request_name("org.example.Three");
  EXPECT_FALSE(third.ok());
  EXPECT_THAT(third.describe(), HasSubstr("max_names_per_user=2"));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(root.call_driver("AddMatch", "s", ("member='M" + std::to_string(i) + "'").c_str()).ok()) << i;
  EXPECT_THAT(root.call_driver("AddMatch", "s", "member='M3'").describe(), HasSubstr("max_match_rules_per_user=3"));
  // Another uid's names are its own.
  CommandResult other = run_command(
      as_stranger({"call", kDriverName, kDriverPath, kDriverInterface, "RequestName", "su", "org.example.Three", "0"}),
      milliseconds(10000));
  EXPECT_TRUE(other.ok()) << other.describe();
}

TEST_F(JsonPolicyBus, AnUnknownLimitIsInvalidArgs) {
  CallResult r = create(R"({"limits": {"max_bees": 3}})");
  EXPECT_EQ(r.error_name, kErrorInvalidArgs);
  EXPECT_THAT(r.error_message, HasSubstr("max_bees"));
}

}  // namespace
}  // namespace kdbusd::itest
