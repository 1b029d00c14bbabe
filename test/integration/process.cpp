#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace kdbusd::itest {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

int decode_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// Waits for one child to exit, bounded by timeout: a pidfd turns the exit
// into something poll() can wait on. Returns the decoded status.
std::optional<int> wait_pid(pid_t pid, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::optional<int> result;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result = decode_status(status);
      break;
    }
    if (r < 0 && errno != EINTR) break;
    int left = remaining_ms(deadline);
    if (left == 0 || pidfd < 0) break;
    pollfd p{pidfd, POLLIN, 0};
    poll(&p, 1, left);
  }
  if (pidfd >= 0) close(pidfd);
  return result;
}

// Owns the argv/envp arrays handed to execvpe; built before fork() because
// only async-signal-safe calls are allowed in the child.
struct ExecImage {
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecImage(const std::vector<std::string>& args, const Environment& extra) {
    if (args.empty()) throw std::invalid_argument("empty argv");
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (char** e = environ; *e; ++e) {
      std::string_view entry(*e);
      bool overridden = false;
      for (const auto& [k, v] : extra)
        if (entry.starts_with(k + "=")) overridden = true;
      if (!overridden) env_strings.emplace_back(entry);
    }
    for (const auto& [k, v] : extra) env_strings.push_back(k + "=" + v);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

// fork + exec with the given fds as the child's stdout and stderr (-1: inherit).
pid_t spawn(const ExecImage& image, int out_fd, int err_fd) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    // A test that crashes must not leave daemons behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (out_fd >= 0) dup2(out_fd, 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    execvpe(image.argv[0], image.argv.data(), image.envp.data());
    _exit(127);
  }
  return pid;
}

void make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + strerror(errno));
}

}  // namespace

std::string CommandResult::describe() const {
  return "exit=" + std::to_string(exit_status) + (timed_out ? " (timed out)" : "") +
         "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
}

CommandResult run_command(const std::vector<std::string>& argv, milliseconds timeout,
                          const Environment& env) {
  ExecImage image(argv, env);
  int out[2], err[2];
  make_pipe(out);
  make_pipe(err);
  pid_t pid = spawn(image, out[1], err[1]);
  close(out[1]);
  close(err[1]);

  CommandResult result;
  auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    int left = remaining_ms(deadline);
    if (left == 0) {
      result.timed_out = true;
      break;
    }
    int n = poll(fds, 2, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  // Both pipes closed normally means the child is exiting; a child that
  // closed them early but outlives the deadline is killed like a slow one.
  auto status = result.timed_out ? std::nullopt : wait_pid(pid, milliseconds(remaining_ms(deadline)));
  if (!status) {
    result.timed_out = true;
    kill(pid, SIGKILL);
    status = wait_pid(pid, milliseconds(5000));
  }
  result.exit_status = status.value_or(-1);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const Environment& env,
                           const std::string& stderr_path) {
  ExecImage image(argv, env);
  int out[2];
  make_pipe(out);
  int err_fd = -1;
  if (!stderr_path.empty()) {
    err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err_fd < 0) throw std::runtime_error("open " + stderr_path + ": " + strerror(errno));
  }
  pid_ = spawn(image, out[1], err_fd);
  close(out[1]);
  if (err_fd >= 0) close(err_fd);
  stdout_fd_ = out[0];
}

ChildProcess::~ChildProcess() {
  terminate();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool ChildProcess::fill(milliseconds timeout) {
  if (eof_) return false;
  pollfd p{stdout_fd_, POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  char buf[4096];
  ssize_t r = read(stdout_fd_, buf, sizeof buf);
  if (r <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(buf, static_cast<size_t>(r));
  transcript_.append(buf, static_cast<size_t>(r));
  return true;
}

std::optional<std::string> ChildProcess::read_line(milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    int left = remaining_ms(deadline);
    if (left == 0 || !fill(milliseconds(left))) {
      if (remaining_ms(deadline) == 0 || eof_) return std::nullopt;
    }
  }
}

std::optional<std::string> ChildProcess::wait_for_line(
    const std::function<bool(const std::string&)>& pred, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (auto line = read_line(milliseconds(remaining_ms(deadline)))) {
    if (pred(*line)) return line;
  }
  return std::nullopt;
}

std::optional<int> ChildProcess::wait_exit(milliseconds timeout) {
  if (!status_ && pid_ >= 0) status_ = wait_pid(pid_, timeout);
  return status_;
}

int ChildProcess::terminate(milliseconds grace) {
  if (status_) return *status_;
  if (pid_ < 0) return -1;
  kill(pid_, SIGTERM);
  if (auto s = wait_exit(grace)) return *s;
  kill(pid_, SIGKILL);
  if (auto s = wait_exit(milliseconds(5000))) return *s;
  return -1;
}

std::optional<std::string> repeat_until_line(ChildProcess& child, const std::function<void()>& action,
                                             const std::function<bool(const std::string&)>& pred,
                                             milliseconds timeout, milliseconds attempt_timeout) {
  auto deadline = Clock::now() + timeout;
  while (remaining_ms(deadline) > 0) {
    action();
    auto wait = std::min(attempt_timeout, milliseconds(remaining_ms(deadline)));
    if (auto line = child.wait_for_line(pred, wait)) return line;
  }
  return std::nullopt;
}

bool wait_until(const std::function<bool()>& cond, const std::function<void(milliseconds)>& step,
                milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!cond()) {
    int left = remaining_ms(deadline);
    if (left == 0) return false;
    step(milliseconds(std::min(left, 100)));
  }
  return true;
}

}  // namespace kdbusd::itest
