/* D-Bus server addresses (D-Bus specification, "Server Addresses") */
#include "wire/address.hpp"

namespace kdbus::wire {

namespace {

/* Specification: these bytes may appear unescaped; all others are %xx. */
bool is_optionally_escaped(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           c == '-' || c == '_' || c == '/' || c == '.' || c == '\\' || c == '*';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unescape(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (in.size() - i < 3) return false;  // '%' needs two hex digits
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

bool parse_one(std::string_view text, Address& address, std::string* error) {
    auto fail = [error](std::string why) {
        if (error) *error = std::move(why);
        return false;
    };
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return fail("address has no colon: " + std::string(text));
    if (colon == 0) return fail("address has no transport: " + std::string(text));
    address.transport = std::string(text.substr(0, colon));
    std::string_view rest = text.substr(colon + 1);
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view pair = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        size_t eq = pair.find('=');
        if (eq == std::string_view::npos)
            return fail("address parameter has no '=': " + std::string(pair));
        if (eq == 0) return fail("address parameter has an empty key");
        std::string key(pair.substr(0, eq));
        if (address.get(key)) return fail("address parameter repeated: " + key);
        std::string value;
        if (!unescape(pair.substr(eq + 1), value))
            return fail("bad %-escape in address value: " + std::string(pair));
        address.params.emplace_back(std::move(key), std::move(value));
    }
    return true;
}

}  // namespace

std::optional<std::string_view> Address::get(std::string_view key) const {
    for (const auto& [k, v] : params)
        if (k == key) return std::string_view(v);
    return std::nullopt;
}

std::optional<std::vector<Address>> parse_addresses(std::string_view text, std::string* error) {
    std::vector<Address> addresses;
    while (!text.empty()) {
        size_t semicolon = text.find(';');
        std::string_view one = text.substr(0, semicolon);
        text = semicolon == std::string_view::npos ? std::string_view{} : text.substr(semicolon + 1);
        if (one.empty()) continue;  // "a;;b" and a trailing ';' are harmless
        Address address;
        if (!parse_one(one, address, error)) return std::nullopt;
        addresses.push_back(std::move(address));
    }
    if (addresses.empty()) {
        if (error) *error = "empty address";
        return std::nullopt;
    }
    return addresses;
}

std::string escape_address_value(std::string_view value) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (is_optionally_escaped(c)) {
            out += c;
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 0xf];
        }
    }
    return out;
}

std::string format_address(const Address& address) {
    std::string out = address.transport + ":";
    bool first = true;
    for (const auto& [k, v] : address.params) {
        if (!first) out += ',';
        first = false;
        out += k;
        out += '=';
        out += escape_address_value(v);
    }
    return out;
}

}  // namespace kdbus::wire
