/* Driver client: the org.freedesktop.DBus calls kdbusctl makes on one bus */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IProxy.h>
#include <string>
#include <vector>

namespace kdbusctl {

/* A connection to a bus (kdbusd in either mode, or dbus-daemon) and the
 * standard driver interfaces on it: org.freedesktop.DBus, its Debug.Stats
 * and Monitoring companions. Every method throws sdbus::Error when the bus
 * answers with an error, except where a result is optional. */
class DriverClient {
public:
    explicit DriverClient(const std::string& address);

    std::string unique_name() const;

    /* names */
    std::vector<std::string> list_names();
    /* nullopt if the name has no owner (it may have gone since ListNames). */
    std::optional<std::string> get_name_owner(const std::string& name);
    std::vector<std::string> list_queued_owners(const std::string& name);

    /* connections: the a{sv} answers, as JSON objects */
    nlohmann::json get_connection_credentials(const std::string& name);
    /* nullopt when the bus has no Debug.Stats or refuses it to this caller:
     * statistics are optional in dbus-daemon (--enable-stats) and privileged. */
    std::optional<nlohmann::json> get_connection_stats(const std::string& name);

    /* bus */
    nlohmann::json get_stats();
    void reload_config();

private:
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> driver_;
};

}  // namespace kdbusctl
