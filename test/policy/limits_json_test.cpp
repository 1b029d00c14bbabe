// Limits in a kdbus JSON bus policy (policy/limits_json.hpp).
#include "policy/limits_json.hpp"

#include <gtest/gtest.h>

#include "policy/endpoint_policy.hpp"

namespace kdbus::policy {
namespace {

TEST(JsonLimits, AreTakenOutOfThePolicyAndApplied) {
    Limits l;
    std::string rest = take_json_limits(
        R"({"talk": ["org.example.A"], "limits": {"max_match_rules_per_user": 10, "max_message_size": 4096,
            "users": {"1000": {"max_names_per_user": 2, "max_queued_bytes_per_user": 5000000000}}}})",
        l);
    EXPECT_EQ(rest, R"({"talk":["org.example.A"]})");
    EXPECT_EQ(l.max_match_rules_per_user, 10);
    EXPECT_EQ(l.max_message_size, 4096);
    ASSERT_EQ(l.per_uid.size(), 2u);
    EXPECT_EQ(l.per_uid[0].uid, 1000u);
    EXPECT_TRUE(l.per_uid[0].field == &Limits::max_names_per_user);
    EXPECT_EQ(l.per_uid[0].value, 2);
    EXPECT_EQ(l.per_uid[1].value, 5000000000);
}

TEST(JsonLimits, TextWithoutLimitsIsLeftAsItWas) {
    Limits l;
    EXPECT_EQ(take_json_limits(R"({ "see": [] })", l), R"({ "see": [] })");
    EXPECT_EQ(take_json_limits("not json", l), "not json") << "the policy parser reports it";
    EXPECT_TRUE(l.per_uid.empty());
}

TEST(JsonLimits, MistakesAreNamed) {
    Limits l;
    auto error = [&](const char* text) -> std::string {
        try {
            take_json_limits(text, l);
        } catch (const PolicyError& e) {
            return e.what();
        }
        return "(accepted)";
    };
    EXPECT_NE(error(R"({"limits": {"max_bees": 1}})").find("max_bees"), std::string::npos);
    EXPECT_NE(error(R"({"limits": {"auth_timeout": -1}})").find("positive"), std::string::npos);
    EXPECT_NE(error(R"({"limits": {"auth_timeout": 5000000000}})").find("too large"), std::string::npos);
    EXPECT_NE(error(R"({"limits": {"auth_timeout": "10"}})").find("whole number"), std::string::npos);
    EXPECT_NE(error(R"({"limits": []})").find("object"), std::string::npos);
    EXPECT_NE(error(R"({"limits": {"users": {"alice": {}}}})").find("uid"), std::string::npos);
    EXPECT_NE(error(R"({"limits": {"users": {"1000": {"max_message_size": 1}}}})").find("_per_user"),
              std::string::npos);
}

}  // namespace
}  // namespace kdbus::policy
