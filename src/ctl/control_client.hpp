/* Control client: org.kdbusd.Control1, the domain's control socket
 *
 * The contract (DESIGN.md, "Fixed interfaces"): kdbusd --domain DIR listens on
 * DIR/control; a client authenticates, calls Hello, then calls interface
 * org.kdbusd.Control1 on destination org.freedesktop.DBus, path
 * /org/kdbusd/Control1:
 *
 *   CreateBus(s name, a{sv} options) → (s address)
 *       name is "<uid>-<name>" as in kdbus; the daemon checks the uid prefix
 *       against the caller's SO_PEERCRED uid. options:
 *         "persist" b  the bus outlives the creator's control connection
 *                      (kdbus: the bus lived while its owner fd was open)
 *         "access"  s  "owner" | "group" | "world" (kdbus MAKE_ACCESS_*)
 *         "policy"  s  policy file contents, dbus-daemon XML or kdbusd JSON
 *   RemoveBus(s name)
 *   ListBuses() → a(ssuu)              name, address, owner uid, connections
 *   CreateEndpoint(s bus, s name, a{sv} options) → (s address)
 *         "policy"  s  JSON policy file contents
 *         "rules"   as xdg-dbus-proxy style: "--see=N", "--talk=N", "--own=N",
 *                      "--call=N=RULE", "--broadcast=N=RULE"
 *         "mode"    u  socket file mode (kdbus: endpoints default to 0600)
 *         "owner"   u  uid the endpoint socket belongs to
 *   UpdateEndpointPolicy(s bus, s name, a{sv} options)
 *         "policy", "rules" as above; replaces the policy atomically
 *         (kdbus ENDPOINT_UPDATE)
 *   RemoveEndpoint(s bus, s name)      disconnects the endpoint's connections
 *   ListEndpoints(s bus) → a(ssuu)     name, address, owner uid, connections
 *   ListDomains() → a(sus)             dir, pid, target pid
 *   CreateDomain(u target_pid, s dir) → (s dir)
 *   GetStats(s bus) → a{sv}            "" for the whole domain
 *   Reload()                           re-read configuration (kdbusctl reload)
 *
 * kdbusctl also reads, when present, the key "org.kdbusd.Endpoint" (s, the
 * endpoint a connection came through) from GetConnectionCredentials.
 */
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IProxy.h>
#include <sdbus-c++/Types.h>
#include <string>
#include <vector>

namespace kdbusctl {

/* a{sv} as sdbus-c++ marshals it. */
using VariantMap = std::map<std::string, sdbus::Variant>;

/* One row of ListBuses or ListEndpoints. */
struct ObjectInfo {
    std::string name;
    std::string address;
    uint32_t owner_uid = 0;
    uint32_t connections = 0;
};

/* One row of ListDomains. */
struct DomainInfo {
    std::string dir;
    uint32_t pid = 0;
    std::string target;
};

class ControlClient {
public:
    /* Connects to DIR/control of the domain at domain_dir. */
    explicit ControlClient(const std::string& domain_dir);

    /* buses */
    std::string create_bus(const std::string& name, const VariantMap& options);
    void remove_bus(const std::string& name);
    std::vector<ObjectInfo> list_buses();

    /* endpoints */
    std::string create_endpoint(const std::string& bus, const std::string& name, const VariantMap& options);
    void update_endpoint_policy(const std::string& bus, const std::string& name, const VariantMap& options);
    void remove_endpoint(const std::string& bus, const std::string& name);
    std::vector<ObjectInfo> list_endpoints(const std::string& bus);

    /* domains */
    std::vector<DomainInfo> list_domains();
    std::string create_domain(uint32_t target_pid, const std::string& dir);

    /* the daemon */
    nlohmann::json get_stats(const std::string& bus);
    void reload();

private:
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> control_;
};

}  // namespace kdbusctl
