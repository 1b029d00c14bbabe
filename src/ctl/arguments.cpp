#include "arguments.hpp"

#include <algorithm>

namespace kdbusctl {

namespace {

constexpr OptionSpec kGlobalOptions[] = {
    {"help"},
    {"json"},
    {"domain", true},
    {"address", true},
};

const OptionSpec* find_spec(std::string_view name, std::span<const OptionSpec> specs) {
    for (auto list : {specs, global_options()}) {
        auto it = std::ranges::find(list, name, &OptionSpec::name);
        if (it != list.end()) return &*it;
    }
    return nullptr;
}

}  // namespace

std::span<const OptionSpec> global_options() { return kGlobalOptions; }

bool Arguments::has(std::string_view option) const { return options_.find(option) != options_.end(); }

std::string Arguments::value(std::string_view option, std::string fallback) const {
    auto it = options_.find(option);
    return it == options_.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& Arguments::values(std::string_view option) const {
    static const std::vector<std::string> none;
    auto it = options_.find(option);
    return it == options_.end() ? none : it->second;
}

void Arguments::add_option(std::string_view option, std::string value) {
    options_[std::string(option)].push_back(std::move(value));
}

Arguments parse_arguments(std::span<const std::string> args, std::span<const OptionSpec> specs) {
    Arguments parsed;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            for (++i; i < args.size(); ++i) parsed.add_positional(args[i]);
            break;
        }
        if (arg == "-h") {
            parsed.add_option("help", {});
            continue;
        }
        if (!arg.starts_with("--")) {
            if (arg.size() > 1 && arg[0] == '-') throw UsageError("unknown option '" + arg + "'");
            parsed.add_positional(arg);
            continue;
        }
        std::string_view body = std::string_view(arg).substr(2);
        std::string_view name = body.substr(0, body.find('='));
        const OptionSpec* spec = find_spec(name, specs);
        if (!spec) throw UsageError("unknown option '--" + std::string(name) + "'");
        bool inline_value = name.size() < body.size();
        if (!spec->takes_value) {
            if (inline_value) throw UsageError("option '--" + std::string(name) + "' takes no value");
            parsed.add_option(name, {});
            continue;
        }
        if (inline_value) {
            parsed.add_option(name, std::string(body.substr(name.size() + 1)));
        } else if (i + 1 < args.size()) {
            parsed.add_option(name, args[++i]);
        } else {
            throw UsageError("option '--" + std::string(name) + "' needs a value");
        }
    }
    return parsed;
}

}  // namespace kdbusctl
