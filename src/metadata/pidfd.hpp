/* Pidfd: an owned handle on one process that cannot be confused with a later process of the same pid */
#pragma once

#include <sys/types.h>

#include <optional>
#include <utility>

#include "metadata/linux_compat.hpp"

namespace kdbus::metadata {

class Pidfd {
public:
    Pidfd() = default;
    /* Takes ownership of a pidfd (from SO_PEERPIDFD, SCM_PIDFD or pidfd_open). */
    explicit Pidfd(int fd) : fd_(fd) {}
    Pidfd(Pidfd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Pidfd& operator=(Pidfd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    Pidfd(const Pidfd&) = delete;
    Pidfd& operator=(const Pidfd&) = delete;
    ~Pidfd() { reset(); }

    /* pidfd_open(pid); an empty handle when the process does not exist. */
    static Pidfd open(pid_t pid);

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1);

    /* The process has not been reaped (pidfd_send_signal with signal 0), so
     * its pid still names it and /proc/PID is still its directory. */
    bool alive() const;

    /* PIDFD_GET_INFO: pid, ppid and the eight ids as the daemon sees them,
     * in one syscall and without /proc; nullopt when the process is gone or
     * the kernel predates 6.13. */
    std::optional<kernel::pidfd_info> info() const;

    /* The pid it refers to, in the daemon's pid namespace (from
     * /proc/self/fdinfo); 0 when the process is gone or unknown. */
    pid_t pid() const;

private:
    int fd_ = -1;
};

}  // namespace kdbus::metadata
