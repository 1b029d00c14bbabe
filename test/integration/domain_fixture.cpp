#include "domain_fixture.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "bus_fixture.hpp"

namespace kdbusd::itest {

namespace {

std::filesystem::path make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "kdbusd-domain-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  // Other uids of the tests must reach DIR/control (mode 0666) through it.
  std::filesystem::permissions(templ, std::filesystem::perms(0755));
  return templ;
}

}  // namespace

DomainDaemon::DomainDaemon(Options options) : temp_(make_temp_dir()), dir_(temp_ / "d") {
  if (options.owner && chown(temp_.c_str(), options.owner->first, options.owner->second) != 0)
    throw std::runtime_error("chown " + temp_.string() + " failed");
  std::vector<std::string> argv = options.wrapper;
  argv.insert(argv.end(), {daemon_binary(), "--domain", dir_.string(), "--nofork", "--print-address=1"});
  if (!options.config_json.empty()) {
    auto config = temp_ / "kdbusd.json";
    std::ofstream(config) << options.config_json;
    argv.push_back("--config-file=" + config.string());
  }
  process_ = std::make_unique<ChildProcess>(argv, Environment{}, (temp_ / "daemon.stderr").string());
  // The control address is printed once DIR/control listens and the
  // configured buses exist: that line is the readiness signal.
  auto line = process_->read_line(milliseconds(10000));
  if (!line || line->empty()) {
    process_->terminate();
    std::string why = "kdbusd --domain printed no control address; stderr:\n" + log();
    std::filesystem::remove_all(temp_);
    throw std::runtime_error(why);
  }
  control_address_ = *line;
}

DomainDaemon::~DomainDaemon() {
  process_->terminate();
  std::error_code ec;
  std::filesystem::remove_all(temp_, ec);
}

std::string DomainDaemon::log() const {
  std::ifstream in(temp_ / "daemon.stderr");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kdbusd::itest
