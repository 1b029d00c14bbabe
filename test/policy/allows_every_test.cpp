/* ConnectionPolicy::allows_every_send() / allows_every_receive(): the bus
 * skips the checks of a policy that allows every message, so the flags
 * must never be set where some message would be denied. */
#include <gtest/gtest.h>

#include <vector>

#include "test_support.hpp"

using namespace kdbus::policy;
using namespace kdbus::policy::test;

namespace {

const Peer kAlice{1000, {1000, 50}, false};
const Peer kBob{1001, {1001}, false};

ConnectionPolicy policy_of(const std::string& body, const Peer& peer = kBob)
{
    return ConnectionPolicy(load(body).policy, peer);
}

/* A default policy of one <allow eavesdrop="true" ...> with `attributes`. */
ConnectionPolicy one_allow(const std::string& attributes)
{
    return policy_of("<policy context=\"default\"><allow eavesdrop=\"true\" " + attributes + "/></policy>");
}

/* Messages of every kind, in every reply state, with and without fds. */
std::vector<MessageFacts> assorted_messages()
{
    std::vector<MessageFacts> out = {call("org.example.Service", "org.example.Secret", "Get"),
                                     call(":1.7", "", "Ping"), reply(":1.1"), broadcast("org.example.News", "Changed")};
    MessageFacts error = reply(":1.1");
    error.type = MessageType::error;
    error.error_name = "org.example.Error.Failed";
    out.push_back(error);
    MessageFacts with_fds = call("org.example.Service", "org.example.Files", "Open");
    with_fds.n_fds = 3;
    out.push_back(with_fds);
    return out;
}

/* What the flags promise, checked against the decisions themselves. */
void expect_everything_allowed(const ConnectionPolicy& p)
{
    const NameList peer{":1.5", "org.example.Service"};
    for (const MessageFacts& m : assorted_messages()) {
        for (bool requested : {false, true}) {
            EXPECT_TRUE(p.check_send(m, &peer, requested).allowed);
            EXPECT_TRUE(p.check_send(m, nullptr, requested).allowed);
            for (bool eavesdropping : {false, true})
                EXPECT_TRUE(p.check_receive(m, &peer, requested, eavesdropping).allowed);
        }
    }
}

}  // namespace

TEST(AllowsEvery, TheShippedSessionPolicyAllowsEverything)
{
    const Config c = load_config_file(std::string(KDBUSD_SOURCE_DIR) + "/conf/session.conf");
    const ConnectionPolicy p(c.policy, kAlice);
    EXPECT_TRUE(p.allows_every_send());
    EXPECT_TRUE(p.allows_every_receive());
    expect_everything_allowed(p);
}

TEST(AllowsEvery, TheShippedSystemPolicyDoesNot)
{
    const Config c = load_config_file(std::string(KDBUSD_SOURCE_DIR) + "/conf/system.conf");
    const ConnectionPolicy p(c.policy, kAlice);
    EXPECT_FALSE(p.allows_every_send());
    EXPECT_FALSE(p.allows_every_receive());
}

TEST(AllowsEvery, NoRulesDenyEverything)
{
    const ConnectionPolicy p = policy_of("");
    EXPECT_FALSE(p.allows_every_send());
    EXPECT_FALSE(p.allows_every_receive());
    EXPECT_FALSE(ConnectionPolicy().allows_every_send());
}

TEST(AllowsEvery, ADenyBehindTheCatchAllIsOverriddenAndOneAfterItIsNot)
{
    const std::string catch_all = "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>";
    const std::string deny = "<deny send_interface=\"org.example.Secret\"/><deny receive_interface=\"org.example.Secret\"/>";
    const ConnectionPolicy before = policy_of("<policy context=\"default\">" + deny + catch_all + "</policy>");
    EXPECT_TRUE(before.allows_every_send());
    EXPECT_TRUE(before.allows_every_receive());
    expect_everything_allowed(before);

    const ConnectionPolicy after = policy_of("<policy context=\"default\">" + catch_all + deny + "</policy>");
    EXPECT_FALSE(after.allows_every_send());
    EXPECT_FALSE(after.allows_every_receive());
    const NameList service{":1.5", "org.example.Service"};
    EXPECT_FALSE(after.check_send(call("org.example.Service", "org.example.Secret", "Get"), &service, false).allowed);
}

TEST(AllowsEvery, NarrowerAllowsInFrontOfTheCatchAllChangeNothing)
{
    const ConnectionPolicy p = policy_of(
        "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>"
        "<allow send_interface=\"org.example.Secret\"/><allow receive_sender=\"org.example.Service\"/></policy>");
    EXPECT_TRUE(p.allows_every_send());
    EXPECT_TRUE(p.allows_every_receive());
    expect_everything_allowed(p);
}

TEST(AllowsEvery, ACatchAllWithoutEavesdropLeavesUnrequestedRepliesAndEavesdroppingToOlderRules)
{
    const ConnectionPolicy p =
        policy_of("<policy context=\"default\"><allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy>");
    EXPECT_FALSE(p.allows_every_send());
    EXPECT_FALSE(p.allows_every_receive());
    EXPECT_FALSE(p.check_send(reply(":1.1"), nullptr, false).allowed) << "an unrequested reply";
    EXPECT_FALSE(p.check_receive(call(":1.9", "org.example.A", "M"), nullptr, false, true).allowed)
        << "eavesdropping";
}

TEST(AllowsEvery, ARuleOnAnyFieldIsNoCatchAll)
{
    for (const char* rule :
         {"send_type=\"method_call\"", "send_path=\"/\"", "send_interface=\"org.example.A\"",
          "send_path=\"/\" send_member=\"Get\"", "send_error=\"org.example.E\"",
          "send_destination=\"org.example.Service\"", "send_destination_prefix=\"org.example\"",
          "send_broadcast=\"true\"", "send_destination=\"*\" max_fds=\"0\"",
          "send_destination=\"*\" min_fds=\"1\""}) {
        EXPECT_FALSE(one_allow(rule).allows_every_send()) << rule;
    }
    for (const char* rule :
         {"receive_type=\"signal\"", "receive_path=\"/\"", "receive_interface=\"org.example.A\"",
          "receive_path=\"/\" receive_member=\"Get\"", "receive_error=\"org.example.E\"",
          "receive_sender=\"org.example.Service\"", "receive_sender=\"*\" max_fds=\"0\"",
          "receive_sender=\"*\" min_fds=\"1\""}) {
        EXPECT_FALSE(one_allow(rule).allows_every_receive()) << rule;
    }
    /* The same rule without a restriction is one. */
    EXPECT_TRUE(one_allow("send_destination=\"*\"").allows_every_send());
    EXPECT_TRUE(one_allow("receive_sender=\"*\"").allows_every_receive());
}

TEST(AllowsEvery, IsDecidedPerConnection)
{
    const std::string body =
        "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>"
        "</policy><policy user=\"alice\"><deny send_destination=\"org.example.Service\"/></policy>"
        "<policy context=\"mandatory\"><deny receive_sender=\"org.example.Spy\"/></policy>";
    const ConnectionPolicy alice = policy_of(body, kAlice), bob = policy_of(body, kBob);
    EXPECT_FALSE(alice.allows_every_send());
    EXPECT_TRUE(bob.allows_every_send());
    EXPECT_FALSE(alice.allows_every_receive()) << "the mandatory deny comes last";
    EXPECT_FALSE(bob.allows_every_receive());
}
