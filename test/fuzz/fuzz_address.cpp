// libFuzzer target: D-Bus server address strings. What parses formats back
// (with escaping) to a string that parses to the same addresses.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/address.hpp"

using namespace kdbus::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto addresses = parse_addresses(text, &error);
    if (!addresses) return 0;
    for (const auto& a : *addresses) {
        std::string formatted = format_address(a);
        auto again = parse_addresses(formatted, &error);
        if (!again || again->size() != 1) abort();
        if ((*again)[0].transport != a.transport || (*again)[0].params != a.params) abort();
    }
    return 0;
}
