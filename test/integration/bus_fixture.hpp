// The bus under test: a daemon (kdbusd, or dbus-daemon as the reference)
// started with a dbus-daemon XML configuration in a private temporary
// directory, listening on DIR/bus.
#pragma once

#include <filesystem>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>

#include "process.hpp"

namespace kdbusd::itest {

// The daemon binary under test: $KDBUSD_TEST_DAEMON, else the build's kdbusd
// (or /usr/bin/dbus-daemon when the tree has no kdbusd target).
std::string daemon_binary();

// Session-bus configuration open to everyone, eavesdropping allowed; the
// placeholder @BUS_DIR@ stands for the daemon's temporary directory.
extern const char* const kOpenBusConfig;

class BusDaemon {
 public:
  // Starts the daemon and reads its address from --print-address; throws if
  // it does not print one in time.
  explicit BusDaemon(const std::string& config_template = kOpenBusConfig);
  // The daemon's command line is appended to `wrapper`, a command that
  // execs it in the end (to run it in another mount namespace, say).
  BusDaemon(const std::string& config_template, std::vector<std::string> wrapper);
  ~BusDaemon();
  BusDaemon(const BusDaemon&) = delete;
  BusDaemon& operator=(const BusDaemon&) = delete;

  const std::string& address() const { return address_; }
  const std::filesystem::path& dir() const { return dir_; }
  pid_t pid() const { return process_->pid(); }
  // The daemon's stderr so far, for assertion messages.
  std::string log() const;
  // Environment that points clients at this bus.
  Environment client_env() const { return {{"DBUS_SESSION_BUS_ADDRESS", address_}}; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
};

// Base fixture: a fresh bus per test.
class BusTest : public ::testing::Test {
 protected:
  void SetUp() override { bus_ = std::make_unique<BusDaemon>(); }
  void TearDown() override { bus_.reset(); }

  const std::string& address() const { return bus_->address(); }
  CommandResult run(const std::vector<std::string>& argv,
                    milliseconds timeout = milliseconds(10000)) const {
    return run_command(argv, timeout, bus_->client_env());
  }

  std::unique_ptr<BusDaemon> bus_;
};

}  // namespace kdbusd::itest
