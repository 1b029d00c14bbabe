/* Domain commands: buses, endpoints and domains, through org.kdbusd.Control1 */
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pwd.h>
#include <sstream>
#include <stdexcept>

#include "command.hpp"
#include "control_client.hpp"
#include "output.hpp"

namespace kdbusctl {

namespace {

std::string read_policy_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read policy file '" + path + "'");
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
}

uint32_t parse_number(const std::string& text, int base, const char* what) {
    char* end = nullptr;
    errno = 0;
    unsigned long value = std::strtoul(text.c_str(), &end, base);
    if (text.empty() || *end != '\0' || errno != 0 || value > UINT32_MAX || text[0] == '-')
        throw UsageError(std::string("invalid ") + what + " '" + text + "'");
    return static_cast<uint32_t>(value);
}

/* A uid, given as a number or a user name. */
uint32_t parse_uid(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("0123456789") != std::string::npos) {
        if (const passwd* pw = getpwnam(text.c_str())) return pw->pw_uid;
        throw UsageError("unknown user '" + text + "'");
    }
    return parse_number(text, 10, "uid");
}

/* The endpoint policy options: "rules" in xdg-dbus-proxy's own spelling, so
 * the daemon parses one syntax whoever wrote it, and "policy" (a JSON file). */
VariantMap endpoint_policy_options(const Arguments& args) {
    std::vector<std::string> rules;
    for (const char* kind : {"see", "talk", "own", "call", "broadcast"}) {
        for (const auto& value : args.values(kind)) {
            if ((kind == std::string_view("call") || kind == std::string_view("broadcast")) &&
                value.find('=') == std::string::npos)
                throw UsageError(std::string("--") + kind + " needs NAME=RULE");
            rules.push_back(std::string("--") + kind + "=" + value);
        }
    }
    VariantMap options;
    options["rules"] = sdbus::Variant(rules);
    if (args.has("policy")) options["policy"] = sdbus::Variant(read_policy_file(args.value("policy")));
    return options;
}

void print_objects(const Context& context, const std::vector<ObjectInfo>& objects) {
    if (context.json) {
        auto list = nlohmann::json::array();
        for (const auto& o : objects)
            list.push_back({{"name", o.name}, {"address", o.address}, {"owner_uid", o.owner_uid},
                            {"connections", o.connections}});
        return print_json(context.out, list);
    }
    Table table({"NAME", "OWNER", "CONNECTIONS", "ADDRESS"});
    for (const auto& o : objects)
        table.add_row({o.name, std::to_string(o.owner_uid), std::to_string(o.connections), o.address});
    table.print(context.out);
}

/* Commands that create something print what a client needs to reach it. */
void print_created(const Context& context, const char* key, const std::string& value) {
    if (context.json) return print_json(context.out, {{key, value}});
    context.out << value << '\n';
}

void require_domain_mode(const Context& context) {
    if (context.address) throw UsageError("this command manages a domain; --address does not apply");
}

}  // namespace

/* buses */

int run_bus_create(const Context& context) {
    require_domain_mode(context);
    const auto& args = context.args;
    if (args.has("world") && args.has("group")) throw UsageError("give either --world or --group");
    VariantMap options;
    options["persist"] = sdbus::Variant(args.has("persist"));
    std::string access = args.has("world") ? "world" : args.has("group") ? "group" : "owner";
    options["access"] = sdbus::Variant(access);
    if (args.has("policy")) options["policy"] = sdbus::Variant(read_policy_file(args.value("policy")));
    print_created(context, "address", ControlClient(context.domain).create_bus(context.arg(0), options));
    return kExitSuccess;
}

int run_bus_remove(const Context& context) {
    require_domain_mode(context);
    ControlClient(context.domain).remove_bus(context.arg(0));
    return kExitSuccess;
}

int run_bus_list(const Context& context) {
    require_domain_mode(context);
    print_objects(context, ControlClient(context.domain).list_buses());
    return kExitSuccess;
}

/* endpoints */

int run_endpoint_create(const Context& context) {
    require_domain_mode(context);
    const auto& args = context.args;
    VariantMap options = endpoint_policy_options(args);
    if (args.has("mode")) options["mode"] = sdbus::Variant(parse_number(args.value("mode"), 8, "mode"));
    if (args.has("owner")) options["owner"] = sdbus::Variant(parse_uid(args.value("owner")));
    auto address = ControlClient(context.domain).create_endpoint(context.arg(0), context.arg(1), options);
    print_created(context, "address", address);
    return kExitSuccess;
}

int run_endpoint_update(const Context& context) {
    require_domain_mode(context);
    ControlClient(context.domain)
        .update_endpoint_policy(context.arg(0), context.arg(1), endpoint_policy_options(context.args));
    return kExitSuccess;
}

int run_endpoint_remove(const Context& context) {
    require_domain_mode(context);
    ControlClient(context.domain).remove_endpoint(context.arg(0), context.arg(1));
    return kExitSuccess;
}

int run_endpoint_list(const Context& context) {
    require_domain_mode(context);
    print_objects(context, ControlClient(context.domain).list_endpoints(context.arg(0)));
    return kExitSuccess;
}

/* domains */

int run_domain_create(const Context& context) {
    require_domain_mode(context);
    if (!context.args.has("target")) throw UsageError("missing --target PID");
    uint32_t pid = parse_number(context.args.value("target"), 10, "pid");
    if (pid == 0) throw UsageError("invalid pid '0'");
    auto dir = ControlClient(context.domain).create_domain(pid, context.args.value("dir"));
    print_created(context, "dir", dir);
    return kExitSuccess;
}

int run_domain_list(const Context& context) {
    require_domain_mode(context);
    auto domains = ControlClient(context.domain).list_domains();
    if (context.json) {
        auto list = nlohmann::json::array();
        for (const auto& d : domains) list.push_back({{"dir", d.dir}, {"pid", d.pid}, {"target", d.target}});
        print_json(context.out, list);
        return kExitSuccess;
    }
    Table table({"DIR", "PID", "TARGET"});
    for (const auto& d : domains) table.add_row({d.dir, std::to_string(d.pid), d.target});
    table.print(context.out);
    return kExitSuccess;
}

}  // namespace kdbusctl
