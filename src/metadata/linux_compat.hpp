/* Linux interfaces newer than Debian 12's headers: pidfd sockets options, nsfs pid translation, PIDFD_GET_INFO */
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdint>

/* Values from the kernel's uapi headers; the running kernel (≥ 6.5 for the
 * socket options, ≥ 6.7 for nsfs translation, ≥ 6.13 for PIDFD_GET_INFO)
 * has them even when the libc headers do not. Callers fall back when the
 * kernel answers ENOPROTOOPT/ENOTTY/EINVAL. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

#ifndef NSIO
#define NSIO 0xb7
#endif
#ifndef NS_GET_USERNS
#define NS_GET_USERNS _IO(NSIO, 0x1)
#endif
#ifndef NS_GET_PARENT
#define NS_GET_PARENT _IO(NSIO, 0x2)
#endif
#ifndef NS_GET_OWNER_UID
#define NS_GET_OWNER_UID _IO(NSIO, 0x4)
#endif
/* include/uapi/linux/nsfs.h (6.7): translate a pid of the caller's pid
 * namespace into the namespace the fd refers to; ESRCH when not visible. */
#ifndef NS_GET_PID_IN_PIDNS
#define NS_GET_PID_IN_PIDNS _IOR(NSIO, 0x8, int)
#endif
#ifndef NS_GET_TGID_IN_PIDNS
#define NS_GET_TGID_IN_PIDNS _IOR(NSIO, 0x9, int)
#endif

namespace kdbus::metadata::kernel {

/* include/uapi/linux/pidfd.h (6.13), the first version of the struct. */
struct pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid;
    uint32_t tgid;
    uint32_t ppid;
    uint32_t ruid;
    uint32_t rgid;
    uint32_t euid;
    uint32_t egid;
    uint32_t suid;
    uint32_t sgid;
    uint32_t fsuid;
    uint32_t fsgid;
    int32_t exit_code;
};
static_assert(sizeof(pidfd_info) == 64);

inline constexpr uint64_t pidfd_info_pid = 1u << 0;
inline constexpr uint64_t pidfd_info_creds = 1u << 1;
inline constexpr unsigned long pidfd_get_info = _IOWR(0xFF, 11, pidfd_info);

}  // namespace kdbus::metadata::kernel
