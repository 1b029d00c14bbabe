/* User database look-ups for <policy user=…>, <allow group=…> and friends
 * (dbus-daemon: _dbus_parse_unix_user_from_config accepts a number or a
 * name) */
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <string>
#include <vector>

#include "policy/config.hpp"

namespace kdbus::policy {

namespace {

std::optional<unsigned long> as_number(std::string_view s)
{
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return value;
}

}  // namespace

std::optional<uid_t> lookup_system_user(std::string_view name_or_id)
{
    if (auto n = as_number(name_or_id))
        return static_cast<uid_t>(*n);
    const std::string name(name_or_id);
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* result = nullptr;
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr)
        return std::nullopt;
    return pw.pw_uid;
}

std::optional<gid_t> lookup_system_group(std::string_view name_or_id)
{
    if (auto n = as_number(name_or_id))
        return static_cast<gid_t>(*n);
    const std::string name(name_or_id);
    std::vector<char> buf(65536);
    group gr{};
    group* result = nullptr;
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 || result == nullptr)
        return std::nullopt;
    return gr.gr_gid;
}

std::vector<gid_t> groups_of_user(uid_t uid)
{
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* result = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr)
        return {};
    int n = 32;
    std::vector<gid_t> groups(n);
    while (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0)
        groups.resize(n);
    groups.resize(n);
    return groups;
}

}  // namespace kdbus::policy
