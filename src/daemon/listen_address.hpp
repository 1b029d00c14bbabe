/* Listen addresses: turning dbus-daemon's <listen> strings into sockets */
#pragma once

#include <string>
#include <vector>

#include "daemon/unique_fd.hpp"

namespace kdbus::daemon {

/* One socket the bus listens on, and how clients reach it. */
struct ListenSocket {
    UniqueFd fd;
    std::string address;     // client address without guid, e.g. "unix:path=/tmp/dbus-x"
    std::string unlink_path; // removed at exit ("" for abstract and inherited sockets)
    std::string remove_dir;  // for unix:runtime=yes nothing; reserved for created dirs
};

/*
 * Binds every address in a ';'-separated list (unix:path=, unix:abstract=,
 * unix:dir=, unix:tmpdir=, unix:runtime=yes, systemd:). tcp: and anything
 * else are refused with a clear message. Throws std::runtime_error.
 */
std::vector<ListenSocket> bind_listen_address(const std::string& address);

/* Creates a listening AF_UNIX stream socket at `path` (abstract if the
 * first byte is '\0'), replacing a stale socket file. Throws. */
UniqueFd listen_unix(const std::string& path, int backlog = 4096);

}  // namespace kdbus::daemon
