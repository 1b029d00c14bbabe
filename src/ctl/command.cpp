#include "command.hpp"

#include "bus_address.hpp"

namespace kdbusctl {

namespace {

constexpr OptionSpec kBusCreateOptions[] = {{"persist"}, {"policy", true}, {"world"}, {"group"}};
/* xdg-dbus-proxy's rule options; they become the endpoint's "rules". */
constexpr OptionSpec kEndpointPolicyOptions[] = {
    {"see", true, true},  {"talk", true, true}, {"own", true, true}, {"call", true, true},
    {"broadcast", true, true}, {"policy", true},
};
constexpr OptionSpec kEndpointCreateOptions[] = {
    {"see", true, true},  {"talk", true, true}, {"own", true, true}, {"call", true, true},
    {"broadcast", true, true}, {"policy", true}, {"mode", true}, {"owner", true},
};
constexpr OptionSpec kDomainCreateOptions[] = {{"target", true}, {"dir", true}};
constexpr OptionSpec kMonitorOptions[] = {{"match", true, true}, {"metadata", false, false}};

constexpr Command kCommands[] = {
    {"bus", "create", "NAME [--persist] [--policy FILE] [--world|--group]",
     "Create a bus in the domain and print its address",
     "NAME is <uid>-<name> as in kdbus (e.g. 1000-user); the daemon checks the uid.\n"
     "  --persist        keep the bus after kdbusctl exits\n"
     "  --policy FILE    the bus policy (dbus-daemon XML or kdbusd JSON)\n"
     "  --world          anyone may connect (kdbus MAKE_ACCESS_WORLD)\n"
     "  --group          the owner's group may connect (MAKE_ACCESS_GROUP)\n",
     kBusCreateOptions, 1, 1, run_bus_create},
    {"bus", "remove", "NAME", "Remove a bus and disconnect its connections", "", {}, 1, 1, run_bus_remove},
    {"bus", "list", "", "List the domain's buses", "", {}, 0, 0, run_bus_list},
    {"endpoint", "create", "BUS NAME [--see N]... [--talk N]... [--own N]... [--call N=RULE]... "
                           "[--broadcast N=RULE]... [--policy FILE] [--mode M] [--owner UID]",
     "Create a custom endpoint on BUS and print its address",
     "A custom endpoint's policy denies by default (kdbus); the options grant:\n"
     "  --see N          N exists for the endpoint's connections\n"
     "  --talk N         they may call N (implies --see)\n"
     "  --own N          they may own N (implies --talk)\n"
     "  --call N=RULE    they may call N only as RULE allows ([METHOD][@PATH])\n"
     "  --broadcast N=RULE  they receive N's broadcasts matching RULE\n"
     "  --policy FILE    a JSON policy instead of, or beside, the rules\n"
     "  --mode M         socket mode, octal (default 0600)\n"
     "  --owner UID      uid (or user name) owning the socket\n",
     kEndpointCreateOptions, 2, 2, run_endpoint_create},
    {"endpoint", "update", "BUS NAME [--see N]... [--talk N]... [--own N]... [--call N=RULE]... "
                           "[--broadcast N=RULE]... [--policy FILE]",
     "Replace a custom endpoint's policy", "The policy is replaced as a whole, atomically (kdbus ENDPOINT_UPDATE).\n",
     kEndpointPolicyOptions, 2, 2, run_endpoint_update},
    {"endpoint", "remove", "BUS NAME", "Remove a custom endpoint and disconnect its connections", "", {}, 2,
     2, run_endpoint_remove},
    {"endpoint", "list", "BUS", "List BUS's endpoints", "", {}, 1, 1, run_endpoint_list},
    {"domain", "create", "--target PID [--dir DIR]",
     "Start a domain inside the user, pid and mount namespaces of PID and print its directory", "",
     kDomainCreateOptions, 0, 0, run_domain_create},
    {"domain", "list", "", "List the domains started through this one", "", {}, 0, 0, run_domain_list},
    {"", "names", "[BUS]", "List well-known names, their owners and queued owners", "", {}, 0, 1,
     run_names},
    {"", "connections", "[BUS]", "List connections: unique name, uid, pid, comm, endpoint, names, queued bytes",
     "", {}, 0, 1, run_connections},
    {"", "stats", "[BUS]", "Show statistics of a bus (or of the whole domain)", "", {}, 0, 1, run_stats},
    {"", "monitor", "[BUS] [--match RULE]... [--metadata]", "Print every message on a bus, one line each",
     "  --match RULE     only messages matching the D-Bus match RULE (repeatable)\n"
     "  --metadata       also print the kdbus metadata the bus attaches to each\n"
     "                   message (header field 128: Timestamp, Creds, Pids, …);\n"
     "                   opts in with org.kdbusd.Bus1.UpdateAttachFlags\n",
     kMonitorOptions, 0, 1, run_monitor},
    {"", "reload", "", "Make the daemon re-read its configuration", "", {}, 0, 0, run_reload},
};

}  // namespace

std::span<const Command> all_commands() { return kCommands; }

std::string Command::words() const {
    return group.empty() ? std::string(name) : std::string(group) + " " + std::string(name);
}

std::string Context::arg(size_t index) const {
    const auto& positional = args.positional();
    return index < positional.size() ? positional[index] : std::string();
}

std::string Context::target_bus_address(size_t index) const {
    bool has_bus = index < args.positional().size();
    if (address && has_bus) throw UsageError("give either BUS or --address, not both");
    if (address) return *address;
    if (!has_bus) throw UsageError("missing BUS (or --address ADDRESS)");
    return bus_address(domain, arg(index));
}

}  // namespace kdbusctl
