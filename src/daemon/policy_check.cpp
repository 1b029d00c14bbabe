#include "daemon/policy_check.hpp"

#include <fstream>

namespace kdbus::daemon {

policy::MessageFacts message_facts(const BusMessage& m) {
    const wire::Header& h = m.header;
    policy::MessageFacts f;
    f.type = static_cast<policy::MessageType>(h.type);
    f.path = h.path;
    f.interface = h.interface;
    f.member = h.member;
    f.error_name = h.error_name;
    f.destination = h.destination;
    f.sender = m.sender;
    f.has_reply_serial = h.reply_serial != 0;
    f.n_fds = h.unix_fds;
    return f;
}

bool ConnectionNames::owns(std::string_view name) const {
    if (name == c_.unique_name) return true;
    return names_.is_owner_or_queued(name, c_.id);
}

bool ConnectionNames::owns_below(std::string_view prefix) const {
    for (const auto& n : names_.names_held_by(c_.id))
        if (policy::name_has_prefix(n, prefix)) return true;
    return false;
}

namespace {

std::string describe_peer(const Connection* c) {
    if (!c) return "\"org.freedesktop.DBus\" (bus)";
    std::string comm;
    if (c->credentials().pid > 0) {
        std::ifstream f("/proc/" + std::to_string(c->credentials().pid) + "/comm");
        std::getline(f, comm);
    }
    return "\"" + c->unique_name + "\" (uid=" + std::to_string(c->credentials().uid) +
           " pid=" + std::to_string(c->credentials().pid) + " comm=\"" + comm + "\")";
}

std::string or_unset(std::string_view v) { return v.empty() ? "(unset)" : std::string(v); }

}  // namespace

std::string denial_text(bool send, const policy::MessageFacts& f, const policy::Decision& d,
                        bool requested_reply, const Connection* sender, const Connection* receiver) {
    std::string s = send ? "Rejected send message, " : "Rejected receive message, ";
    s += d.rule ? "1 matched rules; " : "0 matched rules; ";
    s += "type=\"" + std::string(policy::to_string(f.type)) + "\", sender=" + describe_peer(sender);
    s += " interface=\"" + or_unset(f.interface) + "\" member=\"" + or_unset(f.member) + "\"";
    s += " error name=\"" + or_unset(f.error_name) + "\"";
    s += " requested_reply=\"" + std::string(requested_reply ? "1" : "0") + "\"";
    s += " destination=" + (receiver ? describe_peer(receiver) : "\"" + or_unset(f.destination) + "\"");
    if (d.rule) s += " rule: " + d.rule->describe();
    return s;
}

}  // namespace kdbus::daemon
