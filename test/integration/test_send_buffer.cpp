// The bus raises a connection's kernel send buffer once its receiver has
// drained a full one while much more waited in the bus's queue
// (Connection::raise_send_buffer, src/daemon/connection.cpp): large
// messages then leave the bus in one or two writes instead of five.
//
// What the kernel holds for a receiver is limited by the bus's send buffer
// for that socket (a stream socket's queued data is charged to its writer),
// so the receiver sees the raise as more bytes waiting in its own socket
// (FIONREAD) than the default buffer could ever hold.
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bus_fixture.hpp"
#include "hostile_client.hpp"
#include "metadata_raw_connection.hpp"

namespace kdbusd::itest {
namespace {

constexpr size_t KiB = 1024;

// Queues far above what is sent, so neither account stops the sender.
std::string roomy_config() {
  std::string c = kOpenBusConfig;
  c.insert(c.find("</busconfig>"), R"(  <limit name="max_outgoing_bytes">67108864</limit>
  <limit name="max_incoming_bytes">67108864</limit>
)");
  return c;
}

size_t bytes_waiting(int fd) {
  int n = 0;
  if (::ioctl(fd, FIONREAD, &n) < 0) throw std::runtime_error("FIONREAD failed");
  return static_cast<size_t>(n);
}

// Reads and discards `n` bytes that the socket holds already. Not "until
// it is empty": the bus may be writing more meanwhile, on the other CPU.
void discard(int fd, size_t n) {
  std::vector<char> buffer(64 * KiB);
  while (n > 0) {
    ssize_t got = ::recv(fd, buffer.data(), std::min(n, buffer.size()), MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw std::runtime_error("the socket held less than FIONREAD said");
    n -= static_cast<size_t>(got);
  }
}

// The kernel's default send buffer (net.core.wmem_default) is 208 KiB; a
// writer may go over it by one allocation of at most half of it, so no
// more than about 320 KiB can wait for a receiver without the raise. The
// bus asks for 512 KiB with SO_SNDBUFFORCE (it runs as root here), which
// the kernel doubles.
constexpr size_t kMoreThanTheDefaultHolds = 640 * KiB;

TEST(SendBufferTest, AReceiverThatDrainsABacklogGetsALargerKernelBuffer) {
  BusDaemon bus(roomy_config());
  const std::string path = (bus.dir() / "bus").string();
  RawBusConnection receiver(path);
  receiver.authenticate_and_hello();
  RawBusConnection sender(path);
  sender.authenticate_and_hello();

  // 2 MiB for a receiver that does not read yet. The driver's answer to
  // the sender comes after the bus routed every call, and after it wrote
  // the receiver's socket full at the end of that batch.
  constexpr size_t kCalls = 10;
  for (size_t i = 0; i < kCalls; ++i)
    sender.send_bytes(bulky_call(receiver.unique_name(), 200 * KiB, sender.next_serial()));
  sender.call_driver("org.freedesktop.DBus", "GetId");
  size_t first = bytes_waiting(receiver.fd());
  ASSERT_GT(first, 0u) << bus.log();
  ASSERT_LT(first, kMoreThanTheDefaultHolds) << "the default buffer held more than it can";

  // Draining it reports room to the bus, with 1.7 MiB still queued there.
  discard(receiver.fd(), first);

  // Each driver round trip is a turn of the bus's loop: the room was
  // reported before the call, so the bus has written before it answers.
  size_t seen = 0;
  for (int turn = 0; turn < 20 && seen < kMoreThanTheDefaultHolds; ++turn) {
    sender.call_driver("org.freedesktop.DBus", "GetId");
    seen = bytes_waiting(receiver.fd());
  }
  EXPECT_GE(seen, kMoreThanTheDefaultHolds) << "the receiver's socket holds only " << seen << " bytes\n"
                                            << bus.log();
}

}  // namespace
}  // namespace kdbusd::itest
