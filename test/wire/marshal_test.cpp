/* Marshalling: every type in both byte orders, and the validation rules of
 * the Reader (D-Bus specification, "Marshaling (Wire Format)") */
#include "wire/marshal.hpp"

#include <gtest/gtest.h>

#include <string>

#include "raw_message.hpp"

using namespace kdbus::wire;
using kdbus::wire::test::Raw;

namespace {

/* Signature of what encode_all() writes: every type code. */
constexpr std::string_view all_types = "ybnqiuxtdsogha(is)a{sv}vay";

/* Encodes one value of each type, starting 8-aligned. */
void encode_all(Raw& r) {
    r.y(0xab);
    r.u32(1);  // b
    r.u16(static_cast<uint16_t>(-2));
    r.u16(0xfedc);
    r.u32(static_cast<uint32_t>(-3));
    r.u32(0xdeadbeef);
    r.u64(static_cast<uint64_t>(-4));
    r.u64(0x0123456789abcdefull);
    r.d(3.25);
    r.str("héllo");
    r.str("/org/example");
    r.sig("a{sv}");
    r.u32(7);  // h: an fd index
    size_t a = r.begin_array(8);
    r.align(8); r.u32(1); r.str("one");
    r.align(8); r.u32(2); r.str("two");
    r.end_array(a);
    size_t d = r.begin_array(8);
    r.align(8); r.str("k"); r.sig("i"); r.u32(42);
    r.end_array(d);
    r.sig("x");  // v holding an x
    r.u64(99);
    size_t y = r.begin_array(1);
    r.y(1); r.y(2); r.y(3);
    r.end_array(y);
}

void decode_all_and_check(Reader& rd) {
    uint8_t y; bool b; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t;
    double dbl; std::string_view s, o, g; uint32_t h;
    ASSERT_TRUE(rd.read_byte(y)); EXPECT_EQ(y, 0xab);
    ASSERT_TRUE(rd.read_bool(b)); EXPECT_TRUE(b);
    ASSERT_TRUE(rd.read_i16(n)); EXPECT_EQ(n, -2);
    ASSERT_TRUE(rd.read_u16(q)); EXPECT_EQ(q, 0xfedc);
    ASSERT_TRUE(rd.read_i32(i)); EXPECT_EQ(i, -3);
    ASSERT_TRUE(rd.read_u32(u)); EXPECT_EQ(u, 0xdeadbeef);
    ASSERT_TRUE(rd.read_i64(x)); EXPECT_EQ(x, -4);
    ASSERT_TRUE(rd.read_u64(t)); EXPECT_EQ(t, 0x0123456789abcdefull);
    ASSERT_TRUE(rd.read_double(dbl)); EXPECT_EQ(dbl, 3.25);
    ASSERT_TRUE(rd.read_string(s)); EXPECT_EQ(s, "héllo");
    ASSERT_TRUE(rd.read_object_path(o)); EXPECT_EQ(o, "/org/example");
    ASSERT_TRUE(rd.read_signature(g)); EXPECT_EQ(g, "a{sv}");
    ASSERT_TRUE(rd.read_unix_fd(h)); EXPECT_EQ(h, 7u);

    size_t end;
    ASSERT_TRUE(rd.begin_array(8, end));
    std::vector<std::pair<int32_t, std::string_view>> items;
    while (rd.offset() < end) {
        ASSERT_TRUE(rd.begin_struct());
        ASSERT_TRUE(rd.read_i32(i));
        ASSERT_TRUE(rd.read_string(s));
        items.emplace_back(i, s);
    }
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1].first, 2);
    EXPECT_EQ(items[1].second, "two");

    ASSERT_TRUE(rd.begin_array(8, end));
    ASSERT_TRUE(rd.begin_struct());
    ASSERT_TRUE(rd.read_string(s)); EXPECT_EQ(s, "k");
    ASSERT_TRUE(rd.read_signature(g)); EXPECT_EQ(g, "i");
    ASSERT_TRUE(rd.read_i32(i)); EXPECT_EQ(i, 42);
    EXPECT_EQ(rd.offset(), end);

    ASSERT_TRUE(rd.read_signature(g)); EXPECT_EQ(g, "x");
    ASSERT_TRUE(rd.read_i64(x)); EXPECT_EQ(x, 99);

    ASSERT_TRUE(rd.begin_array(1, end));
    EXPECT_EQ(end - rd.offset(), 3u);
    ASSERT_TRUE(rd.read_byte(y));
    EXPECT_EQ(y, 1);
}

/* A reader over hand-made little-endian bytes. */
Reader le(const std::vector<uint8_t>& bytes) { return Reader(bytes, Endian::little); }

}  // namespace

class RoundTrip : public ::testing::TestWithParam<Endian> {};

TEST_P(RoundTrip, EveryTypeReadsBack) {
    Raw r(GetParam());
    encode_all(r);
    Reader rd(r.b, GetParam());
    decode_all_and_check(rd);
    EXPECT_FALSE(rd.failed());
}

TEST_P(RoundTrip, EveryTypeValidates) {
    Raw r(GetParam());
    encode_all(r);
    Reader rd(r.b, GetParam());
    EXPECT_TRUE(rd.skip_all(all_types));
    EXPECT_TRUE(rd.at_end());
}

TEST_P(RoundTrip, WrongByteOrderFailsValidation) {
    // The string length read in the other byte order is far too large.
    Raw r(GetParam());
    r.str("abc");
    Reader rd(r.b, GetParam() == Endian::little ? Endian::big : Endian::little);
    EXPECT_FALSE(rd.skip_all("s"));
}

INSTANTIATE_TEST_SUITE_P(BothByteOrders, RoundTrip, ::testing::Values(Endian::little, Endian::big),
                         [](const auto& info) {
                             return std::string(info.param == Endian::little ? "little" : "big");
                         });

class WriterEncoding : public ::testing::TestWithParam<Endian> {};

TEST_P(WriterEncoding, MatchesIndependentEncoder) {
    Writer w(GetParam());
    w.put_byte(0xab);
    w.put_bool(true);
    w.put_i16(-2);
    w.put_u16(0xfedc);
    w.put_i32(-3);
    w.put_u32(0xdeadbeef);
    w.put_i64(-4);
    w.put_u64(0x0123456789abcdefull);
    w.put_double(3.25);
    w.put_string("héllo");
    w.put_object_path("/org/example");
    w.put_signature("a{sv}");
    w.put_unix_fd(7);
    auto a = w.begin_array(8);
    w.begin_struct(); w.put_i32(1); w.put_string("one");
    w.begin_struct(); w.put_i32(2); w.put_string("two");
    w.end_array(a);
    auto d = w.begin_array(8);
    w.begin_struct(); w.put_string("k"); w.begin_variant("i"); w.put_i32(42);
    w.end_array(d);
    w.begin_variant("x");
    w.put_i64(99);
    auto y = w.begin_array(1);
    const uint8_t three[] = {1, 2, 3};
    w.put_raw(three);
    w.end_array(y);

    Raw r(GetParam());
    encode_all(r);
    EXPECT_EQ(w.bytes(), r.b);
}

INSTANTIATE_TEST_SUITE_P(BothByteOrders, WriterEncoding,
                         ::testing::Values(Endian::little, Endian::big), [](const auto& info) {
                             return std::string(info.param == Endian::little ? "little" : "big");
                         });

TEST(Writer, DefaultIsLittleEndian) {
    Writer w;
    w.put_u32(0x01020304);
    EXPECT_EQ(w.bytes(), (std::vector<uint8_t>{4, 3, 2, 1}));
}

TEST(Writer, EmptyArrayKeepsElementPadding) {
    Writer w;
    auto a = w.begin_array(8);
    w.end_array(a);
    EXPECT_EQ(w.bytes(), (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Reader, PaddingMustBeZero) {
    std::vector<uint8_t> ok = {1, 0, 0, 0, 5, 0, 0, 0};
    std::vector<uint8_t> bad = {1, 0, 1, 0, 5, 0, 0, 0};
    EXPECT_TRUE(le(ok).skip_all("yu"));
    EXPECT_FALSE(le(bad).skip_all("yu"));
}

TEST(Reader, AlignmentIsRelativeToBase) {
    // With base 4, offset 0 is 4 mod 8: a u64 needs four bytes of padding.
    std::vector<uint8_t> bytes = {0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
    Reader rd(bytes, Endian::little, 4);
    uint64_t v;
    ASSERT_TRUE(rd.read_u64(v));
    EXPECT_EQ(v, 9u);
}

TEST(Reader, BooleansAreZeroOrOne) {
    EXPECT_TRUE(le({0, 0, 0, 0}).skip_all("b"));
    EXPECT_TRUE(le({1, 0, 0, 0}).skip_all("b"));
    EXPECT_FALSE(le({2, 0, 0, 0}).skip_all("b"));
    bool v;
    const std::vector<uint8_t> two_as_u32 = {0, 1, 0, 0};
    auto rd = le(two_as_u32);
    EXPECT_FALSE(rd.read_bool(v));
    EXPECT_TRUE(rd.failed());
    // Boolean arrays are checked element by element.
    EXPECT_TRUE(le({8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}).skip_all("ab"));
    EXPECT_FALSE(le({8, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0}).skip_all("ab"));
}

TEST(Reader, StringsMustBeNulTerminated) {
    EXPECT_TRUE(le({2, 0, 0, 0, 'h', 'i', 0}).skip_all("s"));
    EXPECT_FALSE(le({2, 0, 0, 0, 'h', 'i', 'x'}).skip_all("s"));
    EXPECT_FALSE(le({2, 0, 0, 0, 'h', 'i'}).skip_all("s"));  // truncated
}

TEST(Reader, StringsHaveNoInteriorNul) {
    EXPECT_FALSE(le({3, 0, 0, 0, 'h', 0, 'i', 0}).skip_all("s"));
}

TEST(Reader, StringsAreUtf8) {
    EXPECT_TRUE(le({2, 0, 0, 0, 0xc3, 0xa9, 0}).skip_all("s"));
    EXPECT_FALSE(le({2, 0, 0, 0, 0xc3, 0x28, 0}).skip_all("s"));
    EXPECT_FALSE(le({2, 0, 0, 0, 0xc0, 0x80, 0}).skip_all("s"));  // overlong NUL
}

TEST(Reader, ObjectPathsAreValidated) {
    EXPECT_TRUE(le({2, 0, 0, 0, '/', 'a', 0}).skip_all("o"));
    EXPECT_FALSE(le({2, 0, 0, 0, 'a', '/', 0}).skip_all("o"));
    EXPECT_FALSE(le({0, 0, 0, 0, 0}).skip_all("o"));
}

TEST(Reader, SignaturesAreValidated) {
    EXPECT_TRUE(le({2, 'a', 's', 0}).skip_all("g"));
    EXPECT_TRUE(le({0, 0}).skip_all("g"));  // the empty signature is valid
    EXPECT_FALSE(le({1, 'a', 0}).skip_all("g"));
    EXPECT_FALSE(le({2, 'a', 's', 'x'}).skip_all("g"));
}

TEST(Reader, ArrayLengthLimit) {
    Raw ok(Endian::little);
    ok.u32(64u * 1024 * 1024);
    ok.b.resize(ok.b.size() + 64u * 1024 * 1024);
    EXPECT_TRUE(le(ok.b).skip_all("ay"));
    // One more byte is over the specification's 64 MiB, even with the data present.
    Raw over(Endian::little);
    over.u32(64u * 1024 * 1024 + 1);
    over.b.resize(over.b.size() + 64u * 1024 * 1024 + 1);
    EXPECT_FALSE(le(over.b).skip_all("ay"));
}

TEST(Reader, ArrayLengthBeyondDataFails) {
    EXPECT_FALSE(le({8, 0, 0, 0, 1, 2, 3}).skip_all("ay"));
}

TEST(Reader, ArraysHoldWholeElements) {
    EXPECT_TRUE(le({8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}).skip_all("au"));
    EXPECT_FALSE(le({6, 0, 0, 0, 1, 0, 0, 0, 2, 0}).skip_all("au"));
    // A variable-size element running past the array's end.
    Raw r(Endian::little);
    size_t a = r.begin_array(4);
    r.str("abc");
    r.end_array(a);
    r.patch_u32(0, 5);  // the string takes 8 bytes
    EXPECT_FALSE(le(r.b).skip_all("asy"));
}

TEST(Reader, EmptyArrayPaddingIsChecked) {
    // "a(i)" empty: length 0, then padding to 8 even with no element.
    EXPECT_TRUE(le({0, 0, 0, 0, 0, 0, 0, 0}).skip_all("a(i)"));
    EXPECT_FALSE(le({0, 0, 0, 0, 0, 0, 7, 0}).skip_all("a(i)"));
}

TEST(Reader, VariantNeedsExactlyOneType) {
    EXPECT_TRUE(le({1, 'y', 0, 5}).skip_all("v"));
    EXPECT_FALSE(le({0, 0}).skip_all("v"));
    EXPECT_FALSE(le({2, 'y', 'y', 0, 5, 6}).skip_all("v"));
    EXPECT_FALSE(le({1, 'a', 0, 0, 0, 0, 0}).skip_all("v"));
}

namespace {
/* `depth` variants, each holding the next, the innermost a byte. */
std::vector<uint8_t> nested_variants(unsigned depth) {
    Raw r(Endian::little);
    for (unsigned i = 0; i < depth; ++i) r.sig("v");
    r.b.back() = 0;
    r.b[r.b.size() - 2] = 'y';  // the last signature says "y"
    r.y(1);
    return r.b;
}
}  // namespace

TEST(Reader, VariantNestingCountsTowardsTotalDepth) {
    EXPECT_TRUE(le(nested_variants(64)).skip_all("v"));
    EXPECT_FALSE(le(nested_variants(65)).skip_all("v"));
    // 32 arrays in the signature plus 32 variants inside them is the limit.
    Raw r(Endian::little);
    std::vector<size_t> at;
    for (int i = 0; i < 32; ++i) at.push_back(r.begin_array(i == 31 ? 1 : 4));
    for (int i = 0; i < 32; ++i) r.sig(i == 31 ? "y" : "v");
    r.y(1);
    for (int i = 31; i >= 0; --i) r.end_array(at[i]);
    EXPECT_TRUE(le(r.b).skip_all(std::string(32, 'a') + "v"));
    Raw deeper(Endian::little);
    at.clear();
    for (int i = 0; i < 32; ++i) at.push_back(deeper.begin_array(i == 31 ? 1 : 4));
    for (int i = 0; i < 33; ++i) deeper.sig(i == 32 ? "y" : "v");
    deeper.y(1);
    for (int i = 31; i >= 0; --i) deeper.end_array(at[i]);
    EXPECT_FALSE(le(deeper.b).skip_all(std::string(32, 'a') + "v"));
}

TEST(Reader, SkipAllRequiresEveryByteConsumed) {
    EXPECT_TRUE(le({1, 0, 0, 0}).skip_all("u"));
    EXPECT_FALSE(le({1, 0, 0, 0, 0}).skip_all("u"));
    EXPECT_FALSE(le({1, 0, 0}).skip_all("u"));
    EXPECT_FALSE(le({1, 0, 0, 0}).skip_all("a"));  // invalid signature
}

TEST(Reader, SkipValueLeavesTheRest) {
    const std::vector<uint8_t> bytes = {3, 0, 0, 0, 'a', 'b', 'c', 0, 9};
    auto rd = le(bytes);
    EXPECT_TRUE(rd.skip_value("s"));
    EXPECT_EQ(rd.offset(), 8u);
    uint8_t y = 0;
    EXPECT_TRUE(rd.read_byte(y));
    EXPECT_EQ(y, 9);
    EXPECT_FALSE(rd.skip_value("ss"));  // not a single complete type
}

TEST(Reader, FailureIsSticky) {
    const std::vector<uint8_t> bytes = {2, 0, 0, 0, 1, 0, 0, 0};
    auto rd = le(bytes);
    bool b;
    uint32_t u;
    EXPECT_FALSE(rd.read_bool(b));
    EXPECT_FALSE(rd.read_u32(u));
}
