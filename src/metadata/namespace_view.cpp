#include "metadata/namespace_view.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "metadata/linux_compat.hpp"

namespace kdbus::metadata {
namespace {

/* User namespaces nest at most 32 deep (kernel/user_namespace.c). */
constexpr size_t max_userns_depth = 33;

bool parse_uint(std::string_view& s, uint32_t& out) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc() || p == s.data()) return false;
    s.remove_prefix(static_cast<size_t>(p - s.data()));
    return true;
}

std::shared_ptr<const int> share_fd(int fd) {
    return std::shared_ptr<const int>(new int(fd), [](const int* p) {
        ::close(*p);
        delete p;
    });
}

std::optional<FileId> fd_id(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return std::nullopt;
    return file_id(st);
}

/* The receiver's user namespace and its ancestors up to the daemon's
 * (NS_GET_PARENT stops with EPERM above the caller's own namespace). */
std::vector<NamespaceView::UsernsLink> userns_chain(int userns_fd, const FileId& daemon_userns) {
    std::vector<NamespaceView::UsernsLink> chain;
    int fd = ::fcntl(userns_fd, F_DUPFD_CLOEXEC, 0);
    while (fd >= 0 && chain.size() < max_userns_depth) {
        auto id = fd_id(fd);
        uid_t owner = static_cast<uid_t>(-1);
        if (!id || ::ioctl(fd, NS_GET_OWNER_UID, &owner) != 0) break;
        chain.push_back({*id, owner});
        if (*id == daemon_userns) break;
        int parent = ::ioctl(fd, NS_GET_PARENT);
        ::close(fd);
        fd = parent;
    }
    if (fd >= 0) ::close(fd);
    return chain;
}

}  // namespace

std::vector<NamespaceView::IdExtent> parse_id_map(std::string_view text) {
    std::vector<NamespaceView::IdExtent> map;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        NamespaceView::IdExtent e;
        if (parse_uint(line, e.inner) && parse_uint(line, e.outer) && parse_uint(line, e.count)) map.push_back(e);
        pos = eol + 1;
    }
    return map;
}

std::optional<ProcMount> parse_proc_mount(std::string_view mounts) {
    std::optional<ProcMount> found;
    size_t pos = 0;
    while (pos < mounts.size()) {
        size_t eol = mounts.find('\n', pos);
        if (eol == std::string_view::npos) eol = mounts.size();
        std::string_view line = mounts.substr(pos, eol - pos);
        pos = eol + 1;
        /* "proc /proc proc rw,nosuid,hidepid=invisible,gid=5 0 0"; the last
         * mount on /proc wins, as it is the one on top. */
        std::string_view field[4];
        for (auto& f : field) {
            size_t sp = line.find(' ');
            f = line.substr(0, sp);
            line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
        }
        if (field[1] != "/proc" || field[2] != "proc") continue;
        ProcMount pm;
        std::string_view opts = field[3];
        while (!opts.empty()) {
            size_t comma = opts.find(',');
            std::string_view opt = opts.substr(0, comma);
            opts = comma == std::string_view::npos ? std::string_view() : opts.substr(comma + 1);
            if (opt.substr(0, 8) == "hidepid=") {
                std::string_view v = opt.substr(8);
                uint32_t n = 0;
                if (v == "off") pm.hidepid = 0;
                else if (v == "noaccess") pm.hidepid = 1;
                else if (v == "invisible") pm.hidepid = 2;
                else if (v == "ptraceable") pm.hidepid = 4;
                else if (parse_uint(v, n)) pm.hidepid = static_cast<int>(n);
            } else if (opt.substr(0, 4) == "gid=") {
                std::string_view v = opt.substr(4);
                uint32_t g;
                if (parse_uint(v, g)) pm.gid = g;
            }
        }
        found = pm;
    }
    return found;
}

NamespaceView NamespaceView::daemon() {
    NamespaceView v;
    v.pid_ = ::getpid();
    if (auto self = ProcDir::self()) {
        v.root_ = self->stat("root");
        int userns = self->open_file("ns/user");
        if (auto id = userns >= 0 ? fd_id(userns) : std::nullopt) v.userns_chain_ = userns_chain(userns, *id);
        if (userns >= 0) ::close(userns);
    }
    return v;
}

std::optional<NamespaceView> NamespaceView::capture(const Pidfd& pidfd, pid_t pid) {
    auto self = ProcDir::self();
    auto dir = ProcDir::open(pidfd, pid);
    if (!self || !dir) return std::nullopt;

    NamespaceView v;
    v.pid_ = pid;

    /* User namespace: identity when it is the daemon's own, else the maps
     * (whose outer ids /proc reports relative to the daemon's userns). */
    auto daemon_userns = self->stat("ns/user");
    int userns = dir->open_file("ns/user");
    if (!daemon_userns || userns < 0) {
        if (userns >= 0) ::close(userns);
        return std::nullopt;
    }
    auto receiver_userns = fd_id(userns);
    v.identity_ids_ = receiver_userns == daemon_userns;
    if (!v.identity_ids_) {
        auto uid_map = dir->read("uid_map");
        auto gid_map = dir->read("gid_map");
        if (!uid_map || !gid_map) {
            ::close(userns);
            return std::nullopt;
        }
        v.uid_map_ = parse_id_map(*uid_map);
        v.gid_map_ = parse_id_map(*gid_map);
    }
    v.userns_chain_ = userns_chain(userns, *daemon_userns);
    ::close(userns);

    /* Pid namespace: pinned open unless it is the daemon's own. */
    int pidns = dir->open_file("ns/pid");
    if (pidns < 0) return std::nullopt;
    if (fd_id(pidns) == self->stat("ns/pid")) {
        ::close(pidns);
    } else {
        v.pidns_ = share_fd(pidns);
    }

    v.root_ = dir->stat("root");

    /* hidepid of the /proc the receiver sees; without one it cannot read
     * anything about other processes itself. */
    v.has_proc_ = false;  // unless shown otherwise: consent is then required
    if (auto mounts = dir->read("mounts", 1024 * 1024)) {
        auto pm = parse_proc_mount(*mounts);
        v.has_proc_ = pm.has_value();
        if (pm) {
            v.hidepid_ = pm->hidepid;
            v.hidepid_gid_ = pm->gid;
        }
    }
    if (auto status = dir->read("status")) {
        if (auto gids = status_field(*status, "Gid")) {
            std::string_view s = *gids;
            uint32_t real, effective;
            if (parse_uint(s, real) && parse_uint(s, effective)) v.egid_ = effective;
        }
    }

    /* Everything above was read through a directory that may have died
     * half way; make sure it described a live process throughout. */
    if (!pidfd.alive()) return std::nullopt;
    return v;
}

uint32_t NamespaceView::translate(const std::vector<IdExtent>& map, uint32_t id, uint32_t unmapped) const {
    if (id == unset) return unset;
    if (identity_ids_) return id;
    for (const IdExtent& e : map)
        if (id >= e.outer && id - e.outer < e.count) return e.inner + (id - e.outer);
    return unmapped;
}

uint32_t NamespaceView::translate_pid(pid_t daemon_pid, bool tgid) const {
    if (daemon_pid <= 0) return 0;
    if (!pidns_) return static_cast<uint32_t>(daemon_pid);
    int r = ::ioctl(*pidns_, tgid ? NS_GET_TGID_IN_PIDNS : NS_GET_PID_IN_PIDNS, daemon_pid);
    return r > 0 ? static_cast<uint32_t>(r) : 0;
}

bool NamespaceView::proc_readable(pid_t daemon_pid) const {
    if (!has_proc_ || pid(daemon_pid) == 0) return false;
    if (hidepid_ < 1 || daemon_pid == pid_) return true;
    return hidepid_gid_ && *hidepid_gid_ == egid_;
}

NamespaceView::CapsView NamespaceView::caps(const FileId& sender_userns, uid_t sender_euid) const {
    for (size_t i = 0; i < userns_chain_.size(); ++i) {
        if (userns_chain_[i].ns == sender_userns) return CapsView::verbatim;
        if (i + 1 < userns_chain_.size() && userns_chain_[i + 1].ns == sender_userns &&
            userns_chain_[i].owner == sender_euid)
            return CapsView::all_ones;
    }
    return CapsView::zero;
}

}  // namespace kdbus::metadata
