/* PeerCredentials: who is at the other end of a connected AF_UNIX socket, captured once at accept() */
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "metadata/pidfd.hpp"

namespace kdbus::metadata {

/*
 * The connecting process's credentials as the kernel recorded them at
 * connect() (SO_PEERCRED and friends), in the daemon's namespaces. kdbus
 * decides privilege once from these (KDBUS.md §3 rule 1).
 */
struct PeerCredentials {
    pid_t pid = 0;  // 0: unknown (e.g. a peer in a pid namespace we cannot see)
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    std::vector<gid_t> groups;              // SO_PEERGROUPS: supplementary groups
    std::optional<std::string> seclabel;    // SO_PEERSEC, only when an LSM labels the peer
    Pidfd pidfd;                            // SO_PEERPIDFD (kernel ≥ 6.5), else empty
};

/* Reads the peer credentials of a connected AF_UNIX socket. nullopt only
 * when SO_PEERCRED itself fails (not a connected unix socket); the other
 * parts are best effort. */
std::optional<PeerCredentials> capture_peer(int fd);

}  // namespace kdbus::metadata
