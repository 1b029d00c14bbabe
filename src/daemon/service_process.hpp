/* ServiceProcess: a process the bus started to activate a service, watched
 * from the event loop until it exits */
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace kdbus::daemon {

/* How a started service ended, as dbus-daemon reports it (dbus-spawn-unix.c
 * _dbus_babysitter_set_child_exit_error): an exec error, an exit status or
 * a signal. */
struct ServiceExit {
    int exec_errno = 0;  // exec failed with this errno
    std::optional<int> status;
    std::optional<int> signal;

    /* Exit status 0 is no failure: a service may "daemonize" (fork, parent
     * exits) before its child takes the name (bus/activation.c). */
    bool failed() const { return exec_errno != 0 || signal || (status && *status != 0); }
    /* D-Bus error name and text for a failure; `who` names the service. */
    std::string error_name() const;
    std::string error_text(const std::string& who) const;
};

/*
 * fork + execve without blocking the event loop: a close-on-exec pipe
 * tells exec success (EOF) from failure (errno), and a pidfd, watched by
 * Asio, tells when the child exits; it is then reaped with waitid. The
 * object keeps itself alive until the child is reaped.
 */
class ServiceProcess : public std::enable_shared_from_this<ServiceProcess> {
public:
    struct Spec {
        std::vector<std::string> argv;  // argv[0] is the program's path (no PATH search, as dbus-daemon)
        std::vector<std::string> env;   // "KEY=value"
        /* Run as this user (name or uid) when the bus runs as root; empty:
         * as the bus. */
        std::string user;
    };

    /* Starts the process; `on_exit` runs once, from the event loop. On a
     * failure to start (fork, pipe) returns nullptr and sets *error. */
    static std::shared_ptr<ServiceProcess> spawn(boost::asio::io_context& io, const Spec& spec,
                                                 std::function<void(const ServiceExit&)> on_exit,
                                                 std::string* error);

    pid_t pid() const { return pid_; }
    /* SIGKILL, as dbus-daemon does to a service that did not start in time. */
    void kill();

    ServiceProcess(boost::asio::io_context& io, pid_t pid, int exec_pipe, int pidfd,
                   std::function<void(const ServiceExit&)> on_exit);
    ~ServiceProcess();

private:
    void wait_exec();
    void wait_exit();
    void reap();

    pid_t pid_;
    boost::asio::posix::stream_descriptor exec_pipe_;
    boost::asio::posix::stream_descriptor pidfd_;
    std::function<void(const ServiceExit&)> on_exit_;
    ServiceExit exit_;
    bool reaped_ = false;
};

}  // namespace kdbus::daemon
