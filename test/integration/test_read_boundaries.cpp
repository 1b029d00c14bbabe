// Reads that the kernel cuts short with data still queued. The daemon takes
// a short read as "the socket is drained" and then waits for the next
// epoll edge without re-arming; a read that stopped after a write carrying
// fds is the exception (net/unix/af_unix.c ends a read there). A burst of
// such writes, sent before the daemon answers anything, must be answered
// in full: a wrongly skipped re-arm would leave the rest unread for good.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "bus_fixture.hpp"
#include "hostile_client.hpp"
#include "wire/message.hpp"

namespace kdbusd::itest {
namespace {

namespace wire = kdbus::wire;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<uint8_t> ping(uint32_t serial, bool with_fd) {
  wire::MessageBuilder b(wire::MessageType::method_call);
  b.destination("org.freedesktop.DBus").path("/org/freedesktop/DBus").interface("org.freedesktop.DBus.Peer");
  b.member("Ping");
  if (with_fd) {
    b.unix_fds(1);
    b.body("h").put_unix_fd(0);
  }
  return b.finish(serial);
}

// Reads whole messages from `fd` until every serial in `awaited` has been
// answered (reply or error) or `timeout` passes; returns those still awaited.
std::set<uint32_t> collect_replies(int fd, std::set<uint32_t> awaited, milliseconds timeout) {
  std::vector<uint8_t> buf;
  auto deadline = Clock::now() + timeout;
  // The SASL answers come first: skip through "OK ...\r\n" and "AGREE_UNIX_FD\r\n".
  size_t sasl_lines = 2;
  while (!awaited.empty()) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    uint8_t chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) break;
    buf.insert(buf.end(), chunk, chunk + n);
    for (;;) {
      if (sasl_lines > 0) {
        auto crlf = std::search(buf.begin(), buf.end(), "\r\n", "\r\n" + 2);
        if (crlf == buf.end()) break;
        buf.erase(buf.begin(), crlf + 2);
        --sasl_lines;
        continue;
      }
      if (buf.size() < wire::fixed_header_size) break;
      size_t length = wire::message_length(
          std::span<const uint8_t, wire::fixed_header_size>(buf.data(), wire::fixed_header_size),
          wire::max_message_size, nullptr);
      if (length == 0 || buf.size() < length) break;
      wire::Header h;
      std::vector<uint8_t> one(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(length));
      if (wire::parse_message(one, h) == nullptr) awaited.erase(h.reply_serial);
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(length));
    }
  }
  return awaited;
}

TEST(ReadBoundaries, ABurstOfWritesCarryingFdsIsAnsweredInFull) {
  BusDaemon bus;
  int fd = pipelined_hello((bus.dir() / "bus").string(), true);
  ASSERT_GE(fd, 0);
  int passed[2];
  ASSERT_EQ(::pipe2(passed, O_CLOEXEC), 0);
  // Hello is serial 1; then alternate: a call with an fd, then two without,
  // so that reads end both at fds and at the end of the data.
  std::set<uint32_t> awaited{1};
  uint32_t serial = 1;
  for (int i = 0; i < 50; ++i) {
    ++serial;
    ASSERT_TRUE(send_with_fd(fd, ping(serial, true), passed[0]));
    awaited.insert(serial);
    for (int j = 0; j < 2; ++j) {
      auto bytes = ping(++serial, false);
      ASSERT_TRUE(write_all(fd, bytes.data(), bytes.size()));
      awaited.insert(serial);
    }
  }
  auto unanswered = collect_replies(fd, awaited, 10000ms);
  EXPECT_TRUE(unanswered.empty()) << unanswered.size() << " of " << awaited.size()
                                  << " calls unanswered, first serial " << *unanswered.begin();
  ::close(passed[0]);
  ::close(passed[1]);
  ::close(fd);
}

}  // namespace
}  // namespace kdbusd::itest
