/* Policy precedence: default → group → user → at_console → mandatory, last
 * match wins (dbus-daemon(1), "Policies are applied to a connection as
 * follows") */
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace kdbus::policy;
using namespace kdbus::policy::test;

namespace {

const Peer kAlice{1000, {1000, 50}, false};  // in staff
const Peer kBob{1001, {1001}, false};
const Peer kRoot{0, {0, 10}, false};  // in wheel

bool owns(const Config& c, const Peer& peer, std::string_view name)
{
    return ConnectionPolicy(c.policy, peer).can_own(name);
}

}  // namespace

TEST(Precedence, LastMatchWinsWithinAContext)
{
    const Config c = load(
        "<policy context=\"default\"><allow own=\"*\"/><deny own=\"org.example.A\"/></policy>"
        "<policy context=\"default\"><allow own_prefix=\"org.example.A\"/></policy>");
    /* The second default block appends to the first. */
    EXPECT_TRUE(owns(c, kBob, "org.example.A"));
    const Config d = load(
        "<policy context=\"default\"><deny own=\"org.example.A\"/><allow own=\"*\"/></policy>");
    EXPECT_TRUE(owns(d, kBob, "org.example.A"));
}

TEST(Precedence, UserPolicyOverridesDefaultWhateverTheFileOrder)
{
    const Config c = load(
        "<policy user=\"alice\"><allow own=\"org.example.A\"/></policy>"
        "<policy context=\"default\"><deny own=\"*\"/></policy>");
    EXPECT_TRUE(owns(c, kAlice, "org.example.A"));
    EXPECT_FALSE(owns(c, kBob, "org.example.A"));
    EXPECT_FALSE(owns(c, kAlice, "org.example.B"));
}

TEST(Precedence, GroupPolicySitsBetweenDefaultAndUser)
{
    const Config c = load(
        "<policy context=\"default\"><deny own=\"*\"/></policy>"
        "<policy group=\"staff\"><allow own=\"org.example.A\"/><allow own=\"org.example.B\"/></policy>"
        "<policy user=\"alice\"><deny own=\"org.example.B\"/></policy>");
    EXPECT_TRUE(owns(c, kAlice, "org.example.A"));
    EXPECT_FALSE(owns(c, kAlice, "org.example.B")) << "user beats group";
    EXPECT_FALSE(owns(c, kBob, "org.example.A")) << "bob is not in staff";
    EXPECT_TRUE(c.policy->has_group_policies());
}

TEST(Precedence, MandatoryBeatsEverything)
{
    const Config c = load(
        "<policy context=\"mandatory\"><deny own=\"org.example.A\"/></policy>"
        "<policy context=\"default\"><allow own=\"*\"/></policy>"
        "<policy user=\"alice\"><allow own=\"org.example.A\"/></policy>"
        "<policy at_console=\"true\"><allow own=\"org.example.A\"/></policy>");
    EXPECT_FALSE(owns(c, kAlice, "org.example.A"));
    EXPECT_FALSE(owns(c, Peer{1000, {1000}, true}, "org.example.A"));
    EXPECT_TRUE(owns(c, kAlice, "org.example.B"));
}

TEST(Precedence, AtConsoleComesAfterUser)
{
    const Config c = load(
        "<policy context=\"default\"><deny own=\"*\"/></policy>"
        "<policy at_console=\"true\"><allow own=\"org.example.Console\"/></policy>"
        "<policy at_console=\"false\"><allow own=\"org.example.Remote\"/></policy>"
        "<policy user=\"alice\"><deny own=\"org.example.Console\"/></policy>");
    const Peer console_alice{1000, {1000}, true};
    const Peer console_bob{1001, {1001}, true};
    EXPECT_TRUE(owns(c, console_alice, "org.example.Console")) << "at_console overrides user";
    EXPECT_TRUE(owns(c, console_bob, "org.example.Console"));
    EXPECT_FALSE(owns(c, console_bob, "org.example.Remote"));
    EXPECT_TRUE(owns(c, kBob, "org.example.Remote"));
    EXPECT_FALSE(owns(c, kBob, "org.example.Console"));
    /* Anonymous connections get neither user nor console rules. */
    EXPECT_FALSE(owns(c, Peer{std::nullopt, {}, false}, "org.example.Remote"));
}

TEST(Precedence, SendUsesSenderRulesReceiveUsesReceiverRules)
{
    const Config c = load(
        "<policy context=\"default\"><allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy>"
        "<policy user=\"alice\"><deny send_destination=\"org.example.Service\"/></policy>"
        "<policy user=\"bob\"><deny receive_interface=\"org.example.Secret\"/></policy>");
    const NameList service{":1.5", "org.example.Service"};
    const NameList alice_names{":1.6"};
    const ConnectionPolicy alice(c.policy, kAlice), bob(c.policy, kBob);
    const MessageFacts m = call("org.example.Service", "org.example.Secret", "Get");
    EXPECT_FALSE(alice.check_send(m, &service, false).allowed);
    EXPECT_TRUE(bob.check_send(m, &service, false).allowed);
    EXPECT_TRUE(alice.check_receive(m, &alice_names, false, false).allowed);
    EXPECT_FALSE(bob.check_receive(m, &alice_names, false, false).allowed);
}

TEST(Precedence, UnknownUserPolicyIsDroppedWithAWarning)
{
    const Config c = load(
        "<policy context=\"default\"><deny own=\"*\"/></policy>"
        "<policy user=\"nosuchuser\"><allow own=\"*\"/></policy>"
        "<policy context=\"default\"><allow user=\"nosuchuser\"/></policy>");
    EXPECT_FALSE(owns(c, kAlice, "org.example.A"));
    ASSERT_EQ(c.warnings.size(), 2u);
    EXPECT_NE(c.warnings[0].find("Unknown username \"nosuchuser\""), std::string::npos);
    EXPECT_NE(c.warnings[1].find("Unknown username \"nosuchuser\" on element <allow>"), std::string::npos);
}

TEST(ConnectPermission, BusOwnerByDefault)
{
    const Config c = load("");
    EXPECT_TRUE(c.policy->allows_user(1000, std::vector<gid_t>{1000}, 1000));
    EXPECT_FALSE(c.policy->allows_user(1001, std::vector<gid_t>{1001}, 1000));
}

TEST(ConnectPermission, UserAndGroupRules)
{
    const Config c = load(
        "<policy context=\"default\"><allow user=\"*\"/><deny user=\"bob\"/>"
        "<deny group=\"staff\"/><allow user=\"alice\"/></policy>");
    EXPECT_TRUE(c.policy->allows_user(1000, std::vector<gid_t>{1000, 50}, 0)) << "alice, last rule";
    EXPECT_FALSE(c.policy->allows_user(1001, std::vector<gid_t>{1001}, 0));
    EXPECT_FALSE(c.policy->allows_user(2000, std::vector<gid_t>{2000, 50}, 0)) << "staff member";
    EXPECT_TRUE(c.policy->allows_user(2001, std::vector<gid_t>{2001}, 0));
    const Config m = load(
        "<policy context=\"default\"><allow user=\"*\"/></policy>"
        "<policy context=\"mandatory\"><deny user=\"alice\"/></policy>");
    EXPECT_FALSE(m.policy->allows_user(1000, std::vector<gid_t>{1000}, 1000));
}

TEST(ConnectPermission, NotPerUser)
{
    EXPECT_THROW(load("<policy user=\"alice\"><allow user=\"*\"/></policy>"), ConfigError);
    EXPECT_THROW(load("<policy group=\"staff\"><deny group=\"wheel\"/></policy>"), ConfigError);
    EXPECT_NO_THROW(load("<policy at_console=\"true\"><allow user=\"*\"/></policy>"));
}

TEST(Reload, PoliciesOutliveTheirConfig)
{
    ConnectionPolicy p;
    EXPECT_FALSE(p.can_own("org.example.A"));
    {
        const Config c = load("<policy context=\"default\"><allow own=\"*\"/></policy>");
        p = ConnectionPolicy(c.policy, kAlice);
    }
    EXPECT_TRUE(p.can_own("org.example.A"));
}
