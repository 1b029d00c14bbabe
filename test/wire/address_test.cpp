/* Server addresses (D-Bus specification, "Server Addresses") */
#include "wire/address.hpp"

#include <gtest/gtest.h>

using namespace kdbus::wire;

TEST(Address, ParsesSeveralAddresses) {
    std::string error;
    auto list = parse_addresses("unix:path=/tmp/x,guid=0123;unix:abstract=foo", &error);
    ASSERT_TRUE(list) << error;
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].transport, "unix");
    EXPECT_EQ((*list)[0].get("path"), "/tmp/x");
    EXPECT_EQ((*list)[0].get("guid"), "0123");
    EXPECT_FALSE((*list)[0].get("abstract"));
    EXPECT_EQ((*list)[1].get("abstract"), "foo");
    ASSERT_EQ((*list)[0].params.size(), 2u);
    EXPECT_EQ((*list)[0].params[0].first, "path");  // in order
}

TEST(Address, Unescapes) {
    auto list = parse_addresses("unix:path=/tmp/a%20b%3d%2C%2c", nullptr);
    ASSERT_TRUE(list);
    EXPECT_EQ((*list)[0].get("path"), "/tmp/a b=,,");
}

TEST(Address, TransportWithoutParameters) {
    auto list = parse_addresses("systemd:", nullptr);
    ASSERT_TRUE(list);
    EXPECT_EQ((*list)[0].transport, "systemd");
    EXPECT_TRUE((*list)[0].params.empty());
}

TEST(Address, EmptyEntriesAreSkipped) {
    auto list = parse_addresses("unix:path=/a;;unix:path=/b;", nullptr);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 2u);
}

TEST(Address, SyntaxErrors) {
    for (const char* bad : {"", ";", "unix", "unix:path", "unix:=x", "unix:path=/a,path=/b",
                            "unix:path=%", "unix:path=%2", "unix:path=%zz", ":path=/a",
                            "unix:path=/a;tcp"}) {
        std::string error;
        EXPECT_FALSE(parse_addresses(bad, &error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(Address, EscapesOutsideTheOptionalSet) {
    EXPECT_EQ(escape_address_value("-0-9AZaz_/.\\*"), "-0-9AZaz_/.\\*");
    EXPECT_EQ(escape_address_value("a=b,c;d e%"), "a%3db%2cc%3bd%20e%25");
    EXPECT_EQ(escape_address_value("\xff"), "%ff");
}

TEST(Address, FormatRoundTrips) {
    Address a{"unix", {{"path", "/run/a b"}, {"guid", "abc"}}};
    std::string text = format_address(a);
    EXPECT_EQ(text, "unix:path=/run/a%20b,guid=abc");
    auto list = parse_addresses(text, nullptr);
    ASSERT_TRUE(list);
    EXPECT_EQ((*list)[0].transport, a.transport);
    EXPECT_EQ((*list)[0].params, a.params);
}
