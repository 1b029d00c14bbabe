/* Command-line arguments: a small getopt_long-style parser for kdbusctl */
#pragma once

#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kdbusctl {

/* A mistake in how kdbusctl was invoked; main() turns it into exit status 2. */
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/* One long option. `repeatable` options collect every occurrence in order
 * (`--see a --see b`); the others keep the last one. */
struct OptionSpec {
    std::string_view name;  // without the leading "--"
    bool takes_value = false;
    bool repeatable = false;
};

/* The result of parsing: options by name, positional arguments in order. */
class Arguments {
public:
    bool has(std::string_view option) const;
    /* The option's (last) value, or fallback if it was not given. */
    std::string value(std::string_view option, std::string fallback = {}) const;
    /* Every value of a repeatable option, in command-line order. */
    const std::vector<std::string>& values(std::string_view option) const;
    const std::vector<std::string>& positional() const { return positional_; }

    void add_option(std::string_view option, std::string value);
    void add_positional(std::string value) { positional_.push_back(std::move(value)); }

private:
    std::map<std::string, std::vector<std::string>, std::less<>> options_;
    std::vector<std::string> positional_;
};

/* Parses `--name`, `--name=value` and `--name value` (for options that take
 * one), `-h` as `--help`, and `--` as the end of options. Throws UsageError for
 * unknown options, a missing value, or a value given to a flag. */
Arguments parse_arguments(std::span<const std::string> args, std::span<const OptionSpec> specs);

/* The options every command accepts, wherever they appear. */
std::span<const OptionSpec> global_options();

}  // namespace kdbusctl
