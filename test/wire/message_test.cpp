/* Messages: framing, full validation, building and forwarding (D-Bus
 * specification, "Message Format") */
#include "wire/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "expect_same_header.hpp"
#include "raw_message.hpp"

using namespace kdbus::wire;
using namespace kdbus::wire::test;

namespace {

const char* parse(const std::vector<uint8_t>& bytes) {
    Header h;
    return parse_message(bytes, h);
}

/* A method call with PATH and MEMBER, plus whatever `more` adds. */
std::vector<uint8_t> call(Endian e, const std::function<void(Raw&)>& more = {},
                          const std::vector<uint8_t>& body = {}) {
    return assemble(e, CALL, 1, [&](Raw& r) {
        r.field_str(PATH, 'o', "/org/example");
        r.field_str(MEMBER, 's', "Frob");
        if (more) more(r);
    }, body);
}

std::vector<uint8_t> body_of(Endian e, const std::function<void(Raw&)>& f) {
    Raw r(e);
    f(r);
    return r.b;
}

/* The header field codes present in a message, in order. */
std::vector<uint8_t> field_codes(std::span<const uint8_t> msg) {
    Reader r(msg.subspan(12), static_cast<Endian>(msg[0]), 12);
    size_t end;
    std::vector<uint8_t> codes;
    if (!r.begin_array(8, end)) return codes;
    while (r.offset() < end) {
        uint8_t code;
        std::string_view sig;
        if (!r.begin_struct() || !r.read_byte(code) || !r.read_signature(sig) || !r.skip_value(sig))
            return {};
        codes.push_back(code);
    }
    return codes;
}

}  // namespace

/* ---- framing ---- */

TEST(MessageLength, ComputesTotal) {
    auto msg = call(Endian::little, {}, body_of(Endian::little, [](Raw& r) { r.u32(5); }));
    const char* error = nullptr;
    EXPECT_EQ(message_length(std::span(msg).first<16>(), max_message_size, &error), msg.size());
    auto big = call(Endian::big, {}, body_of(Endian::big, [](Raw& r) { r.u32(5); }));
    EXPECT_EQ(message_length(std::span(big).first<16>(), max_message_size, &error), big.size());
}

TEST(MessageLength, RejectsBadFixedHeader) {
    auto msg = call(Endian::little);
    const char* error = nullptr;
    auto length = [&](std::vector<uint8_t> m, size_t max = max_message_size) {
        error = nullptr;
        return message_length(std::span(m).first<16>(), max, &error);
    };
    auto bad_endian = msg; bad_endian[0] = 'x';
    EXPECT_EQ(length(bad_endian), 0u);
    EXPECT_NE(error, nullptr);
    auto type0 = msg; type0[1] = 0;
    EXPECT_EQ(length(type0), 0u);
    auto version2 = msg; version2[3] = 2;
    EXPECT_EQ(length(version2), 0u);
    auto unknown_type = msg; unknown_type[1] = 77;  // framing accepts it
    EXPECT_EQ(length(unknown_type), msg.size());
    EXPECT_EQ(length(msg, msg.size()), msg.size());
    EXPECT_EQ(length(msg, msg.size() - 1), 0u);  // over the given max
}

TEST(MessageLength, HeaderArrayLimit) {
    std::vector<uint8_t> head = {'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4};  // 64 MiB
    const char* error = nullptr;
    EXPECT_EQ(message_length(std::span(head).first<16>(), max_message_size, &error),
              16u + 64u * 1024 * 1024);
    head[12] = 1;  // 64 MiB + 1
    EXPECT_EQ(message_length(std::span(head).first<16>(), max_message_size, &error), 0u);
}

TEST(MessageLength, TotalLimitIs128MiB) {
    // 64 MiB of header fields and a body bringing the total to 128 MiB + 8.
    std::vector<uint8_t> head = {'l', 1, 0, 1, 8, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 4};
    const char* error = nullptr;
    EXPECT_EQ(message_length(std::span(head).first<16>(), SIZE_MAX, &error), 0u);
    head[4] = 0;
    head[7] = 0;
    head[6] = 0xff;
    head[5] = 0xff;
    head[4] = 0xf0;  // body 0x00fffff0
    EXPECT_EQ(message_length(std::span(head).first<16>(), SIZE_MAX, &error),
              16u + 64u * 1024 * 1024 + 0xfffff0u);
}

/* ---- parsing ---- */

TEST(ParseMessage, MethodCallFields) {
    MessageBuilder b(MessageType::method_call);
    b.path("/org/example").interface("org.example.Iface").member("Frob")
        .destination("org.example.Service").flags(flag::no_auto_start).unix_fds(2);
    b.body("su").put_string("arg");
    b.body("su").put_u32(7);
    auto msg = b.finish(42);
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.endian, Endian::little);
    EXPECT_EQ(h.type, MessageType::method_call);
    EXPECT_EQ(h.flags, flag::no_auto_start);
    EXPECT_EQ(h.serial, 42u);
    EXPECT_EQ(h.path, "/org/example");
    EXPECT_EQ(h.interface, "org.example.Iface");
    EXPECT_EQ(h.member, "Frob");
    EXPECT_EQ(h.destination, "org.example.Service");
    EXPECT_EQ(h.sender, "");
    EXPECT_EQ(h.signature, "su");
    EXPECT_EQ(h.unix_fds, 2u);
    EXPECT_EQ(h.body_offset % 8, 0u);
    EXPECT_EQ(h.body_offset + h.body_length, msg.size());
    EXPECT_TRUE(h.expects_reply());
    // Views point into the message bytes.
    EXPECT_GE(reinterpret_cast<const uint8_t*>(h.member.data()), msg.data());
    EXPECT_LT(reinterpret_cast<const uint8_t*>(h.member.data()), msg.data() + msg.size());

    Reader body{std::span(msg).subspan(h.body_offset), h.endian};
    std::string_view s;
    uint32_t u;
    ASSERT_TRUE(body.read_string(s));
    ASSERT_TRUE(body.read_u32(u));
    EXPECT_EQ(s, "arg");
    EXPECT_EQ(u, 7u);
}

TEST(ParseMessage, NoReplyExpected) {
    MessageBuilder b(MessageType::method_call);
    b.path("/").member("M").flags(flag::no_reply_expected);
    Header h;
    auto msg = b.finish(1);
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_FALSE(h.expects_reply());
}

TEST(ParseMessage, BigEndianByHand) {
    auto body = body_of(Endian::big, [](Raw& r) {
        r.str("hello");
        r.u64(0x0102030405060708ull);
        size_t a = r.begin_array(8);
        r.align(8); r.str("k"); r.sig("q"); r.u16(0xbeef);
        r.end_array(a);
    });
    auto msg = assemble(Endian::big, SIGNAL, 0x01020304, [](Raw& r) {
        r.field_str(PATH, 'o', "/a/b");
        r.field_str(INTERFACE, 's', "org.example.I");
        r.field_str(MEMBER, 's', "Changed");
        r.field_str(SENDER, 's', ":1.7");
        r.field_sig(SIGNATURE, "sta{sv}");
        r.field_u32(UNIX_FDS, 0);
    }, body);
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.endian, Endian::big);
    EXPECT_EQ(h.type, MessageType::signal);
    EXPECT_EQ(h.serial, 0x01020304u);
    EXPECT_EQ(h.body_length, body.size());
    EXPECT_EQ(h.path, "/a/b");
    EXPECT_EQ(h.interface, "org.example.I");
    EXPECT_EQ(h.sender, ":1.7");
    EXPECT_EQ(h.signature, "sta{sv}");

    Reader rd{std::span(msg).subspan(h.body_offset), Endian::big};
    std::string_view s;
    uint64_t t;
    size_t end;
    uint16_t q;
    ASSERT_TRUE(rd.read_string(s));
    ASSERT_TRUE(rd.read_u64(t));
    ASSERT_TRUE(rd.begin_array(8, end));
    ASSERT_TRUE(rd.begin_struct());
    ASSERT_TRUE(rd.read_string(s));
    ASSERT_TRUE(rd.read_signature(s));
    ASSERT_TRUE(rd.read_u16(q));
    EXPECT_EQ(t, 0x0102030405060708ull);
    EXPECT_EQ(q, 0xbeef);
    EXPECT_TRUE(rd.at_end());
}

TEST(ParseMessage, RejectsWrongLength) {
    auto msg = call(Endian::little);
    auto longer = msg;
    longer.push_back(0);
    EXPECT_NE(parse(longer), nullptr);
    msg.pop_back();
    EXPECT_NE(parse(msg), nullptr);
    EXPECT_NE(parse({'l', 1, 0, 1}), nullptr);
}

TEST(ParseMessage, SerialMustNotBeZero) {
    auto ok = assemble(Endian::little, RETURN, 1, [](Raw& r) { r.field_u32(REPLY_SERIAL, 1); });
    auto zero = assemble(Endian::little, RETURN, 0, [](Raw& r) { r.field_u32(REPLY_SERIAL, 1); });
    EXPECT_EQ(parse(ok), nullptr);
    EXPECT_NE(parse(zero), nullptr);
}

TEST(ParseMessage, ReplySerialMustNotBeZero) {
    auto zero = assemble(Endian::little, RETURN, 1, [](Raw& r) { r.field_u32(REPLY_SERIAL, 0); });
    EXPECT_NE(parse(zero), nullptr);
}

TEST(ParseMessage, UnknownTypeIsAccepted) {
    // Specification: unknown types must be ignored, so they parse; they
    // have no required fields.
    auto msg = assemble(Endian::little, 42, 1, [](Raw&) {});
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(static_cast<uint8_t>(h.type), 42);
}

TEST(ParseMessage, TypeZeroIsInvalid) {
    EXPECT_NE(parse(assemble(Endian::little, 0, 1, [](Raw&) {})), nullptr);
}

struct RequiredCase {
    const char* name;
    uint8_t type;
    std::vector<uint8_t> fields;  // which of the type's fields to include
    bool valid;
};

TEST(ParseMessage, RequiredFieldsPerType) {
    auto add = [](Raw& r, uint8_t code) {
        switch (code) {
        case PATH: r.field_str(PATH, 'o', "/p"); break;
        case INTERFACE: r.field_str(INTERFACE, 's', "a.b"); break;
        case MEMBER: r.field_str(MEMBER, 's', "M"); break;
        case ERROR_NAME: r.field_str(ERROR_NAME, 's', "a.Error"); break;
        case REPLY_SERIAL: r.field_u32(REPLY_SERIAL, 9); break;
        }
    };
    const RequiredCase cases[] = {
        {"call", CALL, {PATH, MEMBER}, true},
        {"call+iface", CALL, {PATH, INTERFACE, MEMBER}, true},
        {"call-path", CALL, {MEMBER}, false},
        {"call-member", CALL, {PATH}, false},
        {"return", RETURN, {REPLY_SERIAL}, true},
        {"return-serial", RETURN, {}, false},
        {"error", ERROR, {ERROR_NAME, REPLY_SERIAL}, true},
        {"error-name", ERROR, {REPLY_SERIAL}, false},
        {"error-serial", ERROR, {ERROR_NAME}, false},
        {"signal", SIGNAL, {PATH, INTERFACE, MEMBER}, true},
        {"signal-path", SIGNAL, {INTERFACE, MEMBER}, false},
        {"signal-iface", SIGNAL, {PATH, MEMBER}, false},
        {"signal-member", SIGNAL, {PATH, INTERFACE}, false},
    };
    for (const auto& c : cases) {
        for (Endian e : {Endian::little, Endian::big}) {
            auto msg = assemble(e, c.type, 1, [&](Raw& r) {
                for (uint8_t f : c.fields) add(r, f);
            });
            EXPECT_EQ(parse(msg) == nullptr, c.valid) << c.name;
        }
    }
}

struct FieldCase {
    const char* name;
    std::function<void(Raw&)> field;
    bool valid;
};

TEST(ParseMessage, HeaderFieldTypesAndSyntax) {
    const FieldCase cases[] = {
        {"interface", [](Raw& r) { r.field_str(INTERFACE, 's', "org.example.I"); }, true},
        {"interface as o", [](Raw& r) { r.field_str(INTERFACE, 'o', "/org"); }, false},
        {"interface syntax", [](Raw& r) { r.field_str(INTERFACE, 's', "noDots"); }, false},
        {"error name as s", [](Raw& r) { r.field_str(ERROR_NAME, 's', "a.E"); }, true},
        {"error name syntax", [](Raw& r) { r.field_str(ERROR_NAME, 's', "a..E"); }, false},
        {"error name as o", [](Raw& r) { r.field_str(ERROR_NAME, 'o', "/a"); }, false},
        {"destination", [](Raw& r) { r.field_str(DESTINATION, 's', "org.example.S"); }, true},
        {"destination unique", [](Raw& r) { r.field_str(DESTINATION, 's', ":1.5"); }, true},
        {"destination syntax", [](Raw& r) { r.field_str(DESTINATION, 's', "1.x"); }, false},
        {"destination with NUL",
         [](Raw& r) { r.field_str(DESTINATION, 's', std::string_view("a.b\0c", 5)); }, false},
        {"interface not ASCII", [](Raw& r) { r.field_str(INTERFACE, 's', "a.\xc3\xa9"); }, false},
        {"destination as o", [](Raw& r) { r.field_str(DESTINATION, 'o', "/x"); }, false},
        {"sender", [](Raw& r) { r.field_str(SENDER, 's', ":1.5"); }, true},
        {"sender syntax", [](Raw& r) { r.field_str(SENDER, 's', ":"); }, false},
        {"sender as o", [](Raw& r) { r.field_str(SENDER, 'o', "/x"); }, false},
        {"reply serial", [](Raw& r) { r.field_u32(REPLY_SERIAL, 3); }, true},
        {"reply serial as s", [](Raw& r) { r.field_str(REPLY_SERIAL, 's', "3"); }, false},
        {"unix fds", [](Raw& r) { r.field_u32(UNIX_FDS, 3); }, true},
        {"unix fds as s", [](Raw& r) { r.field_str(UNIX_FDS, 's', "3"); }, false},
        {"signature as s", [](Raw& r) { r.field_str(SIGNATURE, 's', ""); }, false},
        {"unknown field 128 a{sv}",
         [](Raw& r) {
             r.align(8); r.y(128); r.sig("a{sv}");
             size_t a = r.begin_array(8);
             r.align(8); r.str("Key"); r.sig("u"); r.u32(1);
             r.end_array(a);
         },
         true},
        {"unknown field 200 s", [](Raw& r) { r.field_str(200, 's', "whatever"); }, true},
        {"unknown field with bad string",
         [](Raw& r) { r.field_str(200, 's', "\xff"); }, false},
        {"unknown field with two types",
         [](Raw& r) { r.align(8); r.y(200); r.sig("ss"); r.str("a"); r.str("b"); }, false},
        {"unknown field with invalid type",
         [](Raw& r) { r.align(8); r.y(200); r.sig("a"); r.u32(0); }, false},
        {"field code 0", [](Raw& r) { r.field_str(0, 's', "x"); }, false},
        {"duplicate member", [](Raw& r) { r.field_str(MEMBER, 's', "Other"); }, false},
        {"unix fds 0", [](Raw& r) { r.field_u32(UNIX_FDS, 0); }, true},
    };
    for (const auto& c : cases)
        for (Endian e : {Endian::little, Endian::big})
            EXPECT_EQ(parse(call(e, c.field)) == nullptr, c.valid) << c.name;
}

TEST(ParseMessage, PathAndMemberSyntax) {
    auto with = [](const char* path, const char* member) {
        return assemble(Endian::little, CALL, 1, [&](Raw& r) {
            r.field_str(PATH, 'o', path);
            r.field_str(MEMBER, 's', member);
        });
    };
    EXPECT_EQ(parse(with("/a/b", "M")), nullptr);
    EXPECT_NE(parse(with("/a/", "M")), nullptr);
    EXPECT_NE(parse(with("/a", "1M")), nullptr);
    EXPECT_NE(parse(with("/a", "a.b")), nullptr);
    auto path_as_s = assemble(Endian::little, CALL, 1, [&](Raw& r) {
        r.field_str(PATH, 's', "/a");
        r.field_str(MEMBER, 's', "M");
    });
    EXPECT_NE(parse(path_as_s), nullptr);
}

TEST(ParseMessage, LocalPathAndInterfaceAreReserved) {
    auto signal = [](const char* path, const char* iface) {
        return assemble(Endian::little, SIGNAL, 1, [&](Raw& r) {
            r.field_str(PATH, 'o', path);
            r.field_str(INTERFACE, 's', iface);
            r.field_str(MEMBER, 's', "Disconnected");
        });
    };
    EXPECT_EQ(parse(signal("/org/freedesktop/DBus", "org.freedesktop.DBus")), nullptr);
    EXPECT_NE(parse(signal("/org/freedesktop/DBus/Local", "org.freedesktop.DBus")), nullptr);
    EXPECT_NE(parse(signal("/org/freedesktop/DBus", "org.freedesktop.DBus.Local")), nullptr);
}

TEST(ParseMessage, HeaderPaddingMustBeZero) {
    // PATH "/x" and MEMBER "M": the fields end 4 bytes short of 8-alignment.
    auto msg = call(Endian::little, [](Raw& r) { r.field_str(DESTINATION, 's', "a.b"); });
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    uint32_t fields_length = msg[12] | msg[13] << 8;
    ASSERT_LT(16 + fields_length, h.body_offset) << "test needs header padding";
    msg[16 + fields_length] = 1;
    EXPECT_NE(parse(msg), nullptr);
}

TEST(ParseMessage, BodyMustMatchSignature) {
    for (Endian e : {Endian::little, Endian::big}) {
        auto sig = [](const char* s) { return [s](Raw& r) { r.field_sig(SIGNATURE, s); }; };
        auto u32_body = body_of(e, [](Raw& r) { r.u32(1); });
        auto su_body = body_of(e, [](Raw& r) { r.str("x"); r.u32(1); });
        EXPECT_EQ(parse(call(e, sig("u"), u32_body)), nullptr);
        EXPECT_EQ(parse(call(e, sig("su"), su_body)), nullptr);
        EXPECT_NE(parse(call(e, sig("uu"), u32_body)), nullptr) << "body too short";
        EXPECT_NE(parse(call(e, sig("s"), su_body)), nullptr) << "body not consumed";
        EXPECT_NE(parse(call(e, sig("y"), u32_body)), nullptr) << "body not consumed";
        EXPECT_NE(parse(call(e, sig("u"), {})), nullptr) << "signature without body";
        EXPECT_NE(parse(call(e, {}, u32_body)), nullptr) << "body without signature";
        EXPECT_NE(parse(call(e, sig("a"), u32_body)), nullptr) << "invalid signature";
        auto bad_bool = body_of(e, [](Raw& r) { r.u32(2); });
        EXPECT_NE(parse(call(e, sig("b"), bad_bool)), nullptr) << "boolean 2";
    }
}

TEST(ParseMessage, EmptySignatureFieldMeansNoBody) {
    EXPECT_EQ(parse(call(Endian::little, [](Raw& r) { r.field_sig(SIGNATURE, ""); })), nullptr);
}

TEST(ParseMessage, SurvivesEveryBitFlipAndTruncation) {
    // Not a validity oracle, a memory-safety one (run under sanitizers):
    // whatever the bytes, parsing returns.
    for (Endian e : {Endian::little, Endian::big}) {
        auto msg = assemble(e, CALL, 7, [](Raw& r) {
            r.field_str(PATH, 'o', "/a/b");
            r.field_str(MEMBER, 's', "M");
            r.field_sig(SIGNATURE, "a{sv}(yd)as");
        }, body_of(e, [](Raw& r) {
            size_t a = r.begin_array(8);
            r.align(8); r.str("k"); r.sig("ay");
            size_t b = r.begin_array(1); r.y(1); r.y(2); r.end_array(b);
            r.end_array(a);
            r.align(8); r.y(3); r.d(1.5);
            size_t c = r.begin_array(4); r.str("x"); r.str("yz"); r.end_array(c);
        }));
        ASSERT_EQ(parse(msg), nullptr);
        unsigned rejected = 0;
        for (size_t i = 0; i < msg.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                auto m = msg;
                m[i] ^= static_cast<uint8_t>(1 << bit);
                rejected += parse(m) != nullptr;
            }
        }
        EXPECT_GT(rejected, msg.size() * 4);  // most corruption is caught
        for (size_t n = 0; n < msg.size(); ++n) {
            std::vector<uint8_t> cut(msg.begin(), msg.begin() + n);
            EXPECT_NE(parse(cut), nullptr);
        }
    }
}

/* ---- forwarding ---- */

class Forward : public ::testing::TestWithParam<Endian> {};

TEST_P(Forward, StripsUnknownFieldsAndReplacesSender) {
    Endian e = GetParam();
    auto body = body_of(e, [](Raw& r) { r.str("payload"); r.u64(77); });
    auto msg = assemble(e, CALL, 5, [](Raw& r) {
        r.field_str(PATH, 'o', "/org/example");
        r.field_str(SENDER, 's', ":1.999");  // forged by the client
        r.align(8); r.y(128); r.sig("a{sv}"); { size_t a = r.begin_array(8); r.end_array(a); }
        r.field_str(MEMBER, 's', "Frob");
        r.field_str(200, 's', "junk");
        r.field_str(INTERFACE, 's', "org.example.I");
        r.field_str(DESTINATION, 's', "org.example.S");
        r.field_sig(SIGNATURE, "st");
        r.field_u32(UNIX_FDS, 1);
    }, body, flag::no_auto_start);
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.sender, ":1.999");

    // Appending after unrelated bytes must not disturb the alignment.
    std::vector<uint8_t> out = {0xaa, 0xbb, 0xcc};
    build_forward_header(h, ":1.5", out);
    ASSERT_EQ((out.size() - 3) % 8, 0u);
    std::vector<uint8_t> forwarded(out.begin() + 3, out.end());
    forwarded.insert(forwarded.end(), msg.begin() + h.body_offset, msg.end());

    Header f;
    ASSERT_EQ(parse_message(forwarded, f), nullptr);
    EXPECT_EQ(f.endian, e);
    EXPECT_EQ(f.type, MessageType::method_call);
    EXPECT_EQ(f.flags, flag::no_auto_start);
    EXPECT_EQ(f.serial, 5u);
    EXPECT_EQ(f.sender, ":1.5");
    EXPECT_EQ(f.path, "/org/example");
    EXPECT_EQ(f.interface, "org.example.I");
    EXPECT_EQ(f.member, "Frob");
    EXPECT_EQ(f.destination, "org.example.S");
    EXPECT_EQ(f.signature, "st");
    EXPECT_EQ(f.unix_fds, 1u);
    EXPECT_EQ(f.body_length, h.body_length);
    EXPECT_EQ(field_codes(forwarded),
              (std::vector<uint8_t>{PATH, INTERFACE, MEMBER, DESTINATION, SENDER, SIGNATURE,
                                    UNIX_FDS}));
}

TEST_P(Forward, ErrorKeepsReplySerialAndErrorName) {
    Endian e = GetParam();
    auto msg = assemble(e, ERROR, 8, [](Raw& r) {
        r.field_str(ERROR_NAME, 's', "org.example.Error.Nope");
        r.field_u32(REPLY_SERIAL, 4);
        r.field_str(DESTINATION, 's', ":1.2");
    });
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    std::vector<uint8_t> out;
    build_forward_header(h, ":1.3", out);
    Header f;
    ASSERT_EQ(parse_message(out, f), nullptr);
    EXPECT_EQ(f.error_name, "org.example.Error.Nope");
    EXPECT_EQ(f.reply_serial, 4u);
    EXPECT_EQ(f.sender, ":1.3");
    EXPECT_EQ(field_codes(out), (std::vector<uint8_t>{ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER}));
}

TEST_P(Forward, AppendsExtraFieldsInTheMessageByteOrder) {
    Endian e = GetParam();
    auto msg = assemble(e, SIGNAL, 3, [](Raw& r) {
        r.field_str(PATH, 'o', "/a");
        r.field_str(INTERFACE, 's', "a.b");
        r.field_str(MEMBER, 's', "C");
        r.field_sig(SIGNATURE, "u");
    }, body_of(e, [](Raw& r) { r.u32(0xabcdef); }));
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);

    // kdbusd's metadata field: (y v) with v = a{sv} {"Pids": (uuu)}.
    Writer meta(e);
    meta.begin_struct();
    meta.put_byte(metadata_field_code);
    meta.begin_variant("a{sv}");
    auto a = meta.begin_array(8);
    meta.begin_struct();
    meta.put_string("Pids");
    meta.begin_variant("(uuu)");
    meta.begin_struct();
    meta.put_u32(10); meta.put_u32(11); meta.put_u32(1);
    meta.end_array(a);

    std::vector<uint8_t> out;
    build_forward_header(h, ":1.4", meta.bytes(), out);
    out.insert(out.end(), msg.begin() + h.body_offset, msg.end());
    Header f;
    ASSERT_EQ(parse_message(out, f), nullptr);
    EXPECT_EQ(f.sender, ":1.4");
    EXPECT_EQ(field_codes(out), (std::vector<uint8_t>{PATH, INTERFACE, MEMBER, SENDER, SIGNATURE,
                                                      metadata_field_code}));
    Reader body{std::span(out).subspan(f.body_offset), e};
    uint32_t u;
    ASSERT_TRUE(body.read_u32(u));
    EXPECT_EQ(u, 0xabcdefu);
}

INSTANTIATE_TEST_SUITE_P(BothByteOrders, Forward, ::testing::Values(Endian::little, Endian::big),
                         [](const auto& info) {
                             return std::string(info.param == Endian::little ? "little" : "big");
                         });

/* ---- building ---- */

TEST(MessageBuilder, DriverReply) {
    MessageBuilder b(MessageType::method_return);
    b.reply_serial(17).destination(":1.5").sender("org.freedesktop.DBus");
    Writer& w = b.body("as");
    auto a = w.begin_array(4);
    w.put_string("org.freedesktop.DBus");
    w.put_string(":1.5");
    w.end_array(a);
    auto msg = b.finish(3);
    Header h;
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(msg[0], 'l');
    EXPECT_EQ(h.type, MessageType::method_return);
    EXPECT_EQ(h.reply_serial, 17u);
    EXPECT_EQ(h.destination, ":1.5");
    EXPECT_EQ(h.sender, "org.freedesktop.DBus");
    EXPECT_EQ(h.signature, "as");
    EXPECT_FALSE(h.expects_reply());
}

TEST(MessageBuilder, Signal) {
    MessageBuilder b(MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameOwnerChanged");
    Writer& w = b.body("sss");
    w.put_string("org.example");
    w.put_string("");
    w.put_string(":1.9");
    Header h;
    auto msg = b.finish(2);
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.member, "NameOwnerChanged");
    EXPECT_EQ(h.body_length, msg.size() - h.body_offset);
}

TEST(MessageBuilder, Error) {
    MessageBuilder b(MessageType::error);
    b.error_name("org.freedesktop.DBus.Error.ServiceUnknown").reply_serial(2);
    b.body("s").put_string("The name is not activatable");
    Header h;
    auto msg = b.finish(4);
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.error_name, "org.freedesktop.DBus.Error.ServiceUnknown");
}

/* The builder keeps views of what it is given: a temporary std::string
 * would dangle before finish(), so it is refused at compile time. */
template <class S>
concept BuilderTakes = requires(MessageBuilder b) { b.destination(std::declval<S>()); };
static_assert(BuilderTakes<const char*>);
static_assert(BuilderTakes<std::string_view>);
static_assert(BuilderTakes<std::string&>);
static_assert(BuilderTakes<const std::string&>);
static_assert(!BuilderTakes<std::string>);
static_assert(!BuilderTakes<std::string&&>);

TEST(MessageBuilder, KeepsViewsUntilFinish) {
    std::string name = ":1.77";
    MessageBuilder b(MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameAcquired");
    b.destination(name);
    b.body("s").put_string(name);
    Header h;
    auto msg = b.finish(1);
    ASSERT_EQ(parse_message(msg, h), nullptr);
    EXPECT_EQ(h.destination, ":1.77");
    EXPECT_NE(static_cast<const void*>(h.destination.data()), static_cast<const void*>(name.data()));
}

/* A buffer whose growth leaves garbage, like the bus's MessageBytes. */
struct DirtyBytes {
    std::vector<uint8_t> b;
    void resize(size_t n) { b.resize(n, 0xaa); }
    uint8_t* data() { return b.data(); }
};

TEST(MessageBuilder, FinishIntoAnyBufferIsFinish) {
    MessageBuilder b(MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameAcquired");
    b.sender("org.freedesktop.DBus").destination(":1.4");
    b.body("s").put_string(":1.4");
    DirtyBytes out;
    out.b.assign(300, 0x55);  // what it held before is replaced
    b.finish_into(9, out);
    EXPECT_EQ(out.b, b.finish(9));  // padding included: zero, not 0xaa
    Header h;
    EXPECT_EQ(parse_message(out.b, h), nullptr);
}

/* ---- reading the header of a message kdbusd built ---- */

TEST(ReadBuiltHeader, MatchesParseMessage) {
    std::vector<std::vector<uint8_t>> built;
    {
        MessageBuilder b(MessageType::method_return);
        b.reply_serial(17).destination(":1.5").sender("org.freedesktop.DBus");
        b.body("s").put_string(":1.5");  // a one-letter signature, the last field
        built.push_back(b.finish(3));
    }
    {
        MessageBuilder b(MessageType::signal);
        b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameOwnerChanged");
        b.sender("org.freedesktop.DBus");
        Writer& w = b.body("sss");
        w.put_string(":1.9");
        w.put_string("");
        w.put_string(":1.9");
        built.push_back(b.finish(2));
    }
    {
        MessageBuilder b(MessageType::error);
        b.error_name("org.freedesktop.DBus.Error.AccessDenied").reply_serial(9).destination(":1.2");
        b.sender("org.freedesktop.DBus").flags(flag::no_auto_start);
        b.body("s").put_string("no");
        built.push_back(b.finish(77));
    }
    {
        MessageBuilder b(MessageType::method_return);
        b.reply_serial(4).unix_fds(2);
        b.body("hh").put_unix_fd(0);
        b.body("hh").put_unix_fd(1);
        built.push_back(b.finish(5));
    }
    {
        MessageBuilder b(MessageType::method_call);
        b.path("/").member("M");  // no body, no signature field
        built.push_back(b.finish(1));
    }
    for (const auto& msg : built) {
        Header parsed, located;
        ASSERT_EQ(parse_message(msg, parsed), nullptr);
        ASSERT_TRUE(read_built_header(msg, located));
        expect_same_header(located, parsed);
    }
}

TEST(ReadBuiltHeader, BigEndian) {
    auto msg = assemble(Endian::big, SIGNAL, 0x01020304, [](Raw& r) {
        r.field_str(PATH, 'o', "/a/b");
        r.field_str(INTERFACE, 's', "org.example.I");
        r.field_str(MEMBER, 's', "Changed");
        r.field_sig(SIGNATURE, "s");
        r.field_u32(REPLY_SERIAL, 0x0a0b0c0d);
    }, body_of(Endian::big, [](Raw& r) { r.str("x"); }));
    Header parsed, located;
    ASSERT_EQ(parse_message(msg, parsed), nullptr);
    ASSERT_TRUE(read_built_header(msg, located));
    expect_same_header(located, parsed);
}

TEST(ReadBuiltHeader, NeverReadsOutOfBounds) {
    // Not a validator, but whatever the bytes, it stays inside them (the
    // sanitizer build checks) and refuses what does not frame.
    MessageBuilder b(MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameAcquired");
    b.sender("org.freedesktop.DBus").destination(":1.4");
    b.body("s").put_string(":1.4");
    const auto msg = b.finish(8);
    Header h;
    for (size_t n = 0; n < msg.size(); ++n) {
        std::vector<uint8_t> cut(msg.begin(), msg.begin() + static_cast<ptrdiff_t>(n));
        EXPECT_FALSE(read_built_header(cut, h)) << "truncated to " << n;
    }
    for (size_t i = 0; i < msg.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            auto flipped = msg;
            flipped[i] ^= static_cast<uint8_t>(1u << bit);
            std::vector<uint8_t> exact(flipped);  // no slack after the message
            (void)read_built_header(exact, h);
        }
    }
    EXPECT_FALSE(read_built_header(std::vector<uint8_t>{}, h));
}

TEST(ReadBuiltHeader, RefusesFieldsTheBuilderDoesNotWrite) {
    auto msg = call(Endian::little, [](Raw& r) { r.field_str(0x80, 's', "extra"); });
    Header parsed, h;
    ASSERT_EQ(parse_message(msg, parsed), nullptr);  // accepted from a peer, ignored
    EXPECT_FALSE(read_built_header(msg, h));
}
