#include "hostile_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kdbusd::itest {

namespace wire = kdbus::wire;
using Clock = std::chrono::steady_clock;

size_t resident_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "NNN kB"
  }
  return 0;
}

size_t open_fd_count(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

milliseconds cpu_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return milliseconds(0);
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  long hz = sysconf(_SC_CLK_TCK);
  return milliseconds((utime + stime) * 1000 / static_cast<unsigned long long>(hz));
}

std::vector<uint8_t> bulky_call(const std::string& destination, size_t body_bytes, uint32_t serial) {
  wire::MessageBuilder b(wire::MessageType::method_call);
  b.path("/flood").interface("org.example.Flood").member("Take").destination(destination);
  b.body("s").put_string(std::string(body_bytes, 'x'));
  return b.finish(serial);
}

std::vector<uint8_t> bulky_signal(size_t body_bytes, uint32_t serial) {
  wire::MessageBuilder b(wire::MessageType::signal);
  b.path("/flood").interface("org.example.Flood").member("Spam");
  b.body("s").put_string(std::string(body_bytes, 'x'));
  return b.finish(serial);
}

/* ServiceProbe */

milliseconds ServiceProbe::ping() {
  auto start = Clock::now();
  CallResult r = peer_.call_driver("GetId");
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  ++pings_;
  if (!r.ok()) {
    ++failures_;
    last_error_ = r.describe();
  }
  worst_ = std::max(worst_, took);
  return took;
}

void ServiceProbe::ping_while(const std::function<bool()>& attacking, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (attacking() && Clock::now() < deadline) ping();
}

std::string ServiceProbe::describe() const {
  return std::to_string(pings_) + " GetId calls, slowest " + std::to_string(worst_.count()) + " ms, " +
         std::to_string(failures_) + " failed" + (last_error_.empty() ? "" : " (" + last_error_ + ")");
}

/* Flooder */

Flooder::Flooder(const std::string& socket_path, Make make)
    : connection_(socket_path), make_(std::move(make)) {
  connection_.authenticate_and_hello();
}

Flooder::~Flooder() { stop(); }

void Flooder::start() { thread_ = std::thread([this] { run(); }); }

void Flooder::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Flooder::run() {
  int fd = connection_.fd();
  std::vector<uint8_t> message;
  size_t offset = 0;
  while (!stop_) {
    if (offset == message.size()) {
      message = make_(connection_.next_serial());
      offset = 0;
    }
    ssize_t n = ::send(fd, message.data() + offset, message.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      offset += static_cast<size_t>(n);
      if (offset == message.size()) ++sent_;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      hung_up_ = true;
      return;
    }
    // The bus is not reading us right now: wait (bounded) until it does,
    // so stop() is noticed within 50 ms.
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 50);
    if (p.revents & (POLLHUP | POLLERR)) {
      hung_up_ = true;
      return;
    }
  }
}

Flooder::Outcome Flooder::drain(milliseconds quiet) {
  Outcome out;
  try {
    while (auto m = connection_.receive(quiet)) {
      if (m->is_error()) out.errors.push_back(m->error_name);
    }
  } catch (const std::runtime_error&) {
    out.disconnected = true;  // "bus closed the connection"
  }
  return out;
}

/* bare sockets */

int connect_bus_socket(const std::string& socket_path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool write_all(int fd, const void* data, size_t size) {
  auto p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool wait_for_hangup(int fd, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  char sink[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;  // ECONNRESET
  }
}

}  // namespace kdbusd::itest

namespace kdbusd::itest {

int pipelined_hello(const std::string& socket_path, bool negotiate_fds) {
  int fd = connect_bus_socket(socket_path);
  if (fd < 0) return -1;
  std::string uid = std::to_string(::getuid()), hex;
  for (char c : uid) {
    static const char digits[] = "0123456789abcdef";
    hex += digits[static_cast<uint8_t>(c) >> 4];
    hex += digits[static_cast<uint8_t>(c) & 15];
  }
  std::string sasl = std::string(1, '\0') + "AUTH EXTERNAL " + hex + "\r\n";
  if (negotiate_fds) sasl += "NEGOTIATE_UNIX_FD\r\n";
  sasl += "BEGIN\r\n";
  wire::MessageBuilder hello(wire::MessageType::method_call);
  hello.destination("org.freedesktop.DBus").path("/org/freedesktop/DBus").interface("org.freedesktop.DBus");
  hello.member("Hello");
  auto bytes = hello.finish(1);
  if (!write_all(fd, sasl.data(), sasl.size()) || !write_all(fd, bytes.data(), bytes.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_with_fd(int fd, const std::vector<uint8_t>& message, int passed_fd) {
  iovec iov{const_cast<uint8_t*>(message.data()), message.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &passed_fd, sizeof(int));
  ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n < 0) return false;
  return write_all(fd, message.data() + n, message.size() - static_cast<size_t>(n));
}

}  // namespace kdbusd::itest
