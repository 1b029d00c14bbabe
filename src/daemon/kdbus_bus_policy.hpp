/* kdbus bus policy: a bus created with a JSON policy follows kdbus's
 * default-endpoint rules instead of dbus-daemon's XML semantics
 *
 * KDBUS.md "Policy model": on a bus's default endpoint SEE is always
 * allowed; OWN needs the bus owner or a policy entry ≥ OWN for the name;
 * TALK from S to D needs S to be the owner, S's euid to equal D's, or an
 * entry ≥ TALK for any name D owns; broadcasts and unicast signals reach a
 * receiver only if it could TALK to the sender; replies pass on their
 * reply slot. The entries are the same JSON vocabulary as a custom
 * endpoint's (policy/endpoint_policy.hpp), so "names" entries give users,
 * groups or the world SEE/TALK/OWN, and "call"/"broadcast" rules work as
 * on an endpoint.
 */
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/endpoint_policy.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

class Connection;
class NameRegistry;

struct KdbusBusPolicy {
    std::shared_ptr<const policy::EndpointPolicy> entries;
    uid_t owner = 0;  // the bus creator's uid: bypasses TALK and OWN checks

    bool may_own(const Connection& c, std::string_view name) const;
    /* The AccessDenied text, or nothing when `from` may send `h` to `to`
     * (nullptr: a name nobody owns yet, for auto-start). The driver's own
     * messages and requested replies always pass. */
    std::optional<std::string> send_denial(const NameRegistry& names, const Connection* from,
                                           const wire::Header& h, const Connection* to,
                                           bool requested_reply) const;
};

}  // namespace kdbus::daemon
