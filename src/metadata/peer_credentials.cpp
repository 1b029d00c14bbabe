#include "metadata/peer_credentials.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace kdbus::metadata {
namespace {

std::vector<gid_t> peer_groups(int fd) {
    std::vector<gid_t> groups(16);
    for (int attempt = 0; attempt < 2; ++attempt) {
        socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
            groups.resize(len / sizeof(gid_t));
            return groups;
        }
        /* ERANGE reports the size needed in len. */
        if (errno != ERANGE) break;
        groups.resize(len / sizeof(gid_t));
    }
    return {};
}

std::optional<std::string> peer_seclabel(int fd) {
    std::string label(256, '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
        socklen_t len = static_cast<socklen_t>(label.size());
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERSEC, label.data(), &len) == 0) {
            label.resize(len);
            /* Some LSMs count the terminating NUL. */
            while (!label.empty() && label.back() == '\0') label.pop_back();
            if (label.empty()) return std::nullopt;
            return label;
        }
        /* ENOPROTOOPT: no LSM labels sockets. ERANGE: len is the size needed. */
        if (errno != ERANGE) break;
        label.resize(len);
    }
    return std::nullopt;
}

}  // namespace

std::optional<PeerCredentials> capture_peer(int fd) {
    struct ucred uc {};
    socklen_t len = sizeof uc;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) return std::nullopt;

    PeerCredentials pc;
    pc.pid = uc.pid;
    pc.uid = uc.uid;
    pc.gid = uc.gid;
    pc.groups = peer_groups(fd);
    pc.seclabel = peer_seclabel(fd);

    int pidfd = -1;
    len = sizeof pidfd;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0) pc.pidfd.reset(pidfd);
    return pc;
}

}  // namespace kdbus::metadata
