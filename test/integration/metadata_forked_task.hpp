// A function run in a forked child of the test, for what a test cannot do
// in its own process: change uid, enter a new user or pid namespace. The
// child talks to the test over a pair of pipes, one text line per message,
// so each step of a scenario is a handshake rather than a sleep. All waits
// are bounded; the child dies with the test (PR_SET_PDEATHSIG).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace kdbusd::itest {

using std::chrono::milliseconds;

// One end of the line protocol between the test and its child.
class TaskChannel {
 public:
  TaskChannel(int read_fd, int write_fd) : in_(read_fd), out_(write_fd) {}
  // Writes line + '\n'; throws if the other end is gone.
  void send(const std::string& line);
  // The next line (without '\n'), or nullopt on timeout or EOF.
  std::optional<std::string> read_line(milliseconds timeout = milliseconds(5000));
  // Reads a line and throws unless it equals `expected` (an "error: …"
  // line from the other side is reported as is).
  void expect(const std::string& expected, milliseconds timeout = milliseconds(5000));

 private:
  int in_, out_;
  std::string buffer_;
};

class ForkedTask {
 public:
  // Forks; the child runs body and _exits with its result (2 if it threw,
  // after sending "error: <what>" on the channel). The child must not use
  // the test's sd-bus connections: it opens its own.
  explicit ForkedTask(const std::function<int(TaskChannel&)>& body);
  ~ForkedTask();  // SIGKILL if still running, then reaps
  ForkedTask(const ForkedTask&) = delete;
  ForkedTask& operator=(const ForkedTask&) = delete;

  pid_t pid() const { return pid_; }
  TaskChannel& channel() { return *channel_; }
  // The child's exit code, or nullopt if it is still running at timeout
  // (or died by a signal: -1).
  std::optional<int> wait_exit(milliseconds timeout = milliseconds(5000));

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::optional<TaskChannel> channel_;
  std::optional<int> status_;
};

// Hex form of bytes, to pass a whole message over the line protocol.
std::string to_hex(const std::vector<uint8_t>& bytes);
std::vector<uint8_t> from_hex(const std::string& text);

}  // namespace kdbusd::itest
