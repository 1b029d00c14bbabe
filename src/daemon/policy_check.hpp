/* Policy checks on the routing path: a message's facts for the policy, the
 * names a connection holds, and dbus-daemon's AccessDenied texts */
#pragma once

#include <string>

#include "daemon/bus_message.hpp"
#include "daemon/connection.hpp"
#include "daemon/name_registry.hpp"
#include "policy/policy.hpp"

namespace kdbus::daemon {

policy::MessageFacts message_facts(const BusMessage& m);

/* The names a connection owns or waits for, plus its unique name, as
 * send_destination and receive_sender rules see them. */
class ConnectionNames final : public policy::NameOwnership {
public:
    ConnectionNames(const NameRegistry& names, const Connection& c) : names_(names), c_(c) {}
    bool owns(std::string_view name) const override;
    bool owns_below(std::string_view prefix) const override;

private:
    const NameRegistry& names_;
    const Connection& c_;
};

/* "Rejected send message, …" as dbus-daemon words it (bus/bus.c
 * complain_about_message), naming the rule that decided. */
std::string denial_text(bool send, const policy::MessageFacts& facts, const policy::Decision& d,
                        bool requested_reply, const Connection* sender, const Connection* receiver);

}  // namespace kdbus::daemon
