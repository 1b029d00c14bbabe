/* MessageMetadata: what kdbusd knows about a message's sender at the moment it was sent, untranslated */
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kdbus/attach_flags.hpp"
#include "metadata/message_credentials.hpp"
#include "metadata/pidfd.hpp"
#include "metadata/proc_files.hpp"

namespace kdbus::metadata {

/*
 * Captured once per message, in the daemon's namespaces, only for the
 * items some receiver will get (the union of their delivered masks), and
 * shared by every receiver; serialize_metadata() translates per receiver.
 * `present` says which items were captured: an item the daemon could not
 * read (the sender already exited, no LSM) is absent rather than made up.
 */
struct MessageMetadata {
    uint64_t present = 0;  // kdbus::attach bits

    /* TIMESTAMP, filled by the bus. */
    uint64_t seqnum = 0, monotonic_ns = 0, realtime_ns = 0;

    /* CREDS: uid euid suid fsuid gid egid sgid fsgid; -1 where unknown. */
    std::array<uint32_t, 8> ids{};

    /* PIDS. tid is 0 (unknown): a stream socket does not say which thread
     * wrote, so the bus cannot know it. */
    pid_t pid = 0, tid = 0, ppid = 0;

    std::vector<gid_t> auxgroups;        // AUXGROUPS
    std::vector<std::string> names;      // NAMES, filled by the bus
    std::string tid_comm, pid_comm;      // TID_COMM (main thread), PID_COMM
    std::string exe;                     // EXE
    FileId root;                         //   the sender's fs root, for EXE
    std::vector<std::string> cmdline;    // CMDLINE
    std::string cgroup;                  // CGROUP
    struct Caps {
        uint32_t last_cap = 0;
        std::array<uint32_t, 2> inheritable{}, permitted{}, effective{}, bounding{};
    } caps;                              // CAPS
    FileId userns;                       //   the sender's user namespace, for CAPS
    std::string seclabel;                // SECLABEL, filled by the bus (SO_PEERSEC)
    uint32_t loginuid = 0xffffffffu, sessionid = 0xffffffffu;  // AUDIT
    std::string conn_description;        // CONN_DESCRIPTION, filled by the bus
};

/* Items the bus fills from its own state rather than from the process. */
inline constexpr uint64_t connection_items =
    attach::timestamp | attach::names | attach::seclabel | attach::conn_description;

/*
 * Reads the process items in `wanted` (CREDS, PIDS, AUXGROUPS, TID_COMM,
 * PID_COMM, EXE, CMDLINE, CGROUP, CAPS, AUDIT) of the sending process and
 * sets their bits in md.present. `stamp` is the SCM_CREDENTIALS/SCM_PIDFD
 * of the read that carried the message: its pidfd (or, failing that,
 * `fallback_pidfd`, e.g. SO_PEERPIDFD of the connection, when its pid
 * matches) proves /proc/PID is still that process. If the sender has
 * already been reaped, only CREDS uid/gid and PIDS pid come from the stamp
 * and the other process items are left out. Connection items (see above)
 * are the caller's.
 */
void capture_process_items(MessageMetadata& md, uint64_t wanted, const MessageCredentials& stamp,
                           const Pidfd* fallback_pidfd = nullptr);

/* The same for a process known by pidfd and pid alone (a connection's
 * metadata at Hello, for GetConnectionMetadata). */
void capture_process_items(MessageMetadata& md, uint64_t wanted, const Pidfd& pidfd, pid_t pid);

/* Parsers for /proc/PID/status and /proc/PID/cmdline, exposed for tests. */
bool parse_status_ids(std::string_view status, std::array<uint32_t, 8>& ids);
std::vector<std::string> split_cmdline(std::string_view raw);

}  // namespace kdbus::metadata
