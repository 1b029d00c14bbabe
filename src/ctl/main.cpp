/* kdbusctl: the kdbusd admin CLI (DESIGN.md, src/ctl/) */
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sdbus-c++/Error.h>
#include <string>
#include <vector>

#include "bus_address.hpp"
#include "command.hpp"

using namespace kdbusctl;

namespace {

constexpr std::string_view kGlobalHelp =
    "Global options:\n"
    "  --domain DIR     the domain to manage (default /run/kdbus)\n"
    "  --address ADDR   run names, connections, stats, monitor or reload on the bus at ADDR\n"
    "                   (kdbusd --session, dbus-daemon) instead of a bus of the domain\n"
    "  --json           print JSON instead of a table\n"
    "  -h, --help       show help\n";

/* One line per command: its words, then its summary. */
void print_command_list(std::ostream& out, std::string_view group, bool every_group) {
    for (const auto& command : all_commands()) {
        if (!every_group && command.group != group) continue;
        std::string words = command.words();
        out << "  " << words << std::string(words.size() < 20 ? 20 - words.size() : 1, ' ') << command.summary
            << '\n';
    }
}

void print_overview(std::ostream& out) {
    out << "Usage: kdbusctl [--domain DIR | --address ADDR] [--json] COMMAND ...\n\nCommands:\n";
    print_command_list(out, {}, true);
    out << '\n' << kGlobalHelp;
}

void print_group(std::ostream& out, std::string_view group) {
    out << "Usage: kdbusctl " << group << " COMMAND ...\n\nCommands:\n";
    print_command_list(out, group, false);
    out << "\nSee 'kdbusctl " << group << " COMMAND --help'.\n";
}

void print_command_help(std::ostream& out, const Command& command) {
    out << "Usage: kdbusctl " << command.words() << (command.synopsis.empty() ? "" : " ") << command.synopsis
        << "\n\n"
        << command.summary << ".\n";
    if (!command.help.empty()) out << '\n' << command.help;
    out << '\n' << kGlobalHelp;
}

bool is_group(std::string_view word) {
    for (const auto& command : all_commands())
        if (command.group == word) return true;
    return false;
}

const Command* find_command(std::string_view group, std::string_view name) {
    for (const auto& command : all_commands())
        if (command.group == group && command.name == name) return &command;
    return nullptr;
}

/* Index of the first argument that is not a global option (or its value). */
size_t first_word(const std::vector<std::string>& args) {
    size_t i = 0;
    while (i < args.size() && args[i].starts_with("-")) {
        bool needs_value = (args[i] == "--domain" || args[i] == "--address");
        i += needs_value ? 2 : 1;
    }
    return i;
}

int usage_error(const std::string& message, std::string_view words) {
    std::cerr << "kdbusctl: " << message << "\nTry 'kdbusctl " << words << (words.empty() ? "" : " ")
              << "--help'.\n";
    return kExitUsage;
}

int run(std::vector<std::string> args) {
    size_t at = first_word(args);
    std::string group, name;
    if (at < args.size()) {
        std::string word = args[at];
        args.erase(args.begin() + at);
        if (is_group(word)) {
            group = word;
            if (at < args.size() && !args[at].starts_with("-")) {
                name = args[at];
                args.erase(args.begin() + at);
            }
        } else {
            name = word;
        }
    }

    const Command* command = find_command(group, name);
    if (!command) {
        auto parsed = parse_arguments(args, {});
        bool help = parsed.has("help");
        if (group.empty() && name.empty()) {
            if (help) return print_overview(std::cout), kExitSuccess;
            return print_overview(std::cerr), kExitUsage;
        }
        if (!group.empty() && name.empty()) {
            if (help) return print_group(std::cout, group), kExitSuccess;
            return usage_error("'" + group + "' needs a command", group);
        }
        return usage_error("unknown command '" + (group.empty() ? name : group + " " + name) + "'", "");
    }

    Context context{parse_arguments(args, command->options), false, {}, {}, std::cout};
    const auto& parsed = context.args;
    if (parsed.has("help")) return print_command_help(std::cout, *command), kExitSuccess;
    size_t count = parsed.positional().size();
    if (count < command->min_args) throw UsageError("too few arguments");
    if (count > command->max_args) throw UsageError("too many arguments");
    context.json = parsed.has("json");
    context.domain = parsed.value("domain", std::string(kDefaultDomain));
    if (parsed.has("address")) {
        if (parsed.has("domain")) throw UsageError("give either --domain or --address, not both");
        context.address = parsed.value("address");
    }
    return command->run(context);
}

/* The command words for "Try 'kdbusctl … --help'" after a usage error. */
std::string words_of(const std::vector<std::string>& args) {
    std::vector<std::string> rest = args;
    size_t at = first_word(rest);
    if (at >= rest.size()) return {};
    std::string words = rest[at];
    if (is_group(words) && at + 1 < rest.size() && !rest[at + 1].starts_with("-")) words += " " + rest[at + 1];
    return words;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return run(args);
    } catch (const UsageError& e) {
        return usage_error(e.what(), words_of(args));
    } catch (const sdbus::Error& e) {
        std::cerr << "kdbusctl: " << e.getName() << ": " << e.getMessage() << '\n';
    } catch (const std::exception& e) {
        std::cerr << "kdbusctl: " << e.what() << '\n';
    }
    return kExitFailure;
}
