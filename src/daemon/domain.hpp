/* Domain: one kdbusd process serving DIR/control and the buses made
 * through it (kdbus's kdbusfs mount, DESIGN.md "Modes") */
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/bus.hpp"
#include "daemon/driver.hpp"
#include "daemon/endpoint.hpp"

namespace kdbus::daemon {

/*
 * A domain has no name beyond its directory, so making one needs no
 * privilege (kdbus: FS_USERNS_MOUNT). Its control socket is itself a small
 * bus whose driver offers org.kdbusd.Control1; each bus it creates is a Bus
 * with its own listener at DIR/<uid>-<name>/bus, names, policy and limits,
 * all on the one event loop. Privilege is CAP_IPC_OWNER in the domain's
 * user namespace, decided once per control connection from its pidfd
 * (domain_privilege.hpp); a bus's owner is privileged for its own bus and
 * its endpoints.
 */
class Domain {
public:
    struct Options {
        std::string dir;
        /* JSON (conf/kdbusd.json): buses created at start. */
        std::string config_json;
        std::string config_name;  // for errors
    };

    Domain(boost::asio::io_context& io, Options options);
    ~Domain();
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    /* Creates DIR, the control socket and the configured buses. Throws. */
    void start();
    /* Disconnects every client and removes every socket this domain made. */
    void shutdown();
    /* Re-reads the configured policy of every bus; empty or an error text. */
    std::string reload();

    const std::string& control_address() const { return control_address_; }

private:
    struct BusEntry {
        std::string name;
        uid_t owner = 0;
        std::string access;       // owner | group | world
        std::string policy_text;  // as given at creation, for reload
        bool persist = false;
        uint64_t creator = 0;  // control connection id; 0 once persistent
        std::string dir;
        std::string socket_path;
        std::string address;
        std::unique_ptr<Bus> bus;
        /* Custom endpoints, by name; sockets beside `bus`. */
        std::map<std::string, std::shared_ptr<Endpoint>> endpoints;
    };
    struct ChildDomain {
        std::string dir;
        pid_t pid = 0;
        pid_t target = 0;
    };

    void install_control_methods();
    /* Makes a bus; returns an error text or empty. */
    std::string create_bus(const std::string& name, uid_t owner, const std::string& access,
                           const std::string& policy_text, bool persist, uint64_t creator, std::string* address);
    void remove_bus(const std::string& name);
    bool privileged(const Connection& c) const;
    /* The bus `name` if `c` owns it or is privileged; else nullptr and
     * the error in `r`. */
    BusEntry* owned_bus(Connection& c, std::string_view name, const char* method, Driver::Reply& r);
    /* The endpoint `name` of a bus `c` owns (as owned_bus). After an
     * error in `r`: a null bus, or the end of the bus's endpoints. */
    std::pair<BusEntry*, std::map<std::string, std::shared_ptr<Endpoint>>::iterator> owned_endpoint(
        Connection& c, std::string_view bus_name, std::string_view name, const char* method, Driver::Reply& r);
    void on_control_disconnect(Connection& c);

    using Reply = Driver::Reply;
    void control_create_bus(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_remove_bus(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_list_buses(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_get_stats(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_reload(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_list_domains(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_create_domain(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_create_endpoint(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_update_endpoint_policy(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_remove_endpoint(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void control_list_endpoints(Connection&, const wire::Header&, wire::Reader&, Reply&);

    boost::asio::io_context& io_;
    Options options_;
    std::unique_ptr<Bus> control_;
    std::string control_path_;
    std::string control_address_;
    std::map<std::string, BusEntry> buses_;
    std::vector<ChildDomain> children_;
};

}  // namespace kdbus::daemon
