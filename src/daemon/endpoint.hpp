/* Endpoint: a custom endpoint of a bus, and what its connections may see
 *
 * kdbus (KDBUS.md rows "Custom endpoints", "Endpoint + bus policy"): an
 * extra socket onto a bus whose connections are filtered by the
 * endpoint's own default-deny policy before the bus policy applies, for
 * everyone — no owner, same-uid or privileged bypass. Through an endpoint
 * a name the policy does not let the peer SEE does not exist: every driver
 * method, signal, error text and metadata item answers as it would for a
 * name nobody owns. A connection without an endpoint binding (the bus's
 * default endpoint) is never filtered here; every check below starts with
 * that null test so the default endpoint pays one branch.
 */
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/match_rule.hpp"
#include "policy/endpoint_policy.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

class Bus;
class Connection;

struct Endpoint {
    std::string name;  // "<uid>-<name>"
    uid_t owner = 0;
    std::string socket_path;
    std::string address;
    /* Replaced whole by UpdateEndpointPolicy (kdbus ENDPOINT_UPDATE is
     * atomic); every check reads the current one. */
    std::shared_ptr<const policy::EndpointPolicy> policy;
};

/* A connection's tie to its endpoint, with the credentials the policy's
 * user and group entries match (euid and every gid, at connect). */
struct EndpointBinding {
    std::shared_ptr<Endpoint> endpoint;
    policy::EndpointPeer peer;

    policy::Access access(std::string_view name) const { return endpoint->policy->access(name, peer); }
};

namespace endpoint_filter {

/* May `viewer` know that `name` exists? Unique names: the connection is
 * the viewer itself or owns a name the viewer may SEE (kdbus: a peer is
 * visible only through a SEE-able name). The driver is always visible. */
bool sees(Bus& bus, const Connection& viewer, std::string_view name);
bool sees_connection(Bus& bus, const Connection& viewer, const Connection& target);

/* `from` (on an endpoint) sends `m`, addressed to `addressed`, to `to`:
 * the AccessDenied text, or nothing when its endpoint lets it. Replies are
 * not checked here (the reply slot decides). */
std::optional<std::string> talk_denial(Bus& bus, const Connection& from, std::string_view addressed,
                                       const Connection& to, const wire::Header& h);
/* May `from` (on an endpoint) start or call the unowned name `name`? */
bool may_talk_to_name(const Connection& from, std::string_view name, const wire::Header& h);

/* Does a signal from `sender` (nullptr: the driver) reach `to`, a
 * connection on an endpoint? Signals need TALK to one of the sender's
 * names or a matching broadcast rule (kdbus: the receiver needs TALK to
 * the sender); the driver's NameOwnerChanged needs SEE of the name. */
bool may_receive_signal(Bus& bus, const Connection& to, const Connection* sender, const wire::Header& h,
                        std::span<const uint8_t> body);

/* Does one of `to`'s match rules still match `in` when names `to` may not
 * see own nothing? A sender='hidden.Name' rule must not fire for a
 * message whose sender also owns a visible name: that would tell the
 * sandbox who owns the hidden one. */
bool rules_match_as_seen(Bus& bus, const Connection& to, const MatchInput& in);

}  // namespace endpoint_filter

}  // namespace kdbus::daemon
