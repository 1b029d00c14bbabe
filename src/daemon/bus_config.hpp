/* DaemonConfig: the configuration file, resolved into what one kdbusd
 * process needs */
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "daemon/bus_settings.hpp"
#include "daemon/options.hpp"

namespace kdbus::policy {
struct Config;
}

namespace kdbus::daemon {

struct DaemonConfig {
    std::vector<std::string> listen;  // --address overrides the file's <listen>
    std::optional<std::string> user;
    bool fork = false;
    bool keep_umask = false;
    std::optional<std::string> pidfile;
    std::vector<std::string> features;
    BusSettings settings;
};

/*
 * Loads --config-file, or for --session/--system the installed file
 * (${sysconfdir}/kdbusd/{session,system}.conf) if present, else the copy
 * built into the binary. Throws std::runtime_error ("file:line: reason").
 */
DaemonConfig load_daemon_config(const Options& options);

/* The bus-level part of a loaded configuration. */
BusSettings settings_from_config(const policy::Config& config);

/* The configuration files built into the binary (from conf/). */
extern const char* const embedded_session_conf;
extern const char* const embedded_system_conf;
extern const char* const embedded_domain_json;

}  // namespace kdbus::daemon
