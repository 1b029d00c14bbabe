/* Helpers for the policy tests: configurations from text, messages */
#pragma once

#include <string>

#include "policy/config.hpp"

namespace kdbus::policy::test {

/* Users alice=1000, bob=1001, root=0; groups wheel=10, staff=50. */
inline LoadOptions fake_users()
{
    LoadOptions o;
    o.lookup_user = [](std::string_view n) -> std::optional<uid_t> {
        if (n == "root" || n == "0")
            return 0;
        if (n == "alice" || n == "1000")
            return 1000;
        if (n == "bob" || n == "1001")
            return 1001;
        return std::nullopt;
    };
    o.lookup_group = [](std::string_view n) -> std::optional<gid_t> {
        if (n == "wheel")
            return 10;
        if (n == "staff")
            return 50;
        return std::nullopt;
    };
    o.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    return o;
}

/* A configuration with one listen address and the given body. */
inline Config load(const std::string& body, const LoadOptions& options = fake_users())
{
    return load_config_string("<busconfig><listen>unix:tmpdir=/tmp</listen>\n" + body +
                                  "\n</busconfig>",
                              "/test/bus.conf", options);
}

inline MessageFacts call(std::string_view destination, std::string_view interface,
                         std::string_view member, std::string_view path = "/")
{
    MessageFacts m;
    m.type = MessageType::method_call;
    m.destination = destination;
    m.interface = interface;
    m.member = member;
    m.path = path;
    m.sender = ":1.1";
    return m;
}

inline MessageFacts reply(std::string_view destination)
{
    MessageFacts m;
    m.type = MessageType::method_return;
    m.destination = destination;
    m.sender = ":1.2";
    m.has_reply_serial = true;
    return m;
}

inline MessageFacts broadcast(std::string_view interface, std::string_view member)
{
    MessageFacts m;
    m.type = MessageType::signal;
    m.interface = interface;
    m.member = member;
    m.path = "/";
    m.sender = ":1.1";
    return m;
}

}  // namespace kdbus::policy::test
