#include "driver_client.hpp"

#include <kdbus/interface.hpp>
#include <sdbus-c++/Error.h>

#include "message_json.hpp"

namespace kdbusctl {

namespace {

constexpr const char* kDriverInterface = "org.freedesktop.DBus";
constexpr const char* kStatsInterface = "org.freedesktop.DBus.Debug.Stats";

/* Calls one driver method with string arguments and returns its first out
 * value as JSON. */
nlohmann::json call_for_json(sdbus::IProxy& driver, const char* interface, const char* member,
                             const std::vector<std::string>& args = {}) {
    auto call = driver.createMethodCall(interface, member);
    for (const auto& arg : args) call << arg;
    auto reply = driver.callMethod(call);
    return read_json_value(reply);
}

}  // namespace

DriverClient::DriverClient(const std::string& address)
    : connection_(sdbus::createSessionBusConnectionWithAddress(address)),
      driver_(sdbus::createProxy(*connection_, std::string(kdbus::interface::driver_name),
                                 std::string(kdbus::interface::driver_path))) {}

std::string DriverClient::unique_name() const { return connection_->getUniqueName(); }

std::vector<std::string> DriverClient::list_names() {
    std::vector<std::string> names;
    driver_->callMethod("ListNames").onInterface(kDriverInterface).storeResultsTo(names);
    return names;
}

std::optional<std::string> DriverClient::get_name_owner(const std::string& name) {
    try {
        std::string owner;
        driver_->callMethod("GetNameOwner").onInterface(kDriverInterface).withArguments(name).storeResultsTo(owner);
        return owner;
    } catch (const sdbus::Error& e) {
        if (e.getName() == "org.freedesktop.DBus.Error.NameHasNoOwner") return std::nullopt;
        throw;
    }
}

std::vector<std::string> DriverClient::list_queued_owners(const std::string& name) {
    try {
        std::vector<std::string> owners;
        driver_->callMethod("ListQueuedOwners")
            .onInterface(kDriverInterface)
            .withArguments(name)
            .storeResultsTo(owners);
        return owners;
    } catch (const sdbus::Error& e) {
        if (e.getName() == "org.freedesktop.DBus.Error.NameHasNoOwner") return {};
        throw;
    }
}

nlohmann::json DriverClient::get_connection_credentials(const std::string& name) {
    return call_for_json(*driver_, kDriverInterface, "GetConnectionCredentials", {name});
}

std::optional<nlohmann::json> DriverClient::get_connection_stats(const std::string& name) {
    try {
        return call_for_json(*driver_, kStatsInterface, "GetConnectionStats", {name});
    } catch (const sdbus::Error& e) {
        const auto& error = e.getName();
        if (error == "org.freedesktop.DBus.Error.UnknownInterface" ||
            error == "org.freedesktop.DBus.Error.UnknownMethod" || error == "org.freedesktop.DBus.Error.AccessDenied")
            return std::nullopt;
        throw;
    }
}

nlohmann::json DriverClient::get_stats() { return call_for_json(*driver_, kStatsInterface, "GetStats"); }

void DriverClient::reload_config() { driver_->callMethod("ReloadConfig").onInterface(kDriverInterface); }

}  // namespace kdbusctl
