/* Commands: what each kdbusctl command takes and the function that runs it */
#pragma once

#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "arguments.hpp"

namespace kdbusctl {

/* Everything a command needs from the command line. */
struct Context {
    Arguments args;
    bool json = false;
    std::string domain;                  // --domain, else /run/kdbus
    std::optional<std::string> address;  // --address: talk to this bus directly
    std::ostream& out;

    /* The positional argument at index, or "" if absent. */
    std::string arg(size_t index) const;
    /* The bus the bus-level commands act on: --address, else BUS (the
     * positional argument at index) in the domain. Throws UsageError if both
     * or neither are given. */
    std::string target_bus_address(size_t index) const;
};

/* Exit statuses: 0 success, 1 failure, 2 usage (as systemctl and busctl). */
inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Command {
    std::string_view group;     // "bus", "endpoint", "domain", or "" for a top-level command
    std::string_view name;      // "create", "names", …
    std::string_view synopsis;  // arguments after the command words
    std::string_view summary;   // one line for the command list
    std::string_view help;      // the rest of `--help`, may be empty
    std::span<const OptionSpec> options;
    size_t min_args = 0;
    size_t max_args = 0;
    int (*run)(const Context&) = nullptr;

    /* "bus create", "names". */
    std::string words() const;
};

/* Every command, in the order `kdbusctl --help` lists them. */
std::span<const Command> all_commands();

/* handlers, by the object they act on */
int run_bus_create(const Context&);
int run_bus_remove(const Context&);
int run_bus_list(const Context&);
int run_endpoint_create(const Context&);
int run_endpoint_update(const Context&);
int run_endpoint_remove(const Context&);
int run_endpoint_list(const Context&);
int run_domain_create(const Context&);
int run_domain_list(const Context&);
int run_names(const Context&);
int run_connections(const Context&);
int run_stats(const Context&);
int run_monitor(const Context&);
int run_reload(const Context&);

}  // namespace kdbusctl
