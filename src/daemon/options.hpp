/* Options: kdbusd's command line, dbus-daemon's plus kdbus's --domain */
#pragma once

#include <optional>
#include <string>

namespace kdbus::daemon {

struct Options {
    enum class Config { none, session, system, file };
    Config config = Config::none;
    std::string config_file;
    std::optional<std::string> address;  // overrides every <listen>
    bool print_address = false;
    int print_address_fd = 1;
    bool print_pid = false;
    int print_pid_fd = 1;
    std::optional<bool> fork;  // nullopt: as the configuration says
    bool nopidfile = false;
    bool systemd_activation = false;
    std::optional<bool> syslog;
    bool version = false;
    bool introspect = false;
    bool help = false;
    std::string domain_dir;  // --domain DIR
};

/* Parses argv; throws std::invalid_argument with a usage message. */
Options parse_options(int argc, char** argv);

const char* usage_text();

}  // namespace kdbus::daemon
