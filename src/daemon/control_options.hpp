/* Control options: the a{sv} option maps of org.kdbusd.Control1 calls
 * (CreateBus, CreateEndpoint, UpdateEndpointPolicy) */
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "wire/marshal.hpp"

namespace kdbus::daemon {

using OptionValue = std::variant<bool, uint32_t, std::string, std::vector<std::string>>;
using OptionMap = std::map<std::string, OptionValue, std::less<>>;

/* Reads an a{sv} of b, u, s and as values; values of other types are
 * skipped (a newer client's options an older daemon does not know). False
 * if the map is malformed. */
bool read_options(wire::Reader& r, OptionMap& out);

/* The option `key` if present with type T, else nullptr. */
template <typename T>
const T* option(const OptionMap& m, std::string_view key) {
    auto it = m.find(key);
    return it == m.end() ? nullptr : std::get_if<T>(&it->second);
}

}  // namespace kdbus::daemon
