/* SASL server transcripts (D-Bus specification, "Authentication Protocol") */
#include "wire/sasl.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace kdbus::wire;
using State = SaslServer::State;

namespace {

const std::string guid = "0123456789abcdef0123456789abcdef";
const std::string ok_line = "OK " + guid + "\r\n";

SaslServer::Options options(uid_t uid = 1000) {
    SaslServer::Options o;
    o.peer_uid = uid;
    o.guid = guid;
    return o;
}

/* Feeds `input` and returns what the server replied. */
std::string feed(SaslServer& s, std::string_view input, size_t* consumed = nullptr) {
    std::string reply;
    size_t n = s.feed({reinterpret_cast<const uint8_t*>(input.data()), input.size()}, reply);
    if (consumed) *consumed = n;
    return reply;
}

/* "1000" hex-encoded, as clients send their uid. */
const std::string uid1000 = "31303030";

}  // namespace

TEST(Sasl, ExternalWithInitialResponse) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0", 1) + "AUTH EXTERNAL " + uid1000 + "\r\n"), ok_line);
    EXPECT_EQ(s.state(), State::in_progress);
    size_t n;
    EXPECT_EQ(feed(s, "BEGIN\r\n", &n), "");
    EXPECT_EQ(n, 7u);
    EXPECT_EQ(s.state(), State::done);
    EXPECT_FALSE(s.anonymous());
    EXPECT_FALSE(s.unix_fd_negotiated());
}

TEST(Sasl, ExternalWithoutInitialResponseUsesPeerCredentials) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL\r\n", 16)), "DATA\r\n");
    EXPECT_EQ(feed(s, "DATA\r\n"), ok_line);
    feed(s, "BEGIN\r\n");
    EXPECT_EQ(s.state(), State::done);
}

TEST(Sasl, ExternalWithoutInitialResponseThenHexData) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL\r\n", 16)), "DATA\r\n");
    EXPECT_EQ(feed(s, "DATA " + uid1000 + "\r\n"), ok_line);
}

TEST(Sasl, ExternalDataWithWrongUidIsRejected) {
    SaslServer s(options());
    feed(s, std::string("\0AUTH EXTERNAL\r\n", 16));
    EXPECT_EQ(feed(s, "DATA 30\r\n"), "REJECTED EXTERNAL\r\n");
    EXPECT_EQ(s.state(), State::in_progress);
}

TEST(Sasl, WrongUidIsRejectedAndClientMayRetry) {
    SaslServer s(options(1000));
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL 30\r\n", 19)), "REJECTED EXTERNAL\r\n");
    EXPECT_EQ(s.state(), State::in_progress);
    EXPECT_EQ(feed(s, "AUTH EXTERNAL " + uid1000 + "\r\n"), ok_line);
}

TEST(Sasl, MalformedIdentityIsRejected) {
    for (const char* id : {"3", "zz", "2d31", "31303030303030303030303030303030303030303030"}) {
        SaslServer s(options());
        EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL ", 15) + id + "\r\n"), "REJECTED EXTERNAL\r\n")
            << id;
    }
}

TEST(Sasl, UnknownPeerUidIsRejected) {
    SaslServer s(options(static_cast<uid_t>(-1)));
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL\r\n", 16)), "DATA\r\n");
    EXPECT_EQ(feed(s, "DATA\r\n"), "REJECTED EXTERNAL\r\n");
}

TEST(Sasl, RootUid) {
    SaslServer s(options(0));
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL 30\r\n", 19)), ok_line);
}

TEST(Sasl, AnonymousAllowed) {
    auto o = options();
    o.allow_anonymous = true;
    SaslServer s(o);
    EXPECT_EQ(feed(s, std::string("\0AUTH ANONYMOUS 7472616365\r\n", 28)), ok_line);
    feed(s, "BEGIN\r\n");
    EXPECT_EQ(s.state(), State::done);
    EXPECT_TRUE(s.anonymous());
}

TEST(Sasl, AnonymousDenied) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH ANONYMOUS\r\n", 17)), "REJECTED EXTERNAL\r\n");
    EXPECT_FALSE(s.anonymous());
}

TEST(Sasl, RejectedListsEnabledMechanisms) {
    auto o = options();
    o.allow_anonymous = true;
    SaslServer both(o);
    EXPECT_EQ(feed(both, std::string("\0AUTH\r\n", 7)), "REJECTED EXTERNAL ANONYMOUS\r\n");
    o.allow_external = false;
    SaslServer anonymous_only(o);
    EXPECT_EQ(feed(anonymous_only, std::string("\0AUTH EXTERNAL 31\r\n", 19)),
              "REJECTED ANONYMOUS\r\n");
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH DBUS_COOKIE_SHA1 31\r\n", 27)), "REJECTED EXTERNAL\r\n");
}

TEST(Sasl, NegotiateUnixFd) {
    SaslServer s(options());
    feed(s, std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\n");
    EXPECT_EQ(feed(s, "NEGOTIATE_UNIX_FD\r\n"), "AGREE_UNIX_FD\r\n");
    feed(s, "BEGIN\r\n");
    EXPECT_EQ(s.state(), State::done);
    EXPECT_TRUE(s.unix_fd_negotiated());
}

TEST(Sasl, NegotiateUnixFdBeforeOkIsAnError) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0NEGOTIATE_UNIX_FD\r\n", 20)).rfind("ERROR", 0), 0u);
    EXPECT_FALSE(s.unix_fd_negotiated());
    EXPECT_EQ(s.state(), State::in_progress);
}

TEST(Sasl, NegotiateUnixFdOnIncapableTransport) {
    auto o = options();
    o.unix_fd_capable = false;
    SaslServer s(o);
    feed(s, std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\n");
    EXPECT_EQ(feed(s, "NEGOTIATE_UNIX_FD\r\n").rfind("ERROR", 0), 0u);
    feed(s, "BEGIN\r\n");
    EXPECT_EQ(s.state(), State::done);
    EXPECT_FALSE(s.unix_fd_negotiated());
}

TEST(Sasl, CancelRejectsAndRestarts) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH EXTERNAL\r\n", 16)), "DATA\r\n");
    EXPECT_EQ(feed(s, "CANCEL\r\n"), "REJECTED EXTERNAL\r\n");
    // DATA is no longer expected.
    EXPECT_EQ(feed(s, "DATA\r\n").rfind("ERROR", 0), 0u);
    EXPECT_EQ(feed(s, "AUTH EXTERNAL " + uid1000 + "\r\n"), ok_line);
}

TEST(Sasl, CancelAfterOkForgetsTheAuthentication) {
    SaslServer s(options());
    feed(s, std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\n");
    EXPECT_EQ(feed(s, "CANCEL\r\n"), "REJECTED EXTERNAL\r\n");
    feed(s, "BEGIN\r\n");
    EXPECT_EQ(s.state(), State::failed);
}

TEST(Sasl, ClientErrorIsRejected) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0ERROR \"confused\"\r\n", 20)), "REJECTED EXTERNAL\r\n");
    EXPECT_EQ(s.state(), State::in_progress);
}

TEST(Sasl, UnknownCommandIsAnError) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0FROB\r\n", 7)).rfind("ERROR", 0), 0u);
    EXPECT_EQ(s.state(), State::in_progress);
    EXPECT_EQ(feed(s, "auth EXTERNAL\r\n").rfind("ERROR", 0), 0u);  // commands are case-sensitive
}

TEST(Sasl, BeginBeforeOkFails) {
    SaslServer s(options());
    feed(s, std::string("\0BEGIN\r\n", 8));
    EXPECT_EQ(s.state(), State::failed);
}

TEST(Sasl, PipelinedBeginLeavesMessageBytes) {
    SaslServer s(options());
    std::string auth = std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    std::string message("l\x01\x00\x01\x00\x00\x00\x00", 8);
    size_t n;
    EXPECT_EQ(feed(s, auth + message, &n), ok_line + "AGREE_UNIX_FD\r\n");
    EXPECT_EQ(n, auth.size());
    EXPECT_EQ(s.state(), State::done);
    // Nothing more is consumed once done.
    EXPECT_EQ(feed(s, message, &n), "");
    EXPECT_EQ(n, 0u);
}

TEST(Sasl, ByteAtATime) {
    SaslServer s(options());
    std::string input = std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\nBEGIN\r\n";
    std::string reply;
    for (char c : input) {
        ASSERT_EQ(s.state(), State::in_progress);
        EXPECT_EQ(s.feed({reinterpret_cast<const uint8_t*>(&c), 1}, reply), 1u);
    }
    EXPECT_EQ(reply, ok_line);
    EXPECT_EQ(s.state(), State::done);
}

TEST(Sasl, EverySplitIntoTwoReads) {
    // A line that arrives whole is read in place, one split across reads
    // is put together first; both, and a whole line after a split one in
    // the same read, must give the same transcript.
    std::string input = std::string("\0AUTH EXTERNAL ", 15) + uid1000 + "\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    for (size_t cut = 0; cut <= input.size(); ++cut) {
        SaslServer s(options());
        std::string reply;
        size_t first = s.feed({reinterpret_cast<const uint8_t*>(input.data()), cut}, reply);
        EXPECT_EQ(first, cut);
        size_t second = s.feed({reinterpret_cast<const uint8_t*>(input.data()) + cut, input.size() - cut}, reply);
        EXPECT_EQ(second, input.size() - cut) << "cut at " << cut;
        EXPECT_EQ(reply, ok_line + "AGREE_UNIX_FD\r\n") << "cut at " << cut;
        EXPECT_EQ(s.state(), State::done) << "cut at " << cut;
    }
}

TEST(Sasl, MissingNulByteFails) {
    SaslServer s(options());
    feed(s, "AUTH EXTERNAL " + uid1000 + "\r\n");
    EXPECT_EQ(s.state(), State::failed);
}

TEST(Sasl, OverlongLineFails) {
    SaslServer ok(options());
    std::string longest(SaslServer::max_line_length, 'X');
    EXPECT_EQ(feed(ok, std::string("\0", 1) + longest + "\r\n").rfind("ERROR", 0), 0u);
    EXPECT_EQ(ok.state(), State::in_progress);

    SaslServer s(options());
    feed(s, std::string("\0", 1) + longest);
    EXPECT_EQ(s.state(), State::in_progress);  // still within bounds, waiting for CRLF
    feed(s, "XXX");
    EXPECT_EQ(s.state(), State::failed);
}

TEST(Sasl, LineMustEndWithCrLf) {
    SaslServer s(options());
    feed(s, std::string("\0AUTH EXTERNAL 30\n", 18));
    EXPECT_EQ(s.state(), State::failed);
}

TEST(Sasl, TooManyCommandsFail) {
    SaslServer s(options());
    std::string input(1, '\0');
    for (unsigned i = 0; i <= SaslServer::max_commands; ++i) input += "AUTH\r\n";
    feed(s, input);
    EXPECT_EQ(s.state(), State::failed);
}

/* What sd-bus (busctl) sends, all in one write, and GDBus's opening probe. */
TEST(Sasl, SdBusPipelinedTranscript) {
    SaslServer s(options());
    std::string input("\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n", 48);
    size_t n;
    EXPECT_EQ(feed(s, input + "l", &n), "DATA\r\n" + ok_line + "AGREE_UNIX_FD\r\n");
    EXPECT_EQ(n, input.size());
    EXPECT_EQ(s.state(), State::done);
    EXPECT_TRUE(s.unix_fd_negotiated());
}

TEST(Sasl, GDBusProbesMechanisms) {
    SaslServer s(options());
    EXPECT_EQ(feed(s, std::string("\0AUTH\r\n", 7)), "REJECTED EXTERNAL\r\n");
    EXPECT_EQ(feed(s, "AUTH EXTERNAL " + uid1000 + "\r\n"), ok_line);
}
