// libFuzzer target: custom endpoint policies. The input is read once as
// the JSON vocabulary and once, split at NUL bytes, as xdg-dbus-proxy
// arguments. Either parses or throws PolicyError; nothing else may escape.
// A policy that parses must survive its own to_json unchanged, its to_rules
// must parse, and it must answer queries for the names the input mentions.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/endpoint_policy.hpp"

using namespace kdbus::policy;

namespace {

void exercise(const EndpointPolicy& policy, const std::vector<std::string>& probes) {
    auto again = EndpointPolicy::from_json(policy.to_json());  // a PolicyError here escapes: a finding
    if (!(*again == policy)) __builtin_trap();
    (void)EndpointPolicy::from_rules(policy.to_rules());  // likewise
    (void)policy.empty();
    const EndpointPeer peers[] = {{1000, {1000, 27}}, {0, {}}};
    for (const std::string& probe : probes) {
        // Probe both the text and the part after the last '=' (the NAME or
        // RULE of an argument), as name and as interface/member/path.
        std::string_view name = probe;
        if (size_t eq = name.rfind('='); eq != name.npos) name.remove_prefix(eq + 1);
        for (const EndpointPeer& peer : peers) {
            (void)policy.access(probe, peer);
            (void)policy.access(name, peer);
            (void)policy.may_call(name, peer, name, name, name);
            (void)policy.may_receive_signal(name, peer, "org.example.I", "M", "/org/example");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> pieces;
    for (size_t start = 0; start <= text.size();) {
        size_t nul = text.find('\0', start);
        if (nul == text.npos) nul = text.size();
        pieces.emplace_back(text.substr(start, nul - start));
        start = nul + 1;
    }
    try {
        exercise(*EndpointPolicy::from_json(text), pieces);
    } catch (const PolicyError&) {
    }
    try {
        exercise(*EndpointPolicy::from_rules(pieces), pieces);
    } catch (const PolicyError&) {
    }
    return 0;
}
