#include "bus_address.hpp"

#include <cstdio>

namespace kdbusctl {

namespace {

bool optionally_escaped(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
           c == '/' || c == '.' || c == '\\' || c == '*';
}

std::string join(std::string_view dir, std::string_view leaf) {
    std::string path(dir);
    if (path.empty() || path.back() != '/') path += '/';
    return path += leaf;
}

}  // namespace

std::string unix_path_address(std::string_view path) {
    std::string address = "unix:path=";
    for (unsigned char c : path) {
        if (optionally_escaped(c)) {
            address += static_cast<char>(c);
        } else {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02x", c);
            address += escaped;
        }
    }
    return address;
}

std::string control_address(std::string_view domain_dir) { return unix_path_address(join(domain_dir, "control")); }

std::string bus_address(std::string_view domain_dir, std::string_view bus) {
    return unix_path_address(join(join(domain_dir, bus), "bus"));
}

}  // namespace kdbusctl
