/* Names, paths and signatures (D-Bus specification, "Valid Names",
 * "Valid Signatures") */
#include "wire/syntax.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace kdbus::wire;

TEST(Signature, ValidSignatures) {
    for (const char* s : {"", "y", "bnqiuxtdsogh", "v", "as", "a{sv}", "a{s(ii)}", "(i)",
                          "(ia(sv))", "aay", "a{oa{sa{sv}}}", "a(yv)", "a{yv}a{gs}"})
        EXPECT_TRUE(is_valid_signature(s)) << s;
}

TEST(Signature, InvalidSignatures) {
    for (const char* s : {"z", "a", "aa", "()", "(", ")", "(i", "i)", "{sv}", "a{}", "a{s}",
                          "a{svv}", "a{vs}", "a{(i)s}", "a{as s}", "a{ass}", "(i}", "a{s)",
                          "a{sv)", "(a{sv}}", "r", "e", "m", "*", "?", "@", "&", "^"})
        EXPECT_FALSE(is_valid_signature(s)) << s;
}

TEST(Signature, LengthLimit) {
    EXPECT_TRUE(is_valid_signature(std::string(255, 'y')));
    EXPECT_FALSE(is_valid_signature(std::string(256, 'y')));
}

TEST(Signature, ArrayNestingLimit) {
    EXPECT_TRUE(is_valid_signature(std::string(32, 'a') + "y"));
    EXPECT_FALSE(is_valid_signature(std::string(33, 'a') + "y"));
}

TEST(Signature, StructNestingLimit) {
    EXPECT_TRUE(is_valid_signature(std::string(32, '(') + "y" + std::string(32, ')')));
    EXPECT_FALSE(is_valid_signature(std::string(33, '(') + "y" + std::string(33, ')')));
}

TEST(Signature, DictEntriesCountAsStructs) {
    // 31 structs around one dict entry is 32; one more struct is too many.
    EXPECT_TRUE(is_valid_signature(std::string(31, '(') + "a{sy}" + std::string(31, ')')));
    EXPECT_FALSE(is_valid_signature(std::string(32, '(') + "a{sy}" + std::string(32, ')')));
}

TEST(Signature, SingleCompleteType) {
    EXPECT_TRUE(is_valid_single_type("a{sv}"));
    EXPECT_TRUE(is_valid_single_type("(ii)"));
    EXPECT_FALSE(is_valid_single_type(""));
    EXPECT_FALSE(is_valid_single_type("ii"));
    EXPECT_FALSE(is_valid_single_type("a"));
}

TEST(Signature, SingleTypeLength) {
    EXPECT_EQ(single_type_length("a{sv}i"), 5u);
    EXPECT_EQ(single_type_length("i"), 1u);
    EXPECT_EQ(single_type_length("aa(i(ss))y"), 9u);
    EXPECT_EQ(single_type_length("as"), 2u);
}

TEST(Signature, Alignment) {
    EXPECT_EQ(type_alignment('y'), 1u);
    EXPECT_EQ(type_alignment('g'), 1u);
    EXPECT_EQ(type_alignment('v'), 1u);
    EXPECT_EQ(type_alignment('n'), 2u);
    EXPECT_EQ(type_alignment('q'), 2u);
    for (char c : std::string("biuhsoa")) EXPECT_EQ(type_alignment(c), 4u) << c;
    for (char c : std::string("xtd({")) EXPECT_EQ(type_alignment(c), 8u) << c;
}

TEST(Signature, TypeClasses) {
    for (char c : std::string("ybnqiuxtdsogh")) EXPECT_TRUE(is_basic_type(c)) << c;
    for (char c : std::string("va({)}\0", 7)) EXPECT_FALSE(is_basic_type(c)) << c;
    EXPECT_TRUE(is_fixed_type('h'));
    EXPECT_FALSE(is_fixed_type('s'));
    EXPECT_FALSE(is_fixed_type('\0'));
}

TEST(ObjectPath, Syntax) {
    for (const char* p : {"/", "/a", "/org/freedesktop/DBus", "/_1/a_B"})
        EXPECT_TRUE(is_valid_object_path(p)) << p;
    for (const char* p : {"", "a", "//", "/a/", "/a//b", "/a-b", "/a.b", "/ä", "a/b"})
        EXPECT_FALSE(is_valid_object_path(p)) << p;
}

TEST(InterfaceName, Syntax) {
    for (const char* n : {"org.freedesktop.DBus", "a.b", "_a._1", "A.B9"})
        EXPECT_TRUE(is_valid_interface_name(n)) << n;
    for (const char* n : {"", "a", ".a.b", "a.b.", "a..b", "a.1b", "a.b-c", "a.b:c", ":1.2"})
        EXPECT_FALSE(is_valid_interface_name(n)) << n;
    EXPECT_TRUE(is_valid_interface_name("a." + std::string(253, 'b')));
    EXPECT_FALSE(is_valid_interface_name("a." + std::string(254, 'b')));
}

TEST(ErrorName, Syntax) {
    EXPECT_TRUE(is_valid_error_name("org.freedesktop.DBus.Error.Failed"));
    EXPECT_FALSE(is_valid_error_name("Failed"));
}

TEST(MemberName, Syntax) {
    for (const char* n : {"Hello", "_x", "a1"}) EXPECT_TRUE(is_valid_member_name(n)) << n;
    for (const char* n : {"", "1a", "a.b", "a-b", "a b"}) EXPECT_FALSE(is_valid_member_name(n)) << n;
    EXPECT_TRUE(is_valid_member_name(std::string(255, 'm')));
    EXPECT_FALSE(is_valid_member_name(std::string(256, 'm')));
}

TEST(BusName, Syntax) {
    for (const char* n : {":1.42", ":a.b", ":1-2.3_4", "org.example.Foo", "a-b.c", "_.-"})
        EXPECT_TRUE(is_valid_bus_name(n)) << n;
    for (const char* n : {"", ":", ":1", ":1..2", "a", "a.1b", ".a.b", "a.b.", "a.b$", ":1.2.",
                          "org.example.Foo:1"})
        EXPECT_FALSE(is_valid_bus_name(n)) << n;
    EXPECT_TRUE(is_valid_unique_name(":1.42"));
    EXPECT_FALSE(is_valid_unique_name("org.example"));
    EXPECT_TRUE(is_valid_well_known_name("org.example"));
    EXPECT_FALSE(is_valid_well_known_name(":1.42"));
    EXPECT_TRUE(is_valid_bus_name("a." + std::string(253, 'b')));
    EXPECT_FALSE(is_valid_bus_name("a." + std::string(254, 'b')));
    EXPECT_FALSE(is_valid_bus_name(":1." + std::string(253, '1')));
}

TEST(Utf8, ValidAndInvalid) {
    EXPECT_TRUE(is_valid_utf8("hello, world, a long ASCII run of text"));
    EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
    EXPECT_TRUE(is_valid_utf8("\xef\xbf\xbf"));                                 // U+FFFF
    EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));                             // U+10FFFF
    for (const char* s : {"\x80", "\xc3", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
                          "\xed\xa0\x80",       // surrogate U+D800
                          "\xf0\x80\x80\xaf",   // overlong
                          "\xf4\x90\x80\x80",   // > U+10FFFF
                          "\xf5\x80\x80\x80", "\xff", "abcdefgh\xe2\x82", "\xe2\x28\xa1"})
        EXPECT_FALSE(is_valid_utf8(s)) << s;
}

TEST(Utf8, ValidStringRepairsWhatIsNot) {
    const std::string fffd = "\xef\xbf\xbd";
    for (const char* s : {"", "hello", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "\xef\xbf\xbf"})
        EXPECT_EQ(valid_string(s), s) << "valid text stays as it is";
    EXPECT_EQ(valid_string("itest-\xff\xfe"), "itest-" + fffd + fffd);
    EXPECT_EQ(valid_string(std::string_view("a\0b", 3)), "a" + fffd + "b") << "no NUL in a D-Bus string";
    EXPECT_EQ(valid_string("abcdefgh\xe2\x82"), "abcdefgh" + fffd + fffd) << "a truncated sequence";
    EXPECT_EQ(valid_string("\xed\xa0\x80!"), fffd + fffd + fffd + "!") << "a surrogate";
    EXPECT_EQ(valid_string("\xe2\x28\xa1\xc3\xa9"), fffd + "(" + fffd + "\xc3\xa9");
    for (const char* s : {"\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff"})
        EXPECT_TRUE(is_valid_utf8(valid_string(s))) << s;
}
