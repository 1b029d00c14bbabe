#include "metadata/pidfd.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csignal>

namespace kdbus::metadata {

Pidfd Pidfd::open(pid_t pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    return Pidfd(fd < 0 ? -1 : fd);
}

void Pidfd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

bool Pidfd::alive() const {
    if (fd_ < 0) return false;
    /* EPERM means it exists but we may not signal it: still alive. */
    return ::syscall(SYS_pidfd_send_signal, fd_, 0, nullptr, 0) == 0 || errno == EPERM;
}

pid_t Pidfd::pid() const {
    if (fd_ < 0) return 0;
    // PIDFD_GET_INFO (Linux 6.13) answers in one syscall; older kernels
    // read fdinfo.
    if (auto i = info()) return static_cast<pid_t>(i->tgid);
    char path[48];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd_);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    /* "Pid:\t1234" (-1 once the process was reaped). */
    const char* p = std::strstr(buf, "\nPid:");
    if (!p) return 0;
    long v = std::strtol(p + 5, nullptr, 10);
    return v > 0 ? static_cast<pid_t>(v) : 0;
}

std::optional<kernel::pidfd_info> Pidfd::info() const {
    if (fd_ < 0) return std::nullopt;
    kernel::pidfd_info i{};
    i.mask = kernel::pidfd_info_pid | kernel::pidfd_info_creds;
    if (::ioctl(fd_, kernel::pidfd_get_info, &i) != 0) return std::nullopt;
    return i;
}

}  // namespace kdbus::metadata
