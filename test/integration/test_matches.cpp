// Match rules over real sockets: every key of the D-Bus match rule grammar,
// RemoveMatch, duplicate rules, and the MatchRuleInvalid/MatchRuleNotFound
// errors.
//
// Delivery is checked without sleeping: after the signals under test, every
// sending peer unicasts a sentinel signal to the receiver. The bus keeps each
// sender's messages in order, so once all sentinels have arrived every
// signal that was going to be delivered has been.
#include <map>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr const char* kIface = "com.example.Itest";
constexpr const char* kPath = "/com/example/Itest";

// One signal a test sends: from which peer, how (returns the cookie), and a
// label reported when the receiver gets it.
struct Emission {
  SdBusPeer* from;
  std::function<uint64_t(SdBusPeer&)> send;
  std::string label;
};

class Matches : public BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    receiver_ = std::make_unique<SdBusPeer>(address());
    emitter_ = std::make_unique<SdBusPeer>(address());
    other_ = std::make_unique<SdBusPeer>(address());
  }

  // Sends the emissions in order, then a sentinel from each sender; returns
  // the labels of the emissions the receiver got, in arrival order.
  std::vector<std::string> delivered(SdBusPeer& receiver, const std::vector<Emission>& emissions) {
    std::map<std::pair<std::string, uint64_t>, std::string> labels;
    std::vector<SdBusPeer*> senders;
    for (const auto& e : emissions) {
      labels[{e.from->unique_name(), e.send(*e.from)}] = e.label;
      if (std::find(senders.begin(), senders.end(), e.from) == senders.end()) senders.push_back(e.from);
    }
    std::map<std::string, uint64_t> sentinels;
    for (auto* s : senders)
      sentinels[s->unique_name()] =
          s->emit(receiver.unique_name().c_str(), "/sentinel", "com.example.Sentinel", "Done");
    size_t sentinels_seen = 0;
    std::vector<std::string> got;
    auto seq = receiver.take_until([&](const Received& r) {
      auto it = sentinels.find(r.sender);
      if (it != sentinels.end() && it->second == r.cookie) ++sentinels_seen;
      return sentinels_seen == sentinels.size();
    });
    EXPECT_EQ(sentinels_seen, sentinels.size()) << "sentinels lost";
    for (const auto& r : seq) {
      auto it = labels.find({r.sender, r.cookie});
      if (it != labels.end()) got.push_back(it->second);
    }
    return got;
  }
  std::vector<std::string> delivered(const std::vector<Emission>& emissions) {
    return delivered(*receiver_, emissions);
  }

  // A broadcast signal from peer with the given path, interface, member and
  // one string argument.
  static Emission signal(SdBusPeer& from, std::string label, std::string path = kPath,
                         std::string iface = kIface, std::string member = "Ping", std::string arg = "x") {
    return {&from,
            [=](SdBusPeer& p) {
              return p.emit(nullptr, path.c_str(), iface.c_str(), member.c_str(), "s", arg.c_str());
            },
            std::move(label)};
  }
  Emission with_arg0(std::string label, std::string arg0) {
    return signal(*emitter_, std::move(label), kPath, kIface, "Ping", std::move(arg0));
  }
  Emission at_path(std::string label, std::string path) {
    return signal(*emitter_, std::move(label), std::move(path));
  }

  void add(const std::string& rule) {
    auto r = receiver_->add_match(rule);
    ASSERT_TRUE(r.ok()) << rule << ": " << r.describe();
  }

  std::unique_ptr<SdBusPeer> receiver_, emitter_, other_;
};

TEST_F(Matches, NoRuleNoBroadcast) {
  EXPECT_THAT(delivered({signal(*emitter_, "ping")}), IsEmpty());
}

TEST_F(Matches, TypeKey) {
  add("type='method_call'");
  EXPECT_THAT(delivered({signal(*emitter_, "as-call")}), IsEmpty());
  add("type='signal'");
  EXPECT_THAT(delivered({signal(*emitter_, "as-signal")}), ElementsAre("as-signal"));
}

TEST_F(Matches, SenderUniqueName) {
  add("sender='" + emitter_->unique_name() + "'");
  EXPECT_THAT(delivered({signal(*other_, "other"), signal(*emitter_, "emitter")}), ElementsAre("emitter"));
}

TEST_F(Matches, SenderWellKnownNameFollowsOwnership) {
  const char* name = "com.example.Itest.Owner";
  add("sender='" + std::string(name) + "'");
  ASSERT_EQ(emitter_->request_name(name).u32(), 1u);
  ASSERT_EQ(other_->request_name(name).u32(), 2u);  // queued
  EXPECT_THAT(delivered({signal(*emitter_, "owner"), signal(*other_, "queued")}), ElementsAre("owner"));
  // The queued peer takes over; the rule now follows it.
  ASSERT_EQ(emitter_->release_name(name).u32(), 1u);
  EXPECT_THAT(delivered({signal(*emitter_, "former"), signal(*other_, "new-owner")}), ElementsAre("new-owner"));
}

TEST_F(Matches, InterfaceKey) {
  add("interface='com.example.Wanted'");
  EXPECT_THAT(delivered({signal(*emitter_, "other", kPath, "com.example.Unwanted"),
                         signal(*emitter_, "wanted", kPath, "com.example.Wanted")}),
              ElementsAre("wanted"));
}

TEST_F(Matches, MemberKey) {
  add("member='Wanted'");
  EXPECT_THAT(delivered({signal(*emitter_, "other", kPath, kIface, "Unwanted"),
                         signal(*emitter_, "wanted", kPath, kIface, "Wanted")}),
              ElementsAre("wanted"));
}

TEST_F(Matches, PathKeyIsExact) {
  add("path='/a/b'");
  EXPECT_THAT(delivered({at_path("exact", "/a/b"), at_path("child", "/a/b/c"), at_path("parent", "/a"),
                         at_path("sibling", "/a/bc")}),
              ElementsAre("exact"));
}

TEST_F(Matches, PathNamespaceKey) {
  add("path_namespace='/a/b'");
  EXPECT_THAT(delivered({at_path("exact", "/a/b"), at_path("child", "/a/b/c"), at_path("parent", "/a"),
                         at_path("sibling", "/a/bc"), at_path("grandchild", "/a/b/c/d")}),
              ElementsAre("exact", "child", "grandchild"));
}

TEST_F(Matches, PathNamespaceRootMatchesAll) {
  add("path_namespace='/'");
  EXPECT_THAT(delivered({at_path("a", "/a"), at_path("root", "/")}), ElementsAre("a", "root"));
}

TEST_F(Matches, DestinationKeyWithEavesdrop) {
  // A signal unicast to another peer is seen only through an eavesdropping
  // rule on its destination (the test configuration allows eavesdropping).
  add("eavesdrop='true',type='signal',destination='" + other_->unique_name() + "'");
  std::string target = other_->unique_name();
  std::string elsewhere = emitter_->unique_name();
  auto unicast = [&](std::string label, std::string to) {
    return Emission{emitter_.get(),
                    [to](SdBusPeer& p) { return p.emit(to.c_str(), kPath, kIface, "Direct", "s", "x"); },
                    std::move(label)};
  };
  EXPECT_THAT(delivered({unicast("to-elsewhere", elsewhere), unicast("to-target", target),
                         signal(*emitter_, "broadcast")}),
              ElementsAre("to-target"));
  // The addressee itself still gets it.
  EXPECT_TRUE(other_->wait_for(is_signal(kIface, "Direct")));
}

TEST_F(Matches, DestinationKeyWithoutEavesdropSeesOnlyOwnTraffic) {
  add("type='signal',destination='" + other_->unique_name() + "'");
  std::string target = other_->unique_name();
  EXPECT_THAT(delivered({Emission{emitter_.get(),
                                  [target](SdBusPeer& p) {
                                    return p.emit(target.c_str(), kPath, kIface, "Direct", "s", "x");
                                  },
                                  "to-other"}}),
              IsEmpty());
}

TEST_F(Matches, Arg0Key) {
  add("arg0='wanted'");
  auto uint_arg = Emission{emitter_.get(), [](SdBusPeer& p) { return p.emit(nullptr, kPath, kIface, "Ping", "u", 7u); },
                           "uint"};
  auto no_arg = Emission{emitter_.get(), [](SdBusPeer& p) { return p.emit(nullptr, kPath, kIface, "Ping"); },
                         "none"};
  EXPECT_THAT(delivered({with_arg0("other", "unwanted"), uint_arg, no_arg, with_arg0("prefix", "wante"),
                         with_arg0("wanted", "wanted")}),
              ElementsAre("wanted"));
}

TEST_F(Matches, Arg1Key) {
  add("arg1='second'");
  auto two = [&](std::string label, const char* a0, const char* a1) {
    return Emission{emitter_.get(),
                    [a0, a1](SdBusPeer& p) { return p.emit(nullptr, kPath, kIface, "Ping", "ss", a0, a1); },
                    std::move(label)};
  };
  EXPECT_THAT(delivered({two("first-only", "second", "x"), two("hit", "x", "second")}), ElementsAre("hit"));
}

TEST_F(Matches, Arg0PathKey) {
  add("arg0path='/aa/bb/'");
  auto object_path = Emission{emitter_.get(),
                              [](SdBusPeer& p) { return p.emit(nullptr, kPath, kIface, "Ping", "o", "/aa/bb/cc"); },
                              "object-path-child"};
  EXPECT_THAT(delivered({with_arg0("child", "/aa/bb/cc"), with_arg0("same", "/aa/bb/"),
                         with_arg0("parent-dir", "/aa/"), with_arg0("no-slash", "/aa/bb"),
                         with_arg0("sibling", "/aa/bbx"), with_arg0("other", "/zz/"), object_path}),
              ElementsAre("child", "same", "parent-dir", "object-path-child"));
}

TEST_F(Matches, Arg0NamespaceKey) {
  add("arg0namespace='com.example'");
  EXPECT_THAT(delivered({with_arg0("exact", "com.example"), with_arg0("child", "com.example.Foo"),
                         with_arg0("sibling", "com.examplex"), with_arg0("parent", "com"),
                         with_arg0("unrelated", "org.example")}),
              ElementsAre("exact", "child"));
}

TEST_F(Matches, KeysCombineWithAnd) {
  add("type='signal',interface='com.example.Itest',member='Ping',path='/a',arg0='x'");
  EXPECT_THAT(delivered({signal(*emitter_, "wrong-path", "/b"), signal(*emitter_, "wrong-member", "/a", kIface, "Pong"),
                         signal(*emitter_, "wrong-arg", "/a", kIface, "Ping", "y"),
                         signal(*emitter_, "all", "/a", kIface, "Ping", "x")}),
              ElementsAre("all"));
}

TEST_F(Matches, OverlappingRulesDeliverOnce) {
  add("interface='com.example.Itest'");
  add("member='Ping'");
  EXPECT_THAT(delivered({signal(*emitter_, "both")}), ElementsAre("both"));
}

TEST_F(Matches, RemoveMatchStopsDelivery) {
  add("member='Ping'");
  EXPECT_THAT(delivered({signal(*emitter_, "before")}), ElementsAre("before"));
  ASSERT_TRUE(receiver_->remove_match("member='Ping'").ok());
  EXPECT_THAT(delivered({signal(*emitter_, "after")}), IsEmpty());
}

TEST_F(Matches, DuplicateRulesAreCounted) {
  add("member='Ping'");
  add("member='Ping'");
  ASSERT_TRUE(receiver_->remove_match("member='Ping'").ok());
  EXPECT_THAT(delivered({signal(*emitter_, "one-left")}), ElementsAre("one-left"));
  ASSERT_TRUE(receiver_->remove_match("member='Ping'").ok());
  EXPECT_THAT(delivered({signal(*emitter_, "none-left")}), IsEmpty());
  EXPECT_EQ(receiver_->remove_match("member='Ping'").error_name, "org.freedesktop.DBus.Error.MatchRuleNotFound");
}

TEST_F(Matches, RemoveMatchNeedsSameRuleNotSameText) {
  // Rules are compared parsed, not as strings.
  add("type='signal',member='Ping'");
  ASSERT_TRUE(receiver_->remove_match("member='Ping',type='signal'").ok());
  EXPECT_THAT(delivered({signal(*emitter_, "removed")}), IsEmpty());
}

TEST_F(Matches, RulesArePerConnection) {
  add("member='Ping'");
  EXPECT_EQ(other_->remove_match("member='Ping'").error_name, "org.freedesktop.DBus.Error.MatchRuleNotFound");
  EXPECT_THAT(delivered({signal(*emitter_, "still")}), ElementsAre("still"));
}

TEST_F(Matches, RemoveUnknownRule) {
  EXPECT_EQ(receiver_->remove_match("type='signal'").error_name, "org.freedesktop.DBus.Error.MatchRuleNotFound");
}

TEST_F(Matches, InvalidRules) {
  for (const char* rule : {"type='nonsense'", "foo='bar'", "arg64='x'", "path='notapath'", "sender='a..b'",
                           "interface='noDots'", "member='a.b'", "path_namespace='/a/'",
                           "type='signal',type='signal'", "eavesdrop='maybe'", "destination='x'",
                           "arg0namespace='a..b'"}) {
    EXPECT_EQ(receiver_->add_match(rule).error_name, "org.freedesktop.DBus.Error.MatchRuleInvalid") << rule;
  }
}

}  // namespace
}  // namespace kdbusd::itest
