/* Bus commands: names, connections, stats and reload on one bus, through the
 * standard driver interface, so they work on any bus (kdbusd in either mode,
 * dbus-daemon) */
#include <fstream>
#include <map>
#include <sdbus-c++/Error.h>

#include "command.hpp"
#include "control_client.hpp"
#include "driver_client.hpp"
#include "output.hpp"

namespace kdbusctl {

namespace {

/* The driver answers for itself under its own name; it is no connection. */
constexpr std::string_view kDriverName = "org.freedesktop.DBus";

bool is_unique_name(const std::string& name) { return name.starts_with(':'); }

/* One well-known name: its primary owner and the connections queued behind
 * it (ListQueuedOwners lists the primary owner first). */
struct NameEntry {
    std::string name;
    std::string owner;
    std::vector<std::string> queued;
};

/* Names can be released between ListNames and the per-name calls; such a
 * name is left out rather than reported with a made-up owner. */
std::vector<NameEntry> collect_names(DriverClient& driver) {
    std::vector<NameEntry> entries;
    for (const auto& name : driver.list_names()) {
        if (is_unique_name(name)) continue;
        auto owner = driver.get_name_owner(name);
        if (!owner) continue;
        auto owners = name == kDriverName ? std::vector<std::string>{} : driver.list_queued_owners(name);
        std::vector<std::string> queued;
        if (!owners.empty()) queued.assign(owners.begin() + 1, owners.end());
        entries.push_back({name, *owner, std::move(queued)});
    }
    return entries;
}

/* /proc/PID/comm: informational only (kdbus: comm is set by its process and
 * never trusted). Empty when the pid is not visible to us. */
nlohmann::json read_comm(const nlohmann::json& pid) {
    if (!pid.is_number_unsigned()) return nullptr;
    std::ifstream in("/proc/" + std::to_string(pid.get<uint32_t>()) + "/comm");
    std::string comm;
    if (!std::getline(in, comm)) return nullptr;
    return comm;
}

nlohmann::json value_or_null(const nlohmann::json& object, const char* key) {
    return object.is_object() && object.contains(key) ? object[key] : nlohmann::json(nullptr);
}

std::string join(const std::vector<std::string>& words) {
    std::string joined;
    for (const auto& word : words) joined += (joined.empty() ? "" : ",") + word;
    return joined;
}

}  // namespace

int run_names(const Context& context) {
    DriverClient driver(context.target_bus_address(0));
    auto entries = collect_names(driver);
    if (context.json) {
        auto list = nlohmann::json::array();
        for (const auto& e : entries) list.push_back({{"name", e.name}, {"owner", e.owner}, {"queued", e.queued}});
        print_json(context.out, list);
        return kExitSuccess;
    }
    Table table({"NAME", "OWNER", "QUEUED"});
    for (const auto& e : entries) table.add_row({e.name, e.owner, e.queued.empty() ? "-" : join(e.queued)});
    table.print(context.out);
    return kExitSuccess;
}

int run_connections(const Context& context) {
    DriverClient driver(context.target_bus_address(0));
    std::map<std::string, std::vector<std::string>> names_by_owner;
    for (const auto& entry : collect_names(driver))
        if (entry.name != kDriverName) names_by_owner[entry.owner].push_back(entry.name);

    auto list = nlohmann::json::array();
    for (const auto& name : driver.list_names()) {
        if (!is_unique_name(name)) continue;
        nlohmann::json credentials;
        try {
            credentials = driver.get_connection_credentials(name);
        } catch (const sdbus::Error& e) {
            if (e.getName() == "org.freedesktop.DBus.Error.NameHasNoOwner") continue;  // gone meanwhile
            throw;
        }
        auto stats = driver.get_connection_stats(name);
        auto pid = value_or_null(credentials, "ProcessID");
        list.push_back({
            {"unique_name", name},
            {"uid", value_or_null(credentials, "UnixUserID")},
            {"pid", pid},
            {"comm", read_comm(pid)},
            {"endpoint", value_or_null(credentials, "org.kdbusd.Endpoint")},
            {"names", names_by_owner[name]},
            // dbus-daemon's and kdbusd's count of bytes waiting to be written
            // to this connection; absent where statistics are not offered.
            {"queued_bytes", stats ? value_or_null(*stats, "OutgoingBytes") : nullptr},
        });
    }
    if (context.json) {
        print_json(context.out, list);
        return kExitSuccess;
    }
    Table table({"UNIQUE NAME", "UID", "PID", "COMM", "ENDPOINT", "QUEUED", "NAMES"});
    for (const auto& c : list) {
        auto names = c["names"].get<std::vector<std::string>>();
        table.add_row({cell(c["unique_name"]), cell(c["uid"]), cell(c["pid"]), cell(c["comm"]), cell(c["endpoint"]),
                       cell(c["queued_bytes"]), names.empty() ? "-" : join(names)});
    }
    table.print(context.out);
    return kExitSuccess;
}

int run_stats(const Context& context) {
    nlohmann::json stats;
    if (context.address) {
        if (!context.arg(0).empty()) throw UsageError("give either BUS or --address, not both");
        stats = DriverClient(*context.address).get_stats();
    } else {
        stats = ControlClient(context.domain).get_stats(context.arg(0));
    }
    if (context.json) {
        print_json(context.out, stats);
        return kExitSuccess;
    }
    Table table({"KEY", "VALUE"});
    for (const auto& [key, value] : stats.items()) table.add_row({key, cell(value)});
    table.print(context.out);
    return kExitSuccess;
}

int run_reload(const Context& context) {
    if (context.address)
        DriverClient(*context.address).reload_config();
    else
        ControlClient(context.domain).reload();
    return kExitSuccess;
}

}  // namespace kdbusctl
