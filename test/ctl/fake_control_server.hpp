// A stand-in for kdbusd --domain's control socket: a peer-to-peer D-Bus
// server on DIR/control that answers Hello and org.kdbusd.Control1 exactly
// as src/ctl/control_client.hpp specifies, records every call and returns
// canned results. It pins the contract kdbusctl and the daemon share until
// the daemon's domain mode exists.
#pragma once

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace kdbusctl::test {

class FakeControlServer {
 public:
  // Listens on dir/control; serves one client connection at a time on a
  // thread of its own.
  explicit FakeControlServer(const std::filesystem::path& dir);
  ~FakeControlServer();
  FakeControlServer(const FakeControlServer&) = delete;
  FakeControlServer& operator=(const FakeControlServer&) = delete;

  // Each Control1 call received so far: {"member": ..., "args": [...]}, with
  // a{sv} arguments as objects.
  std::vector<nlohmann::json> calls() const;

  // The bus name for which RemoveBus answers with an error.
  static constexpr const char* kMissingBus = "0-missing";

 private:
  void serve();
  void serve_connection(int fd);

  std::filesystem::path dir_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: the destructor's request to stop
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> calls_;
  std::thread thread_;

  friend struct ControlMethods;
};

}  // namespace kdbusctl::test
