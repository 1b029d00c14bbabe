// Endpoint policy in kdbusd's JSON vocabulary (documented in
// endpoint_policy.hpp), both ways.
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/endpoint_policy.hpp"

namespace kdbus::policy {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxId = 0xfffffffe;  // (uid_t)-1 and (gid_t)-1 mean "no id"

[[noreturn]] void fail(const std::string& where, const std::string& what) {
    throw PolicyError("policy JSON: " + where + ": " + what);
}

/* Bytes outside printable ASCII as \xNN, at most 200 of them: safe in a
 * D-Bus error message. */
std::string printable(std::string_view text) {
    constexpr size_t kMax = 200;
    std::string out;
    for (unsigned char c : text.substr(0, kMax)) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    if (text.size() > kMax) out += "...";
    return out;
}

/* Parse, refusing duplicate keys: nlohmann keeps the last one silently,
 * which would drop a grant without a word. */
Json parse_document(std::string_view text) {
    std::vector<std::unordered_set<std::string>> open_objects;
    std::optional<std::string> duplicate;
    auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
        switch (event) {
        case Json::parse_event_t::object_start: open_objects.emplace_back(); break;
        case Json::parse_event_t::object_end:
            if (!open_objects.empty()) open_objects.pop_back();
            break;
        case Json::parse_event_t::key:
            if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
                !duplicate)
                duplicate = parsed.get<std::string>();
            break;
        default: break;
        }
        return true;
    };
    Json doc;
    try {
        doc = Json::parse(text.begin(), text.end(), callback);
    } catch (const Json::exception& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at …"
        // and may cite bytes of the input.
        std::string_view what = e.what();
        if (size_t end = what.find("] "); what.starts_with("[json.exception.") && end != what.npos)
            what.remove_prefix(end + 2);
        throw PolicyError("policy JSON: " + printable(what));
    }
    if (duplicate) throw PolicyError("policy JSON: duplicate key " + quote_for_error(*duplicate));
    return doc;
}

const std::string& string_at(const Json& value, const std::string& where) {
    if (!value.is_string()) fail(where, "expected a string");
    return value.get_ref<const std::string&>();
}

NamePattern xdg_pattern_at(const Json& value, const std::string& where) {
    const std::string& text = string_at(value, where);
    try {
        return NamePattern::parse_xdg(text);
    } catch (const PolicyError& e) {
        fail(where, e.what());
    }
}

Access access_at(const Json& value, const std::string& where) {
    const std::string& text = string_at(value, where);
    if (text == "see") return Access::See;
    if (text == "talk") return Access::Talk;
    if (text == "own") return Access::Own;
    fail(where, "access " + quote_for_error(text) + " is not one of \"see\", \"talk\", \"own\"");
}

uint32_t id_at(const Json& value, const std::string& where) {
    if (!value.is_number_unsigned() || value.get<uint64_t>() > kMaxId)
        fail(where, "expected a number from 0 to 4294967294");
    return static_cast<uint32_t>(value.get<uint64_t>());
}

std::string index_where(const std::string& where, size_t i) { return where + "[" + std::to_string(i) + "]"; }
std::string key_where(const std::string& where, const std::string& key) {
    return where + "[" + quote_for_error(key) + "]";
}

const Json& array_at(const Json& value, const std::string& where) {
    if (!value.is_array()) fail(where, "expected an array");
    return value;
}

const Json& object_at(const Json& value, const std::string& where) {
    if (!value.is_object()) fail(where, "expected an object");
    return value;
}

/* {"user": 1000, "access": "talk"}, {"group": 27, …}, {"world": true, …} */
AccessEntry access_entry_at(const Json& value, const std::string& where) {
    object_at(value, where);
    AccessEntry entry;
    int subjects = 0;
    bool has_access = false;
    for (const auto& [key, field] : value.items()) {
        std::string field_where = where + "." + key;
        if (key == "user" || key == "group") {
            entry.subject = key == "user" ? AccessEntry::Subject::User : AccessEntry::Subject::Group;
            entry.id = id_at(field, field_where);
            ++subjects;
        } else if (key == "world") {
            if (!field.is_boolean() || !field.get<bool>()) fail(field_where, "must be true");
            entry.subject = AccessEntry::Subject::World;
            entry.id = 0;
            ++subjects;
        } else if (key == "access") {
            entry.access = access_at(field, field_where);
            has_access = true;
        } else {
            fail(where, "unknown key " + quote_for_error(key) + " (expected user, group or world, and access)");
        }
    }
    if (subjects != 1) fail(where, "needs exactly one of \"user\", \"group\", \"world\"");
    if (!has_access) fail(where, "needs \"access\"");
    return entry;
}

/* {"NAME": ["RULE", …], …} for "call" and "broadcast" */
void add_name_rules(const Json& value, const std::string& where, std::vector<NameRule>& out) {
    object_at(value, where);
    for (const auto& [name, rules] : value.items()) {
        std::string name_where = key_where(where, name);
        NamePattern pattern = xdg_pattern_at(name, name_where);
        array_at(rules, name_where);
        for (size_t i = 0; i < rules.size(); ++i) {
            std::string rule_where = index_where(name_where, i);
            const std::string& text = string_at(rules[i], rule_where);
            try {
                out.push_back({pattern, MessageRule::parse(text)});
            } catch (const PolicyError& e) {
                fail(rule_where, e.what());
            }
        }
    }
}

Json access_entry_json(const AccessEntry& entry) {
    Json out = Json::object();
    switch (entry.subject) {
    case AccessEntry::Subject::User: out["user"] = entry.id; break;
    case AccessEntry::Subject::Group: out["group"] = entry.id; break;
    case AccessEntry::Subject::World: out["world"] = true; break;
    }
    out["access"] = std::string(to_string(entry.access));
    return out;
}

Json name_rules_json(const std::vector<NameRule>& rules) {
    Json out = Json::object();
    for (const NameRule& r : rules) out[r.name.to_string()].push_back(r.rule.to_string());
    return out;
}

}  // namespace

void EndpointPolicy::add_json(std::string_view text) {
    Json doc = parse_document(text);
    if (!doc.is_object()) throw PolicyError("policy JSON: the top level must be an object");
    for (const auto& [key, value] : doc.items()) {
        std::string where = quote_for_error(key);
        if (key == "see" || key == "talk" || key == "own") {
            Access access = key == "see" ? Access::See : key == "talk" ? Access::Talk : Access::Own;
            array_at(value, where);
            for (size_t i = 0; i < value.size(); ++i)
                world_.push_back({xdg_pattern_at(value[i], index_where(where, i)), access});
        } else if (key == "call") {
            add_name_rules(value, where, calls_);
        } else if (key == "broadcast") {
            add_name_rules(value, where, broadcasts_);
        } else if (key == "names") {
            object_at(value, where);
            for (const auto& [name, entries] : value.items()) {
                std::string name_where = key_where(where, name);
                NameEntry entry;
                try {
                    entry.name = NamePattern::parse_kdbus(name);
                } catch (const PolicyError& e) {
                    fail(name_where, e.what());
                }
                array_at(entries, name_where);
                for (size_t i = 0; i < entries.size(); ++i)
                    entry.access.push_back(access_entry_at(entries[i], index_where(name_where, i)));
                names_.push_back(std::move(entry));
            }
        } else {
            throw PolicyError("policy JSON: unknown key " + where +
                              " (expected see, talk, own, call, broadcast or names)");
        }
    }
}

std::shared_ptr<const EndpointPolicy> EndpointPolicy::from_json(std::string_view text) {
    auto policy = std::make_shared<EndpointPolicy>();
    policy->add_json(text);
    policy->finish();
    return policy;
}

std::string EndpointPolicy::to_json() const {
    Json out = Json::object();
    for (const WorldGrant& g : world_) out[std::string(to_string(g.access))].push_back(g.name.to_string());
    if (!calls_.empty()) out["call"] = name_rules_json(calls_);
    if (!broadcasts_.empty()) out["broadcast"] = name_rules_json(broadcasts_);
    if (!names_.empty()) {
        Json& names = out["names"] = Json::object();
        for (const NameEntry& e : names_) {
            Json list = Json::array();
            for (const AccessEntry& a : e.access) list.push_back(access_entry_json(a));
            names[e.name.to_string()] = std::move(list);
        }
    }
    return out.dump();
}

}  // namespace kdbus::policy
