/* The kdbusd extension interfaces: names, the metadata header field and its item keys */
#pragma once

#include <cstdint>
#include <string_view>

namespace kdbus::interface {

/* Per-connection kdbus calls, on destination org.freedesktop.DBus, path
 * /org/freedesktop/DBus (DESIGN.md, "Fixed interfaces"). */
inline constexpr std::string_view bus = "org.kdbusd.Bus1";
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
