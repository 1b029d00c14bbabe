#include "metadata_raw_connection.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <span>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace kdbusd::itest {

namespace wire = kdbus::wire;

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

RawMessage summarise(std::vector<uint8_t> bytes) {
  wire::Header h;
  if (const char* why = wire::parse_message(bytes, h))
    fail(std::string("bus sent an invalid message: ") + why);
  RawMessage m;
  m.type = h.type;
  m.endian = h.endian;
  m.serial = h.serial;
  m.reply_serial = h.reply_serial;
  m.sender = h.sender;
  m.destination = h.destination;
  m.path = h.path;
  m.interface = h.interface;
  m.member = h.member;
  m.error_name = h.error_name;
  m.signature = h.signature;
  m.body_offset = h.body_offset;
  m.bytes = std::move(bytes);  // the views in h die here; m holds copies
  return m;
}

}  // namespace

/* RawMessage */

std::optional<kdbus::Metadata> RawMessage::metadata() const {
  return kdbus::read_metadata(bytes.data(), bytes.size());
}

std::vector<uint8_t> RawMessage::header_field_codes() const {
  wire::Reader r(bytes, endian);
  uint8_t b;
  uint32_t u;
  for (int i = 0; i < 4; ++i) r.read_byte(b);
  r.read_u32(u);  // body length
  r.read_u32(u);  // serial
  size_t end = 0;
  std::vector<uint8_t> codes;
  if (!r.begin_array(8, end)) return codes;
  while (r.offset() < end) {
    uint8_t code = 0;
    std::string_view sig;
    if (!r.begin_struct() || !r.read_byte(code) || !r.read_signature(sig) || !r.skip_value(sig, 3)) break;
    codes.push_back(code);
  }
  return codes;
}

wire::Reader RawMessage::body() const {
  return wire::Reader(std::span<const uint8_t>(bytes).subspan(body_offset), endian);
}

std::optional<kdbus::Metadata> RawMessage::body_metadata() const {
  if (signature != "a{sv}") return std::nullopt;
  // Alignment in D-Bus is relative to the message start, so read the body
  // in place with the same reader the header helper uses.
  kdbus::detail::MetadataReader r(bytes.data(), bytes.size(), endian == wire::Endian::big);
  r.seek(body_offset);
  kdbus::Metadata md;
  size_t end;
  if (!r.array(8, end)) return std::nullopt;
  while (r.pos() < end) {
    std::string key, value_sig;
    if (!r.align(8) || !r.string(key) || !r.signature(value_sig)) return std::nullopt;
    if (!kdbus::detail::read_metadata_entry(r, key, value_sig, md)) return std::nullopt;
  }
  if (r.pos() != end || !r.ok()) return std::nullopt;
  return md;
}

std::string RawMessage::describe() const {
  std::string s = "type=" + std::to_string(static_cast<int>(type)) + " sender=" + sender + " member=" + member;
  if (!error_name.empty()) {
    s += " error=" + error_name;
    auto r = body();
    std::string_view text;
    if (signature.starts_with("s") && r.read_string(text)) s += " (" + std::string(text) + ")";
  }
  return s;
}

/* RawBusConnection */

RawBusConnection::RawBusConnection(const std::string& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail(std::string("socket: ") + strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) fail("socket path too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    int e = errno;
    ::close(fd_);
    fail("connect " + socket_path + ": " + strerror(e));
  }
}

RawBusConnection::~RawBusConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void RawBusConnection::write_all(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(std::string("send: ") + strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

std::string RawBusConnection::read_sasl_line(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string line;
  // Byte by byte, so nothing after the line (the Hello reply) is consumed
  // here; the SASL exchange is a handful of short lines.
  while (!line.ends_with("\r\n")) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) fail("SASL: no answer from the bus");
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n <= 0) fail("SASL: connection closed");
    line += c;
  }
  line.resize(line.size() - 2);
  return line;
}

void RawBusConnection::authenticate_and_hello(milliseconds timeout) {
  // D-Bus specification, "Authentication": a NUL byte, then EXTERNAL with
  // no initial response; the server asks with DATA, an empty DATA means
  // "the identity the socket credentials say".
  write_all("\0AUTH EXTERNAL\r\n", 16);
  std::string line = read_sasl_line(timeout);
  if (line != "DATA") fail("SASL: expected DATA, got " + line);
  write_all("DATA\r\n", 6);
  line = read_sasl_line(timeout);
  if (!line.starts_with("OK ")) fail("SASL: expected OK, got " + line);
  write_all("BEGIN\r\n", 7);

  RawMessage reply = call_driver("org.freedesktop.DBus", "Hello");
  std::string_view name;
  auto body = reply.body();
  if (reply.is_error() || !body.read_string(name)) fail("Hello failed: " + reply.describe());
  unique_name_ = name;
}

void RawBusConnection::send_bytes(const std::vector<uint8_t>& bytes) { write_all(bytes.data(), bytes.size()); }

RawMessage RawBusConnection::call(wire::MessageBuilder& builder, milliseconds timeout) {
  uint32_t serial = next_serial();
  send_bytes(builder.finish(serial));
  auto reply = wait_for(
      [serial](const RawMessage& m) {
        return (m.type == wire::MessageType::method_return || m.type == wire::MessageType::error) &&
               m.reply_serial == serial;
      },
      timeout);
  if (!reply) fail("no reply to call " + std::to_string(serial));
  return std::move(*reply);
}

RawMessage RawBusConnection::call_driver(std::string_view interface, std::string_view member,
                                         std::string_view signature,
                                         const std::function<void(wire::Writer&)>& args) {
  wire::MessageBuilder b(wire::MessageType::method_call);
  b.destination("org.freedesktop.DBus").path("/org/freedesktop/DBus").interface(interface).member(member);
  if (!signature.empty()) args(b.body(signature));
  return call(b);
}

void RawBusConnection::add_match(const std::string& rule) {
  auto r = call_driver("org.freedesktop.DBus", "AddMatch", "s", [&](wire::Writer& w) { w.put_string(rule); });
  if (r.is_error()) fail("AddMatch: " + r.describe());
}

void RawBusConnection::update_attach_flags(uint64_t send_mask, uint64_t recv_mask) {
  auto r = call_driver("org.kdbusd.Bus1", "UpdateAttachFlags", "tt", [&](wire::Writer& w) {
    w.put_u64(send_mask);
    w.put_u64(recv_mask);
  });
  if (r.is_error()) fail("UpdateAttachFlags: " + r.describe());
}

void RawBusConnection::request_name(const std::string& name) {
  auto r = call_driver("org.freedesktop.DBus", "RequestName", "su", [&](wire::Writer& w) {
    w.put_string(name);
    w.put_u32(0);
  });
  uint32_t result = 0;
  auto body = r.body();
  if (r.is_error() || !body.read_u32(result) || result != 1) fail("RequestName " + name + ": " + r.describe());
}

uint32_t RawBusConnection::emit(std::string_view path, std::string_view interface, std::string_view member) {
  wire::MessageBuilder b(wire::MessageType::signal);
  b.path(path).interface(interface).member(member);
  uint32_t serial = next_serial();
  send_bytes(b.finish(serial));
  return serial;
}

std::optional<RawMessage> RawBusConnection::read_one(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (buffer_.size() >= wire::fixed_header_size) {
      const char* why = nullptr;
      size_t length = wire::message_length(std::span<const uint8_t, wire::fixed_header_size>(buffer_.data(),
                                                                                               wire::fixed_header_size),
                                           wire::max_message_size, &why);
      if (length == 0) fail(std::string("bus sent a bad message head: ") + (why ? why : "?"));
      if (buffer_.size() >= length) {
        std::vector<uint8_t> bytes(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(length));
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(length));
        return summarise(std::move(bytes));
      }
    }
    pollfd p{fd_, POLLIN, 0};
    int left = remaining_ms(deadline);
    int ready = ::poll(&p, 1, left);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    uint8_t chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("bus closed the connection");
    buffer_.insert(buffer_.end(), chunk, chunk + n);
  }
}

std::optional<RawMessage> RawBusConnection::receive(milliseconds timeout) {
  if (!queued_.empty()) {
    RawMessage m = std::move(queued_.front());
    queued_.pop_front();
    return m;
  }
  return read_one(timeout);
}

std::optional<RawMessage> RawBusConnection::wait_for(const std::function<bool(const RawMessage&)>& pred,
                                                     milliseconds timeout) {
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    if (pred(*it)) {
      RawMessage m = std::move(*it);
      queued_.erase(it);
      return m;
    }
  }
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto m = read_one(milliseconds(remaining_ms(deadline)));
    if (!m) return std::nullopt;
    if (pred(*m)) return m;
    queued_.push_back(std::move(*m));
  }
}

std::function<bool(const RawMessage&)> is_raw_signal(std::string member) {
  return [member = std::move(member)](const RawMessage& m) {
    return m.type == wire::MessageType::signal && m.member == member;
  };
}

}  // namespace kdbusd::itest
