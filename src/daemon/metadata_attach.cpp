#include "daemon/metadata_attach.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include "daemon/endpoint.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata/delivery.hpp"
#include "metadata/proc_files.hpp"
#include "metadata/serialize.hpp"

namespace kdbus::daemon {

namespace {

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

/* Captures the items of `wanted` that no earlier receiver asked for. */
void capture(BusMessage& m, Connection* sender, uint64_t wanted, const NameRegistry& names,
             uint64_t& seqnum) {
    uint64_t missing = wanted & ~m.metadata_tried;
    if (!missing) return;
    if (!m.metadata) {
        m.metadata = std::make_unique<metadata::MessageMetadata>();
        // One counter per bus, so receivers can order messages of
        // different senders (issue: "strictly increasing across senders").
        m.metadata->seqnum = ++seqnum;
        m.metadata->monotonic_ns = clock_ns(CLOCK_MONOTONIC);
        m.metadata->realtime_ns = clock_ns(CLOCK_REALTIME);
        m.metadata->present |= attach::timestamp;
    }
    m.metadata_tried |= missing;
    auto& md = *m.metadata;
    if (!sender) return;

    uint64_t process = missing & ~metadata::connection_items;
    if (process) {
        metadata::MessageCredentials stamp;
        const auto& creds = sender->credentials();
        stamp.has_creds = true;
        stamp.pid = m.stamp_pid ? m.stamp_pid : creds.pid;
        stamp.uid = m.stamp_pid ? m.stamp_uid : creds.uid;
        stamp.gid = m.stamp_pid ? m.stamp_gid : creds.gid;
        // The message is being routed as we speak, so its writer is alive
        // unless it exited right after writing; capture_process_items
        // checks the pidfd again after reading /proc.
        // One pidfd per writer, not per message: a cached pidfd of a process
        // that since exited fails the liveness check after reading, and
        // only the stamp is reported, so reuse never misattributes.
        Connection& writer = *sender;
        if (writer.writer_pid != stamp.pid || !writer.writer_pidfd) {
            writer.writer_pidfd = metadata::Pidfd::open(stamp.pid);
            writer.writer_pid = stamp.pid;
        }
        metadata::capture_process_items(md, process, stamp, writer.writer_pidfd ? &writer.writer_pidfd : nullptr);
        // /proc shows the sender as it is now; the stamp shows who wrote
        // the message. If they differ the sender changed credentials since,
        // and only what the stamp proves is reported (kdbus: captured at
        // send time, never made up).
        if ((md.present & attach::creds) && m.stamp_pid &&
            (md.ids[0] != m.stamp_uid || md.ids[4] != m.stamp_gid)) {
            constexpr uint32_t unknown = 0xffffffffu;
            md.ids = {m.stamp_uid, unknown, unknown, unknown, m.stamp_gid, unknown, unknown, unknown};
        }
    }
    if (missing & attach::names) {
        md.names = names.names_owned_by(sender->id);
        md.present |= attach::names;
    }
    if ((missing & attach::conn_description) && !sender->description.empty()) {
        md.conn_description = sender->description;
        md.present |= attach::conn_description;
    }
    if ((missing & attach::seclabel) && !sender->credentials().security_label.empty()) {
        md.seclabel = sender->credentials().security_label;
        md.present |= attach::seclabel;
    }
}

}  // namespace

void pin_hello_identity(Connection& c) {
    pid_t pid = c.credentials().pid;
    if (pid <= 0) return;
    // The pidfd of the process that connected (SO_PEERPIDFD) cannot name a
    // later process that reused its pid; pidfd_open(pid) is for kernels
    // before 6.5.
    metadata::Pidfd pidfd(c.peer_pidfd().release());
    if (!pidfd) pidfd = metadata::Pidfd::open(pid);
    if (!pidfd) return;
    // The receiver's namespaces are pinned now (kdbus §3 rule 5). Most
    // peers share the daemon's, and then translation is the identity.
    // Looked up by path, without opening /proc/PID: the check below that
    // the process is still alive proves the pid named it throughout.
    struct Identity {
        std::optional<metadata::FileId> userns, pidns, root;
        bool operator==(const Identity&) const = default;
    };
    auto identity_of = [](std::string_view dir) {
        auto id = [dir](std::string_view name) -> std::optional<metadata::FileId> {
            char path[48];  // "/proc/<pid>/ns/user"
            std::memcpy(path, dir.data(), dir.size());
            std::memcpy(path + dir.size(), name.data(), name.size());
            path[dir.size() + name.size()] = '\0';
            struct stat st;
            if (::stat(path, &st) != 0) return std::nullopt;
            return metadata::file_id(st);
        };
        return Identity{id("ns/user"), id("ns/pid"), id("root")};
    };
    static const bool have_proc = [] {
        struct stat st;
        return ::stat("/proc/self", &st) == 0;
    }();
    static const Identity daemon = identity_of("/proc/self/");
    // Held open for the daemon's life: a stat of /proc/PID/ns/* finds the
    // namespace's one nsfs dentry while something holds it, and otherwise
    // makes a new inode and dentry and frees them again (3.1 against
    // 6.1 µs a stat on the development VM), for the peers that share the
    // daemon's namespaces, which are most.
    [[maybe_unused]] static const bool namespaces_held = [] {
        for (const char* path : {"/proc/self/ns/user", "/proc/self/ns/pid"}) ::open(path, O_PATH | O_CLOEXEC);
        return true;
    }();
    char dir[32] = "/proc/";
    char* end = std::to_chars(dir + 6, dir + sizeof dir - 1, pid).ptr;
    *end++ = '/';
    Identity peer = identity_of(std::string_view(dir, static_cast<size_t>(end - dir)));
    // PIDFD_GET_INFO (Linux 6.13) answers only while the process is
    // unreaped, so it is the liveness check too; older kernels signal it.
    auto info = pidfd.info();
    if (info) {
        c.hello_identity = Connection::HelloIdentity{
            {info->ruid, info->euid, info->suid, info->fsuid, info->rgid, info->egid, info->sgid, info->fsgid},
            static_cast<pid_t>(info->ppid)};
    } else if (!pidfd.alive()) {
        return;
    }
    if (!have_proc) return;
    static const metadata::NamespaceView daemon_view = metadata::NamespaceView::daemon();
    if (peer == daemon)
        c.namespaces = daemon_view;
    else
        c.namespaces = metadata::NamespaceView::capture(pidfd, pid);
}

std::vector<uint8_t> header_with_metadata(BusMessage& m, Connection* sender, const Connection& to,
                                          const NameRegistry& names, uint64_t& seqnum) {
    if (to.attach_recv == 0 || !to.namespaces) return {};
    uint64_t mask;
    if (sender) {
        pid_t pid = m.stamp_pid ? m.stamp_pid : sender->credentials().pid;
        mask = metadata::delivered_mask(to.attach_recv, sender->attach_send, *to.namespaces, pid);
    } else {
        mask = to.attach_recv & attach::timestamp;  // kdbus: kernel messages carry only TIMESTAMP
    }
    if (!mask) return {};
    capture(m, sender, mask, names, seqnum);
    auto head = m.header_bytes();
    std::vector<uint8_t> out(head.begin(), head.end());
    const metadata::MessageMetadata* md = &*m.metadata;
    std::optional<metadata::MessageMetadata> filtered;
    if (to.endpoint && (mask & attach::names) && !md->names.empty()) {
        // Through a custom endpoint a hidden name does not exist, in the
        // NAMES item too (kdbus did not filter it; KDBUS.md says we should).
        filtered = *md;
        std::erase_if(filtered->names,
                      [&to](const std::string& n) { return to.endpoint->access(n) < policy::Access::See; });
        md = &*filtered;
    }
    if (!metadata::append_metadata_field(out, m.header.endian, *md, mask, *to.namespaces)) return {};
    return out;
}

}  // namespace kdbus::daemon
