/* NamespaceView: a receiver's user, pid and mount namespaces, pinned at its Hello, and translation into them */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "metadata/pidfd.hpp"
#include "metadata/proc_files.hpp"

namespace kdbus::metadata {

/*
 * kdbus translated metadata into the namespaces the receiver had at HELLO,
 * so the result does not depend on which task later reads (KDBUS.md §3
 * rule 5, 4230223), and never sent a raw value that the receiver's
 * namespaces cannot express (rule 6). Ids and pids given to the
 * translation functions are as the daemon sees them.
 *
 * A view holds the receiver's pid namespace open (pinned) and translates
 * pids with the nsfs NS_GET_*_IN_PIDNS ioctls: one syscall, exact even for
 * sibling namespaces at the same depth, and no /proc parsing.
 */
class NamespaceView {
public:
    /* One line of uid_map/gid_map: ids [inner, inner+count) of the
     * receiver's namespace are [outer, outer+count) in the daemon's. */
    struct IdExtent {
        uint32_t inner, outer, count;
    };
    /* A user namespace on the way from the receiver's up to the daemon's. */
    struct UsernsLink {
        FileId ns;
        uid_t owner;  // the namespace creator's euid, as the daemon sees it
    };
    enum class CapsView { verbatim, all_ones, zero };

    /* The daemon's own namespaces: every translation is the identity. */
    static NamespaceView daemon();

    /* Captures the namespaces of the receiving process; nullopt if it is
     * gone. Reads a few small /proc files; call once per Hello. */
    static std::optional<NamespaceView> capture(const Pidfd& pidfd, pid_t pid);

    /* uid/gid → receiver userns; -1 stays -1; unmappable → 65534. */
    uint32_t uid(uid_t id) const { return translate(uid_map_, id, overflow); }
    uint32_t gid(gid_t id) const { return translate(gid_map_, id, overflow); }
    /* kdbus: an unmappable loginuid becomes -1, not the overflow id. */
    uint32_t loginuid(uid_t id) const { return translate(uid_map_, id, unset); }

    /* A process (tgid) or thread id → receiver pidns; 0 when invisible
     * there (or when the kernel cannot translate, < 6.7). */
    uint32_t pid(pid_t daemon_pid) const { return translate_pid(daemon_pid, true); }
    uint32_t tid(pid_t daemon_tid) const { return translate_pid(daemon_tid, false); }

    /*
     * Could the receiver read /proc/<sender> itself? kdbus (cc6a928,
     * kdbus_proc_permission): the pid is visible in its pidns and its /proc
     * does not hide it (hidepid off, or its egid is the hidepid gid, or it
     * is the same process). Decides whether PROC items flow without the
     * sender's consent.
     */
    bool proc_readable(pid_t daemon_pid) const;

    /* kdbus_meta_export_caps: walk from the receiver's userns towards the
     * root; meeting the sender's → verbatim; first meeting a child of the
     * sender's ns owned by the sender's euid → all ones; else zero. */
    CapsView caps(const FileId& sender_userns, uid_t sender_euid) const;

    /* EXE is dropped across fs roots (KDBUS.md metadata table). */
    bool same_root(const FileId& sender_root) const { return root_ && sender_root == *root_; }

    /* For tests and logs. */
    pid_t receiver_pid() const { return pid_; }
    bool identity_ids() const { return identity_ids_; }

private:
    static constexpr uint32_t overflow = 65534;
    static constexpr uint32_t unset = 0xffffffffu;

    uint32_t translate(const std::vector<IdExtent>& map, uint32_t id, uint32_t unmapped) const;
    uint32_t translate_pid(pid_t daemon_pid, bool tgid) const;

    bool identity_ids_ = true;
    std::vector<IdExtent> uid_map_, gid_map_;
    /* Receiver's pidns, shared between copies; empty when it is the daemon's. */
    std::shared_ptr<const int> pidns_;
    std::vector<UsernsLink> userns_chain_;  // receiver's own first
    std::optional<FileId> root_;
    /* Its /proc: hidepid level (0 = off, ≥1 hides) and gid exempted. */
    bool has_proc_ = true;
    int hidepid_ = 0;
    std::optional<gid_t> hidepid_gid_;
    gid_t egid_ = static_cast<gid_t>(-1);
    pid_t pid_ = 0;
};

/* Parsers, exposed for tests. */
std::vector<NamespaceView::IdExtent> parse_id_map(std::string_view text);
/* hidepid and gid of the /proc mount in a /proc/PID/mounts text; nullopt
 * when no proc filesystem is mounted on /proc. */
struct ProcMount {
    int hidepid = 0;
    std::optional<gid_t> gid;
};
std::optional<ProcMount> parse_proc_mount(std::string_view mounts);

}  // namespace kdbus::metadata
