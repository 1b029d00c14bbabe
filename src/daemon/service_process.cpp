#include "daemon/service_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace kdbus::daemon {

namespace {

struct Identity {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;
};

/* Resolved in the parent: after fork only async-signal-safe calls are made. */
std::optional<Identity> resolve_user(const std::string& user, std::string* error) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* result = nullptr;
    ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &result);
    if (!result) {
        char* end = nullptr;
        unsigned long uid = std::strtoul(user.c_str(), &end, 10);
        if (!user.empty() && end && *end == '\0')
            ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &result);
    }
    if (!result) {
        *error = "Could not get UID and GID for username \"" + user + "\"";
        return std::nullopt;
    }
    Identity id{pw.pw_uid, pw.pw_gid, {}};
    int n = 64;
    id.groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &n) < 0) {
        id.groups.resize(static_cast<size_t>(n));
        ::getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &n);
    }
    id.groups.resize(static_cast<size_t>(n));
    return id;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

[[noreturn]] void child_fail(int pipe_fd) {
    int err = errno;
    ssize_t ignored = ::write(pipe_fd, &err, sizeof err);
    (void)ignored;
    ::_exit(127);
}

}  // namespace

std::string ServiceExit::error_name() const {
    if (exec_errno) return "org.freedesktop.DBus.Error.Spawn.ExecFailed";
    if (signal) return "org.freedesktop.DBus.Error.Spawn.ChildSignaled";
    return "org.freedesktop.DBus.Error.Spawn.ChildExited";
}

std::string ServiceExit::error_text(const std::string& who) const {
    if (exec_errno) return "Failed to execute program " + who + ": " + std::strerror(exec_errno);
    if (signal) return "Process " + who + " received signal " + std::to_string(*signal);
    if (status) return "Process " + who + " exited with status " + std::to_string(*status);
    return "Process " + who + " exited abnormally";
}

std::shared_ptr<ServiceProcess> ServiceProcess::spawn(boost::asio::io_context& io, const Spec& spec,
                                                      std::function<void(const ServiceExit&)> on_exit,
                                                      std::string* error) {
    if (spec.argv.empty()) {
        *error = "No program to run";
        return nullptr;
    }
    std::optional<Identity> identity;
    if (!spec.user.empty() && ::geteuid() == 0) {
        identity = resolve_user(spec.user, error);
        if (!identity) return nullptr;
    }
    std::vector<char*> argv = c_strings(spec.argv);
    std::vector<char*> envp = c_strings(spec.env);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
        *error = std::string("Failed to create pipe for communicating with child process (") +
                 std::strerror(errno) + ")";
        return nullptr;
    }
    int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    pid_t pid = ::fork();
    if (pid < 0) {
        *error = std::string("Failed to fork (") + std::strerror(errno) + ")";
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        if (dev_null >= 0) ::close(dev_null);
        return nullptr;
    }
    if (pid == 0) {
        // The child: async-signal-safe calls only.
        sigset_t all;
        ::sigemptyset(&all);
        ::sigprocmask(SIG_SETMASK, &all, nullptr);
        ::signal(SIGPIPE, SIG_DFL);  // the bus ignores it; exec would keep that
        if (dev_null >= 0) ::dup2(dev_null, STDIN_FILENO);
        if (identity) {
            if (::setgroups(identity->groups.size(), identity->groups.data()) < 0 ||
                ::setgid(identity->gid) < 0 || ::setuid(identity->uid) < 0)
                child_fail(pipe_fds[1]);
        }
        ::execve(argv[0], argv.data(), envp.data());
        child_fail(pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    if (dev_null >= 0) ::close(dev_null);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        // Without a pidfd the exit cannot be watched; never leave a child
        // nobody reaps.
        *error = std::string("Failed to watch the child process (") + std::strerror(errno) + ")";
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(pipe_fds[0]);
        return nullptr;
    }
    auto p = std::make_shared<ServiceProcess>(io, pid, pipe_fds[0], pidfd, std::move(on_exit));
    p->wait_exec();
    return p;
}

ServiceProcess::ServiceProcess(boost::asio::io_context& io, pid_t pid, int exec_pipe, int pidfd,
                               std::function<void(const ServiceExit&)> on_exit)
    : pid_(pid), exec_pipe_(io, exec_pipe), pidfd_(io, pidfd), on_exit_(std::move(on_exit)) {}

ServiceProcess::~ServiceProcess() = default;

void ServiceProcess::kill() {
    if (!reaped_) ::kill(pid_, SIGKILL);
}

void ServiceProcess::wait_exec() {
    // EOF: exec succeeded (the pipe was close-on-exec); an int: its errno.
    exec_pipe_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                              if (ec) return;
                              int err = 0;
                              ssize_t n;
                              do n = ::read(self->exec_pipe_.native_handle(), &err, sizeof err);
                              while (n < 0 && errno == EINTR);
                              if (n == static_cast<ssize_t>(sizeof err)) self->exit_.exec_errno = err;
                              boost::system::error_code ignored;
                              self->exec_pipe_.close(ignored);
                              self->wait_exit();
                          });
}

void ServiceProcess::wait_exit() {
    pidfd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                          if (ec) return;
                          self->reap();
                      });
}

void ServiceProcess::reap() {
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) {  // spurious wake-up
        wait_exit();
        return;
    }
    reaped_ = true;
    boost::system::error_code ignored;
    pidfd_.close(ignored);
    if (r > 0) {
        if (WIFEXITED(status)) exit_.status = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) exit_.signal = WTERMSIG(status);
    }
    if (auto cb = std::move(on_exit_)) cb(exit_);
}

}  // namespace kdbus::daemon
