#include "daemon/endpoint.hpp"

#include <algorithm>

#include "daemon/bus.hpp"
#include "daemon/connection.hpp"
#include "wire/marshal.hpp"

namespace kdbus::daemon::endpoint_filter {

namespace {

constexpr std::string_view driver_name = "org.freedesktop.DBus";

bool is_unique(std::string_view name) { return !name.empty() && name[0] == ':'; }

/* The best access `viewer` has to any name `target` owns. */
policy::Access best_access(Bus& bus, const EndpointBinding& b, const Connection& target) {
    policy::Access best = policy::Access::None;
    bus.names().any_owned_by(target.id, [&](std::string_view name) {
        best = std::max(best, b.access(name));
        return best == policy::Access::Own;  // nothing is better
    });
    return best;
}

}  // namespace

bool sees_connection(Bus& bus, const Connection& viewer, const Connection& target) {
    if (!viewer.endpoint || &viewer == &target) return true;
    return best_access(bus, *viewer.endpoint, target) >= policy::Access::See;
}

bool sees(Bus& bus, const Connection& viewer, std::string_view name) {
    if (!viewer.endpoint || name == driver_name) return true;
    if (is_unique(name)) {
        Connection* target = bus.resolve(name);
        return target && sees_connection(bus, viewer, *target);
    }
    return viewer.endpoint->access(name) >= policy::Access::See;
}

bool may_talk_to_name(const Connection& from, std::string_view name, const wire::Header& h) {
    if (!from.endpoint) return true;
    const EndpointBinding& b = *from.endpoint;
    if (h.type == wire::MessageType::method_call)
        return b.endpoint->policy->may_call(name, b.peer, h.interface, h.member, h.path);
    return b.access(name) >= policy::Access::Talk;
}

std::optional<std::string> talk_denial(Bus& bus, const Connection& from, std::string_view addressed,
                                       const Connection& to, const wire::Header& h) {
    if (!from.endpoint || &from == &to) return std::nullopt;
    // Addressed by a well-known name: that name's rules decide (an
    // xdg-dbus-proxy --call rule names the service, not its other names).
    // By unique name: any name the peer owns may grant it (kdbus TALK).
    if (!is_unique(addressed)) {
        if (may_talk_to_name(from, addressed, h)) return std::nullopt;
    } else {
        if (bus.names().any_owned_by(to.id, [&](std::string_view name) { return may_talk_to_name(from, name, h); }))
            return std::nullopt;
    }
    std::string what = h.type == wire::MessageType::method_call
                           ? "call " + std::string(h.interface) + "." + std::string(h.member) + " on"
                           : "send messages to";
    return "The endpoint " + from.endpoint->endpoint->name + " does not allow " + from.unique_name + " to " + what +
           " \"" + std::string(addressed) + "\"";
}

bool may_receive_signal(Bus& bus, const Connection& to, const Connection* sender, const wire::Header& h,
                        std::span<const uint8_t> body) {
    if (!to.endpoint) return true;
    const EndpointBinding& b = *to.endpoint;
    if (!sender) {
        // The driver: name changes of hidden names do not exist. Unique
        // names come and go visibly (kdbus: ID_ADD/REMOVE reach everyone).
        if (h.member != "NameOwnerChanged" || h.signature != "sss") return true;
        wire::Reader r(body, h.endian);
        std::string_view name;
        if (!r.read_string(name)) return false;
        return is_unique(name) || b.access(name) >= policy::Access::See;
    }
    if (sender == &to) return true;
    return bus.names().any_owned_by(sender->id, [&](std::string_view name) {
        return b.endpoint->policy->may_receive_signal(name, b.peer, h.interface, h.member, h.path);
    });
}

bool rules_match_as_seen(Bus& bus, const Connection& to, const MatchInput& in) {
    if (!to.endpoint || !in.owns) return true;
    const auto& owns = *in.owns;
    std::function<bool(std::string_view, std::string_view)> owns_as_seen =
        [&](std::string_view name, std::string_view unique) {
            return (is_unique(name) || name == driver_name || to.endpoint->access(name) >= policy::Access::See) &&
                   owns(name, unique);
        };
    MatchInput seen = in;
    seen.owns = &owns_as_seen;
    return bus.matches().owner_matches(to.id, seen);
}

}  // namespace kdbus::daemon::endpoint_filter
