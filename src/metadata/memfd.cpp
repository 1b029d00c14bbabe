#include "metadata/memfd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "kdbus/interface.hpp"

namespace kdbus::metadata {

namespace {

/* Debian 12's glibc has these; spelled out for older headers (linux/fcntl.h). */
#ifndef F_GET_SEALS
constexpr int F_GET_SEALS = 1034;
constexpr unsigned F_SEAL_SEAL = 0x0001, F_SEAL_SHRINK = 0x0002, F_SEAL_GROW = 0x0004, F_SEAL_WRITE = 0x0008;
#endif

bool is_bus_socket(int fd, pid_t daemon_pid) {
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX) return false;
    // SO_PEERCRED of a connected AF_UNIX socket names its peer; of a
    // listening one, the process that called listen(). Either way the
    // daemon's pid means the socket is one end of the bus itself.
    ucred peer{};
    len = sizeof(peer);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) return false;
    return peer.pid == daemon_pid;
}

}  // namespace

unsigned required_memfd_seals() { return F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL; }
static_assert((F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == interface::sealed_memfd_seals);

FdKind classify_fd(int fd, pid_t daemon_pid) {
    // F_GET_SEALS answers only for memfds (shmem and hugetlbfs files);
    // anything else gets EINVAL.
    int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals >= 0) {
        unsigned need = required_memfd_seals();
        return (static_cast<unsigned>(seals) & need) == need ? FdKind::sealed_memfd : FdKind::unsealed_memfd;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && is_bus_socket(fd, daemon_pid)) return FdKind::bus_socket;
    return FdKind::plain;
}

std::string_view fd_kind_name(FdKind kind) {
    switch (kind) {
    case FdKind::plain: return "a file descriptor that is not a memfd";
    case FdKind::sealed_memfd: return "a sealed memfd";
    case FdKind::unsealed_memfd: return "a memfd without all of F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE|F_SEAL_SEAL";
    case FdKind::bus_socket: return "a socket of the bus itself";
    }
    return "?";
}

void FdCensus::add(FdKind kind, size_t index) {
    switch (kind) {
    case FdKind::plain: ++plain; break;
    case FdKind::sealed_memfd: ++sealed_memfds; break;
    case FdKind::unsealed_memfd: ++unsealed_memfds; break;
    case FdKind::bus_socket:
        ++bus_sockets;
        if (first_bus_socket == static_cast<size_t>(-1)) first_bus_socket = index;
        break;
    }
    if (kind != FdKind::sealed_memfd && first_not_sealed == static_cast<size_t>(-1)) first_not_sealed = index;
}

}  // namespace kdbus::metadata
