// Child processes for the integration tests: the bus daemon under test and
// the command-line clients that drive it. Every wait is bounded by a
// deadline; nothing here sleeps to synchronise.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace kdbusd::itest {

using std::chrono::milliseconds;

// Extra environment for a child, on top of the test's own environment.
using Environment = std::vector<std::pair<std::string, std::string>>;

struct CommandResult {
  int exit_status = -1;  // exit code, or -1 if killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return !timed_out && exit_status == 0; }
  // For assertion messages.
  std::string describe() const;
};

// Runs argv[0] (looked up in PATH), captures stdout and stderr, and kills it
// if it has not exited when the timeout expires.
CommandResult run_command(const std::vector<std::string>& argv, milliseconds timeout,
                          const Environment& env = {});

// A long-running child whose stdout is a pipe read line by line (daemons,
// monitors, services). stderr goes to stderr_path if given, else is inherited.
// The destructor terminates it.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const Environment& env = {},
               const std::string& stderr_path = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Next complete stdout line (without '\n'), or nullopt on timeout or EOF.
  std::optional<std::string> read_line(milliseconds timeout);

  // Reads lines until one satisfies pred; nullopt on timeout or EOF. Lines
  // read on the way are kept in transcript().
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           milliseconds timeout);

  // Everything read from stdout so far, for assertion messages.
  const std::string& transcript() const { return transcript_; }

  // SIGTERM, then SIGKILL if it has not exited within grace. Returns the
  // exit status as in CommandResult (or -1 for a signal).
  int terminate(milliseconds grace = milliseconds(5000));

  // Waits for the child to exit on its own.
  std::optional<int> wait_exit(milliseconds timeout);

 private:
  bool fill(milliseconds timeout);  // reads more bytes into buffer_

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool eof_ = false;
  std::optional<int> status_;
  std::string buffer_;
  std::string transcript_;
};

// For monitors, which attach asynchronously and print no readiness line of
// their own: performs action (e.g. emits a signal), then waits up to
// attempt_timeout for a line satisfying pred; repeats until timeout. Each
// attempt is an event the monitor can see, so no sleep is involved.
std::optional<std::string> repeat_until_line(ChildProcess& child, const std::function<void()>& action,
                                             const std::function<bool(const std::string&)>& pred,
                                             milliseconds timeout,
                                             milliseconds attempt_timeout = milliseconds(250));

// Polls cond until it holds or the timeout expires; between checks it calls
// step (which itself must block with a bounded timeout, e.g. processing a
// bus connection). Returns cond().
bool wait_until(const std::function<bool()>& cond, const std::function<void(milliseconds)>& step,
                milliseconds timeout);

}  // namespace kdbusd::itest
