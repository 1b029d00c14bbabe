#include "daemon/domain_privilege.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <string>

#include <spdlog/spdlog.h>

#include "daemon/connection.hpp"
#include "metadata/linux_compat.hpp"

namespace kdbus::daemon {
namespace {

/* include/uapi/linux/pidfd.h (6.11); Debian 12's headers predate it. */
constexpr unsigned long pidfd_get_user_namespace = _IO(0xFF, 9);

/* The initial user namespace has a fixed nsfs inode number
 * (include/linux/proc_ns.h PROC_USER_INIT_INO; lsns relies on it too). */
constexpr ino_t initial_userns_ino = 0xEFFFFFFDu;

/* User namespaces nest at most 32 deep (kernel/user_namespace.c). */
constexpr int max_userns_depth = 33;

std::optional<metadata::FileId> id_of(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return std::nullopt;
    return metadata::file_id(st);
}

/* The peer's user namespace, or an empty fd when the daemon may not open
 * it (ptrace read access is needed either way) or the process is gone. */
UniqueFd open_peer_userns(const metadata::Pidfd& pidfd, const metadata::ProcDir& proc) {
    UniqueFd ns(::ioctl(pidfd.get(), pidfd_get_user_namespace, 0));
    if (ns || (errno != ENOTTY && errno != EINVAL)) return ns;
    // Before 6.11: the link below a /proc/PID directory that the pidfd
    // pins to this process (metadata::ProcDir::open).
    return UniqueFd(proc.open_file("ns/user"));
}

}  // namespace

std::optional<bool> cap_ipc_owner_in(std::string_view cap_eff) {
    uint64_t caps = 0;
    auto [end, ec] = std::from_chars(cap_eff.data(), cap_eff.data() + cap_eff.size(), caps, 16);
    if (ec != std::errc() || end == cap_eff.data()) return std::nullopt;
    return (caps >> CAP_IPC_OWNER & 1) != 0;
}

bool maps_every_uid(std::string_view uid_map) {
    // One line "first lower count"; `lower` is as the reader sees it
    // (4294967295 where unmapped), so only `first` and `count` are telling.
    uint64_t fields[3];
    size_t at = 0;
    for (uint64_t& f : fields) {
        while (at < uid_map.size() && uid_map[at] == ' ') ++at;
        auto [end, ec] = std::from_chars(uid_map.data() + at, uid_map.data() + uid_map.size(), f);
        if (ec != std::errc()) return false;
        at = static_cast<size_t>(end - uid_map.data());
    }
    std::string_view rest = uid_map.substr(at);
    bool one_line = rest.empty() || rest == "\n";
    return one_line && fields[0] == 0 && fields[2] == 0xFFFFFFFFu;
}

DomainPrivilege::DomainPrivilege() : domain_ns_(::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC)) {
    auto id = domain_ns_ ? id_of(domain_ns_.get()) : std::nullopt;
    if (id) {
        domain_id_ = *id;
        return;
    }
    // Without /proc nobody can be shown to hold the capability; owners
    // still manage their own buses.
    domain_ns_.reset();
    spdlog::warn("cannot open the daemon's user namespace: no connection will be privileged in the domain");
}

bool DomainPrivilege::of(const Connection& c) {
    if (auto it = decided_.find(&c); it != decided_.end()) {
        if (it->second.connection.lock().get() == &c) return it->second.privileged;
        decided_.erase(it);  // a connection that went away at the same address
    }
    // SO_PEERPIDFD names the process that connected, even after it passed
    // the socket on; peer_pidfd() only reads that socket option.
    UniqueFd fd = const_cast<Connection&>(c).peer_pidfd();
    metadata::Pidfd pidfd = fd ? metadata::Pidfd(fd.release()) : metadata::Pidfd::open(c.credentials().pid);
    bool privileged = holds_cap_ipc_owner(pidfd, c.credentials().pid);
    spdlog::debug("control connection {} (uid {}, pid {}) is {}privileged in the domain", c.serial_number,
                  c.credentials().uid, c.credentials().pid, privileged ? "" : "not ");

    if (decided_.size() >= purge_at_) {
        std::erase_if(decided_, [](const auto& entry) { return entry.second.connection.expired(); });
        purge_at_ = std::max<size_t>(64, 2 * decided_.size());
    }
    decided_[&c] = Decided{c.weak_from_this(), privileged};
    return privileged;
}

bool DomainPrivilege::holds_cap_ipc_owner(const metadata::Pidfd& pidfd, pid_t pid) const {
    if (!domain_ns_) return false;
    auto proc = metadata::ProcDir::open(pidfd, pid);
    if (!proc) return false;
    auto status = proc->read("status");
    auto cap_eff = status ? metadata::status_field(*status, "CapEff") : std::nullopt;
    if (!cap_eff || !cap_ipc_owner_in(*cap_eff).value_or(false)) return false;

    if (UniqueFd ns = open_peer_userns(pidfd, *proc)) {
        switch (place_of(ns.get())) {
            case Place::domain: return true;
            case Place::below: return false;
            case Place::above_or_beside: {
                auto id = id_of(ns.get());
                return id && is_initial(*id);
            }
        }
    }
    // Not ours to open: a peer under another uid, outside the namespaces
    // the daemon has capabilities in. The initial namespace is the only
    // one of those it can recognise, and an ancestor of every domain.
    auto uid_map = proc->read("uid_map");
    return uid_map && maps_every_uid(*uid_map) && pidfd.alive();
}

DomainPrivilege::Place DomainPrivilege::place_of(int ns) const {
    auto id = id_of(ns);
    if (id && *id == domain_id_) return Place::domain;
    // NS_GET_PARENT fails with EPERM above the daemon's own namespace, so a
    // walk from a namespace beside or above the domain's ends early.
    UniqueFd at(::fcntl(ns, F_DUPFD_CLOEXEC, 0));
    for (int depth = 0; at && depth < max_userns_depth; ++depth) {
        at = UniqueFd(::ioctl(at.get(), NS_GET_PARENT));
        if (!at) break;
        if (auto parent = id_of(at.get()); parent && *parent == domain_id_) return Place::below;
    }
    return Place::above_or_beside;
}

bool DomainPrivilege::is_initial(const metadata::FileId& ns) const {
    // Every nsfs inode lives on one superblock: the domain's namespace
    // tells its device.
    return ns.ino == initial_userns_ino && ns.dev == domain_id_.dev;
}

}  // namespace kdbus::daemon
