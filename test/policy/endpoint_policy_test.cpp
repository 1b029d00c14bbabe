// EndpointPolicy: the custom endpoint policy, in kdbus's vocabulary
// (ipc/kdbus/policy.c) and xdg-dbus-proxy(1)'s.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "policy/endpoint_policy.hpp"

using namespace kdbus::policy;

namespace {

const EndpointPeer kAlice{1000, {1000, 27}};
const EndpointPeer kBob{1001, {1001}};
const EndpointPeer kRoot{0, {0}};

std::shared_ptr<const EndpointPolicy> rules(std::vector<std::string> args) {
    return EndpointPolicy::from_rules(args);
}

std::string error_of(const std::function<void()>& parse) {
    try {
        parse();
    } catch (const PolicyError& e) {
        return e.what();
    }
    return "(no error)";
}

std::string rule_error(std::string rule) {
    return error_of([&] { rules({rule}); });
}

std::string json_error(std::string_view json) {
    return error_of([&] { EndpointPolicy::from_json(json); });
}

}  // namespace

/* default deny */

TEST(EndpointPolicy, EmptyPolicyDeniesEverything) {
    for (const auto& policy : {EndpointPolicy::from_json("{}"), rules({}), EndpointPolicy::parse("", {}),
                               EndpointPolicy::parse("  \n", {})}) {
        EXPECT_TRUE(policy->empty());
        EXPECT_EQ(policy->access("org.example.App", kAlice), Access::None);
        EXPECT_EQ(policy->access("org.freedesktop.DBus", kRoot), Access::None);
        EXPECT_FALSE(policy->may_call("org.example.App", kAlice, "org.example.App", "Run", "/"));
        EXPECT_FALSE(policy->may_receive_signal("org.example.App", kAlice, "org.example.App", "Ran", "/"));
        EXPECT_EQ(policy->to_json(), "{}");
    }
}

TEST(EndpointPolicy, AccessIsOrdered) {
    EXPECT_LT(Access::None, Access::See);
    EXPECT_LT(Access::See, Access::Talk);
    EXPECT_LT(Access::Talk, Access::Own);
    EXPECT_EQ(to_string(Access::Talk), "talk");
}

/* xdg-dbus-proxy grants */

TEST(EndpointPolicy, XdgGrantsEachLevelToEveryone) {
    auto policy = rules({"--see=org.example.Seen", "--talk=org.example.Talked", "--own=org.example.Owned"});
    EXPECT_FALSE(policy->empty());
    for (const EndpointPeer& peer : {kAlice, kBob, kRoot}) {
        EXPECT_EQ(policy->access("org.example.Seen", peer), Access::See);
        EXPECT_EQ(policy->access("org.example.Talked", peer), Access::Talk);
        EXPECT_EQ(policy->access("org.example.Owned", peer), Access::Own);
        EXPECT_EQ(policy->access("org.example.Other", peer), Access::None);
        EXPECT_EQ(policy->access("org.example", peer), Access::None);
    }
}

TEST(EndpointPolicy, XdgWildcardMatchesTheNameAndItsWholeSubtree) {
    auto policy = rules({"--talk=org.example.*"});
    EXPECT_EQ(policy->access("org.example", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.example.A", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.example.A.B.C", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.examples", kAlice), Access::None);
    EXPECT_EQ(policy->access("org.exampl", kAlice), Access::None);
    EXPECT_EQ(policy->access("org", kAlice), Access::None);
    EXPECT_EQ(policy->access("com.example.A", kAlice), Access::None);
}

TEST(EndpointPolicy, XdgHighestMatchingGrantWinsEvenOverAnExactOne) {
    // xdg-dbus-proxy takes the maximum of every matching rule.
    auto policy = rules({"--see=org.example.App", "--talk=org.example.*", "--own=org.example.App.Sub"});
    EXPECT_EQ(policy->access("org.example.App", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.example.App.Sub", kAlice), Access::Own);
    EXPECT_EQ(policy->access("org.example.Other", kAlice), Access::Talk);
}

TEST(EndpointPolicy, OwnImpliesTalkImpliesSee) {
    auto policy = rules({"--own=org.example.Owned", "--talk=org.example.Talked", "--see=org.example.Seen"});
    EXPECT_TRUE(policy->may_call("org.example.Owned", kAlice, "org.example.I", "M", "/"));
    EXPECT_TRUE(policy->may_receive_signal("org.example.Owned", kAlice, "org.example.I", "S", "/"));
    EXPECT_TRUE(policy->may_call("org.example.Talked", kAlice, "org.example.I", "M", "/"));
    EXPECT_TRUE(policy->may_receive_signal("org.example.Talked", kAlice, "org.example.I", "S", "/"));
    EXPECT_TRUE(policy->access("org.example.Seen", kAlice) >= Access::See);
    EXPECT_FALSE(policy->may_call("org.example.Seen", kAlice, "org.example.I", "M", "/"));
    EXPECT_FALSE(policy->may_receive_signal("org.example.Seen", kAlice, "org.example.I", "S", "/"));
}

/* kdbus entries */

TEST(EndpointPolicy, KdbusWildcardMatchesExactlyOneMoreElement) {
    auto policy = EndpointPolicy::from_json(R"({"names": {"org.example.*": [{"world": true, "access": "talk"}]}})");
    EXPECT_EQ(policy->access("org.example.A", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.example", kAlice), Access::None);
    EXPECT_EQ(policy->access("org.example.A.B", kAlice), Access::None);
    EXPECT_EQ(policy->access("org.examples.A", kAlice), Access::None);
}

TEST(EndpointPolicy, TheTwoWildcardKindsStayDistinct) {
    auto kdbus = EndpointPolicy::from_json(R"({"names": {"a.b.*": [{"world": true, "access": "see"}]}})");
    auto xdg = EndpointPolicy::from_json(R"({"see": ["a.b.*"]})");
    EXPECT_EQ(kdbus->name_entries().at(0).name.kind, NamePattern::Kind::OneLevel);
    EXPECT_EQ(xdg->world_grants().at(0).name.kind, NamePattern::Kind::Subtree);
    EXPECT_EQ(kdbus->access("a.b", kAlice), Access::None);
    EXPECT_EQ(xdg->access("a.b", kAlice), Access::See);
    EXPECT_EQ(kdbus->access("a.b.c.d", kAlice), Access::None);
    EXPECT_EQ(xdg->access("a.b.c.d", kAlice), Access::See);
    EXPECT_EQ(kdbus->access("a.b.c", kAlice), Access::See);
    EXPECT_EQ(xdg->access("a.b.c", kAlice), Access::See);
}

TEST(EndpointPolicy, KdbusUserGroupAndWorldEntries) {
    auto policy = EndpointPolicy::from_json(R"({"names": {
        "org.example.User":  [{"user": 1000, "access": "own"}],
        "org.example.Group": [{"group": 27, "access": "talk"}],
        "org.example.World": [{"world": true, "access": "see"}]}})");
    // USER matches the euid only; GROUP any gid, primary or supplementary.
    EXPECT_EQ(policy->access("org.example.User", kAlice), Access::Own);
    EXPECT_EQ(policy->access("org.example.User", kBob), Access::None);
    EXPECT_EQ(policy->access("org.example.User", EndpointPeer{1001, {1000}}), Access::None);
    EXPECT_EQ(policy->access("org.example.Group", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.example.Group", EndpointPeer{27, {1001}}), Access::None);
    EXPECT_EQ(policy->access("org.example.Group", kBob), Access::None);
    EXPECT_EQ(policy->access("org.example.World", kBob), Access::See);
    EXPECT_EQ(policy->access("org.example.World", kRoot), Access::See);
    // No root bypass: a custom endpoint has no privilege (kdbus).
    EXPECT_EQ(policy->access("org.example.User", kRoot), Access::None);
}

TEST(EndpointPolicy, KdbusHighestMatchingEntryWins) {
    auto policy = EndpointPolicy::from_json(R"({"names": {"org.example.App": [
        {"world": true, "access": "see"}, {"group": 27, "access": "own"}, {"user": 1000, "access": "talk"}]}})");
    EXPECT_EQ(policy->access("org.example.App", kAlice), Access::Own);  // group 27 beats user and world
    EXPECT_EQ(policy->access("org.example.App", EndpointPeer{1000, {1000}}), Access::Talk);
    EXPECT_EQ(policy->access("org.example.App", kBob), Access::See);
}

TEST(EndpointPolicy, KdbusExactEntryIsPreferredOverTheWildcard) {
    auto policy = EndpointPolicy::from_json(R"({"names": {
        "org.example.*":      [{"world": true, "access": "own"}],
        "org.example.Narrow": [{"user": 1000, "access": "see"}],
        "org.example.Closed": []}})");
    EXPECT_EQ(policy->access("org.example.Other", kBob), Access::Own);
    // The exact entry decides alone, even where it grants less or nothing.
    EXPECT_EQ(policy->access("org.example.Narrow", kAlice), Access::See);
    EXPECT_EQ(policy->access("org.example.Narrow", kBob), Access::None);
    EXPECT_EQ(policy->access("org.example.Closed", kAlice), Access::None);
}

TEST(EndpointPolicy, AnEntryThatGrantsNothingLeavesThePolicyEmpty) {
    auto policy = EndpointPolicy::from_json(R"({"names": {"org.example.Closed": []}})");
    EXPECT_TRUE(policy->empty());
    EXPECT_EQ(policy->to_json(), R"({"names":{"org.example.Closed":[]}})");
}

TEST(EndpointPolicy, BothVocabulariesGrantTheirUnion) {
    std::vector<std::string> args{"--talk=org.example.Narrow"};
    auto policy = EndpointPolicy::parse(R"({"names": {"org.example.*": [{"user": 1000, "access": "own"}],
                                                      "org.example.Narrow": [{"user": 1001, "access": "see"}]}})",
                                        args);
    EXPECT_EQ(policy->access("org.example.Narrow", kBob), Access::Talk);    // xdg talk > kdbus see
    EXPECT_EQ(policy->access("org.example.Narrow", kAlice), Access::Talk);  // kdbus exact hides the wildcard
    EXPECT_EQ(policy->access("org.example.Wide", kAlice), Access::Own);
    EXPECT_EQ(policy->access("org.example.Wide", kBob), Access::None);
}

/* --call and --broadcast */

TEST(EndpointPolicy, CallRuleImpliesSeeButNotTalk) {
    auto policy = rules({"--call=org.example.App=org.example.App.Ping"});
    EXPECT_EQ(policy->access("org.example.App", kAlice), Access::See);
    EXPECT_EQ(policy->access("org.example.Other", kAlice), Access::None);
    EXPECT_TRUE(policy->may_call("org.example.App", kAlice, "org.example.App", "Ping", "/any/path"));
    EXPECT_FALSE(policy->may_call("org.example.App", kAlice, "org.example.App", "Pong", "/any/path"));
    EXPECT_FALSE(policy->may_call("org.example.App", kAlice, "org.example.App.Ping", "Ping", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Other", kAlice, "org.example.App", "Ping", "/"));
    // A call rule says nothing about signals.
    EXPECT_FALSE(policy->may_receive_signal("org.example.App", kAlice, "org.example.App", "Ping", "/"));
}

TEST(EndpointPolicy, BroadcastRuleImpliesSeeAndFiltersSignalsOnly) {
    auto policy = rules({"--broadcast=org.example.App=org.example.App.Changed@/org/example/App"});
    EXPECT_EQ(policy->access("org.example.App", kAlice), Access::See);
    EXPECT_TRUE(policy->may_receive_signal("org.example.App", kAlice, "org.example.App", "Changed", "/org/example/App"));
    EXPECT_FALSE(policy->may_receive_signal("org.example.App", kAlice, "org.example.App", "Changed", "/org/example"));
    EXPECT_FALSE(policy->may_receive_signal("org.example.App", kAlice, "org.example.App", "Gone", "/org/example/App"));
    EXPECT_FALSE(policy->may_call("org.example.App", kAlice, "org.example.App", "Changed", "/org/example/App"));
}

TEST(EndpointPolicy, RuleMethodForms) {
    auto policy = rules({"--call=org.example.Any=*", "--call=org.example.Iface=org.example.I.*",
                         "--call=org.example.Member=org.example.I.Get", "--call=org.example.Empty="});
    // "*" and an empty RULE match everything, even a call without interface.
    for (const char* name : {"org.example.Any", "org.example.Empty"}) {
        EXPECT_TRUE(policy->may_call(name, kAlice, "org.other.J", "X", "/"));
        EXPECT_TRUE(policy->may_call(name, kAlice, "", "X", "/a/b"));
    }
    EXPECT_TRUE(policy->may_call("org.example.Iface", kAlice, "org.example.I", "Get", "/"));
    EXPECT_TRUE(policy->may_call("org.example.Iface", kAlice, "org.example.I", "Set", "/x"));
    EXPECT_FALSE(policy->may_call("org.example.Iface", kAlice, "org.example.J", "Get", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Iface", kAlice, "org.example.I.Sub", "Get", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Iface", kAlice, "", "Get", "/"));
    EXPECT_TRUE(policy->may_call("org.example.Member", kAlice, "org.example.I", "Get", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Member", kAlice, "org.example.I", "GetAll", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Member", kAlice, "org.example.J", "Get", "/"));
}

TEST(EndpointPolicy, RulePathForms) {
    auto policy = rules({"--call=org.example.Exact=@/org/example", "--call=org.example.Tree=@/org/example/*",
                         "--call=org.example.All=*@/*", "--call=org.example.Root=@/"});
    EXPECT_TRUE(policy->may_call("org.example.Exact", kAlice, "org.example.I", "M", "/org/example"));
    EXPECT_FALSE(policy->may_call("org.example.Exact", kAlice, "org.example.I", "M", "/org/example/a"));
    EXPECT_FALSE(policy->may_call("org.example.Exact", kAlice, "org.example.I", "M", "/org"));
    // A subtree is its root and everything below, not a string prefix.
    EXPECT_TRUE(policy->may_call("org.example.Tree", kAlice, "org.example.I", "M", "/org/example"));
    EXPECT_TRUE(policy->may_call("org.example.Tree", kAlice, "org.example.I", "M", "/org/example/a/b"));
    EXPECT_FALSE(policy->may_call("org.example.Tree", kAlice, "org.example.I", "M", "/org/examples"));
    EXPECT_FALSE(policy->may_call("org.example.Tree", kAlice, "org.example.I", "M", "/org"));
    EXPECT_TRUE(policy->may_call("org.example.All", kAlice, "org.example.I", "M", "/"));
    EXPECT_TRUE(policy->may_call("org.example.All", kAlice, "org.example.I", "M", "/deep/path"));
    EXPECT_TRUE(policy->may_call("org.example.Root", kAlice, "org.example.I", "M", "/"));
    EXPECT_FALSE(policy->may_call("org.example.Root", kAlice, "org.example.I", "M", "/a"));
}

TEST(EndpointPolicy, RuleOnAWildcardNameCoversTheSubtree) {
    auto policy = rules({"--call=org.example.*=org.example.I.Get@/obj"});
    EXPECT_EQ(policy->access("org.example", kAlice), Access::See);
    EXPECT_EQ(policy->access("org.example.A.B", kAlice), Access::See);
    EXPECT_TRUE(policy->may_call("org.example.A.B", kAlice, "org.example.I", "Get", "/obj"));
    EXPECT_TRUE(policy->may_call("org.example", kAlice, "org.example.I", "Get", "/obj"));
    EXPECT_FALSE(policy->may_call("org.examples", kAlice, "org.example.I", "Get", "/obj"));
}

TEST(EndpointPolicy, SeveralRulesForOneNameAreAlternatives) {
    auto policy = rules({"--call=org.example.App=org.example.I.A@/a", "--call=org.example.App=org.example.I.B@/b"});
    EXPECT_TRUE(policy->may_call("org.example.App", kAlice, "org.example.I", "A", "/a"));
    EXPECT_TRUE(policy->may_call("org.example.App", kAlice, "org.example.I", "B", "/b"));
    EXPECT_FALSE(policy->may_call("org.example.App", kAlice, "org.example.I", "A", "/b"));
}

TEST(EndpointPolicy, FlatpakRuleSet) {
    auto policy = rules({
        "--talk=org.freedesktop.portal.*",
        "--own=org.example.App",
        "--own=org.example.App.*",
        "--call=org.freedesktop.Notifications=org.freedesktop.Notifications.Notify@/org/freedesktop/Notifications",
        "--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*",
    });
    EXPECT_EQ(policy->access("org.example.App", kAlice), Access::Own);
    EXPECT_EQ(policy->access("org.example.App.Helper", kAlice), Access::Own);
    EXPECT_EQ(policy->access("org.freedesktop.portal.Desktop", kAlice), Access::Talk);
    EXPECT_EQ(policy->access("org.freedesktop.Notifications", kAlice), Access::See);
    EXPECT_EQ(policy->access("org.freedesktop.secrets", kAlice), Access::None);
    EXPECT_EQ(policy->access("org.example.AppX", kAlice), Access::None);

    EXPECT_TRUE(policy->may_call("org.freedesktop.portal.Desktop", kAlice, "org.freedesktop.portal.FileChooser",
                                 "OpenFile", "/org/freedesktop/portal/desktop"));
    EXPECT_TRUE(policy->may_call("org.freedesktop.Notifications", kAlice, "org.freedesktop.Notifications", "Notify",
                                 "/org/freedesktop/Notifications"));
    EXPECT_FALSE(policy->may_call("org.freedesktop.Notifications", kAlice, "org.freedesktop.Notifications",
                                  "CloseNotification", "/org/freedesktop/Notifications"));
    EXPECT_FALSE(policy->may_call("org.freedesktop.Notifications", kAlice, "org.freedesktop.Notifications", "Notify",
                                  "/"));
    EXPECT_FALSE(policy->may_call("org.freedesktop.secrets", kAlice, "org.freedesktop.Secret.Service",
                                  "OpenSession", "/org/freedesktop/secrets"));
    EXPECT_FALSE(policy->may_receive_signal("org.freedesktop.Notifications", kAlice,
                                            "org.freedesktop.Notifications", "NotificationClosed",
                                            "/org/freedesktop/Notifications"));
}

/* parse errors */

TEST(EndpointPolicy, RuleErrorsArePrecise) {
    EXPECT_EQ(rule_error("talk=org.a.B"),
              R"(rule "talk=org.a.B": expected --see=NAME, --talk=NAME, --own=NAME, --call=NAME=RULE or --broadcast=NAME=RULE)");
    EXPECT_EQ(rule_error("--talk"),
              R"(rule "--talk": expected --see=NAME, --talk=NAME, --own=NAME, --call=NAME=RULE or --broadcast=NAME=RULE)");
    EXPECT_EQ(rule_error("--filter=org.a.B"),
              R"(rule "--filter=org.a.B": unknown option "--filter" (expected --see, --talk, --own, --call or --broadcast))");
    EXPECT_EQ(rule_error("--talk="), R"(rule "--talk=": invalid name "": it is empty)");
    EXPECT_EQ(rule_error("--talk=org"), R"(rule "--talk=org": invalid name "org": it needs at least two elements)");
    EXPECT_EQ(rule_error("--talk=org..a"), R"(rule "--talk=org..a": invalid name "org..a": an element is empty)");
    EXPECT_EQ(rule_error("--talk=org.1a"),
              R"(rule "--talk=org.1a": invalid name "org.1a": element "1a" starts with a digit)");
    EXPECT_EQ(rule_error("--talk=org.a b"),
              R"(rule "--talk=org.a b": invalid name "org.a b": character " " is not allowed)");
    EXPECT_EQ(rule_error("--talk=org.*.a"),
              R"(rule "--talk=org.*.a": invalid name "org.*.a": character "*" is not allowed)");
    EXPECT_EQ(rule_error("--talk=*"), R"(rule "--talk=*": invalid name "*": character "*" is not allowed)");
    EXPECT_EQ(rule_error("--own=:1.5"), R"(rule "--own=:1.5": invalid name ":1.5": unique names cannot be granted)");
    EXPECT_EQ(rule_error("--talk=org." + std::string(252, 'a')).substr(0, 10), "rule \"--ta");
    EXPECT_NE(rule_error("--talk=org." + std::string(252, 'a')).find("longer than 255 characters"), std::string::npos);
    EXPECT_EQ(rule_error("--call=org.a.B"), R"(rule "--call=org.a.B": expected --call=NAME=RULE)");
    EXPECT_EQ(rule_error("--broadcast=org.a.B"), R"(rule "--broadcast=org.a.B": expected --broadcast=NAME=RULE)");
    EXPECT_EQ(rule_error("--call=org.a.B=Ping"),
              R"(rule "--call=org.a.B=Ping": method "Ping" must be *, INTERFACE.* or INTERFACE.MEMBER)");
    EXPECT_EQ(rule_error("--call=org.a.B=*.Ping"),
              R"(rule "--call=org.a.B=*.Ping": invalid interface "*": character "*" is not allowed)");
    EXPECT_EQ(rule_error("--call=org.a.B=a-b.c.Ping"),
              R"(rule "--call=org.a.B=a-b.c.Ping": invalid interface "a-b.c": character "-" is not allowed)");
    EXPECT_EQ(rule_error("--call=org.a.B=org.a.I.9"),
              R"(rule "--call=org.a.B=org.a.I.9": invalid member "9": it starts with a digit)");
    EXPECT_EQ(rule_error("--call=org.a.B=org.a.I.M@"),
              R"(rule "--call=org.a.B=org.a.I.M@": invalid path "": it must start with '/')");
    EXPECT_EQ(rule_error("--call=org.a.B=@/a/"), R"(rule "--call=org.a.B=@/a/": invalid path "/a/": it must not end with '/')");
    EXPECT_EQ(rule_error("--call=org.a.B=@/a//b"),
              R"(rule "--call=org.a.B=@/a//b": invalid path "/a//b": an element is empty)");
    EXPECT_EQ(rule_error("--broadcast=org.a.B=@/a-b/*"),
              R"(rule "--broadcast=org.a.B=@/a-b/*": invalid path "/a-b/*": character "-" is not allowed)");
}

TEST(EndpointPolicy, ErrorsQuoteUnprintableBytesAndCutLongInput) {
    EXPECT_EQ(rule_error(std::string("--see=org.\x01\xff")),
              R"(rule "--see=org.\x01\xff": invalid name "org.\x01\xff": character "\x01" is not allowed)");
    std::string huge = "--see=" + std::string(1000, 'a');
    std::string message = rule_error(huge);
    EXPECT_LT(message.size(), 300u);
    EXPECT_NE(message.find("...: invalid name"), std::string::npos) << message;
}

TEST(EndpointPolicy, JsonErrorsArePrecise) {
    EXPECT_EQ(json_error(""), "policy JSON: parse error at line 1, column 1: syntax error while parsing value - "
                              "unexpected end of input; expected '[', '{', or a literal");
    // nlohmann cites the bytes it read; ill-formed UTF-8 must not reach a D-Bus error string.
    EXPECT_EQ(json_error("{\"see\": [\"\xff\"]}"),
              "policy JSON: parse error at line 1, column 11: syntax error while parsing value - invalid string: "
              "ill-formed UTF-8 byte; last read: '\"\\xff'");
    EXPECT_EQ(json_error("[]"), "policy JSON: the top level must be an object");
    EXPECT_EQ(json_error(R"({"sea": []})"),
              R"(policy JSON: unknown key "sea" (expected see, talk, own, call, broadcast or names))");
    EXPECT_EQ(json_error(R"({"see": ["org.a.B"], "see": []})"), R"(policy JSON: duplicate key "see")");
    EXPECT_EQ(json_error(R"({"see": "org.a.B"})"), R"(policy JSON: "see": expected an array)");
    EXPECT_EQ(json_error(R"({"talk": ["org.a.B", 7]})"), R"(policy JSON: "talk"[1]: expected a string)");
    EXPECT_EQ(json_error(R"({"own": ["org"]})"),
              R"(policy JSON: "own"[0]: invalid name "org": it needs at least two elements)");
    EXPECT_EQ(json_error(R"({"call": ["org.a.B"]})"), R"(policy JSON: "call": expected an object)");
    EXPECT_EQ(json_error(R"({"call": {"org.a.B": "*"}})"), R"(policy JSON: "call"["org.a.B"]: expected an array)");
    EXPECT_EQ(json_error(R"({"call": {"org..B": ["*"]}})"),
              R"(policy JSON: "call"["org..B"]: invalid name "org..B": an element is empty)");
    EXPECT_EQ(json_error(R"({"broadcast": {"org.a.B": ["*", "Ping"]}})"),
              R"(policy JSON: "broadcast"["org.a.B"][1]: method "Ping" must be *, INTERFACE.* or INTERFACE.MEMBER)");
    EXPECT_EQ(json_error(R"({"names": []})"), R"(policy JSON: "names": expected an object)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": {}}})"), R"(policy JSON: "names"["org.a.B"]: expected an array)");
    EXPECT_EQ(json_error(R"({"names": {"*": []}})"),
              R"(policy JSON: "names"["*"]: invalid name "*": character "*" is not allowed)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0]: needs exactly one of "user", "group", "world")");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": 1, "group": 2, "access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0]: needs exactly one of "user", "group", "world")");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": 1}]}})"),
              R"(policy JSON: "names"["org.a.B"][0]: needs "access")");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": 1, "access": "write"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0].access: access "write" is not one of "see", "talk", "own")");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": -1, "access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0].user: expected a number from 0 to 4294967294)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"group": 4294967295, "access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0].group: expected a number from 0 to 4294967294)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": 1.5, "access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0].user: expected a number from 0 to 4294967294)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"world": false, "access": "see"}]}})"),
              R"(policy JSON: "names"["org.a.B"][0].world: must be true)");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"world": true, "access": "see", "uid": 3}]}})"),
              R"(policy JSON: "names"["org.a.B"][0]: unknown key "uid" (expected user, group or world, and access))");
    EXPECT_EQ(json_error(R"({"names": {"org.a.B": [{"user": 1, "user": 2, "access": "see"}]}})"),
              R"(policy JSON: duplicate key "user")");
}

TEST(EndpointPolicy, ParseReportsTheFirstBadPartOfEither) {
    std::vector<std::string> bad{"--own=org"};
    EXPECT_THROW(EndpointPolicy::parse(R"({"see": ["org.a.B"]})", bad), PolicyError);
    EXPECT_THROW(EndpointPolicy::parse("{", {}), PolicyError);
}

/* names */

TEST(EndpointPolicy, NameSyntax) {
    EXPECT_EQ(NamePattern::parse_xdg("org.example-app.A_1").kind, NamePattern::Kind::Exact);
    EXPECT_EQ(NamePattern::parse_xdg("_a.-b").prefix, "_a.-b");
    // A wildcard's prefix may be one element, as kdbus's name check allows.
    NamePattern one = NamePattern::parse_kdbus("org.*");
    EXPECT_EQ(one.prefix, "org");
    EXPECT_TRUE(one.matches("org.a"));
    EXPECT_FALSE(one.matches("org"));
    EXPECT_TRUE(NamePattern::parse_xdg("org.*").matches("org"));
    EXPECT_THROW(NamePattern::parse_xdg(".*"), PolicyError);
    EXPECT_THROW(NamePattern::parse_xdg("org.a."), PolicyError);
    EXPECT_THROW(NamePattern::parse_xdg("org.a.**"), PolicyError);
    EXPECT_NO_THROW(NamePattern::parse_xdg("a." + std::string(253, 'b')));
    EXPECT_THROW(NamePattern::parse_xdg("a." + std::string(254, 'b')), PolicyError);
}

/* to_json */

TEST(EndpointPolicy, ToJsonIsCanonical) {
    auto policy = rules({"--talk=org.b.B", "--see=org.a.*", "--talk=org.b.B", "--call=org.c.C=org.c.C.M",
                         "--call=org.c.C=", "--broadcast=org.d.*=@/org/d/*", "--call=org.e.E=org.e.I.*@/x"});
    EXPECT_EQ(policy->to_json(),
              R"({"broadcast":{"org.d.*":["@/org/d/*"]},"call":{"org.c.C":["*","org.c.C.M"],"org.e.E":["org.e.I.*@/x"]},)"
              R"("see":["org.a.*"],"talk":["org.b.B"]})");
}

TEST(EndpointPolicy, ToJsonRoundTrips) {
    std::vector<std::string> args{"--talk=org.freedesktop.portal.*", "--own=org.example.App",
                                  "--see=org.example.Viewer", "--call=org.example.Viewer=*@/org/example/*",
                                  "--call=org.freedesktop.Notifications=org.freedesktop.Notifications.Notify@/org/freedesktop/Notifications",
                                  "--broadcast=org.freedesktop.portal.*=@/org/freedesktop/portal/*",
                                  "--broadcast=org.example.Viewer=org.example.Viewer.*"};
    auto policy = EndpointPolicy::parse(R"({"names": {
        "org.kde.*": [{"user": 1000, "access": "own"}, {"group": 27, "access": "talk"}, {"world": true, "access": "see"}],
        "org.kde.Closed": []}})",
                                        args);
    std::string json = policy->to_json();
    auto again = EndpointPolicy::from_json(json);
    EXPECT_TRUE(*again == *policy) << json << "\n" << again->to_json();
    EXPECT_EQ(again->to_json(), json);
    // The kdbus entry keeps its one-level wildcard through the round trip.
    EXPECT_EQ(again->access("org.kde.A", kBob), Access::See);
    EXPECT_EQ(again->access("org.kde.A.B", kBob), Access::None);
    EXPECT_EQ(again->access("org.kde.Closed", kAlice), Access::None);
    EXPECT_EQ(again->access("org.kde.A", kAlice), Access::Own);
}

TEST(EndpointPolicy, RulesAndTheirJsonSpellingAreTheSamePolicy) {
    auto from_rules = rules({"--own=org.example.App", "--call=org.example.Svc=org.example.Svc.Get@/svc/*"});
    auto from_json = EndpointPolicy::from_json(
        R"({"own": ["org.example.App"], "call": {"org.example.Svc": ["org.example.Svc.Get@/svc/*"]}})");
    EXPECT_TRUE(*from_rules == *from_json);
    EXPECT_FALSE(*from_rules == *rules({"--own=org.example.App"}));
}

TEST(EndpointPolicy, DuplicatesAreMerged) {
    auto policy = rules({"--see=org.a.B", "--see=org.a.B", "--call=org.a.B=*", "--call=org.a.B=*"});
    EXPECT_EQ(policy->world_grants().size(), 1u);
    EXPECT_EQ(policy->call_rules().size(), 1u);
    // "@/*" is "any path", the same rule as none.
    EXPECT_EQ(rules({"--call=org.a.B=*@/*"})->call_rules().at(0).rule, MessageRule{});
}

TEST(EndpointPolicy, ToRulesGivesTheXdgPartBack) {
    std::vector<std::string> args{"--own=org.example.App", "--see=org.a.*", "--call=org.a.B=org.a.I.M@/p/*",
                                  "--broadcast=org.a.*=@/a"};
    auto policy = EndpointPolicy::parse(R"({"names": {"org.k.*": [{"world": true, "access": "own"}]}})", args);
    std::vector<std::string> expected{"--see=org.a.*", "--own=org.example.App", "--call=org.a.B=org.a.I.M@/p/*",
                                      "--broadcast=org.a.*=@/a"};
    EXPECT_EQ(policy->to_rules(), expected);
    auto xdg_only = EndpointPolicy::from_rules(policy->to_rules());
    EXPECT_TRUE(*xdg_only == *rules(args));
    EXPECT_EQ(xdg_only->access("org.k.A", kAlice), Access::None);
}
