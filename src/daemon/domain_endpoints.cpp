/* Domain: org.kdbusd.Control1's custom endpoint methods
 *
 * kdbus (KDBUS.md "Custom endpoints"): only the bus's owner (or a
 * privileged caller) makes, updates and removes endpoints; the name is
 * "<uid>-<name>" with the caller's uid; the socket sits beside the bus's
 * default endpoint, mode 0600 unless told otherwise; the policy starts
 * default-deny and is replaced whole by an update; removing the endpoint
 * (or its bus) disconnects everyone who came through it.
 */
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/control_options.hpp"
#include "daemon/domain.hpp"
#include "daemon/domain_names.hpp"
#include "daemon/errors.hpp"
#include "daemon/listen_address.hpp"
#include "wire/address.hpp"

namespace kdbus::daemon {

namespace {

/* The policy an option map gives ("policy" JSON text, "rules" in
 * xdg-dbus-proxy's spelling); nullptr and the reason in `error`. */
std::shared_ptr<const policy::EndpointPolicy> policy_from(const OptionMap& opts, std::string& error) {
    const std::string* json = option<std::string>(opts, "policy");
    const std::vector<std::string>* rules = option<std::vector<std::string>>(opts, "rules");
    try {
        return policy::EndpointPolicy::parse(json ? *json : std::string(),
                                             rules ? std::span<const std::string>(*rules)
                                                   : std::span<const std::string>());
    } catch (const policy::PolicyError& e) {
        error = e.what();
        return nullptr;
    }
}

}  // namespace

Domain::BusEntry* Domain::owned_bus(Connection& c, std::string_view name, const char* method, Reply& r) {
    auto it = buses_.find(std::string(name));
    if (it == buses_.end()) {
        r.fail(error::service_unknown, std::string(method) + ": no bus named \"" + std::string(name) + "\"");
        return nullptr;
    }
    if (it->second.owner != c.credentials().uid && !privileged(c)) {
        r.fail(error::access_denied, std::string(method) + ": bus \"" + std::string(name) + "\" belongs to uid " +
                                         std::to_string(it->second.owner));
        return nullptr;
    }
    return &it->second;
}

std::pair<Domain::BusEntry*, std::map<std::string, std::shared_ptr<Endpoint>>::iterator> Domain::owned_endpoint(
    Connection& c, std::string_view bus_name, std::string_view name, const char* method, Reply& r) {
    BusEntry* bus = owned_bus(c, bus_name, method, r);
    if (!bus) return {nullptr, {}};
    auto it = bus->endpoints.find(std::string(name));
    if (it == bus->endpoints.end())
        r.fail(error::service_unknown, std::string(method) + ": bus \"" + bus->name + "\" has no endpoint named \"" +
                                           std::string(name) + "\"");
    return {bus, it};
}

void Domain::control_create_endpoint(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view bus_name, name;
    OptionMap opts;
    if (!args.read_string(bus_name) || !args.read_string(name) || !read_options(args, opts)) {
        r.fail(error::invalid_args, "CreateEndpoint: malformed arguments");
        return;
    }
    BusEntry* bus = owned_bus(c, bus_name, "CreateEndpoint", r);
    if (!bus) return;
    if (std::string err = check_domain_object_name(name, c.credentials().uid); !err.empty()) {
        r.fail(error::invalid_args, "CreateEndpoint: " + err);
        return;
    }
    if (bus->endpoints.count(std::string(name))) {
        r.fail(error::failed, "CreateEndpoint: bus \"" + bus->name + "\" has an endpoint named \"" +
                                  std::string(name) + "\" already");
        return;
    }
    const uint32_t* mode = option<uint32_t>(opts, "mode");
    const uint32_t* owner = option<uint32_t>(opts, "owner");
    const uint32_t* group = option<uint32_t>(opts, "group");
    if (mode && (*mode & ~0777u)) {
        r.fail(error::invalid_args, "CreateEndpoint: mode must be a file mode of at most 0777");
        return;
    }
    // Giving the socket away needs the daemon to be able to chown, and a
    // caller entitled to give it (the bus owner gives it to anyone, as the
    // kdbus owner could chmod its endpoint node).
    if ((owner || group) && ::geteuid() != 0) {
        r.fail(error::not_supported, "CreateEndpoint: this domain's daemon cannot change socket ownership");
        return;
    }
    std::string policy_error;
    auto policy = policy_from(opts, policy_error);
    if (!policy) {
        r.fail(error::invalid_args, "CreateEndpoint: " + policy_error);
        return;
    }

    auto ep = std::make_shared<Endpoint>();
    ep->name = std::string(name);
    ep->owner = owner ? *owner : c.credentials().uid;
    ep->socket_path = bus->dir + "/" + ep->name;
    ep->policy = std::move(policy);
    try {
        UniqueFd fd = listen_unix(ep->socket_path);
        ::chmod(ep->socket_path.c_str(), mode ? *mode : 0600);  // kdbus: endpoints default to 0600
        if (::geteuid() == 0 &&
            ::chown(ep->socket_path.c_str(), ep->owner, group ? *group : static_cast<gid_t>(-1)) < 0) {
            int e = errno;
            ::unlink(ep->socket_path.c_str());
            r.fail(error::failed, "CreateEndpoint: cannot give " + ep->socket_path + " away: " + std::strerror(e));
            return;
        }
        bus->bus->add_listener(std::move(fd), ep);
    } catch (const std::exception& e) {
        r.fail(error::failed, std::string("CreateEndpoint: ") + e.what());
        return;
    }
    ep->address = wire::format_address(wire::Address{"unix", {{"path", ep->socket_path}}});
    spdlog::info("endpoint {} of bus {} created at {}", ep->name, bus->name, ep->address);
    bus->endpoints.emplace(ep->name, ep);
    r.body("s").put_string(ep->address);
}

void Domain::control_update_endpoint_policy(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view bus_name, name;
    OptionMap opts;
    if (!args.read_string(bus_name) || !args.read_string(name) || !read_options(args, opts)) {
        r.fail(error::invalid_args, "UpdateEndpointPolicy: malformed arguments");
        return;
    }
    auto [bus, it] = owned_endpoint(c, bus_name, name, "UpdateEndpointPolicy", r);
    if (!bus || it == bus->endpoints.end()) return;
    std::string policy_error;
    auto policy = policy_from(opts, policy_error);
    if (!policy) {
        r.fail(error::invalid_args, "UpdateEndpointPolicy: " + policy_error);
        return;
    }
    // One pointer swap on the one event loop: every later check sees the
    // whole new policy, none a mix (kdbus ENDPOINT_UPDATE).
    it->second->policy = std::move(policy);
    spdlog::info("endpoint {} of bus {}: policy replaced", it->second->name, bus->name);
}

void Domain::control_remove_endpoint(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view bus_name, name;
    args.read_string(bus_name);
    args.read_string(name);
    auto [bus, it] = owned_endpoint(c, bus_name, name, "RemoveEndpoint", r);
    if (!bus || it == bus->endpoints.end()) return;
    std::shared_ptr<Endpoint> ep = it->second;
    bus->endpoints.erase(it);
    bus->bus->remove_endpoint(*ep);
    ::unlink(ep->socket_path.c_str());
    spdlog::info("endpoint {} of bus {} removed", ep->name, bus->name);
}

void Domain::control_list_endpoints(Connection&, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view bus_name;
    args.read_string(bus_name);
    auto it = buses_.find(std::string(bus_name));
    if (it == buses_.end()) {
        r.fail(error::service_unknown, "ListEndpoints: no bus named \"" + std::string(bus_name) + "\"");
        return;
    }
    auto& w = r.body("a(ssuu)");
    auto t = w.begin_array(8);
    for (const auto& [name, ep] : it->second.endpoints) {
        w.begin_struct();
        w.put_string(name);
        w.put_string(ep->address);
        w.put_u32(ep->owner);
        w.put_u32(static_cast<uint32_t>(it->second.bus->endpoint_connections(*ep)));
    }
    w.end_array(t);
}

}  // namespace kdbus::daemon
