/* Match rules: parsing, canonical text and evaluation */
#include "daemon/match_rule.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kdbus::daemon {
namespace {

using wire::MessageType;

MatchRule parse_ok(std::string_view text) {
    std::string error;
    auto rule = MatchRule::parse(text, &error);
    EXPECT_TRUE(rule.has_value()) << "\"" << text << "\": " << error;
    return rule.value_or(MatchRule{});
}

/* The error text, or "" if the rule parsed. */
std::string parse_error(std::string_view text) {
    std::string error;
    auto rule = MatchRule::parse(text, &error);
    if (rule)
        return "";
    EXPECT_FALSE(error.empty()) << "no message for \"" << text << "\"";
    return error;
}

bool rejected(std::string_view text) {
    return !MatchRule::parse(text, nullptr).has_value();
}

// ---- parsing ---------------------------------------------------------------

TEST(MatchRuleParse, EveryKey) {
    MatchRule r = parse_ok(
        "type='signal',sender='org.freedesktop.DBusSender',"
        "interface='org.freedesktop.DBusInterface',member='Foo',path='/bar/foo',"
        "destination=':452345.34',arg2='a',arg1path='/p/',eavesdrop='true'");
    EXPECT_EQ(r.type, MessageType::signal);
    EXPECT_EQ(r.sender, "org.freedesktop.DBusSender");
    EXPECT_EQ(r.interface, "org.freedesktop.DBusInterface");
    EXPECT_EQ(r.member, "Foo");
    EXPECT_EQ(r.path, "/bar/foo");
    EXPECT_EQ(r.destination, ":452345.34");
    EXPECT_TRUE(r.eavesdrop);
    ASSERT_EQ(r.args.size(), 2u);  // sorted by index
    EXPECT_EQ(r.args[0].index, 1);
    EXPECT_EQ(r.args[0].kind, ArgCondition::Kind::path);
    EXPECT_EQ(r.args[0].value, "/p/");
    EXPECT_EQ(r.args[1].index, 2);
    EXPECT_EQ(r.args[1].kind, ArgCondition::Kind::string);
    EXPECT_EQ(r.args[1].value, "a");
}

TEST(MatchRuleParse, MessageTypes) {
    EXPECT_EQ(parse_ok("type='signal'").type, MessageType::signal);
    EXPECT_EQ(parse_ok("type='method_call'").type, MessageType::method_call);
    EXPECT_EQ(parse_ok("type='method_return'").type, MessageType::method_return);
    EXPECT_EQ(parse_ok("type='error'").type, MessageType::error);
    EXPECT_FALSE(parse_ok("member='X'").type.has_value());
    EXPECT_NE(parse_error("type='chouin'").find("chouin"), std::string::npos);
    EXPECT_TRUE(rejected("type='Signal'"));
    EXPECT_TRUE(rejected("type=''"));
}

TEST(MatchRuleParse, ExtraWhitespaceAndUselessQuotes) {
    // dbus-daemon's own test: whitespace around keys is skipped, and
    // adjacent quoted pieces concatenate.
    MatchRule r = parse_ok(
        "    type='signal',  \tsender='org.freedes''ktop.DBusSender',   "
        "interface='org.freedesktop.DBusInterface''''', \tmember='Foo',path='/bar/foo',"
        "destination=':452345.34'''''");
    EXPECT_EQ(r.sender, "org.freedesktop.DBusSender");
    EXPECT_EQ(r.interface, "org.freedesktop.DBusInterface");
    EXPECT_EQ(r.destination, ":452345.34");
    EXPECT_EQ(parse_ok("type ='signal'").type, MessageType::signal);
}

TEST(MatchRuleParse, WhitespaceIsPartOfValues) {
    EXPECT_TRUE(rejected("type= 'signal'"));   // value " signal"
    EXPECT_TRUE(rejected("type = 'signal'"));
    EXPECT_TRUE(rejected("type='signal' ,member='X'"));  // value "signal "
}

TEST(MatchRuleParse, EmptyRules) {
    EXPECT_EQ(parse_ok(""), MatchRule{});
    EXPECT_EQ(parse_ok("    \t"), MatchRule{});
    EXPECT_EQ(parse_ok("member='X',").member, "X");  // a trailing comma ends the last value
}

TEST(MatchRuleParse, SyntaxErrors) {
    EXPECT_NE(parse_error("type").find("'='"), std::string::npos);
    EXPECT_NE(parse_error("type 'signal'").find("'='"), std::string::npos);
    EXPECT_NE(parse_error("member='Foo").find("Unbalanced"), std::string::npos);
    // dbus-daemon silently dropped everything from an empty key on.
    EXPECT_NE(parse_error("='x'").find("empty key"), std::string::npos);
    EXPECT_NE(parse_error("type='signal', =x").find("empty key"), std::string::npos);
    // A key runs to '=' or whitespace, so a stray comma becomes part of it.
    EXPECT_NE(parse_error("type='signal',,member='X'").find("\",member\""), std::string::npos);
}

TEST(MatchRuleParse, QuotingAndEscaping) {
    auto arg0 = [](std::string_view text) {
        MatchRule r = parse_ok(text);
        return r.args.empty() ? std::string("<none>") : r.args[0].value;
    };
    EXPECT_EQ(arg0("arg0=foo"), "foo");
    EXPECT_EQ(arg0("arg0='foo'"), "foo");
    EXPECT_EQ(arg0("arg0=''"), "");              // empty values are fine for argN
    EXPECT_EQ(arg0("arg0="), "");
    EXPECT_EQ(arg0("arg0=ice'cream'"), "icecream");
    EXPECT_EQ(arg0("arg0='comma,type=comma'"), "comma,type=comma");
    // Outside quotes \' is a quote; a backslash before anything else stays.
    EXPECT_EQ(arg0("arg0=\\'"), "'");
    EXPECT_EQ(arg0("arg0=escap\\e"), "escap\\e");
    EXPECT_EQ(arg0("arg0=trailing\\"), "trailing\\");
    EXPECT_EQ(arg0("arg0=\\\\"), "\\\\");
    // Inside quotes a backslash is literal, so a quote cannot be escaped:
    // close, escape, reopen.
    EXPECT_EQ(arg0("arg0='\\'"), "\\");
    EXPECT_EQ(arg0("arg0='Time: 8 o'\\''clock'"), "Time: 8 o'clock");
    EXPECT_EQ(arg0("arg0=Time: 8 o\\'clock"), "Time: 8 o'clock");
    EXPECT_EQ(arg0("arg0='a\\,b'"), "a\\,b");
    // A backslash outside quotes takes the next byte with it, even a comma.
    EXPECT_EQ(arg0("arg0=a\\,member=M"), "a\\,member=M");
}

TEST(MatchRuleParse, NameValuesAreValidated) {
    EXPECT_NE(parse_error("sender='no'").find("Sender name 'no' is invalid"), std::string::npos);
    EXPECT_TRUE(rejected("sender=''"));
    EXPECT_EQ(parse_ok("sender=':1.5'").sender, ":1.5");
    EXPECT_EQ(parse_ok("sender='org.freedesktop.DBus'").sender, "org.freedesktop.DBus");

    EXPECT_NE(parse_error("interface='abc@def++'").find("Interface name"), std::string::npos);
    EXPECT_TRUE(rejected("interface='nodot'"));
    EXPECT_TRUE(rejected("interface=':1.5'"));
    EXPECT_EQ(parse_ok("interface='org.example.I'").interface, "org.example.I");

    EXPECT_NE(parse_error("member='a.b'").find("Member name"), std::string::npos);
    EXPECT_TRUE(rejected("member='1abc'"));
    EXPECT_EQ(parse_ok("member='_x1'").member, "_x1");

    EXPECT_NE(parse_error("path='foo'").find("Path 'foo' is invalid"), std::string::npos);
    EXPECT_TRUE(rejected("path='/a/'"));
    EXPECT_TRUE(rejected("path='/a//b'"));
    EXPECT_EQ(parse_ok("path='/'").path, "/");

    EXPECT_TRUE(rejected("path_namespace='/foo/'"));  // trailing / is not allowed
    EXPECT_EQ(parse_ok("path_namespace='/foo/bar'").path_namespace, "/foo/bar");
    EXPECT_EQ(parse_ok("path_namespace='/'").path_namespace, "/");

    EXPECT_NE(parse_error("destination='x'").find("Destination name"), std::string::npos);
    EXPECT_EQ(parse_ok("destination='org.example.D'").destination, "org.example.D");
}

TEST(MatchRuleParse, Eavesdrop) {
    EXPECT_TRUE(parse_ok("eavesdrop='true'").eavesdrop);
    EXPECT_FALSE(parse_ok("eavesdrop='false'").eavesdrop);
    EXPECT_FALSE(parse_ok("eavesdrop=true,eavesdrop=false").eavesdrop);  // repeats: last wins
    EXPECT_NE(parse_error("eavesdrop='yes'").find("'true' or 'false'"), std::string::npos);
}

TEST(MatchRuleParse, ArgKeys) {
    EXPECT_EQ(parse_ok("arg63='foo'").args.at(0).index, 63);
    EXPECT_EQ(parse_ok("arg40='foo'").args.at(0).index, 40);
    MatchRule p = parse_ok("arg7path='/foo'");
    EXPECT_EQ(p.args.at(0).kind, ArgCondition::Kind::path);
    EXPECT_EQ(p.args.at(0).index, 7);
    MatchRule ns = parse_ok("arg0namespace='foo'");
    EXPECT_EQ(ns.args.at(0).kind, ArgCondition::Kind::arg0_namespace);
    EXPECT_EQ(parse_ok("arg0namespace='foo.bar'").args.at(0).value, "foo.bar");

    EXPECT_NE(parse_error("arg64='foo'").find("maximum is 63"), std::string::npos);
    EXPECT_TRUE(rejected("arg300='foo'"));
    EXPECT_TRUE(rejected("arg99999999999999999999='foo'"));
    EXPECT_NE(parse_error("arg='foo'").find("lacks an arg number"), std::string::npos);
    EXPECT_NE(parse_error("argv='foo'").find("could not parse"), std::string::npos);
    EXPECT_NE(parse_error("arg3junk='foo'").find("junk"), std::string::npos);
    EXPECT_TRUE(rejected("argument='foo'"));
    EXPECT_TRUE(rejected("arg1namespace='foo'"));  // only arg0namespace exists
    EXPECT_TRUE(rejected("arg64path='/foo'"));
}

TEST(MatchRuleParse, Arg0NamespaceValue) {
    EXPECT_NE(parse_error("arg0namespace=''").find("not a valid prefix"), std::string::npos);
    EXPECT_TRUE(rejected("arg0namespace='foo.'"));
    EXPECT_TRUE(rejected("arg0namespace='foo.bar.'"));
    EXPECT_TRUE(rejected("arg0namespace='foo..'"));
    EXPECT_TRUE(rejected("arg0namespace='foo.bar..'"));
    EXPECT_TRUE(rejected("arg0namespace='1foo'"));
    EXPECT_FALSE(rejected("arg0namespace='com'"));
}

TEST(MatchRuleParse, Duplicates) {
    EXPECT_NE(parse_error("type='signal',type='method_call'").find("twice"), std::string::npos);
    for (const char* text : {"sender=':1.1',sender=':1.2'", "interface='a.b',interface='a.c'",
                             "member='A',member='B'", "path='/a',path='/b'",
                             "destination=':1.1',destination=':1.1'", "path='/foo',path_namespace='/foo'",
                             "path_namespace='/foo',path='/foo'",
                             "path_namespace='/a',path_namespace='/b'"})
        EXPECT_TRUE(rejected(text)) << text;
    EXPECT_NE(parse_error("arg3='foo',arg3='bar'").find("more than once"), std::string::npos);
    EXPECT_TRUE(rejected("arg0='foo',arg0path='/bar'"));  // one condition per index
    EXPECT_TRUE(rejected("arg0='foo',arg0namespace='bar'"));
}

TEST(MatchRuleParse, UnknownKeys) {
    EXPECT_NE(parse_error("blah='signal'").find("Unknown key \"blah\""), std::string::npos);
    EXPECT_TRUE(rejected("service='youpi'"));
    EXPECT_TRUE(rejected("Type='signal'"));
}

TEST(MatchRuleParse, MaximumLength) {
    std::string at_limit = "arg0='" + std::string(1024 - 7, 'x') + "'";
    ASSERT_EQ(at_limit.size(), 1024u);
    EXPECT_FALSE(rejected(at_limit));
    std::string over = "arg0='" + std::string(1024 - 6, 'x') + "'";
    EXPECT_NE(parse_error(over).find("maximum is 1024"), std::string::npos);
}

// ---- canonical text ----------------------------------------------------------

TEST(MatchRuleText, EqualRulesGiveEqualText) {
    // dbus-daemon's equality table.
    const std::pair<const char*, const char*> pairs[] = {
        {"type='signal'", "type='signal'"},
        {"type='signal',interface='foo.bar'", "interface='foo.bar',type='signal'"},
        {"type='signal',member='bar'", "member='bar',type='signal'"},
        {"type='method_call',sender=':1.0'", "sender=':1.0',type='method_call'"},
        {"type='method_call',destination=':1.0'", "destination=':1.0',type='method_call'"},
        {"type='method_call',path='/foo/bar'", "path='/foo/bar',type='method_call'"},
        {"type='method_call',arg0='blah'", "arg0='blah',type='method_call'"},
        {"type='method_call',arg0='boo'", "arg0='boo',type='method_call'"},
        {"type='method_call',arg0='blah',arg1='baz'", "arg0='blah',arg1='baz',type='method_call'"},
        {"type='method_call',arg3='foosh'", "arg3='foosh',type='method_call'"},
        {"arg3='fool'", "arg3='fool'"},
        {"arg0namespace='fool'", "arg0namespace='fool'"},
        {"member='food'", "member='food'"},
        {"member=escape", "member='escape'"},
        {"member=icecream", "member=ice'cream'"},
        {"arg0='comma,type=comma',type=signal", "type=signal,arg0='comma,type=comma'"},
        {"arg0=escap\\e", "arg0='escap\\e'"},
        {"arg0=Time: 8 o\\'clock", "arg0='Time: 8 o'\\''clock'"},
    };
    for (size_t i = 0; i < std::size(pairs); ++i) {
        MatchRule a = parse_ok(pairs[i].first);
        MatchRule b = parse_ok(pairs[i].second);
        EXPECT_EQ(a, b) << pairs[i].first;
        EXPECT_EQ(a.to_string(), b.to_string()) << pairs[i].first;
        EXPECT_EQ(parse_ok(a.to_string()), a) << a.to_string();  // the text round-trips
        for (size_t j = 0; j < std::size(pairs); ++j) {
            if (j != i) {
                EXPECT_NE(a.to_string(), parse_ok(pairs[j].second).to_string())
                    << pairs[i].first << " vs " << pairs[j].second;
            }
        }
    }
}

TEST(MatchRuleText, CanonicalOrderAndQuoting) {
    MatchRule r = parse_ok(
        "arg2path=/x/,arg0namespace=org.a,eavesdrop=true,destination=:1.2,sender=:1.1,"
        "path_namespace=/p,member=M,interface=org.I,type=error,arg1=it\\'s");
    EXPECT_EQ(r.to_string(),
              "type='error',interface='org.I',member='M',path_namespace='/p',sender=':1.1',"
              "destination=':1.2',eavesdrop='true',arg0namespace='org.a',arg1='it'\\''s',"
              "arg2path='/x/'");
    EXPECT_EQ(parse_ok("eavesdrop=false,member=M").to_string(), "member='M'");
    EXPECT_EQ(parse_ok("").to_string(), "");
}

// ---- evaluation ----------------------------------------------------------------

/* A message as the router sees it: a parsed header and its body. */
struct Message {
    wire::Header header;
    wire::Writer body;
    std::string_view sender = ":1.7";
    const std::function<bool(std::string_view, std::string_view)>* owns = nullptr;

    explicit Message(MessageType type = MessageType::signal) { header.type = type; }

    bool matches(std::string_view rule_text) const {
        MatchRule rule = parse_ok(rule_text);
        MatchInput in{header, body.bytes(), sender, owns};
        MessageArgs args(in);
        return rule_matches(rule, in, args);
    }
};

/* dbus-daemon's message 1: signal Frobated("foobar", int32 3). */
Message frobated() {
    Message m;
    m.header.member = "Frobated";
    m.header.signature = "si";
    m.body.put_string("foobar");
    m.body.put_i32(3);
    return m;
}

TEST(MatchRuleMatch, DbusDaemonMessage1) {
    Message m = frobated();
    for (const char* text : {"", "type='signal'", "member='Frobated'", "arg0='foobar'",
                             "type='signal',member='Frobated'",
                             "type='signal',member='Frobated',arg0='foobar'",
                             "member='Frobated',arg0='foobar'", "type='signal',arg0='foobar'",
                             "arg0path='foobar'", "arg0namespace='foobar'"})
        EXPECT_TRUE(m.matches(text)) << text;
    for (const char* text :
         {"type='method_call'", "type='error'", "type='method_return'",
          "type='signal',member='Oopsed'", "arg0='blah'", "arg1='foobar'", "arg2='foobar'",
          "arg3='foobar'", "arg0='3'", "arg1='3'", "arg0='foobar',arg1='abcdef'",
          "arg0='foobar',arg1='abcdef',arg2='abcdefghi',arg3='abcdefghi',arg4='abcdefghi'",
          "arg0path='foo'", "arg0path='foobar/'", "arg1path='3'", "arg0namespace='foo'",
          "arg0namespace='foo',arg1='abcdef'", "arg0namespace='moo'", "arg63='x'"})
        EXPECT_FALSE(m.matches(text)) << text;
}

TEST(MatchRuleMatch, Arg0Namespace) {
    Message m;
    m.header.member = "NameOwnerChanged";
    m.header.signature = "s";
    m.body.put_string("com.example.backend.foo");
    for (const char* text : {"arg0namespace='com.example.backend'", "arg0namespace='com.example'",
                             "arg0namespace='com'", "arg0namespace='com.example.backend.foo'"})
        EXPECT_TRUE(m.matches(text)) << text;
    for (const char* text :
         {"arg0namespace='com.example.backend.foo.bar'", "arg0namespace='com.example.backend.foobar'",
          "arg0namespace='com.example.backend.fo'", "arg0namespace='com.example.backen'",
          "arg0namespace='com.exampl'", "arg0namespace='co'"})
        EXPECT_FALSE(m.matches(text)) << text;
}

TEST(MatchRuleMatch, ArgPathSpecificationTable) {
    // The specification's arg0path='/aa/bb/' examples.
    auto with_arg0 = [](char type, std::string_view value) {
        Message m;
        m.header.member = "Foo";
        if (type == 's') {
            m.header.signature = "s";
            m.body.put_string(value);
        } else {
            m.header.signature = "o";
            m.body.put_object_path(value);
        }
        return m;
    };
    const char* rule = "arg0path='/aa/bb/'";
    for (const char* s : {"/aa/", "/aa/bb/", "/aa/bb/cc/", "/", "/aa/bb/cc"})
        EXPECT_TRUE(with_arg0('s', s).matches(rule)) << s;
    for (const char* o : {"/", "/aa/bb/cc"})  // the valid object paths among them
        EXPECT_TRUE(with_arg0('o', o).matches(rule)) << o;
    for (const char* s : {"/aa/b", "/aa", "/aa/bb"}) {
        EXPECT_FALSE(with_arg0('s', s).matches(rule)) << s;
        EXPECT_FALSE(with_arg0('o', s).matches(rule)) << s;
    }
    // An empty string arg is a prefix of everything but does not end in '/'.
    EXPECT_FALSE(with_arg0('s', "").matches(rule));
    EXPECT_TRUE(with_arg0('s', "").matches("arg0path=''"));
    // argN (not path) never matches an object path.
    EXPECT_FALSE(with_arg0('o', "/aa").matches("arg0='/aa'"));
    EXPECT_TRUE(with_arg0('s', "/aa").matches("arg0='/aa'"));
}

TEST(MatchRuleMatch, OnlyStringArgsCount) {
    Message m;
    m.header.member = "M";
    m.header.signature = "ayvsg";
    auto a = m.body.begin_array(1);
    m.body.put_byte('x');
    m.body.end_array(a);
    m.body.begin_variant("s");
    m.body.put_string("inner");
    m.body.put_string("third");
    m.body.put_signature("s");
    EXPECT_FALSE(m.matches("arg0='x'"));
    EXPECT_FALSE(m.matches("arg1='inner'"));  // a variant holding a string is not a string
    EXPECT_TRUE(m.matches("arg2='third'"));
    EXPECT_FALSE(m.matches("arg3='s'"));  // a signature is not a string either
    EXPECT_FALSE(m.matches("arg4='s'"));
}

TEST(MatchRuleMatch, MalformedBodyHasNoFurtherArgs) {
    Message m;
    m.header.member = "M";
    m.header.signature = "ss";
    m.body.put_string("ok");
    m.body.put_u32(100);  // a string length running past the end
    EXPECT_TRUE(m.matches("arg0='ok'"));
    EXPECT_FALSE(m.matches("arg1=''"));
}

TEST(MatchRuleMatch, BigEndianBody) {
    Message m;
    m.header.endian = wire::Endian::big;
    m.header.member = "M";
    m.header.signature = "us";
    const uint8_t bytes[] = {0, 0, 0, 42, 0, 0, 0, 3, 'a', 'b', 'c', 0};
    m.body.put_raw(bytes);
    EXPECT_TRUE(m.matches("arg1='abc'"));
    EXPECT_FALSE(m.matches("arg0='abc'"));
}

TEST(MatchRuleMatch, HeaderKeys) {
    Message m(MessageType::method_call);
    m.header.path = "/org/example/Obj";
    m.header.interface = "org.example.I";
    m.header.member = "Frob";
    m.header.destination = "org.example.Service";
    EXPECT_TRUE(m.matches("interface='org.example.I',member='Frob',path='/org/example/Obj'"));
    EXPECT_FALSE(m.matches("interface='org.example.J'"));
    EXPECT_FALSE(m.matches("member='Frob2'"));
    EXPECT_FALSE(m.matches("path='/org/example'"));
    EXPECT_TRUE(m.matches("destination='org.example.Service'"));
    EXPECT_FALSE(m.matches("destination=':1.3'"));
    EXPECT_TRUE(m.matches("type='method_call'"));

    Message bare;  // no interface, path or destination
    bare.header.member = "Frob";
    EXPECT_FALSE(bare.matches("interface='org.example.I'"));
    EXPECT_FALSE(bare.matches("path='/'"));
    EXPECT_FALSE(bare.matches("path_namespace='/'"));
    EXPECT_FALSE(bare.matches("destination='org.example.Service'"));
}

TEST(MatchRuleMatch, PathNamespace) {
    auto at = [](std::string_view path) {
        Message m;
        m.header.path = path;
        return m;
    };
    for (const char* r : {"path_namespace='/'", "path_namespace='/foo'",
                          "path_namespace='/foo/TheObjectManager'"})
        EXPECT_TRUE(at("/foo/TheObjectManager").matches(r)) << r;
    for (const char* r : {"path_namespace='/bar'", "path_namespace='/bar/TheObjectManager'"})
        EXPECT_FALSE(at("/foo/TheObjectManager").matches(r)) << r;
    EXPECT_TRUE(at("/foo/TheObjectManager/child_object").matches("path_namespace='/foo/TheObjectManager'"));
    EXPECT_FALSE(at("/foo/TheObjectManagerOther").matches("path_namespace='/foo/TheObjectManager'"));
    EXPECT_TRUE(at("/foo/TheObjectManagerOther").matches("path_namespace='/'"));
    EXPECT_TRUE(at("/").matches("path_namespace='/'"));
    EXPECT_FALSE(at("/").matches("path_namespace='/foo/TheObjectManager'"));
}

TEST(MatchRuleMatch, SenderUniqueWellKnownAndDriver) {
    std::function<bool(std::string_view, std::string_view)> owns =
        [](std::string_view name, std::string_view unique) {
            return name == "org.example.Owned" && unique == ":1.7";
        };
    Message m;
    m.header.member = "M";
    m.sender = ":1.7";
    EXPECT_TRUE(m.matches("sender=':1.7'"));
    EXPECT_FALSE(m.matches("sender=':1.8'"));
    EXPECT_FALSE(m.matches("sender='org.example.Owned'"));  // no ownership oracle
    m.owns = &owns;
    EXPECT_TRUE(m.matches("sender='org.example.Owned'"));
    EXPECT_FALSE(m.matches("sender='org.example.Other'"));

    Message from_driver;
    from_driver.sender = "org.freedesktop.DBus";
    from_driver.owns = &owns;
    EXPECT_TRUE(from_driver.matches("sender='org.freedesktop.DBus'"));
    EXPECT_FALSE(from_driver.matches("sender=':1.7'"));
}

TEST(MatchRuleMatch, ArgsAreReadLazilyAndOnce) {
    Message m = frobated();
    MatchInput in{m.header, m.body.bytes(), m.sender, nullptr};
    MessageArgs args(in);
    EXPECT_EQ(args.string_arg(0, false), std::optional<std::string_view>("foobar"));
    EXPECT_EQ(args.string_arg(1, false), std::nullopt);  // int32
    EXPECT_EQ(args.string_arg(0, true), std::optional<std::string_view>("foobar"));
    EXPECT_EQ(args.string_arg(2, false), std::nullopt);  // past the end
    EXPECT_EQ(args.string_arg(64, false), std::nullopt);
    EXPECT_EQ(args.string_arg(0, false), std::optional<std::string_view>("foobar"));
}

}  // namespace
}  // namespace kdbus::daemon
