#include "metadata/message_metadata.hpp"

#include <charconv>
#include <cstdlib>
#include <optional>

namespace kdbus::metadata {
namespace {

constexpr uint32_t unknown_id = 0xffffffffu;

/* Everything read from /proc (CREDS and PIDS may also come from the stamp). */
constexpr uint64_t process_items = attach::creds | attach::pids | attach::auxgroups | attach::tid_comm |
                                   attach::pid_comm | attach::exe | attach::cmdline | attach::cgroup |
                                   attach::caps | attach::audit;

bool parse_number(std::string_view& s, uint64_t& out, int base = 10) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    if (ec != std::errc() || p == s.data()) return false;
    s.remove_prefix(static_cast<size_t>(p - s.data()));
    return true;
}

std::string_view trim_newline(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.remove_suffix(1);
    return s;
}

/* cap_last_cap of the running kernel; it cannot change while we run. */
uint32_t last_cap() {
    static const uint32_t value = [] {
        uint32_t v = 40;  // CAP_CHECKPOINT_RESTORE, the last one as of 6.x
        if (auto self = ProcDir::self())
            if (auto text = self->read("../sys/kernel/cap_last_cap")) {
                std::string_view s = *text;
                uint64_t n;
                if (parse_number(s, n)) v = static_cast<uint32_t>(n);
            }
        return v;
    }();
    return value;
}

void set_caps_word(std::string_view status, std::string_view key, std::array<uint32_t, 2>& out) {
    auto field = status_field(status, key);
    uint64_t v = 0;
    std::string_view s = field ? *field : std::string_view();
    if (field && parse_number(s, v, 16)) out = {static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32)};
}

std::string cgroup_path(std::string_view text) {
    /* Prefer the unified hierarchy's "0::/path"; else the first line. */
    std::string_view first;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
        if (first.empty()) first = line;
    }
    size_t colon = first.find(':', first.find(':') + 1);
    return colon == std::string_view::npos ? std::string() : std::string(first.substr(colon + 1));
}

/* Returns the bits it captured. */
uint64_t read_process(MessageMetadata& md, uint64_t wanted, const Pidfd& pidfd, pid_t pid) {
    wanted &= process_items;
    if (!wanted || !pidfd) return 0;

    /* CREDS and PIDS come from one PIDFD_GET_INFO (≥ 6.13), which is
     * race-free by itself and needs no /proc at all: the common case of a
     * receiver asking for the implicit items costs one syscall. */
    uint64_t got = 0;
    std::optional<kernel::pidfd_info> info;
    if (wanted & (attach::creds | attach::pids)) {
        info = pidfd.info();
        if (info && static_cast<pid_t>(info->tgid) != pid) return 0;  // not the process we were told
        if (info && !(wanted & ~(attach::creds | attach::pids))) {
            if (wanted & attach::creds)
                md.ids = {info->ruid, info->euid, info->suid, info->fsuid,
                          info->rgid, info->egid, info->sgid, info->fsgid};
            if (wanted & attach::pids) {
                md.pid = pid;
                md.tid = 0;
                md.ppid = static_cast<pid_t>(info->ppid);
            }
            return wanted;
        }
    }

    auto dir = ProcDir::open(pidfd, pid);
    if (!dir) return 0;
    std::optional<std::string> status;
    if ((wanted & (attach::auxgroups | attach::caps)) || ((wanted & (attach::creds | attach::pids)) && !info))
        status = dir->read("status");

    if (wanted & attach::creds) {
        if (info) {
            md.ids = {info->ruid, info->euid, info->suid, info->fsuid,
                      info->rgid, info->egid, info->sgid, info->fsgid};
            got |= attach::creds;
        } else if (status && parse_status_ids(*status, md.ids)) {
            got |= attach::creds;
        }
    }
    if (wanted & attach::pids) {
        md.pid = pid;
        md.tid = 0;
        uint64_t ppid = 0;
        if (info) {
            ppid = info->ppid;
        } else if (auto f = status ? status_field(*status, "PPid") : std::nullopt) {
            std::string_view s = *f;
            parse_number(s, ppid);
        }
        md.ppid = static_cast<pid_t>(ppid);
        got |= attach::pids;
    }
    if ((wanted & attach::auxgroups) && status) {
        md.auxgroups.clear();
        if (auto f = status_field(*status, "Groups")) {
            std::string_view s = *f;
            uint64_t g;
            while (parse_number(s, g)) md.auxgroups.push_back(static_cast<gid_t>(g));
        }
        got |= attach::auxgroups;
    }
    if (wanted & (attach::tid_comm | attach::pid_comm)) {
        /* Both name the main thread: which thread wrote is unknown. */
        if (auto comm = dir->read("comm", 64)) {
            md.pid_comm = md.tid_comm = std::string(trim_newline(*comm));
            got |= wanted & (attach::tid_comm | attach::pid_comm);
        }
    }
    if (wanted & attach::exe) {
        auto exe = dir->readlink("exe");
        auto root = dir->stat("root");
        if (exe && root) {
            md.exe = std::move(*exe);
            md.root = *root;
            got |= attach::exe;
        }
    }
    if (wanted & attach::cmdline) {
        if (auto raw = dir->read("cmdline")) {
            md.cmdline = split_cmdline(*raw);
            got |= attach::cmdline;
        }
    }
    if (wanted & attach::cgroup) {
        if (auto text = dir->read("cgroup")) {
            md.cgroup = cgroup_path(*text);
            got |= attach::cgroup;
        }
    }
    if ((wanted & attach::caps) && status) {
        auto userns = dir->stat("ns/user");
        if (userns) {
            md.caps.last_cap = last_cap();
            set_caps_word(*status, "CapInh", md.caps.inheritable);
            set_caps_word(*status, "CapPrm", md.caps.permitted);
            set_caps_word(*status, "CapEff", md.caps.effective);
            set_caps_word(*status, "CapBnd", md.caps.bounding);
            md.userns = *userns;
            /* The caps translation compares against the euid. */
            if (!(got & attach::creds)) parse_status_ids(*status, md.ids);
            got |= attach::caps;
        }
    }
    if (wanted & attach::audit) {
        auto loginuid = dir->read("loginuid", 32);
        auto sessionid = dir->read("sessionid", 32);
        if (loginuid && sessionid) {
            std::string_view l = *loginuid, s = *sessionid;
            uint64_t lv, sv;
            if (parse_number(l, lv) && parse_number(s, sv)) {
                md.loginuid = static_cast<uint32_t>(lv);
                md.sessionid = static_cast<uint32_t>(sv);
                got |= attach::audit;
            }
        }
    }

    /* Reaped half way: some files may have failed; keep nothing partial. */
    if (!pidfd.alive()) return 0;
    return got;
}

}  // namespace

bool parse_status_ids(std::string_view status, std::array<uint32_t, 8>& ids) {
    auto uids = status_field(status, "Uid");
    auto gids = status_field(status, "Gid");
    if (!uids || !gids) return false;
    std::string_view u = *uids, g = *gids;
    std::array<uint32_t, 8> out;
    for (size_t i = 0; i < 4; ++i) {
        uint64_t a, b;
        if (!parse_number(u, a) || !parse_number(g, b)) return false;
        out[i] = static_cast<uint32_t>(a);
        out[4 + i] = static_cast<uint32_t>(b);
    }
    ids = out;
    return true;
}

std::vector<std::string> split_cmdline(std::string_view raw) {
    std::vector<std::string> args;
    while (!raw.empty()) {
        size_t nul = raw.find('\0');
        args.emplace_back(raw.substr(0, nul));
        if (nul == std::string_view::npos) break;
        raw.remove_prefix(nul + 1);
    }
    return args;
}

void capture_process_items(MessageMetadata& md, uint64_t wanted, const Pidfd& pidfd, pid_t pid) {
    md.present |= read_process(md, wanted, pidfd, pid);
}

void capture_process_items(MessageMetadata& md, uint64_t wanted, const MessageCredentials& stamp,
                           const Pidfd* fallback_pidfd) {
    const Pidfd* pidfd = nullptr;
    if (stamp.pidfd)
        pidfd = &stamp.pidfd;
    /* The connection's pidfd proves nothing about another process that
     * shares the socket: use it only when it names the stamped pid. */
    else if (fallback_pidfd && *fallback_pidfd && stamp.has_creds && fallback_pidfd->pid() == stamp.pid)
        pidfd = fallback_pidfd;

    uint64_t got = 0;
    if (pidfd && stamp.has_creds) got = read_process(md, wanted, *pidfd, stamp.pid);

    /* The stamp itself was taken at send time: it survives the sender. */
    if (stamp.has_creds) {
        if ((wanted & attach::creds) && !(got & attach::creds)) {
            md.ids = {stamp.uid, unknown_id, unknown_id, unknown_id, stamp.gid, unknown_id, unknown_id, unknown_id};
            got |= attach::creds;
        }
        if ((wanted & attach::pids) && !(got & attach::pids)) {
            md.pid = stamp.pid;
            md.tid = 0;
            md.ppid = 0;
            got |= attach::pids;
        }
    }
    md.present |= got;
}

}  // namespace kdbus::metadata
