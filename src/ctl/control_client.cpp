#include "control_client.hpp"

#include <kdbus/interface.hpp>

#include "bus_address.hpp"
#include "message_json.hpp"

namespace kdbusctl {

namespace {

const std::string kInterface{kdbus::interface::control};

using ObjectRow = sdbus::Struct<std::string, std::string, uint32_t, uint32_t>;

std::vector<ObjectInfo> to_object_infos(const std::vector<ObjectRow>& rows) {
    std::vector<ObjectInfo> infos;
    for (const auto& row : rows)
        infos.push_back({row.get<0>(), row.get<1>(), row.get<2>(), row.get<3>()});
    return infos;
}

}  // namespace

ControlClient::ControlClient(const std::string& domain_dir)
    : connection_(sdbus::createSessionBusConnectionWithAddress(control_address(domain_dir))),
      control_(sdbus::createProxy(*connection_, std::string(kdbus::interface::driver_name),
                                  std::string(kdbus::interface::control_path))) {}

std::string ControlClient::create_bus(const std::string& name, const VariantMap& options) {
    std::string address;
    control_->callMethod("CreateBus").onInterface(kInterface).withArguments(name, options).storeResultsTo(address);
    return address;
}

void ControlClient::remove_bus(const std::string& name) {
    control_->callMethod("RemoveBus").onInterface(kInterface).withArguments(name);
}

std::vector<ObjectInfo> ControlClient::list_buses() {
    std::vector<ObjectRow> rows;
    control_->callMethod("ListBuses").onInterface(kInterface).storeResultsTo(rows);
    return to_object_infos(rows);
}

std::string ControlClient::create_endpoint(const std::string& bus, const std::string& name,
                                           const VariantMap& options) {
    std::string address;
    control_->callMethod("CreateEndpoint")
        .onInterface(kInterface)
        .withArguments(bus, name, options)
        .storeResultsTo(address);
    return address;
}

void ControlClient::update_endpoint_policy(const std::string& bus, const std::string& name,
                                           const VariantMap& options) {
    control_->callMethod("UpdateEndpointPolicy").onInterface(kInterface).withArguments(bus, name, options);
}

void ControlClient::remove_endpoint(const std::string& bus, const std::string& name) {
    control_->callMethod("RemoveEndpoint").onInterface(kInterface).withArguments(bus, name);
}

std::vector<ObjectInfo> ControlClient::list_endpoints(const std::string& bus) {
    std::vector<ObjectRow> rows;
    control_->callMethod("ListEndpoints").onInterface(kInterface).withArguments(bus).storeResultsTo(rows);
    return to_object_infos(rows);
}

std::vector<DomainInfo> ControlClient::list_domains() {
    std::vector<sdbus::Struct<std::string, uint32_t, std::string>> rows;
    control_->callMethod("ListDomains").onInterface(kInterface).storeResultsTo(rows);
    std::vector<DomainInfo> domains;
    for (const auto& row : rows) domains.push_back({row.get<0>(), row.get<1>(), row.get<2>()});
    return domains;
}

std::string ControlClient::create_domain(uint32_t target_pid, const std::string& dir) {
    std::string created;
    control_->callMethod("CreateDomain").onInterface(kInterface).withArguments(target_pid, dir).storeResultsTo(created);
    return created;
}

nlohmann::json ControlClient::get_stats(const std::string& bus) {
    auto call = control_->createMethodCall(kInterface, "GetStats");
    call << bus;
    auto reply = control_->callMethod(call);
    return read_json_value(reply);
}

void ControlClient::reload() { control_->callMethod("Reload").onInterface(kInterface); }

}  // namespace kdbusctl
