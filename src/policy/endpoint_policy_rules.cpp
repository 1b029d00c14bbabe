// Endpoint policy from xdg-dbus-proxy(1) arguments: --see=NAME,
// --talk=NAME, --own=NAME, --call=NAME=RULE, --broadcast=NAME=RULE, so a
// Flatpak rule set moves over unchanged.
#include "policy/endpoint_policy.hpp"

namespace kdbus::policy {

namespace {

NameRule parse_name_rule(std::string_view option, std::string_view value) {
    size_t eq = value.find('=');
    if (eq == std::string_view::npos)
        throw PolicyError("expected --" + std::string(option) + "=NAME=RULE");
    return NameRule{NamePattern::parse_xdg(value.substr(0, eq)), MessageRule::parse(value.substr(eq + 1))};
}

}  // namespace

void EndpointPolicy::add_rule(std::string_view text) {
    try {
        size_t eq = text.find('=');
        if (!text.starts_with("--") || eq == std::string_view::npos)
            throw PolicyError("expected --see=NAME, --talk=NAME, --own=NAME, --call=NAME=RULE or --broadcast=NAME=RULE");
        std::string_view option = text.substr(2, eq - 2);
        std::string_view value = text.substr(eq + 1);
        if (option == "see") {
            world_.push_back({NamePattern::parse_xdg(value), Access::See});
        } else if (option == "talk") {
            world_.push_back({NamePattern::parse_xdg(value), Access::Talk});
        } else if (option == "own") {
            world_.push_back({NamePattern::parse_xdg(value), Access::Own});
        } else if (option == "call") {
            calls_.push_back(parse_name_rule(option, value));
        } else if (option == "broadcast") {
            broadcasts_.push_back(parse_name_rule(option, value));
        } else {
            throw PolicyError("unknown option " + quote_for_error(text.substr(0, eq)) +
                              " (expected --see, --talk, --own, --call or --broadcast)");
        }
    } catch (const PolicyError& e) {
        throw PolicyError("rule " + quote_for_error(text) + ": " + e.what());
    }
}

void EndpointPolicy::add_rules(std::span<const std::string> rules) {
    for (const std::string& rule : rules) add_rule(rule);
}

std::shared_ptr<const EndpointPolicy> EndpointPolicy::from_rules(std::span<const std::string> rules) {
    auto policy = std::make_shared<EndpointPolicy>();
    policy->add_rules(rules);
    policy->finish();
    return policy;
}

std::vector<std::string> EndpointPolicy::to_rules() const {
    std::vector<std::string> out;
    for (const WorldGrant& g : world_) out.push_back("--" + std::string(to_string(g.access)) + "=" + g.name.to_string());
    for (const NameRule& r : calls_) out.push_back("--call=" + r.name.to_string() + "=" + r.rule.to_string());
    for (const NameRule& r : broadcasts_) out.push_back("--broadcast=" + r.name.to_string() + "=" + r.rule.to_string());
    return out;
}

}  // namespace kdbus::policy
