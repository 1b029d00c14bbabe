/* File descriptors a message carries, as kdbus told them apart: sealed memfd payloads, bus sockets, plain fds */
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>

namespace kdbus::metadata {

/*
 * What one passed file descriptor is, as far as the bus cares (KDBUS.md rows
 * "Payload / memfd" and "FDs"):
 *  - sealed_memfd: a memfd whose seals include SHRINK, GROW, WRITE and SEAL,
 *    so its contents can never change again: a payload (kdbus
 *    PAYLOAD_MEMFD), not a plain fd;
 *  - unsealed_memfd: a memfd (F_GET_SEALS answers) lacking one of those;
 *  - bus_socket: an AF_UNIX socket whose peer (or, for a listener, whose
 *    creator) is the daemon itself — a bus connection or listener passed
 *    through the bus, which kdbus refused (EOPNOTSUPP for kdbus handles);
 *  - plain: anything else.
 */
enum class FdKind { plain, sealed_memfd, unsealed_memfd, bus_socket };

/* The four seals that make a memfd immutable (kdbus: else ETXTBSY). */
unsigned required_memfd_seals();

/* Classifies `fd`; `daemon_pid` is the bus's own pid (getpid()). A few
 * syscalls (fcntl F_GET_SEALS, fstat, getsockopt), no reads or writes. */
FdKind classify_fd(int fd, pid_t daemon_pid);

std::string_view fd_kind_name(FdKind kind);

/* How many of each kind one message carries. */
struct FdCensus {
    size_t plain = 0;
    size_t sealed_memfds = 0;
    size_t unsealed_memfds = 0;
    size_t bus_sockets = 0;
    /* Index of the first fd that is not a sealed memfd, and of the first
     * bus socket, for precise error texts (SIZE_MAX: none). */
    size_t first_not_sealed = static_cast<size_t>(-1);
    size_t first_bus_socket = static_cast<size_t>(-1);

    size_t total() const { return plain + sealed_memfds + unsealed_memfds + bus_sockets; }
    /* What quotas count as fds: everything but sealed memfds, which kdbus
     * counted as payload (KDBUS.md: "not counted as fds"). */
    size_t counted_as_fds() const { return total() - sealed_memfds; }
    void add(FdKind kind, size_t index);
};

}  // namespace kdbus::metadata
