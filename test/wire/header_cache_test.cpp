/* HeaderCache: parse_message() with each header's field validation done
 * once per writer. Its answer must be parse_message()'s for every message,
 * whatever came before it. */
#include "wire/header_cache.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "expect_same_header.hpp"
#include "raw_message.hpp"

using namespace kdbus::wire;
using namespace kdbus::wire::test;

namespace {

std::vector<uint8_t> string_body(Endian e, std::string_view s) {
    Raw r(e);
    r.str(s);
    return r.b;
}

/* A proxy's call: every string field, a signature and a body. */
std::vector<uint8_t> call(Endian e, uint32_t serial, std::string_view arg = "ping", uint8_t type = CALL) {
    return assemble(e, type, serial, [](Raw& r) {
        r.field_str(PATH, 'o', "/org/example/Echo");
        r.field_str(INTERFACE, 's', "org.example.Echo");
        r.field_str(MEMBER, 's', "Echo");
        r.field_str(DESTINATION, 's', "org.example.Service");
        r.field_str(SENDER, 's', ":1.7");
        r.field_sig(SIGNATURE, "s");
    }, string_body(e, arg));
}

/* A service's reply to call `reply_serial`. */
std::vector<uint8_t> reply(Endian e, uint32_t serial, uint32_t reply_serial, uint8_t type = RETURN) {
    return assemble(e, type, serial, [&](Raw& r) {
        if (type == ERROR) r.field_str(ERROR_NAME, 's', "org.example.Error.Failed");
        r.field_u32(REPLY_SERIAL, reply_serial);
        r.field_str(DESTINATION, 's', ":1.12");
        r.field_sig(SIGNATURE, "s");
        r.field_u32(UNIX_FDS, 0);
    }, string_body(e, "pong"));
}

/* Whether every non-empty view of `h` points into `bytes`. */
bool views_into(const Header& h, const std::vector<uint8_t>& bytes) {
    auto* begin = reinterpret_cast<const char*>(bytes.data());
    for (std::string_view v : {h.path, h.interface, h.member, h.error_name, h.destination, h.sender, h.signature})
        if (!v.empty() && (v.data() < begin || v.data() + v.size() > begin + bytes.size())) return false;
    return true;
}

std::vector<uint8_t> forward_of(HeaderCache& cache, const std::vector<uint8_t>& bytes, const Header& h,
                                std::string_view sender = ":1.7") {
    std::vector<uint8_t> out;
    cache.forward_header(bytes, h, sender, out);
    return out;
}

std::vector<uint8_t> built_forward(const Header& h, std::string_view sender = ":1.7") {
    std::vector<uint8_t> out;
    build_forward_header(h, sender, out);
    return out;
}

/* What the cache answers for `next` after it has seen `first` (and made
 * its forward header), against parse_message() and build_forward_header()
 * on `next` alone. */
void expect_cache_agrees(const std::vector<uint8_t>& first, const std::vector<uint8_t>& next) {
    HeaderCache cache;
    Header h;
    ASSERT_EQ(cache.parse(first, h), nullptr);
    ASSERT_EQ(forward_of(cache, first, h), built_forward(h));
    Header cached, direct;
    const char* cached_error = cache.parse(next, cached);
    const char* direct_error = parse_message(next, direct);
    ASSERT_EQ(cached_error == nullptr, direct_error == nullptr) << (cached_error ? cached_error : direct_error);
    if (direct_error) {
        EXPECT_STREQ(cached_error, direct_error);
        return;
    }
    expect_same_header(cached, direct);
    EXPECT_TRUE(views_into(cached, next));
    EXPECT_EQ(forward_of(cache, next, cached), built_forward(direct));
}

}  // namespace

TEST(HeaderCache, ARepeatedCallParsesAsParseMessageDoes) {
    for (Endian e : {Endian::little, Endian::big}) {
        HeaderCache cache;
        for (uint32_t serial = 1; serial < 5; ++serial) {
            auto bytes = call(e, serial, std::string(serial, 'x'));
            Header cached, direct;
            ASSERT_EQ(cache.parse(bytes, cached), nullptr);
            ASSERT_EQ(parse_message(bytes, direct), nullptr);
            expect_same_header(cached, direct);
            EXPECT_TRUE(views_into(cached, bytes));
        }
    }
}

TEST(HeaderCache, RepliesDifferingOnlyInReplySerialParseAsParseMessageDoes) {
    for (uint8_t type : {RETURN, ERROR}) {
        HeaderCache cache;
        for (uint32_t serial = 1; serial < 5; ++serial) {
            auto bytes = reply(Endian::little, serial, 1000 + serial, type);
            Header cached;
            ASSERT_EQ(cache.parse(bytes, cached), nullptr);
            EXPECT_EQ(cached.reply_serial, 1000 + serial);
            EXPECT_EQ(cached.serial, serial);
        }
    }
}

TEST(HeaderCache, StillChecksWhatDiffersBetweenMessages) {
    auto first = call(Endian::little, 1);
    expect_cache_agrees(first, call(Endian::little, 0));               // serial 0
    expect_cache_agrees(first, call(Endian::little, 2, "\xff\xfe"));  // a body string not UTF-8
    expect_cache_agrees(first, call(Endian::little, 2, "", SIGNAL));  // a signal needs INTERFACE: has it
    expect_cache_agrees(first, call(Endian::big, 2));
    auto first_reply = reply(Endian::little, 1, 7);
    expect_cache_agrees(first_reply, reply(Endian::little, 2, 0));  // REPLY_SERIAL 0
    expect_cache_agrees(first_reply, reply(Endian::little, 2, 8, ERROR));
    // The same fields as another type that requires more.
    auto bare_call = assemble(Endian::little, CALL, 1, [](Raw& r) {
        r.field_str(PATH, 'o', "/a");
        r.field_str(MEMBER, 's', "M");
    });
    auto bare_signal = bare_call;
    bare_signal[1] = SIGNAL;
    expect_cache_agrees(bare_call, bare_signal);
}

/* The cache against parse_message() for every byte of a message changed
 * to values that matter to the parser, after the unchanged message. */
TEST(HeaderCache, AgreesWithParseMessageForEveryByteChanged) {
    std::vector<std::vector<uint8_t>> messages = {call(Endian::little, 1), call(Endian::big, 1),
                                                  reply(Endian::little, 1, 9), reply(Endian::big, 1, 9, ERROR)};
    for (const auto& first : messages) {
        for (size_t i = 0; i < first.size(); ++i) {
            for (uint8_t value : {0x00, 0x01, 0x2f, 0x2e, 0x41, 0x80, 0xff}) {
                if (first[i] == value) continue;
                auto next = first;
                next[i] = value;
                SCOPED_TRACE("byte " + std::to_string(i) + " = " + std::to_string(value));
                expect_cache_agrees(first, next);
            }
        }
        for (size_t length = 0; length < first.size(); ++length) {
            SCOPED_TRACE("truncated to " + std::to_string(length));
            expect_cache_agrees(first, std::vector<uint8_t>(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(length)));
        }
    }
}

TEST(HeaderCache, HeadersWithUnknownFieldsParseAsParseMessageDoes) {
    auto with_unknown = [](uint32_t serial) {
        return assemble(Endian::little, CALL, serial, [](Raw& r) {
            r.field_str(PATH, 'o', "/a");
            r.field_str(MEMBER, 's', "M");
            r.field_u32(128, 5);
        });
    };
    auto first = with_unknown(1);
    expect_cache_agrees(first, with_unknown(2));
    auto bad = with_unknown(2);
    bad[bad.size() - 4] = 0;  // nothing of an unknown field is checked but its form
    expect_cache_agrees(first, bad);
}

/* The forward header copied from the last one is the one
 * build_forward_header() writes: serials, flags and body lengths differ
 * from message to message, and the sender may change (a connection's
 * unique name is set by Hello). */
TEST(HeaderCache, ForwardHeadersAreTheOnesBuiltFieldByField) {
    for (Endian e : {Endian::little, Endian::big}) {
        HeaderCache calls, returns, errors;
        for (uint32_t serial = 1; serial < 6; ++serial) {
            auto call_bytes = call(e, serial, std::string(serial * 3, 'y'));
            call_bytes[2] = static_cast<uint8_t>(serial & 3);  // flags
            Header h;
            ASSERT_EQ(calls.parse(call_bytes, h), nullptr);
            std::string sender = serial < 3 ? ":1.7" : ":1.8";
            EXPECT_EQ(forward_of(calls, call_bytes, h, sender), built_forward(h, sender));

            for (uint8_t type : {RETURN, ERROR}) {
                HeaderCache& replies = type == RETURN ? returns : errors;
                auto reply_bytes = reply(e, serial, 40 + serial, type);
                ASSERT_EQ(replies.parse(reply_bytes, h), nullptr);
                EXPECT_EQ(forward_of(replies, reply_bytes, h), built_forward(h));
            }
        }
    }
}

/* A header it did not parse last is built in full, and not remembered. */
TEST(HeaderCache, AForwardHeaderOfAnotherMessageIsBuiltInFull) {
    HeaderCache cache;
    auto first = call(Endian::little, 1);
    auto second = call(Endian::little, 2);
    Header h1, h2;
    ASSERT_EQ(cache.parse(first, h1), nullptr);
    ASSERT_EQ(cache.parse(second, h2), nullptr);
    EXPECT_EQ(forward_of(cache, first, h1), built_forward(h1));
    EXPECT_EQ(forward_of(cache, second, h2), built_forward(h2));
    auto third = call(Endian::little, 3);
    Header h3;
    ASSERT_EQ(cache.parse(third, h3), nullptr);
    EXPECT_EQ(forward_of(cache, third, h3), built_forward(h3));
}

/* A header over max_remembered bytes is validated in full every time and
 * is not remembered: after it, neither it nor a corrupted copy of it, nor
 * the short header remembered before it, is taken for another. */
TEST(HeaderCache, HeadersOverTheLimitParseAsParseMessageDoes) {
    auto long_call = [](uint32_t serial, char c) {
        return assemble(Endian::little, CALL, serial, [c](Raw& r) {
            r.field_str(PATH, 'o', "/" + std::string(HeaderCache::max_remembered, c));
            r.field_str(MEMBER, 's', "M");
        });
    };
    HeaderCache cache;
    Header h;
    ASSERT_EQ(cache.parse(call(Endian::little, 1), h), nullptr);
    ASSERT_EQ(cache.parse(long_call(2, 'a'), h), nullptr);
    EXPECT_EQ(h.path.size(), HeaderCache::max_remembered + 1);
    auto bad = long_call(3, 'a');
    bad[100] = '-';  // inside the path: not a valid object path any more
    Header direct;
    ASSERT_NE(parse_message(bad, direct), nullptr);
    EXPECT_STREQ(cache.parse(bad, h), parse_message(bad, direct));
    expect_cache_agrees(long_call(4, 'b'), long_call(5, 'b'));
    auto short_again = call(Endian::little, 6, "\xff");
    EXPECT_STREQ(cache.parse(short_again, h), parse_message(short_again, direct));
}
