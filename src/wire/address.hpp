/* D-Bus server addresses (D-Bus specification, "Server Addresses") */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kdbus::wire {

struct Address {
    std::string transport;  // "unix", "tcp", "systemd", ...
    std::vector<std::pair<std::string, std::string>> params;  // unescaped, in order

    /* The value of `key`, or nullopt. */
    std::optional<std::string_view> get(std::string_view key) const;
};

/* Parses "t1:k=v,k=v;t2:..." with %xx unescaping. Returns nullopt (and sets
 * *error) on a syntax error: no colon, a key without '=', a bad escape, an
 * empty key, or a repeated key. */
std::optional<std::vector<Address>> parse_addresses(std::string_view text, std::string* error);

/* Escapes a value: bytes outside [-0-9A-Za-z_/.\\*] become %xx. */
std::string escape_address_value(std::string_view value);

/* "transport:k=escaped,k=escaped". */
std::string format_address(const Address& address);

}  // namespace kdbus::wire
