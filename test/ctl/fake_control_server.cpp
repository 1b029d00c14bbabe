#include "fake_control_server.hpp"

#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

namespace kdbusctl::test {

namespace {

nlohmann::json read_value(sd_bus_message* m);

nlohmann::json read_basic(sd_bus_message* m, char type) {
  switch (type) {
    case 's': {
      const char* s = nullptr;
      sd_bus_message_read_basic(m, 's', &s);
      return s;
    }
    case 'u': {
      uint32_t u = 0;
      sd_bus_message_read_basic(m, 'u', &u);
      return u;
    }
    case 'b': {
      int b = 0;
      sd_bus_message_read_basic(m, 'b', &b);
      return b != 0;
    }
    default:
      throw std::runtime_error(std::string("fake control server: unexpected type ") + type);
  }
}

// Reads the arguments the contract uses: s, u, b, as, a{sv} with such values.
nlohmann::json read_value(sd_bus_message* m) {
  char type = 0;
  const char* contents = nullptr;
  if (sd_bus_message_peek_type(m, &type, &contents) <= 0) throw std::runtime_error("no value");
  if (type == 'v') {
    sd_bus_message_enter_container(m, 'v', contents);
    auto value = read_value(m);
    sd_bus_message_exit_container(m);
    return value;
  }
  if (type != 'a') return read_basic(m, type);
  sd_bus_message_enter_container(m, 'a', contents);
  nlohmann::json result = contents[0] == '{' ? nlohmann::json::object() : nlohmann::json::array();
  while (sd_bus_message_peek_type(m, &type, &contents) > 0) {
    if (type == 'e') {
      sd_bus_message_enter_container(m, 'e', contents);
      auto key = read_value(m).get<std::string>();
      result[key] = read_value(m);
      sd_bus_message_exit_container(m);
    } else {
      result.push_back(read_value(m));
    }
  }
  sd_bus_message_exit_container(m);
  return result;
}

int on_hello(sd_bus_message* m, void*, sd_bus_error*) { return sd_bus_reply_method_return(m, "s", ":1.1"); }

const sd_bus_vtable kDriverVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Hello", "", "s", on_hello, 0),
    SD_BUS_VTABLE_END,
};

}  // namespace

// The Control1 methods: signatures exactly as control_client.hpp documents;
// sd-bus rejects a call whose arguments do not match them.
struct ControlMethods {
  static int on_call(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    auto* server = static_cast<FakeControlServer*>(userdata);
    std::string member = sd_bus_message_get_member(m);
    nlohmann::json args = nlohmann::json::array();
    char type = 0;
    const char* contents = nullptr;
    while (sd_bus_message_peek_type(m, &type, &contents) > 0) args.push_back(read_value(m));
    {
      std::lock_guard lock(server->mutex_);
      server->calls_.push_back({{"member", member}, {"args", args}});
    }
    std::string dir = server->dir_.string();
    if (member == "CreateBus")
      return sd_bus_reply_method_return(m, "s", ("unix:path=" + dir + "/" + args[0].get<std::string>() + "/bus").c_str());
    if (member == "RemoveBus" && args[0] == FakeControlServer::kMissingBus)
      return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No such bus");
    if (member == "ListBuses")
      return sd_bus_reply_method_return(m, "a(ssuu)", 2, "0-system", "unix:path=/run/kdbus/0-system/bus", 0u, 3u,
                                        "1000-user", "unix:path=/run/kdbus/1000-user/bus", 1000u, 1u);
    if (member == "CreateEndpoint")
      return sd_bus_reply_method_return(
          m, "s", ("unix:path=" + dir + "/" + args[0].get<std::string>() + "/" + args[1].get<std::string>()).c_str());
    if (member == "ListEndpoints")
      return sd_bus_reply_method_return(m, "a(ssuu)", 2, "bus", "unix:path=/run/kdbus/0-system/bus", 0u, 3u,
                                        "1000-sandbox", "unix:path=/run/kdbus/0-system/1000-sandbox", 1000u, 0u);
    if (member == "ListDomains")
      return sd_bus_reply_method_return(m, "a(sus)", 1, "/run/kdbus-ct1", 4242u, "4100");
    if (member == "CreateDomain") {
      auto requested = args[1].get<std::string>();
      std::string created = requested.empty() ? "/run/kdbus-" + std::to_string(args[0].get<uint32_t>()) : requested;
      return sd_bus_reply_method_return(m, "s", created.c_str());
    }
    if (member == "GetStats")
      return sd_bus_reply_method_return(m, "a{sv}", 2, "Buses", "u", 2u, "Connections", "u", 5u);
    return sd_bus_reply_method_return(m, "");  // RemoveBus, UpdateEndpointPolicy, RemoveEndpoint, Reload
  }
};

namespace {

const sd_bus_vtable kControlVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("CreateBus", "sa{sv}", "s", ControlMethods::on_call, 0),
    SD_BUS_METHOD("RemoveBus", "s", "", ControlMethods::on_call, 0),
    SD_BUS_METHOD("ListBuses", "", "a(ssuu)", ControlMethods::on_call, 0),
    SD_BUS_METHOD("CreateEndpoint", "ssa{sv}", "s", ControlMethods::on_call, 0),
    SD_BUS_METHOD("UpdateEndpointPolicy", "ssa{sv}", "", ControlMethods::on_call, 0),
    SD_BUS_METHOD("RemoveEndpoint", "ss", "", ControlMethods::on_call, 0),
    SD_BUS_METHOD("ListEndpoints", "s", "a(ssuu)", ControlMethods::on_call, 0),
    SD_BUS_METHOD("ListDomains", "", "a(sus)", ControlMethods::on_call, 0),
    SD_BUS_METHOD("CreateDomain", "us", "s", ControlMethods::on_call, 0),
    SD_BUS_METHOD("GetStats", "s", "a{sv}", ControlMethods::on_call, 0),
    SD_BUS_METHOD("Reload", "", "", ControlMethods::on_call, 0),
    SD_BUS_VTABLE_END,
};

}  // namespace

FakeControlServer::FakeControlServer(const std::filesystem::path& dir) : dir_(dir) {
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = (dir / "control").string();
  if (listen_fd_ < 0 || path.size() >= sizeof addr.sun_path) throw std::runtime_error("control socket");
  path.copy(addr.sun_path, path.size());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(listen_fd_, 8) < 0)
    throw std::runtime_error("cannot listen on " + path);
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { serve(); });
}

FakeControlServer::~FakeControlServer() {
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) std::terminate();
  thread_.join();
  close(stop_fd_);
  close(listen_fd_);
}

std::vector<nlohmann::json> FakeControlServer::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

void FakeControlServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve_connection(fd);
  }
}

void FakeControlServer::serve_connection(int fd) {
  sd_bus* bus = nullptr;
  sd_id128_t id;
  if (sd_bus_new(&bus) < 0) return void(close(fd));
  sd_id128_randomize(&id);
  sd_bus_set_fd(bus, fd, fd);  // the bus owns fd from here on
  sd_bus_set_server(bus, 1, id);
  sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/DBus", "org.freedesktop.DBus", kDriverVtable, this);
  sd_bus_add_object_vtable(bus, nullptr, "/org/kdbusd/Control1", "org.kdbusd.Control1", kControlVtable, this);
  if (sd_bus_start(bus) >= 0) {
    while (sd_bus_is_open(bus) > 0) {
      int r = sd_bus_process(bus, nullptr);
      if (r < 0) break;
      if (r > 0) continue;
      pollfd fds[2] = {{sd_bus_get_fd(bus), static_cast<short>(sd_bus_get_events(bus)), 0}, {stop_fd_, POLLIN, 0}};
      poll(fds, 2, -1);
      if (fds[1].revents) break;
    }
  }
  sd_bus_flush_close_unref(bus);
}

}  // namespace kdbusctl::test
