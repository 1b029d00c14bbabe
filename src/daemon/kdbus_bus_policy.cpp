#include "daemon/kdbus_bus_policy.hpp"

#include "daemon/connection.hpp"
#include "daemon/name_registry.hpp"

namespace kdbus::daemon {

namespace {

/* kdbus TALK from `from` to `to`: the owner, the same uid, or an entry
 * for one of `to`'s names (a method call may also pass a call rule). */
bool may_talk(const KdbusBusPolicy& p, const NameRegistry& names, const Connection& from, const Connection& to,
              const wire::Header& h) {
    uid_t uid = from.credentials().uid;
    if (uid == p.owner || uid == to.credentials().uid) return true;
    const policy::EndpointPeer& peer = from.policy_peer();
    return names.any_owned_by(to.id, [&](std::string_view name) {
        return h.type == wire::MessageType::method_call
                   ? p.entries->may_call(name, peer, h.interface, h.member, h.path)
                   : p.entries->access(name, peer) >= policy::Access::Talk;
    });
}

}  // namespace

bool KdbusBusPolicy::may_own(const Connection& c, std::string_view name) const {
    return c.credentials().uid == owner || entries->access(name, c.policy_peer()) >= policy::Access::Own;
}

std::optional<std::string> KdbusBusPolicy::send_denial(const NameRegistry& names, const Connection* from,
                                                       const wire::Header& h, const Connection* to,
                                                       bool requested_reply) const {
    if (!from || requested_reply) return std::nullopt;
    if (h.type == wire::MessageType::method_return || h.type == wire::MessageType::error) return std::nullopt;
    if (h.destination == "org.freedesktop.DBus") return std::nullopt;  // the driver answers everyone
    if (!to) {
        // Auto-start: TALK to the name that is not there yet.
        uid_t uid = from->credentials().uid;
        if (uid == owner || entries->may_call(h.destination, from->policy_peer(), h.interface, h.member, h.path))
            return std::nullopt;
        return "The bus policy does not allow " + std::string(from->unique_name) + " to talk to \"" +
               std::string(h.destination) + "\"";
    }
    if (h.type == wire::MessageType::signal) {
        // The receiver must be able to talk to the sender (kdbus
        // kdbus_conn_policy_see_notification), for broadcasts and unicast
        // signals alike; a broadcast rule admits matching signals too.
        uid_t uid = to->credentials().uid;
        if (uid == owner || uid == from->credentials().uid) return std::nullopt;
        const policy::EndpointPeer& peer = to->policy_peer();
        if (names.any_owned_by(from->id, [&](std::string_view name) {
                return entries->may_receive_signal(name, peer, h.interface, h.member, h.path);
            }))
            return std::nullopt;
        return "The bus policy does not let " + to->unique_name + " receive signals from " + from->unique_name;
    }
    if (may_talk(*this, names, *from, *to, h)) return std::nullopt;
    return "The bus policy does not allow " + from->unique_name + " to talk to " + to->unique_name + " (\"" +
           std::string(h.destination) + "\")";
}

}  // namespace kdbus::daemon
