#include "daemon/domain_names.hpp"

namespace kdbus::daemon {

namespace {

constexpr size_t max_name_length = 63;  // kdbus KDBUS_SYSNAME_MAX_LEN

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::string check_domain_object_name(std::string_view name, uid_t uid) {
    if (name.empty()) return "the name is empty";
    if (name.size() > max_name_length)
        return "the name \"" + std::string(name) + "\" is longer than 63 characters";
    std::string prefix = std::to_string(uid) + "-";
    if (name.substr(0, prefix.size()) != prefix)
        return "the name \"" + std::string(name) + "\" must start with the caller's uid, \"" + prefix + "\"";
    std::string_view rest = name.substr(prefix.size());
    if (rest.empty()) return "the name \"" + std::string(name) + "\" has nothing after its uid prefix";
    for (size_t i = 0; i < rest.size(); ++i) {
        char c = rest[i];
        if (is_name_char(c)) continue;
        bool edge = i == 0 || i + 1 == rest.size();
        if ((c == '-' || c == '.') && !edge) continue;
        return "the name \"" + std::string(name) + "\" has an invalid character at position " +
               std::to_string(prefix.size() + i);
    }
    return {};
}

}  // namespace kdbus::daemon
