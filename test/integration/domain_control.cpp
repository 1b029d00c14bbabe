#include "domain_control.hpp"

#include <gtest/gtest.h>
#include <stdexcept>

#include "process.hpp"

namespace kdbusd::itest {

namespace {

void check(int r, const char* what) {
  if (r < 0) throw std::runtime_error(std::string(what) + " failed");
}

}  // namespace

CallResult ControlClient::create_bus(const std::string& name, const BusOptions& options) {
  sd_bus_message* m = nullptr;
  check(sd_bus_message_new_method_call(peer_.bus(), &m, kDriverName, kControlPath, kControlInterface,
                                       "CreateBus"),
        "new CreateBus");
  MessagePtr msg(m);
  check(sd_bus_message_append(m, "s", name.c_str()), "append name");
  check(sd_bus_message_open_container(m, 'a', "{sv}"), "open a{sv}");
  if (options.persist) check(sd_bus_message_append(m, "{sv}", "persist", "b", int(*options.persist)), "persist");
  if (options.access) check(sd_bus_message_append(m, "{sv}", "access", "s", options.access->c_str()), "access");
  if (options.policy) check(sd_bus_message_append(m, "{sv}", "policy", "s", options.policy->c_str()), "policy");
  check(sd_bus_message_close_container(m), "close a{sv}");
  return peer_.call_message(std::move(msg));
}

CallResult ControlClient::remove_bus(const std::string& name) { return call("RemoveBus", "s", name.c_str()); }

CallResult ControlClient::create_domain(uint32_t target_pid, const std::string& dir) {
  return call("CreateDomain", "us", target_pid, dir.c_str());
}

CallResult ControlClient::get_stats_call(const std::string& bus) { return call("GetStats", "s", bus.c_str()); }

std::vector<BusListing> ControlClient::list_buses() {
  auto result = call("ListBuses");
  EXPECT_TRUE(result.ok()) << result.describe();
  std::vector<BusListing> out;
  if (!result.ok()) return out;
  sd_bus_message* m = result.reply.get();
  check(sd_bus_message_enter_container(m, 'a', "(ssuu)"), "enter a(ssuu)");
  const char *name, *address;
  uint32_t owner, connections;
  while (sd_bus_message_read(m, "(ssuu)", &name, &address, &owner, &connections) > 0)
    out.push_back(BusListing{name, address, owner, connections});
  return out;
}

std::optional<BusListing> ControlClient::find_bus(const std::string& name) {
  for (auto& b : list_buses())
    if (b.name == name) return b;
  return std::nullopt;
}

std::map<std::string, uint64_t> ControlClient::get_stats(const std::string& bus) {
  auto result = get_stats_call(bus);
  EXPECT_TRUE(result.ok()) << result.describe();
  std::map<std::string, uint64_t> out;
  if (!result.ok()) return out;
  sd_bus_message* m = result.reply.get();
  check(sd_bus_message_enter_container(m, 'a', "{sv}"), "enter a{sv}");
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    check(sd_bus_message_read(m, "s", &key), "read key");
    const char* contents = nullptr;
    char type = 0;
    check(sd_bus_message_peek_type(m, &type, &contents), "peek variant");
    if (contents && std::string(contents) == "t") {
      uint64_t v = 0;
      check(sd_bus_message_read(m, "v", "t", &v), "read t");
      out[key] = v;
    } else {
      check(sd_bus_message_skip(m, "v"), "skip");
    }
    check(sd_bus_message_exit_container(m), "exit entry");
  }
  return out;
}

std::vector<DomainListing> ControlClient::list_domains() {
  auto result = call("ListDomains");
  EXPECT_TRUE(result.ok()) << result.describe();
  std::vector<DomainListing> out;
  if (!result.ok()) return out;
  sd_bus_message* m = result.reply.get();
  check(sd_bus_message_enter_container(m, 'a', "(sus)"), "enter a(sus)");
  const char *dir, *target;
  uint32_t pid;
  while (sd_bus_message_read(m, "(sus)", &dir, &pid, &target) > 0) out.push_back(DomainListing{dir, pid, target});
  return out;
}

bool wait_disconnected(SdBusPeer& peer, milliseconds timeout) {
  return wait_until([&] { return peer.bus() == nullptr || sd_bus_is_open(peer.bus()) <= 0; },
                    [&](milliseconds step) {
                      try {
                        peer.pump(step);
                      } catch (const std::exception&) {
                        // ECONNRESET and friends: the state says the rest.
                      }
                    },
                    timeout);
}

}  // namespace kdbusd::itest
