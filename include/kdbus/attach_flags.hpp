/* Attach flags: the kdbus metadata item bits a connection sends or receives */
#pragma once

#include <cstdint>

namespace kdbus::attach {

/* The bit values are kdbus's own (include/uapi/linux/kdbus.h, KDBUS_ATTACH_*),
 * fixed by DESIGN.md ("Fixed interfaces"). */
inline constexpr uint64_t timestamp = 1ull << 0;
inline constexpr uint64_t creds = 1ull << 1;
inline constexpr uint64_t pids = 1ull << 2;
inline constexpr uint64_t auxgroups = 1ull << 3;
inline constexpr uint64_t names = 1ull << 4;
inline constexpr uint64_t tid_comm = 1ull << 5;
inline constexpr uint64_t pid_comm = 1ull << 6;
inline constexpr uint64_t exe = 1ull << 7;
inline constexpr uint64_t cmdline = 1ull << 8;
inline constexpr uint64_t cgroup = 1ull << 9;
inline constexpr uint64_t caps = 1ull << 10;
inline constexpr uint64_t seclabel = 1ull << 11;
inline constexpr uint64_t audit = 1ull << 12;
inline constexpr uint64_t conn_description = 1ull << 13;

/* Every defined bit; anything outside it is rejected (kdbus: EINVAL). */
inline constexpr uint64_t all = (1ull << 14) - 1;

/* Items a receiver gets on request alone (kdbus cc6a928). */
inline constexpr uint64_t implicit = timestamp | creds | pids | auxgroups | names | conn_description;

/* Items about the sending process: delivered only with the sender's consent
 * (its send mask) or when the receiver could read them in /proc itself. */
inline constexpr uint64_t proc = tid_comm | pid_comm | exe | cmdline | cgroup | caps | seclabel | audit;

static_assert((implicit | proc) == all && (implicit & proc) == 0);

}  // namespace kdbus::attach
