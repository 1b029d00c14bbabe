// A raw D-Bus connection for the metadata tests: AF_UNIX, SASL EXTERNAL,
// Hello, and whole messages as bytes. Client libraries drop header fields
// they do not know, so only a raw reader can see kdbusd's metadata field
// (128), and only a raw writer can try to forge one. It uses no threads and
// no library state, so a forked child (in another user or pid namespace, or
// under another uid) may open its own. Every wait is bounded; failures
// throw std::runtime_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kdbus/metadata.hpp"
#include "wire/message.hpp"

namespace kdbusd::itest {

using std::chrono::milliseconds;

// One received message: its bytes exactly as the bus sent them, plus the
// header fields the tests look at.
struct RawMessage {
  std::vector<uint8_t> bytes;
  kdbus::wire::MessageType type = kdbus::wire::MessageType::invalid;
  kdbus::wire::Endian endian = kdbus::wire::Endian::little;
  uint32_t serial = 0;
  uint32_t reply_serial = 0;
  std::string sender, destination, path, interface, member, error_name, signature;
  size_t body_offset = 0;

  // Field 128 as the client-side helper reads it; nullopt when absent.
  std::optional<kdbus::Metadata> metadata() const;
  // Codes of every header field, in order (to count field 128 copies).
  std::vector<uint8_t> header_field_codes() const;
  // The body as a reader (aligned as in the message).
  kdbus::wire::Reader body() const;
  // A body of signature a{sv} holding metadata items (GetConnectionMetadata).
  std::optional<kdbus::Metadata> body_metadata() const;
  bool is_error() const { return type == kdbus::wire::MessageType::error; }
  std::string describe() const;
};

class RawBusConnection {
 public:
  // Connects the socket only: a test may change its namespaces or
  // credentials before authenticating (the daemon takes SO_PEERCRED now).
  explicit RawBusConnection(const std::string& socket_path);
  ~RawBusConnection();
  RawBusConnection(const RawBusConnection&) = delete;
  RawBusConnection& operator=(const RawBusConnection&) = delete;

  // SASL EXTERNAL without an authorization identity (so it also works in a
  // user namespace, where getuid() is not what the daemon sees), then Hello.
  void authenticate_and_hello(milliseconds timeout = milliseconds(5000));

  const std::string& unique_name() const { return unique_name_; }
  int fd() const { return fd_; }
  uint32_t next_serial() { return ++serial_; }

  // Writes one complete message as given.
  void send_bytes(const std::vector<uint8_t>& bytes);
  // Sends a method call and waits for its reply or error; messages that
  // arrive meanwhile stay queued for receive().
  RawMessage call(kdbus::wire::MessageBuilder& call, milliseconds timeout = milliseconds(5000));
  // A driver call on org.freedesktop.DBus, body written by `args`.
  RawMessage call_driver(std::string_view interface, std::string_view member, std::string_view signature = {},
                         const std::function<void(kdbus::wire::Writer&)>& args = {});

  // Bus conveniences; each throws on an error reply.
  void add_match(const std::string& rule);
  void update_attach_flags(uint64_t send_mask, uint64_t recv_mask);
  void request_name(const std::string& name);
  // Broadcasts a signal with no body; returns its serial.
  uint32_t emit(std::string_view path, std::string_view interface, std::string_view member);

  // The next message (queued or read), or nullopt on timeout.
  std::optional<RawMessage> receive(milliseconds timeout);
  // The first message satisfying pred, leaving the others queued.
  std::optional<RawMessage> wait_for(const std::function<bool(const RawMessage&)>& pred,
                                     milliseconds timeout = milliseconds(5000));

 private:
  std::optional<RawMessage> read_one(milliseconds timeout);
  std::string read_sasl_line(milliseconds timeout);
  void write_all(const void* data, size_t size);

  int fd_ = -1;
  uint32_t serial_ = 0;
  std::string unique_name_;
  std::vector<uint8_t> buffer_;
  std::deque<RawMessage> queued_;
};

// A predicate for wait_for: a signal with this member name.
std::function<bool(const RawMessage&)> is_raw_signal(std::string member);

}  // namespace kdbusd::itest
