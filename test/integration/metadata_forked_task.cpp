#include "metadata_forked_task.hpp"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <cstring>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kdbusd::itest {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

/* TaskChannel */

void TaskChannel::send(const std::string& line) {
  std::string data = line + "\n";
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(out_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("task channel: write failed");
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::optional<std::string> TaskChannel::read_line(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    pollfd p{in_, POLLIN, 0};
    int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[65536];
    ssize_t n = ::read(in_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void TaskChannel::expect(const std::string& expected, milliseconds timeout) {
  auto line = read_line(timeout);
  if (!line) throw std::runtime_error("task channel: no \"" + expected + "\" in time");
  if (*line != expected) throw std::runtime_error("task channel: expected \"" + expected + "\", got \"" + *line + "\"");
}

/* ForkedTask */

ForkedTask::ForkedTask(const std::function<int(TaskChannel&)>& body) {
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) < 0) throw std::runtime_error("pipe");
  if (::pipe2(up, O_CLOEXEC) < 0) {
    ::close(down[0]);
    ::close(down[1]);
    throw std::runtime_error("pipe");
  }
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(down[1]);
    ::close(up[0]);
    TaskChannel channel(down[0], up[1]);
    int code = 2;
    try {
      code = body(channel);
    } catch (const std::exception& e) {
      try {
        channel.send(std::string("error: ") + e.what());
      } catch (...) {
      }
    }
    ::_exit(code);  // not exit(): the test's atexit handlers belong to the test
  }
  ::close(down[0]);
  ::close(up[1]);
  to_child_ = down[1];
  from_child_ = up[0];
  channel_.emplace(from_child_, to_child_);
}

ForkedTask::~ForkedTask() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(to_child_);
  ::close(from_child_);
}

std::optional<int> ForkedTask::wait_exit(milliseconds timeout) {
  if (status_) return status_;
  auto deadline = Clock::now() + timeout;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    int left = remaining_ms(deadline);
    if (left == 0 || pidfd < 0) break;
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, 1, left);
  }
  if (pidfd >= 0) ::close(pidfd);
  return status_;
}

std::string to_hex(const std::vector<uint8_t>& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::vector<uint8_t> from_hex(const std::string& text) {
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    throw std::invalid_argument("not hex");
  };
  if (text.size() % 2) throw std::invalid_argument("odd hex length");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < text.size(); i += 2) out.push_back(static_cast<uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

}  // namespace kdbusd::itest
