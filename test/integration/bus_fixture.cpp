#include "bus_fixture.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kdbusd::itest {

#ifndef KDBUSD_BINARY
#define KDBUSD_BINARY "/usr/bin/dbus-daemon"
#endif

std::string daemon_binary() {
  if (const char* env = std::getenv("KDBUSD_TEST_DAEMON"); env && *env) return env;
  return KDBUSD_BINARY;
}

const char* const kOpenBusConfig = R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS_DIR@/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
)";

namespace {

std::filesystem::path make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "kdbusd-itest-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  return templ;
}

std::string substitute(std::string text, const std::string& key, const std::string& value) {
  for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + value.size()))
    text.replace(pos, key.size(), value);
  return text;
}

}  // namespace

BusDaemon::BusDaemon(const std::string& config_template) : BusDaemon(config_template, {}) {}

BusDaemon::BusDaemon(const std::string& config_template, std::vector<std::string> wrapper)
    : dir_(make_temp_dir()) {
  auto config = dir_ / "bus.conf";
  std::ofstream(config) << substitute(config_template, "@BUS_DIR@", dir_.string());
  std::vector<std::string> argv = std::move(wrapper);
  for (std::string arg : {daemon_binary(), "--config-file=" + config.string(), std::string("--nofork"),
                          std::string("--print-address=1")})
    argv.push_back(std::move(arg));
  process_ = std::make_unique<ChildProcess>(argv, Environment{}, (dir_ / "daemon.stderr").string());
  // The daemon prints its address once it listens: that line is the
  // readiness signal.
  auto line = process_->read_line(milliseconds(10000));
  if (!line || line->empty()) {
    process_->terminate();
    std::string why = "daemon " + daemon_binary() + " printed no address; stderr:\n" + log();
    std::filesystem::remove_all(dir_);
    throw std::runtime_error(why);
  }
  address_ = *line;
}

BusDaemon::~BusDaemon() {
  process_->terminate();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string BusDaemon::log() const {
  std::ifstream in(dir_ / "daemon.stderr");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kdbusd::itest
