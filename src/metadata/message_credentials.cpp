#include "metadata/message_credentials.hpp"

#include <unistd.h>

#include <cstring>

namespace kdbus::metadata {

SocketCredentialOptions enable_credential_passing(int fd, bool with_pidfd) {
    SocketCredentialOptions on;
    int one = 1;
    on.creds = ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0;
    if (with_pidfd) on.pidfd = ::setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof one) == 0;
    return on;
}

bool take_control_messages(const struct msghdr& msg, MessageCredentials& creds, std::vector<int>& fds) {
    bool ok = !(msg.msg_flags & MSG_CTRUNC);
    auto& m = const_cast<struct msghdr&>(msg);  // CMSG_NXTHDR takes a non-const msghdr
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        const size_t payload = c->cmsg_len - CMSG_LEN(0);
        const unsigned char* data = CMSG_DATA(c);
        if (c->cmsg_type == SCM_RIGHTS) {
            for (size_t i = 0; i + sizeof(int) <= payload; i += sizeof(int)) {
                int fd;
                std::memcpy(&fd, data + i, sizeof fd);
                fds.push_back(fd);
            }
        } else if (c->cmsg_type == SCM_PIDFD && payload >= sizeof(int)) {
            int fd;
            std::memcpy(&fd, data, sizeof fd);
            creds.pidfd.reset(fd >= 0 ? fd : -1);  // negative: the writer was gone
        } else if (c->cmsg_type == SCM_CREDENTIALS && payload >= sizeof(struct ucred)) {
            struct ucred uc;
            std::memcpy(&uc, data, sizeof uc);
            creds.has_creds = true;
            creds.pid = uc.pid;
            creds.uid = uc.uid;
            creds.gid = uc.gid;
        }
    }
    return ok;
}

}  // namespace kdbus::metadata
