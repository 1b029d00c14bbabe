/* MessageCredentials: the sender's credentials the kernel attaches to each recvmsg (SCM_CREDENTIALS, SCM_PIDFD) */
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <vector>

#include "metadata/pidfd.hpp"

namespace kdbus::metadata {

/*
 * kdbus captured metadata when a message was sent, not when the sender
 * connected (DESIGN.md, "Metadata"). With SO_PASSCRED the kernel stamps
 * every read with the writer's pid/uid/gid, and an AF_UNIX stream read
 * never spans writes with different credentials, so the stamp belongs to
 * every byte of that read. SO_PASSPIDFD adds a pidfd of the writer.
 */
struct SocketCredentialOptions {
    bool creds = false;  // SO_PASSCRED took
    bool pidfd = false;  // SO_PASSPIDFD took (kernel ≥ 6.5)
};
SocketCredentialOptions enable_credential_passing(int fd, bool with_pidfd = true);

struct MessageCredentials {
    bool has_creds = false;
    pid_t pid = 0;  // tgid in the daemon's pid namespace
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    Pidfd pidfd;  // the writing process, when SO_PASSPIDFD is on
};

/* Control buffer size for one recvmsg carrying credentials, a pidfd and up
 * to `max_fds` passed file descriptors. */
constexpr size_t control_buffer_size(size_t max_fds) {
    return CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(int) * max_fds);
}

/*
 * Takes everything out of the control messages of a completed recvmsg:
 * credentials and pidfd into `creds` (replacing what it held), SCM_RIGHTS
 * descriptors appended to `fds` in order, owned by the caller from now on.
 * No received descriptor is left unowned. Returns false when the kernel
 * truncated the control data (MSG_CTRUNC: descriptors were lost, so the
 * connection cannot be trusted to stay in sync) or a message is malformed.
 */
bool take_control_messages(const struct msghdr& msg, MessageCredentials& creds, std::vector<int>& fds);

}  // namespace kdbus::metadata
