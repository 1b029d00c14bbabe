// A client of a domain's control socket: org.kdbusd.Control1 on
// destination org.freedesktop.DBus, path /org/kdbusd/Control1 (DESIGN.md
// "Fixed interfaces"), over one sd-bus connection. Each call returns the
// raw outcome, so tests can assert on error names.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sd_bus_peer.hpp"

namespace kdbusd::itest {

inline constexpr const char* kControlPath = "/org/kdbusd/Control1";
inline constexpr const char* kControlInterface = "org.kdbusd.Control1";

inline constexpr const char* kErrorInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* kErrorFailed = "org.freedesktop.DBus.Error.Failed";
inline constexpr const char* kErrorAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* kErrorServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown";

// CreateBus's a{sv} options; unset ones are not sent.
struct BusOptions {
  std::optional<bool> persist;
  std::optional<std::string> access;  // owner | group | world
  std::optional<std::string> policy;  // dbus-daemon XML
};

// One row of ListBuses: a(ssuu).
struct BusListing {
  std::string name;
  std::string address;
  uint32_t owner_uid = 0;
  uint32_t connections = 0;
};

// One row of ListDomains: a(sus).
struct DomainListing {
  std::string dir;
  uint32_t pid = 0;
  std::string target;
};

class ControlClient {
 public:
  explicit ControlClient(const std::string& control_address) : peer_(control_address) {}

  CallResult create_bus(const std::string& name, const BusOptions& options = {});
  CallResult remove_bus(const std::string& name);
  CallResult create_domain(uint32_t target_pid, const std::string& dir);
  CallResult get_stats_call(const std::string& bus);

  // These assert success (a gtest failure, and an empty result, otherwise).
  std::vector<BusListing> list_buses();
  std::optional<BusListing> find_bus(const std::string& name);
  std::map<std::string, uint64_t> get_stats(const std::string& bus);
  std::vector<DomainListing> list_domains();

  SdBusPeer& peer() { return peer_; }
  // Closes the control connection, as a creator exiting would.
  void disconnect() { peer_.disconnect(); }

 private:
  template <typename... Args>
  CallResult call(const char* member, const char* types = nullptr, Args... args) {
    return peer_.call(kDriverName, kControlPath, kControlInterface, member, types, args...);
  }

  SdBusPeer peer_;
};

// Processes peer until the bus has dropped it (bounded); true if it did.
bool wait_disconnected(SdBusPeer& peer, milliseconds timeout = milliseconds(5000));

}  // namespace kdbusd::itest
