/* Match Registry: per-owner dedupe, reference counts, indexing */
#include "daemon/match_registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace kdbus::daemon {
namespace {

using wire::MessageType;

MatchRule rule(std::string_view text) {
    std::string error;
    auto r = MatchRule::parse(text, &error);
    EXPECT_TRUE(r.has_value()) << text << ": " << error;
    return r.value_or(MatchRule{});
}

class MatchRegistryTest : public ::testing::Test {
protected:
    MatchRegistryTest() {
        header.type = MessageType::signal;
        header.path = "/org/example/Obj";
        header.interface = "org.example.I";
        header.member = "Changed";
        header.signature = "s";
        body.put_string("arg");
    }

    /* The owners collect() reports, sorted, plus the raw list's size. */
    std::vector<MatchOwner> collect(bool eavesdrop_only = false) {
        MatchInput in{header, body.bytes(), sender, &owns};
        std::vector<MatchOwner> out;
        reg.collect(in, eavesdrop_only, out);
        raw_size = out.size();
        std::sort(out.begin(), out.end());
        return out;
    }

    MatchRegistry reg;
    wire::Header header;
    wire::Writer body;
    std::string_view sender = ":1.9";
    std::function<bool(std::string_view, std::string_view)> owns =
        [](std::string_view name, std::string_view unique) {
            return name == "org.example.Sender" && unique == ":1.9";
        };
    size_t raw_size = 0;
};

using Owners = std::vector<MatchOwner>;

TEST_F(MatchRegistryTest, EmptyRegistryCollectsNothing) {
    EXPECT_TRUE(collect().empty());
    EXPECT_EQ(reg.total(), 0u);
}

TEST_F(MatchRegistryTest, EachOwnerIsReportedOnce) {
    reg.add(1, rule("member='Changed'"));
    reg.add(1, rule("interface='org.example.I'"));
    reg.add(1, rule("type='signal'"));
    reg.add(1, rule("path='/org/example/Obj'"));
    reg.add(2, rule("sender=':1.9'"));
    reg.add(3, rule("member='Other'"));
    EXPECT_EQ(collect(), (Owners{1, 2}));
    EXPECT_EQ(raw_size, 2u);  // no duplicates before sorting
    // The stamp is per call: the next message reports them again.
    EXPECT_EQ(collect(), (Owners{1, 2}));
}

TEST_F(MatchRegistryTest, EveryIndexedKeyFindsItsRules) {
    reg.add(1, rule("member='Changed'"));
    reg.add(2, rule("interface='org.example.I'"));
    reg.add(3, rule("path='/org/example/Obj'"));
    reg.add(4, rule("sender=':1.9'"));
    reg.add(5, rule("sender='org.example.Sender'"));  // well-known: follows ownership
    reg.add(6, rule("path_namespace='/org'"));
    reg.add(7, rule(""));
    reg.add(8, rule("arg0='arg'"));
    reg.add(9, rule("sender='org.freedesktop.DBus'"));
    reg.add(10, rule("member='Changed',arg0='other'"));  // candidate, but fails
    EXPECT_EQ(collect(), (Owners{1, 2, 3, 4, 5, 6, 7, 8}));

    sender = "org.freedesktop.DBus";
    EXPECT_EQ(collect(), (Owners{1, 2, 3, 6, 7, 8, 9}));
}

TEST_F(MatchRegistryTest, DuplicateRulesAreCounted) {
    reg.add(1, rule("member='Changed'"));
    reg.add(1, rule("member=Changed"));  // equal after parsing
    EXPECT_EQ(reg.count(1), 2u);
    EXPECT_EQ(reg.total(), 2u);
    EXPECT_EQ(reg.rules_of(1), (std::vector<std::string>{"member='Changed'", "member='Changed'"}));
    EXPECT_EQ(collect(), Owners{1});
    EXPECT_EQ(raw_size, 1u);

    EXPECT_TRUE(reg.remove(1, rule("member='Changed'")));
    EXPECT_EQ(reg.count(1), 1u);
    EXPECT_EQ(collect(), Owners{1});  // one reference is left
    EXPECT_TRUE(reg.remove(1, rule("member='Changed'")));
    EXPECT_EQ(reg.count(1), 0u);
    EXPECT_TRUE(collect().empty());
    EXPECT_FALSE(reg.remove(1, rule("member='Changed'")));
    EXPECT_EQ(reg.total(), 0u);
}

TEST_F(MatchRegistryTest, RemoveNeedsTheSameOwnerAndAnEqualRule) {
    reg.add(1, rule("member='Changed'"));
    EXPECT_FALSE(reg.remove(2, rule("member='Changed'")));
    EXPECT_FALSE(reg.remove(1, rule("member='Changed',type='signal'")));
    EXPECT_FALSE(reg.remove(1, rule("member='Changed',eavesdrop='true'")));
    EXPECT_TRUE(reg.remove(1, rule("member=Changed,eavesdrop=false")));
    EXPECT_EQ(reg.total(), 0u);
    EXPECT_TRUE(reg.rules_of(1).empty());
}

TEST_F(MatchRegistryTest, RemoveKeepsTheOtherRulesOfABucket) {
    // Removal swaps with the bucket's last rule: the moved rule must stay found.
    reg.add(1, rule("member='Changed',arg0='x'"));
    reg.add(2, rule("member='Changed',arg0='arg'"));
    reg.add(3, rule("member='Changed'"));
    EXPECT_TRUE(reg.remove(1, rule("member='Changed',arg0='x'")));
    EXPECT_EQ(collect(), (Owners{2, 3}));
    EXPECT_TRUE(reg.remove(3, rule("member='Changed'")));
    EXPECT_EQ(collect(), Owners{2});
    reg.add(4, rule("member='Changed'"));  // the bucket works after shrinking
    EXPECT_EQ(collect(), (Owners{2, 4}));
}

TEST_F(MatchRegistryTest, RemoveAllDropsOnlyThatOwner) {
    reg.add(1, rule("member='Changed'"));
    reg.add(1, rule("member='Changed'"));
    reg.add(1, rule("interface='org.example.I'"));
    reg.add(1, rule(""));
    reg.add(1, rule("eavesdrop=true"));
    reg.add(2, rule("member='Changed'"));
    EXPECT_EQ(reg.total(), 6u);
    reg.remove_all(1);
    EXPECT_EQ(reg.count(1), 0u);
    EXPECT_TRUE(reg.rules_of(1).empty());
    EXPECT_EQ(reg.total(), 1u);
    EXPECT_EQ(collect(), Owners{2});
    EXPECT_TRUE(collect(true).empty());
    reg.remove_all(1);  // nothing left: harmless
    reg.remove_all(99);
    EXPECT_EQ(reg.total(), 1u);
}

TEST_F(MatchRegistryTest, RulesOfListsCanonicalText) {
    reg.add(1, rule("member=B,type=signal"));
    reg.add(1, rule("interface=org.A"));
    reg.add(2, rule("member=C"));
    EXPECT_EQ(reg.rules_of(1),
              (std::vector<std::string>{"interface='org.A'", "type='signal',member='B'"}));
    EXPECT_EQ(reg.count(1), 2u);
    EXPECT_EQ(reg.count(2), 1u);
    EXPECT_EQ(reg.count(3), 0u);
}

TEST_F(MatchRegistryTest, EavesdropOnlyCountsEavesdroppingRules) {
    reg.add(1, rule("member='Changed'"));
    reg.add(2, rule("member='Changed',eavesdrop='true'"));
    reg.add(3, rule("eavesdrop='true'"));
    reg.add(4, rule("eavesdrop='true',member='Other'"));
    EXPECT_EQ(collect(true), (Owners{2, 3}));
    // Eavesdropping rules match broadcasts too.
    EXPECT_EQ(collect(false), (Owners{1, 2, 3}));
}

TEST_F(MatchRegistryTest, OwnerWithBothKindsOfRulesIsReportedOnce) {
    reg.add(1, rule("member='Changed'"));
    reg.add(1, rule("eavesdrop='true'"));
    EXPECT_EQ(collect(false), Owners{1});
    EXPECT_EQ(raw_size, 1u);
}

TEST_F(MatchRegistryTest, RulesThatCannotMatchAreNeverEvaluated) {
    for (int i = 0; i < 10000; ++i)
        reg.add(static_cast<MatchOwner>(100 + i), rule("member='M" + std::to_string(i) + "'"));
    reg.add(1, rule("member='Changed'"));
    EXPECT_EQ(reg.total(), 10001u);

    const uint64_t before = reg.candidates_evaluated();
    EXPECT_EQ(collect(), Owners{1});
    EXPECT_EQ(reg.candidates_evaluated() - before, 1u);

    header.member = "M42";
    const uint64_t before2 = reg.candidates_evaluated();
    EXPECT_EQ(collect(), Owners{142});
    EXPECT_EQ(reg.candidates_evaluated() - before2, 1u);
}

TEST_F(MatchRegistryTest, AlreadyCollectedOwnersAreNotEvaluatedAgain) {
    // Keyed buckets are visited before the unindexed list, so once the
    // member rule has matched, none of the 100 unindexed rules of the same
    // owner needs evaluating.
    reg.add(1, rule("member='Changed'"));
    for (int i = 0; i < 100; ++i)
        reg.add(1, rule("type='signal',arg1='n" + std::to_string(i) + "'"));
    reg.add(2, rule("type='signal'"));
    const uint64_t before = reg.candidates_evaluated();
    EXPECT_EQ(collect(), (Owners{1, 2}));
    EXPECT_EQ(reg.candidates_evaluated() - before, 2u);
}

TEST_F(MatchRegistryTest, EavesdropOnlyLooksAtNoOrdinaryRule) {
    for (int i = 0; i < 1000; ++i)
        reg.add(static_cast<MatchOwner>(i), rule("type='signal'"));
    reg.add(5000, rule("eavesdrop='true'"));
    const uint64_t before = reg.candidates_evaluated();
    EXPECT_EQ(collect(true), Owners{5000});
    EXPECT_EQ(reg.candidates_evaluated() - before, 1u);
}

}  // namespace
}  // namespace kdbus::daemon
