// Hostile clients for the integration tests, and the outside view of the
// daemon they attack: its memory (/proc/PID/status VmRSS), open fds
// (/proc/PID/fd) and CPU time (/proc/PID/stat), plus a well-behaved client
// that times its method calls while the attack runs. Every wait is
// bounded; nothing sleeps to synchronise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "metadata_raw_connection.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {

using std::chrono::milliseconds;

/* the daemon, seen from /proc */
size_t resident_bytes(pid_t pid);       // VmRSS
size_t open_fd_count(pid_t pid);        // entries of /proc/PID/fd
milliseconds cpu_time(pid_t pid);       // utime + stime

/* raw messages a hostile client writes (little-endian, from
 * kdbus::wire::MessageBuilder) */
// A method call to `destination` whose body is one string of body_bytes.
std::vector<uint8_t> bulky_call(const std::string& destination, size_t body_bytes, uint32_t serial);
// A broadcast signal (org.example.Flood.Spam on /flood), same body.
std::vector<uint8_t> bulky_signal(size_t body_bytes, uint32_t serial);
inline constexpr const char* kFloodRule = "type='signal',interface='org.example.Flood'";

/* A well-behaved client beside the attack: times GetId round trips to the
 * driver and remembers the slowest and any that failed. */
class ServiceProbe {
 public:
  explicit ServiceProbe(const std::string& address) : peer_(address) {}
  // One round trip, timed with a steady clock.
  milliseconds ping();
  // Pings back to back while `attacking` holds (bounded by timeout); each
  // call is itself the wait, so this paces itself on the bus's replies.
  void ping_while(const std::function<bool()>& attacking, milliseconds timeout);
  milliseconds worst() const { return worst_; }
  int failures() const { return failures_; }
  int pings() const { return pings_; }
  std::string describe() const;
  SdBusPeer& peer() { return peer_; }

 private:
  SdBusPeer peer_;
  milliseconds worst_{0};
  int failures_ = 0;
  int pings_ = 0;
  std::string last_error_;
};

/* A client that authenticates, says Hello, then writes the messages `make`
 * builds as fast as its socket takes them and never reads, on its own
 * thread, until stop() or until the bus hangs up on it. */
class Flooder {
 public:
  using Make = std::function<std::vector<uint8_t>(uint32_t serial)>;
  Flooder(const std::string& socket_path, Make make);
  ~Flooder();
  Flooder(const Flooder&) = delete;
  Flooder& operator=(const Flooder&) = delete;

  void start();
  void stop();
  uint64_t messages_sent() const { return sent_.load(); }
  bool hung_up() const { return hung_up_.load(); }
  RawBusConnection& connection() { return connection_; }

  // After stop(): reads what the bus queued for the flooder, until it has
  // been quiet for `quiet` (or the bus hung up): error names in order.
  struct Outcome {
    std::vector<std::string> errors;
    bool disconnected = false;
  };
  Outcome drain(milliseconds quiet = milliseconds(500));

 private:
  void run();

  RawBusConnection connection_;
  Make make_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hung_up_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

/* Connects a bare socket to the bus (no SASL); -1 on failure (errno). */
int connect_bus_socket(const std::string& socket_path);
/* Writes all of `bytes` (blocking, MSG_NOSIGNAL); false if the peer is gone. */
bool write_all(int fd, const void* data, size_t size);
/* Connects and writes SASL EXTERNAL (with NEGOTIATE_UNIX_FD if asked),
 * BEGIN and Hello in one go without waiting for any answer, as a client in
 * a hurry does; -1 on failure. */
int pipelined_hello(const std::string& socket_path, bool negotiate_fds);
/* Sends one message with `passed_fd` attached (SCM_RIGHTS); false if the
 * peer is gone. */
bool send_with_fd(int fd, const std::vector<uint8_t>& message, int passed_fd);
/* Reads until EOF or timeout; true on EOF (the bus hung up). */
bool wait_for_hangup(int fd, milliseconds timeout);

}  // namespace kdbusd::itest
