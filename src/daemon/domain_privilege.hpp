/* Domain privilege: who holds CAP_IPC_OWNER in a domain's user namespace (KDBUS.md "Privilege", §3 rules 1–2) */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "daemon/unique_fd.hpp"
#include "metadata/pidfd.hpp"
#include "metadata/proc_files.hpp"

namespace kdbus::daemon {

class Connection;

/*
 * kdbus made a connection privileged when its opener had CAP_IPC_OWNER in
 * the user namespace the domain was mounted in (file_ns_capable at open,
 * never re-checked per operation). The kernel's rule (cap_capable): a
 * capability held in a user namespace counts there and in every namespace
 * below it, never above or beside it; so root of a child user namespace is
 * not privileged in its parent's domain (test-policy-ns.c).
 *
 * kdbusd's domain lives in the daemon's own user namespace. A peer is
 * privileged when its effective set holds CAP_IPC_OWNER and its user
 * namespace is the domain's or an ancestor of it. The daemon learns the
 * peer's namespace through its pidfd (PIDFD_GET_USER_NAMESPACE, else
 * /proc/PID/ns/user through a directory pinned by the pidfd). Walking up
 * with NS_GET_PARENT from there tells "the domain's" and "below it" apart;
 * a walk that stops before the domain's namespace means the peer is above
 * or beside it, and of those the daemon can name only the initial user
 * namespace, which is above every namespace (a daemon inside a user
 * namespace cannot open its own ancestors: NS_GET_PARENT refuses to leave
 * the caller's scope). When the daemon may not open the peer's namespace
 * at all (a peer above it, under another uid: ptrace access is needed),
 * the peer's /proc/PID/uid_map, readable by anyone, tells the initial
 * namespace apart: only it (and full copies that host root alone can make)
 * maps the whole 32-bit range.
 *
 * Not modelled: the kernel also gives every capability in a namespace to
 * its creator's euid in the parent namespace; a daemon inside a user
 * namespace cannot see its parent, so such a peer is privileged here only
 * if it holds CAP_IPC_OWNER itself. The owner's uid is the bus owner's for
 * its own buses anyway.
 */
class DomainPrivilege {
public:
    /* The domain's user namespace is the daemon's own (kdbus: the
     * mounter's), pinned now. */
    DomainPrivilege();

    /* Whether the process that connected `c` is privileged in the domain.
     * Decided on the first call for a connection, from that process (its
     * SO_PEERPIDFD), and remembered for the connection's life. */
    bool of(const Connection& c);

    /* The decision itself, for the process behind `pidfd` (`pid` as the
     * daemon sees it): false when it is gone or cannot be told. */
    bool holds_cap_ipc_owner(const metadata::Pidfd& pidfd, pid_t pid) const;

private:
    enum class Place { domain, below, above_or_beside };
    /* Where the user namespace `ns` sits relative to the domain's. */
    Place place_of(int ns) const;
    bool is_initial(const metadata::FileId& ns) const;

    UniqueFd domain_ns_;
    metadata::FileId domain_id_;

    struct Decided {
        std::weak_ptr<const Connection> connection;
        bool privileged = false;
    };
    std::unordered_map<const Connection*, Decided> decided_;
    size_t purge_at_ = 64;
};

/* Parsers, exposed for tests. */
/* CAP_IPC_OWNER in a "CapEff:" value of /proc/PID/status (hex). */
std::optional<bool> cap_ipc_owner_in(std::string_view cap_eff);
/* A /proc/PID/uid_map text that maps the whole 32-bit range in one extent:
 * the initial user namespace's. */
bool maps_every_uid(std::string_view uid_map);

}  // namespace kdbus::daemon
