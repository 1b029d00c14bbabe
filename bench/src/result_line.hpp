// Result line: what one scenario run prints, "scenario=NAME bus=LABEL key=value ... ok=0|1".
// run.sh prefixes it with placement=, case= and rep=, and `kdbus-bench report` reads it back.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace kdbus_bench {

class ResultLine {
public:
    ResultLine(std::string_view scenario, std::string_view bus);

    template <std::integral T>
    ResultLine &add(std::string_view key, T value) {
        return add_text(key, std::to_string(value));
    }
    ResultLine &add(std::string_view key, double value, int decimals = 1);
    ResultLine &add_text(std::string_view key, std::string_view value);

    // Prints the line with ok=1, or ok=0 and error=WHY; returns the exit status.
    int print_ok();
    int print_failed(std::string_view why);

private:
    std::string text_;
};

// Which run fail() reports on.
void set_run_identity(std::string_view scenario, std::string_view bus);

// Prints "scenario=... bus=... ok=0 error=..." and exits 1. Only the main
// process calls it: workers report through their WorkerSlot.
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Replaces whitespace and '=' so a value stays one token of the line.
std::string token(std::string_view text);

}  // namespace kdbus_bench
