// libFuzzer target: match-rule parsing. A rule that parses has a canonical
// text (to_string) that parses back to an equal rule and to the same text;
// the match registry keys RemoveMatch on that.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/match_rule.hpp"

using kdbus::daemon::MatchRule;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto rule = MatchRule::parse(text, &error);
    if (!rule) return 0;
    std::string canonical = rule->to_string();
    // Escaping can push the canonical text past the length limit, which
    // parse() then rightly refuses; the round trip holds below it.
    if (canonical.size() > MatchRule::max_text_length) return 0;
    auto again = MatchRule::parse(canonical, &error);
    if (!again || !(*again == *rule)) abort();
    if (again->to_string() != canonical) abort();
    return 0;
}
