/* Rule matching, attribute by attribute (dbus-daemon bus/policy.c) */
#include <gtest/gtest.h>

#include "test_support.hpp"

using namespace kdbus::policy;
using namespace kdbus::policy::test;

namespace {

/* The send decision of a default-context policy for uid 1000. */
Decision send_decision(const std::string& rules, const MessageFacts& m,
                       const NameOwnership* receiver, bool requested_reply = false)
{
    const Config c = load("<policy context=\"default\">" + rules + "</policy>");
    return ConnectionPolicy(c.policy, Peer{1000, {1000}, false}).check_send(m, receiver, requested_reply);
}

bool sends(const std::string& rules, const MessageFacts& m, const NameOwnership* receiver = nullptr,
           bool requested_reply = false)
{
    return send_decision(rules, m, receiver, requested_reply).allowed;
}

bool receives(const std::string& rules, const MessageFacts& m, const NameOwnership* sender,
              bool requested_reply = false, bool eavesdropping = false)
{
    const Config c = load("<policy context=\"default\">" + rules + "</policy>");
    return ConnectionPolicy(c.policy, Peer{1000, {1000}, false})
        .check_receive(m, sender, requested_reply, eavesdropping)
        .allowed;
}

const NameList kService{":1.5", "org.example.Service", "org.example.Alias"};

}  // namespace

TEST(RuleMatch, NothingMatchingDenies)
{
    const Decision d = send_decision("<allow own=\"*\"/>", call("org.example.Service", "a.b", "M"), &kService);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.rule, nullptr);
}

TEST(RuleMatch, SendInterface)
{
    const std::string rules = "<allow send_interface=\"org.example.I\"/>";
    EXPECT_TRUE(sends(rules, call("x.y", "org.example.I", "M"), &kService));
    EXPECT_FALSE(sends(rules, call("x.y", "org.example.J", "M"), &kService));
    /* A message without an interface escapes allow rules naming one… */
    EXPECT_FALSE(sends(rules, call("x.y", "", "M"), &kService));
    /* …but is caught by deny rules naming one. */
    EXPECT_FALSE(sends("<allow send_destination=\"*\"/><deny send_interface=\"org.example.I\"/>",
                       call("x.y", "", "M"), &kService));
    EXPECT_TRUE(sends("<allow send_destination=\"*\"/><deny send_interface=\"org.example.I\"/>",
                      call("x.y", "org.example.J", "M"), &kService));
}

TEST(RuleMatch, SendMemberAndPath)
{
    const std::string rules =
        "<allow send_interface=\"org.example.I\" send_member=\"Go\"/>"
        "<allow send_path=\"/p\" send_member=\"Walk\"/>";
    EXPECT_TRUE(sends(rules, call("x.y", "org.example.I", "Go"), &kService));
    EXPECT_FALSE(sends(rules, call("x.y", "org.example.I", "Stop"), &kService));
    EXPECT_TRUE(sends(rules, call("x.y", "other.I", "Walk", "/p"), &kService));
    EXPECT_FALSE(sends(rules, call("x.y", "other.I", "Walk", "/q"), &kService));
}

TEST(RuleMatch, SendError)
{
    MessageFacts e = reply("x.y");
    e.type = MessageType::error;
    e.error_name = "org.example.Error.Bad";
    const std::string rules = "<allow send_error=\"org.example.Error.Bad\"/>";
    EXPECT_TRUE(sends(rules, e, &kService, true));
    e.error_name = "org.example.Error.Worse";
    EXPECT_FALSE(sends(rules, e, &kService, true));
}

TEST(RuleMatch, SendType)
{
    const std::string rules = "<allow send_type=\"signal\"/>";
    EXPECT_TRUE(sends(rules, broadcast("a.b", "S")));
    EXPECT_FALSE(sends(rules, call("x.y", "a.b", "M"), &kService));
    EXPECT_TRUE(sends("<allow send_type=\"*\"/>", call("x.y", "a.b", "M"), &kService));
}

TEST(RuleMatch, SendDestinationMatchesAnyNameOfTheReceiver)
{
    const std::string rules = "<allow send_destination=\"org.example.Service\"/>";
    /* The receiver owns the name: a call addressed to its other name, or to
     * its unique name, is allowed too (dbus-daemon(1): "the owner"). */
    EXPECT_TRUE(sends(rules, call("org.example.Alias", "a.b", "M"), &kService));
    EXPECT_TRUE(sends(rules, call(":1.5", "a.b", "M"), &kService));
    const NameList other{":1.6", "org.example.Other"};
    EXPECT_FALSE(sends(rules, call("org.example.Other", "a.b", "M"), &other));
    /* Unique names can be named too. */
    EXPECT_TRUE(sends("<allow send_destination=\":1.5\"/>", call("org.example.Service", "a.b", "M"),
                      &kService));
}

TEST(RuleMatch, SendDestinationWithoutReceiverUsesTheHeader)
{
    /* To the driver (or activation): the destination as written. */
    const std::string rules = "<allow send_destination=\"org.freedesktop.DBus\"/>";
    EXPECT_TRUE(sends(rules, call("org.freedesktop.DBus", "org.freedesktop.DBus", "Hello")));
    EXPECT_FALSE(sends(rules, call("org.example.Activatable", "a.b", "M")));
    EXPECT_TRUE(sends("<allow send_destination=\"*\"/>", broadcast("a.b", "S")));
}

TEST(RuleMatch, SendDestinationPrefix)
{
    const std::string rules = "<allow send_destination_prefix=\"org.example\"/>";
    EXPECT_TRUE(sends(rules, call("org.example.Service", "a.b", "M"), &kService));
    const NameList exact{":1.9", "org.example"};
    EXPECT_TRUE(sends(rules, call(":1.9", "a.b", "M"), &exact));
    const NameList near{":1.9", "org.examples.Foo"};
    EXPECT_FALSE(sends(rules, call(":1.9", "a.b", "M"), &near));
    /* Without a receiver connection: the written destination. */
    EXPECT_TRUE(sends(rules, call("org.example.Foo.Bar", "a.b", "M")));
    EXPECT_FALSE(sends(rules, call("org.exampleFoo", "a.b", "M")));
    EXPECT_FALSE(sends(rules, broadcast("a.b", "S")));
}

TEST(RuleMatch, SendBroadcast)
{
    const std::string yes = "<allow send_broadcast=\"true\"/>";
    const std::string no = "<allow send_broadcast=\"false\"/>";
    EXPECT_TRUE(sends(yes, broadcast("a.b", "S")));
    EXPECT_FALSE(sends(no, broadcast("a.b", "S")));
    MessageFacts unicast_signal = broadcast("a.b", "S");
    unicast_signal.destination = ":1.5";
    EXPECT_FALSE(sends(yes, unicast_signal, &kService));
    EXPECT_TRUE(sends(no, unicast_signal, &kService));
    EXPECT_TRUE(sends(no, call("x.y", "a.b", "M"), &kService));
}

TEST(RuleMatch, RequestedReplyDefaults)
{
    /* <allow send_type="method_return"/> lets only requested replies
     * through; an unrequested reply needs send_requested_reply="false". */
    const std::string allow = "<allow send_type=\"method_return\"/>";
    EXPECT_TRUE(sends(allow, reply(":1.5"), &kService, true));
    EXPECT_FALSE(sends(allow, reply(":1.5"), &kService, false));
    EXPECT_TRUE(sends("<allow send_type=\"method_return\" send_requested_reply=\"false\"/>",
                      reply(":1.5"), &kService, false));

    /* <deny send_type="method_return"/> stops only unrequested replies;
     * send_requested_reply="true" makes it stop all of them. */
    const std::string open = "<allow send_type=\"method_return\" send_requested_reply=\"false\"/>";
    EXPECT_TRUE(sends(open + "<deny send_type=\"method_return\"/>", reply(":1.5"), &kService, true));
    EXPECT_FALSE(sends(open + "<deny send_type=\"method_return\"/>", reply(":1.5"), &kService, false));
    EXPECT_FALSE(sends(open + "<deny send_type=\"method_return\" send_requested_reply=\"true\"/>",
                       reply(":1.5"), &kService, true));

    /* Non-replies ignore the attribute. */
    EXPECT_TRUE(sends("<allow send_type=\"method_call\" send_requested_reply=\"true\"/>",
                      call("x.y", "a.b", "M"), &kService, false));
}

TEST(RuleMatch, EavesdropAllowsUnrequestedRepliesOnSend)
{
    /* dbus-daemon: an allow rule with eavesdrop="true" is not limited to
     * requested replies. */
    EXPECT_TRUE(sends("<allow send_destination=\"*\" eavesdrop=\"true\"/>", reply(":1.5"), &kService, false));
    EXPECT_FALSE(sends("<allow send_destination=\"*\"/>", reply(":1.5"), &kService, false));
}

TEST(RuleMatch, ReceiveSender)
{
    const NameList sender{":1.3", "org.example.Sender"};
    MessageFacts m = broadcast("a.b", "S");
    m.sender = ":1.3";
    EXPECT_TRUE(receives("<allow receive_sender=\"org.example.Sender\"/>", m, &sender));
    EXPECT_FALSE(receives("<allow receive_sender=\"org.example.Other\"/>", m, &sender));
    /* From the driver: the sender field as written. */
    m.sender = "org.freedesktop.DBus";
    EXPECT_TRUE(receives("<allow receive_sender=\"org.freedesktop.DBus\"/>", m, nullptr));
    EXPECT_FALSE(receives("<allow receive_sender=\"org.example.Sender\"/>", m, nullptr));
}

TEST(RuleMatch, ReceiveFieldsAndType)
{
    const NameList sender{":1.3"};
    const MessageFacts m = broadcast("org.example.I", "Changed");
    EXPECT_TRUE(receives("<allow receive_interface=\"org.example.I\" receive_member=\"Changed\"/>", m, &sender));
    EXPECT_FALSE(receives("<allow receive_interface=\"org.example.I\" receive_member=\"Other\"/>", m, &sender));
    EXPECT_TRUE(receives("<allow receive_type=\"signal\"/>", m, &sender));
    EXPECT_FALSE(receives("<allow receive_type=\"method_call\"/>", m, &sender));
    EXPECT_TRUE(receives("<allow receive_path=\"/\" receive_member=\"Changed\"/>", m, &sender));
    EXPECT_FALSE(receives("<allow receive_path=\"/x\"/>", m, &sender));
}

TEST(RuleMatch, Eavesdropping)
{
    const NameList sender{":1.3"};
    const MessageFacts m = call(":1.4", "a.b", "M");
    /* Plain allow rules do not cover eavesdropping. */
    EXPECT_TRUE(receives("<allow receive_type=\"*\"/>", m, &sender, false, false));
    EXPECT_FALSE(receives("<allow receive_type=\"*\"/>", m, &sender, false, true));
    EXPECT_TRUE(receives("<allow eavesdrop=\"true\"/>", m, &sender, false, true));
    /* <deny eavesdrop="true"> only stops eavesdropping. */
    const std::string all = "<allow eavesdrop=\"true\"/>";
    EXPECT_TRUE(receives(all + "<deny eavesdrop=\"true\"/>", m, &sender, false, false));
    EXPECT_FALSE(receives(all + "<deny eavesdrop=\"true\"/>", m, &sender, false, true));
}

TEST(RuleMatch, FdCounts)
{
    MessageFacts m = call("x.y", "a.b", "M");
    const std::string rules =
        "<allow send_destination=\"*\"/><deny send_destination=\"*\" min_fds=\"1\"/>";
    EXPECT_TRUE(sends(rules, m, &kService));
    m.n_fds = 1;
    EXPECT_FALSE(sends(rules, m, &kService));
    EXPECT_TRUE(sends("<allow send_destination=\"*\" max_fds=\"2\"/>", m, &kService));
    m.n_fds = 3;
    EXPECT_FALSE(sends("<allow send_destination=\"*\" max_fds=\"2\"/>", m, &kService));
    const NameList sender{":1.3"};
    EXPECT_FALSE(receives("<allow receive_sender=\"*\" max_fds=\"0\"/>", m, &sender));
}

TEST(RuleMatch, OwnAndOwnPrefix)
{
    const Config c = load(
        "<policy context=\"default\"><allow own=\"org.example.A\"/>"
        "<allow own_prefix=\"org.example.B\"/></policy>");
    const ConnectionPolicy p(c.policy, Peer{1000, {1000}, false});
    EXPECT_TRUE(p.can_own("org.example.A"));
    EXPECT_FALSE(p.can_own("org.example.A.Sub"));
    EXPECT_TRUE(p.can_own("org.example.B"));
    EXPECT_TRUE(p.can_own("org.example.B.Sub.Deeper"));
    EXPECT_FALSE(p.can_own("org.example.Bee"));
    EXPECT_FALSE(p.can_own("org.example.C"));
}

TEST(RuleMatch, DecisionNamesTheRule)
{
    /* The rule lives as long as the policy does. */
    const Config c = load(
        "<policy context=\"default\"><allow send_destination=\"*\"/>\n<deny "
        "send_destination=\"org.example.Service\" send_interface=\"a.b\"/></policy>");
    const ConnectionPolicy p(c.policy, Peer{1000, {1000}, false});
    const Decision d = p.check_send(call("org.example.Service", "a.b", "M"), &kService, false);
    EXPECT_FALSE(d.allowed);
    ASSERT_NE(d.rule, nullptr);
    EXPECT_EQ(d.rule->file, "/test/bus.conf");
    EXPECT_EQ(d.rule->line, 3u);
    EXPECT_EQ(d.rule->describe(),
              "<deny send_destination=\"org.example.Service\" send_interface=\"a.b\"/> "
              "(/test/bus.conf:3)");
}
