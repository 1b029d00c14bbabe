#include "policy/limits_json.hpp"

#include <climits>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "policy/endpoint_policy.hpp"

namespace kdbus::policy {

namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw PolicyError("policy JSON: " + where + ": " + what);
}

/* One "name": value pair, checked as FileParser::set_limit checks <limit>. */
std::pair<LimitInfo, int64_t> limit_at(const std::string& name, const Json& value, const std::string& where) {
    auto info = find_limit(name);
    if (!info) fail(where, "there is no limit called " + quote_for_error(name));
    if (!value.is_number_integer()) fail(where, "a limit is a whole number");
    if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(where, "the value is too large");
    int64_t v = value.get<int64_t>();
    if (v < 0) fail(where, "a limit must be a positive number");
    if (info->must_be_int && v > INT_MAX) fail(where, "the value is too large");
    return {*info, v};
}

uid_t uid_at(const std::string& key, const std::string& where) {
    if (key.empty() || key.size() > 10 || key.find_first_not_of("0123456789") != std::string::npos)
        fail(where, "a user is a uid (decimal digits)");
    uint64_t v = std::stoull(key);
    if (v >= uint64_t(uid_t(-1))) fail(where, "not a valid uid");
    return static_cast<uid_t>(v);
}

}  // namespace

std::string take_json_limits(std::string_view text, Limits& limits) {
    Json doc = Json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("limits")) return std::string(text);
    const Json& given = doc["limits"];
    if (!given.is_object()) fail("\"limits\"", "must be an object");
    for (const auto& [name, value] : given.items()) {
        std::string where = "\"limits\"." + quote_for_error(name);
        if (name != "users") {
            auto [info, v] = limit_at(name, value, where);
            limits.*(info.field) = v;
            continue;
        }
        if (!value.is_object()) fail(where, "must be an object of uids");
        for (const auto& [key, own] : value.items()) {
            std::string user_where = where + "." + quote_for_error(key);
            uid_t uid = uid_at(key, user_where);
            if (!own.is_object()) fail(user_where, "must be an object of limits");
            for (const auto& [own_name, own_value] : own.items()) {
                std::string own_where = user_where + "." + quote_for_error(own_name);
                auto [info, v] = limit_at(own_name, own_value, own_where);
                if (!info.per_user) fail(own_where, "only the *_per_user limits can be one user's");
                limits.per_uid.push_back({uid, info.field, v});
            }
        }
    }
    doc.erase("limits");
    return doc.dump();
}

}  // namespace kdbus::policy
