// memfd payloads and the fds a message may carry, over the real daemon
// (KDBUS.md rows "Payload / memfd" and "FDs", test-fd.c; DESIGN.md "memfd
// payloads"): sealed memfds pass and arrive sealed; a receiver that called
// org.kdbusd.Bus1.SetFdPolicy("sealed-memfd-only") gets nothing else, the
// sender gets AccessDenied for a call and a signal is skipped for that
// receiver alone; kdbusd's own sockets are refused as fds; per-message and
// per-sending-user in-flight limits.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBus1 = "org.kdbusd.Bus1";
constexpr const char* kService = "org.example.Blobs";
constexpr const char* kPath = "/org/example/blobs";
constexpr const char* kInterface = "org.example.Blobs";
constexpr unsigned kAllSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A memfd holding `text`, with `seals` added.
Fd make_memfd(const std::string& text, unsigned seals) {
  Fd fd(::memfd_create("kdbusd-test-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_GE(fd.get(), 0);
  EXPECT_EQ(::write(fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  if (seals) {
    EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS, seals), 0);
  }
  return fd;
}

Fd make_pipe_end() {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ::close(p[1]);
  return Fd(p[0]);
}

// A method call to the blob service carrying `fds` as arguments of type h.
MessagePtr blob_call(SdBusPeer& peer, const std::vector<int>& fds, const char* destination = kService) {
  sd_bus_message* m = nullptr;
  EXPECT_GE(sd_bus_message_new_method_call(peer.bus(), &m, destination, kPath, kInterface, "Put"), 0);
  for (int fd : fds) EXPECT_GE(sd_bus_message_append_basic(m, 'h', &fd), 0);
  return MessagePtr(m);
}

std::string read_all(int fd) {
  std::string text(256, '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

class Memfd : public BusTest {
 protected:
  // The service: owns kService, optionally restricted to sealed memfds.
  std::unique_ptr<SdBusPeer> start_service(const char* policy) {
    auto service = std::make_unique<SdBusPeer>(address());
    if (policy) {
      auto r = service->call(kDriverName, kDriverPath, kBus1, "SetFdPolicy", "s", policy);
      EXPECT_TRUE(r.ok()) << r.describe();
    }
    EXPECT_EQ(service->request_name(kService).u32(), 1u);
    return service;
  }

  // The next method call the service receives, or nothing within timeout.
  static std::optional<Received> next_call(SdBusPeer& service, milliseconds timeout = milliseconds(5000)) {
    return service.wait_for(is_method_call("Put"), timeout);
  }
};

TEST_F(Memfd, SealedMemfdReachesSealedOnlyReceiverStillSealed) {
  auto service = start_service("sealed-memfd-only");
  SdBusPeer client(address());
  Fd blob = make_memfd("sealed payload", kAllSeals);
  uint64_t cookie = client.send_message(blob_call(client, {blob.get()}));

  auto call = next_call(*service);
  ASSERT_TRUE(call) << "the sealed memfd did not arrive";
  int received = -1;
  ASSERT_GE(sd_bus_message_read_basic(call->message.get(), 'h', &received), 0);
  EXPECT_EQ(static_cast<unsigned>(::fcntl(received, F_GET_SEALS)) & kAllSeals, kAllSeals);
  EXPECT_EQ(read_all(received), "sealed payload");
  service->reply(*call);
  auto reply = client.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN) << reply->describe();
}

TEST_F(Memfd, UnsealedMemfdToSealedOnlyReceiverFailsWithAccessDenied) {
  auto service = start_service("sealed-memfd-only");
  SdBusPeer client(address());
  // Three of the four seals: kdbus demanded all four (else ETXTBSY).
  Fd blob = make_memfd("not quite", F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  auto r = client.call_message(blob_call(client, {blob.get()}));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.AccessDenied");
  EXPECT_THAT(r.error_message, HasSubstr("accepts only sealed memfds"));
  EXPECT_THAT(r.error_message, HasSubstr("file descriptor 0 of the message is a memfd without all of "
                                         "F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE|F_SEAL_SEAL"));

  // An unsealed memfd, second after a sealed one: the text names fd 1.
  Fd sealed = make_memfd("fine", kAllSeals);
  Fd open_blob = make_memfd("writable", 0);
  r = client.call_message(blob_call(client, {sealed.get(), open_blob.get()}));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.AccessDenied");
  EXPECT_THAT(r.error_message, HasSubstr("file descriptor 1 of the message is a memfd without"));

  // Nothing reached the service: the first call it sees is a later one.
  Fd good = make_memfd("later", kAllSeals);
  client.send_message(blob_call(client, {good.get()}));
  auto call = next_call(*service);
  ASSERT_TRUE(call);
  int received = -1;
  ASSERT_GE(sd_bus_message_read_basic(call->message.get(), 'h', &received), 0);
  EXPECT_EQ(read_all(received), "later");
}

TEST_F(Memfd, PlainFdToSealedOnlyReceiverFailsAndAnyReceiverGetsIt) {
  auto service = start_service("sealed-memfd-only");
  SdBusPeer client(address());
  Fd pipe_end = make_pipe_end();
  auto r = client.call_message(blob_call(client, {pipe_end.get()}));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.AccessDenied");
  EXPECT_THAT(r.error_message, HasSubstr(std::string(kService) + " accepts only sealed memfds"));
  EXPECT_THAT(r.error_message, HasSubstr("a file descriptor that is not a memfd"));

  // Back to "any": D-Bus behaviour again.
  auto reset = service->call(kDriverName, kDriverPath, kBus1, "SetFdPolicy", "s", "any");
  ASSERT_TRUE(reset.ok()) << reset.describe();
  uint64_t cookie = client.send_message(blob_call(client, {pipe_end.get()}));
  auto call = next_call(*service);
  ASSERT_TRUE(call) << "a plain fd should reach a receiver that accepts any";
  service->reply(*call);
  auto reply = client.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN);
}

TEST_F(Memfd, SignalWithPlainFdIsSkippedForSealedOnlyReceiverAlone) {
  auto strict = start_service("sealed-memfd-only");
  SdBusPeer relaxed(address());
  const std::string rule = "type='signal',interface='org.example.Blobs'";
  ASSERT_TRUE(strict->add_match(rule).ok());
  ASSERT_TRUE(relaxed.add_match(rule).ok());
  SdBusPeer emitter(address());

  Fd pipe_end = make_pipe_end();
  int fd = pipe_end.get();
  emitter.emit(nullptr, kPath, kInterface, "WithFd", "h", fd);
  Fd blob = make_memfd("signal payload", kAllSeals);
  int blob_fd = blob.get();
  emitter.emit(nullptr, kPath, kInterface, "WithMemfd", "h", blob_fd);
  emitter.emit(nullptr, kPath, kInterface, "Plain");

  auto members = [](const std::vector<Received>& got) {
    std::vector<std::string> out;
    for (const auto& m : got)
      if (m.interface == kInterface) out.push_back(m.member);
    return out;
  };
  EXPECT_EQ(members(relaxed.take_until(is_signal(kInterface, "Plain"))),
            (std::vector<std::string>{"WithFd", "WithMemfd", "Plain"}))
      << "a receiver that accepts any fd gets all three";
  EXPECT_EQ(members(strict->take_until(is_signal(kInterface, "Plain"))),
            (std::vector<std::string>{"WithMemfd", "Plain"}))
      << "the signal with a plain fd is skipped for the sealed-only receiver";
}

TEST_F(Memfd, ReplyWithPlainFdToSealedOnlyCallerFailsForBoth) {
  auto service = start_service(nullptr);
  SdBusPeer caller(address());
  auto set = caller.call(kDriverName, kDriverPath, kBus1, "SetFdPolicy", "s", "sealed-memfd-only");
  ASSERT_TRUE(set.ok()) << set.describe();
  uint64_t cookie = caller.send_call(kService, kPath, kInterface, "Put");
  auto call = next_call(*service);
  ASSERT_TRUE(call);
  Fd pipe_end = make_pipe_end();
  int fd = pipe_end.get();
  sd_bus_message* m = nullptr;
  ASSERT_GE(sd_bus_message_new_method_return(call->message.get(), &m), 0);
  MessagePtr reply(m);
  ASSERT_GE(sd_bus_message_append_basic(m, 'h', &fd), 0);
  uint64_t reply_cookie = service->send_message(std::move(reply));

  auto refused = service->wait_for([&](const Received& r) { return r.reply_cookie == reply_cookie; });
  ASSERT_TRUE(refused) << "the replier hears why its reply went nowhere";
  EXPECT_EQ(refused->error_name, "org.freedesktop.DBus.Error.AccessDenied");
  auto answer = caller.wait_reply(cookie);
  ASSERT_TRUE(answer) << "the caller does not wait for a reply that cannot come";
  EXPECT_EQ(answer->error_name, "org.freedesktop.DBus.Error.NoReply");
}

TEST_F(Memfd, SetFdPolicyRejectsUnknownPolicies) {
  SdBusPeer peer(address());
  auto r = peer.call(kDriverName, kDriverPath, kBus1, "SetFdPolicy", "s", "sealed");
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_THAT(r.error_message, HasSubstr("\"any\", \"sealed-memfd-only\""));
}

TEST_F(Memfd, OwnBusSocketsAreRefusedAsFds) {
  auto service = start_service(nullptr);
  SdBusPeer client(address());

  // The client's own connection to the bus.
  auto r = client.call_message(blob_call(client, {sd_bus_get_fd(client.bus())}));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.NotSupported");
  EXPECT_THAT(r.error_message, HasSubstr("File descriptor 0 of the message is a socket of this bus"));

  // A fresh, unauthenticated connection to the bus socket, second in line.
  Fd raw(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string path = (bus_->dir() / "bus").string();
  std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
  ASSERT_EQ(::connect(raw.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  Fd blob = make_memfd("x", kAllSeals);
  r = client.call_message(blob_call(client, {blob.get(), raw.get()}));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.NotSupported");
  EXPECT_THAT(r.error_message, HasSubstr("File descriptor 1 of the message is a socket of this bus"));

  // Other AF_UNIX sockets pass, as in D-Bus.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Fd a(pair[0]), b(pair[1]);
  uint64_t cookie = client.send_message(blob_call(client, {a.get()}));
  auto call = next_call(*service);
  ASSERT_TRUE(call) << "a socketpair end is not a bus socket";
  service->reply(*call);
  auto reply = client.wait_reply(cookie);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, SD_BUS_MESSAGE_METHOD_RETURN);
}

// max_message_unix_fds raised above kdbus's 16 so the memfd cap shows.
std::string config_with_limits(const std::string& limits) {
  std::string config = kOpenBusConfig;
  config.insert(config.find("</busconfig>"), limits);
  return config;
}

TEST(MemfdLimits, SeventeenSealedMemfdsInOneMessageExceedKdbusLimit) {
  BusDaemon bus(config_with_limits("  <limit name=\"max_message_unix_fds\">40</limit>\n"));
  SdBusPeer service(bus.address());
  ASSERT_EQ(service.request_name(kService).u32(), 1u);
  SdBusPeer client(bus.address());

  std::vector<Fd> blobs;
  std::vector<int> fds;
  for (int i = 0; i < 17; ++i) {
    blobs.push_back(make_memfd("blob", kAllSeals));
    fds.push_back(blobs.back().get());
  }
  auto r = client.call_message(blob_call(client, fds));
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.LimitsExceeded");
  EXPECT_THAT(r.error_message, HasSubstr("carries 17 sealed memfds; at most 16 are allowed per message"));

  // 16 memfds: within the cap.
  fds.pop_back();
  uint64_t cookie = client.send_message(blob_call(client, fds));
  auto call = service.wait_for(is_method_call("Put"));
  ASSERT_TRUE(call) << bus.log();
  EXPECT_EQ(call->signature, std::string(16, 'h'));
  service.reply(*call);
  ASSERT_TRUE(client.wait_reply(cookie));
}

TEST(MemfdLimits, MoreFdsThanMaxMessageUnixFdsDisconnectsTheSender) {
  // dbus-daemon's rule (CVE-2014-3636 set the default to 16, which is also
  // kdbus's): a message announcing more fds than max_message_unix_fds is
  // invalid, and its sender is disconnected.
  BusDaemon bus;
  SdBusPeer service(bus.address());
  ASSERT_EQ(service.request_name(kService).u32(), 1u);
  SdBusPeer client(bus.address());
  std::vector<Fd> pipes;
  std::vector<int> fds;
  for (int i = 0; i < 16; ++i) {
    pipes.push_back(make_pipe_end());
    fds.push_back(pipes.back().get());
  }
  uint64_t cookie = client.send_message(blob_call(client, fds));
  auto call = service.wait_for(is_method_call("Put"));
  ASSERT_TRUE(call) << "16 fds are within the limit";
  service.reply(*call);
  ASSERT_TRUE(client.wait_reply(cookie));

  pipes.push_back(make_pipe_end());
  fds.push_back(pipes.back().get());
  auto r = client.call_message(blob_call(client, fds));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(client.call_driver("GetId").ok()) << "the sender of 17 fds should have been disconnected";
}

// Fills `sink`'s socket with 4 MiB it does not read, so what the bus is
// sent for it next stays queued in the bus.
void clog(SdBusPeer& from, const char* sink) {
  std::vector<uint8_t> padding(1 << 20, 0x5a);
  for (int i = 0; i < 4; ++i) {
    sd_bus_message* m = nullptr;
    ASSERT_GE(sd_bus_message_new_signal(from.bus(), &m, kPath, kInterface, "Padding"), 0);
    MessagePtr msg(m);
    ASSERT_GE(sd_bus_message_set_destination(m, sink), 0);
    ASSERT_GE(sd_bus_message_append_array(m, 'y', padding.data(), padding.size()), 0);
    from.send_message(std::move(msg));
  }
  ASSERT_TRUE(from.call_driver("GetId").ok());
}

TEST(MemfdLimits, FdsInFlightPerSendingUserAreBounded) {
  // max_incoming_unix_fds 4 makes the per-user bound 16 (four connections'
  // worth). The bus holds fds while they wait in its queues: receivers whose
  // sockets are full of padding they do not read keep them there.
  BusDaemon bus(config_with_limits("  <limit name=\"max_incoming_unix_fds\">4</limit>\n"
                                   "  <limit name=\"max_outgoing_unix_fds\">1000</limit>\n"));
  SdBusPeer sink_a(bus.address()), sink_b(bus.address());
  ASSERT_EQ(sink_a.request_name("org.example.SinkA").u32(), 1u);
  ASSERT_EQ(sink_b.request_name("org.example.SinkB").u32(), 1u);
  SdBusPeer filler(bus.address());
  clog(filler, "org.example.SinkA");
  clog(filler, "org.example.SinkB");

  std::vector<std::unique_ptr<SdBusPeer>> senders;
  std::vector<Fd> pipes;
  auto four_fds = [&] {
    std::vector<int> fds;
    for (int i = 0; i < 4; ++i) {
      pipes.push_back(make_pipe_end());
      fds.push_back(pipes.back().get());
    }
    return fds;
  };
  for (int i = 0; i < 4; ++i) {
    senders.push_back(std::make_unique<SdBusPeer>(bus.address()));
    auto& s = *senders.back();
    s.send_message(blob_call(s, four_fds(), i % 2 ? "org.example.SinkB" : "org.example.SinkA"));
    // The bus has read the message once it answers the next call.
    ASSERT_TRUE(s.call_driver("GetId").ok());
  }
  SdBusPeer fifth(bus.address());
  uint64_t cookie = fifth.send_message(blob_call(fifth, four_fds(), "org.example.SinkB"));
  auto refused = fifth.wait_reply(cookie);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->error_name, "org.freedesktop.DBus.Error.LimitsExceeded");
  ASSERT_FALSE(refused->args.empty());
  EXPECT_THAT(refused->args[0], HasSubstr("already holds 16 file descriptors and 0 sealed memfds sent by uid"));
  EXPECT_THAT(refused->args[0], HasSubstr("at most 16 of each may be in flight per user"));

  // Sealed memfds are counted apart: they still pass.
  Fd blob = make_memfd("payload", kAllSeals);
  fifth.send_message(blob_call(fifth, {blob.get()}, "org.example.SinkB"));
  ASSERT_TRUE(fifth.call_driver("GetId").ok());
  for (const auto& m : fifth.inbox()) EXPECT_NE(m.type, SD_BUS_MESSAGE_METHOD_ERROR) << m.describe();

  // Sink A reads its two calls: the 8 fds they carried have left the bus.
  ASSERT_TRUE(sink_a.wait_for(is_method_call("Put")));
  ASSERT_TRUE(sink_a.wait_for(is_method_call("Put")));
  // (A new connection: the fifth holds a memfd, and four more fds would put
  // it over max_incoming_unix_fds, which stops the bus reading it.)
  SdBusPeer sixth(bus.address());
  cookie = sixth.send_message(blob_call(sixth, four_fds(), "org.example.SinkB"));
  ASSERT_TRUE(sixth.call_driver("GetId").ok());
  for (const auto& m : sixth.inbox())
    EXPECT_NE(m.reply_cookie, cookie) << "refused again after fds were released: " << m.describe();
}

// In a receiver's per-sender quota (16 fds per sending user) sealed
// memfds are payload, not fds: two messages of 16 memfds each both queue
// for a receiver that is not reading.
TEST(MemfdLimits, SealedMemfdsAreNotFdsInTheReceiversQuota) {
  BusDaemon bus;
  SdBusPeer sink(bus.address());
  ASSERT_EQ(sink.request_name(kService).u32(), 1u);
  SdBusPeer filler(bus.address());
  clog(filler, kService);
  SdBusPeer client(bus.address());
  std::vector<Fd> blobs;
  std::vector<uint64_t> cookies;
  for (int call = 0; call < 2; ++call) {
    std::vector<int> fds;
    for (int i = 0; i < 16; ++i) {
      blobs.push_back(make_memfd("blob", kAllSeals));
      fds.push_back(blobs.back().get());
    }
    cookies.push_back(client.send_message(blob_call(client, fds)));
  }
  // The bus has routed both once it answers this.
  ASSERT_TRUE(client.call_driver("GetId").ok());
  for (const auto& m : client.inbox())
    for (uint64_t c : cookies) EXPECT_NE(m.reply_cookie, c) << "refused: " << m.describe();
  ASSERT_TRUE(sink.wait_for(is_method_call("Put")));
  ASSERT_TRUE(sink.wait_for(is_method_call("Put")));
}

}  // namespace
}  // namespace kdbusd::itest
