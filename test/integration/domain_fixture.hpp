// A kdbus domain under test: `kdbusd --domain DIR` (DESIGN.md "Modes") in a
// private temporary directory, ready once it has printed the address of
// DIR/control. Optionally started through a wrapper (setpriv, unshare -Ur)
// so that the domain belongs to another uid or user namespace.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "process.hpp"

namespace kdbusd::itest {

class DomainDaemon {
 public:
  struct Options {
    // Prepended to the daemon's command line, e.g. {"unshare", "-Ur"}.
    std::vector<std::string> wrapper;
    // The domain's JSON configuration (conf/kdbusd.json format); empty: the
    // built-in one, which creates 0-system when the daemon runs as uid 0.
    std::string config_json;
    // Owner of the temporary directory, for a daemon that runs as another
    // uid and must create DIR in it.
    std::optional<std::pair<uid_t, gid_t>> owner;
  };

  // Starts the daemon and waits (bounded) for the control address it
  // prints; throws if none comes.
  DomainDaemon() : DomainDaemon(Options{}) {}
  explicit DomainDaemon(Options options);
  ~DomainDaemon();
  DomainDaemon(const DomainDaemon&) = delete;
  DomainDaemon& operator=(const DomainDaemon&) = delete;

  // The domain's directory (TMP/d) and its control socket's address.
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& control_address() const { return control_address_; }
  std::filesystem::path control_socket() const { return dir_ / "control"; }
  // Where kdbus puts a bus's default endpoint: DIR/<name>/bus.
  std::filesystem::path bus_socket(const std::string& bus) const { return dir_ / bus / "bus"; }
  std::string bus_address(const std::string& bus) const { return "unix:path=" + bus_socket(bus).string(); }
  // A scratch directory beside the domain, removed with it.
  const std::filesystem::path& temp_dir() const { return temp_; }

  pid_t pid() const { return process_->pid(); }
  // SIGTERM, then the exit status (-1: killed by a signal or still running).
  int terminate() { return process_->terminate(); }
  // The daemon's stderr so far, for assertion messages.
  std::string log() const;

 private:
  std::filesystem::path temp_;
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  std::string control_address_;
};

}  // namespace kdbusd::itest
