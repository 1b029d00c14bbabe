/* The kdbusd extension interfaces: names, the metadata header field and its item keys */
#pragma once

#include <cstdint>
#include <string_view>

namespace kdbus::interface {

/* Per-connection kdbus calls, on destination org.freedesktop.DBus, path
 * /org/freedesktop/DBus (DESIGN.md, "Fixed interfaces"):
 *
 *   UpdateAttachFlags(t send_mask, t recv_mask)   kdbus attach flags; unknown
 *                                                 bits → InvalidArgs
 *   GetAttachFlags() → (tt)
 *   GetConnectionMetadata(s name, t mask) → a{sv} keys as metadata_field below
 *   SetConnectionDescription(s)
 *   SetFdPolicy(s policy)                         which fds this connection
 *       accepts: fd_policy_any (the default, as D-Bus) or
 *       fd_policy_sealed_memfd_only (only memfds carrying every seal of
 *       sealed_memfd_seals: a unicast carrying another fd fails for its sender
 *       with org.freedesktop.DBus.Error.AccessDenied naming the fd; a signal
 *       carrying one is skipped for this receiver); anything else → InvalidArgs
 *   signal MessagesLost(u count)                  broadcasts dropped over quota
 *
 * For every receiver the bus refuses, with an error to the sender, its own
 * sockets passed as fds (NotSupported), more than 16 sealed memfds or
 * max_message_unix_fds other fds in one message, and more fds held for one
 * sending user than its in-flight bound (LimitsExceeded). */
inline constexpr std::string_view bus = "org.kdbusd.Bus1";
inline constexpr std::string_view fd_policy_any = "any";
inline constexpr std::string_view fd_policy_sealed_memfd_only = "sealed-memfd-only";
/* F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL (linux/fcntl.h):
 * a memfd with all four can never change again (kdbus PAYLOAD_MEMFD). */
inline constexpr unsigned sealed_memfd_seals = 0x0002 | 0x0004 | 0x0008 | 0x0001;
/* The control socket's interface and object. */
inline constexpr std::string_view control = "org.kdbusd.Control1";
inline constexpr std::string_view control_path = "/org/kdbusd/Control1";
inline constexpr std::string_view driver_name = "org.freedesktop.DBus";
inline constexpr std::string_view driver_path = "/org/freedesktop/DBus";

}  // namespace kdbus::interface

namespace kdbus::metadata_field {

/* The header field that carries metadata: a variant holding a{sv}. Codes
 * above 10 are undefined by the D-Bus specification, which requires
 * receivers to ignore unknown fields, so unaware clients are unaffected. */
inline constexpr uint8_t code = 128;
inline constexpr std::string_view signature = "a{sv}";

/* One dictionary entry per delivered item: key and the signature of the
 * value inside its variant. */
struct Key {
    std::string_view name;
    std::string_view signature;
};

inline constexpr Key timestamp{"Timestamp", "(ttt)"};             // seqnum, monotonic ns, realtime ns
inline constexpr Key creds{"Creds", "(uuuuuuuu)"};                // uid euid suid fsuid gid egid sgid fsgid
inline constexpr Key pids{"Pids", "(uuu)"};                       // pid tid ppid
inline constexpr Key auxgroups{"AuxGroups", "au"};
inline constexpr Key names{"Names", "as"};
inline constexpr Key tid_comm{"TidComm", "s"};
inline constexpr Key pid_comm{"PidComm", "s"};
inline constexpr Key exe{"Exe", "s"};
inline constexpr Key cmdline{"CmdLine", "aay"};
inline constexpr Key cgroup{"CGroup", "s"};
inline constexpr Key caps{"Caps", "(uauauauau)"};                 // last_cap, inh, prm, eff, bnd
inline constexpr Key seclabel{"SecLabel", "ay"};
inline constexpr Key audit{"Audit", "(uu)"};                      // loginuid sessionid
inline constexpr Key conn_description{"ConnDescription", "s"};

/* Ids that cannot be expressed in the receiver's namespaces (KDBUS.md §3.6). */
inline constexpr uint32_t overflow_id = 65534;
inline constexpr uint32_t invalid_id = 0xffffffffu;  // (uid_t)-1: "not set", kept as is

}  // namespace kdbus::metadata_field
