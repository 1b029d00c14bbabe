#include "daemon/bus_config.hpp"

#include <unistd.h>

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "policy/config.hpp"

namespace kdbus::daemon {

namespace {

BusLimits to_bus_limits(const policy::Limits& l) {
    auto sz = [](int64_t v) { return v < 0 ? size_t(0) : static_cast<size_t>(v); };
    BusLimits b;
    b.max_incoming_bytes = sz(l.max_incoming_bytes);
    b.max_incoming_unix_fds = sz(l.max_incoming_unix_fds);
    b.max_outgoing_bytes = sz(l.max_outgoing_bytes);
    b.max_outgoing_unix_fds = sz(l.max_outgoing_unix_fds);
    b.max_message_size = sz(l.max_message_size);
    b.max_message_unix_fds = sz(l.max_message_unix_fds);
    b.service_start_timeout = l.service_start_timeout;
    b.auth_timeout = l.auth_timeout;
    b.pending_fd_timeout = l.pending_fd_timeout;
    b.max_completed_connections = sz(l.max_completed_connections);
    b.max_incomplete_connections = sz(l.max_incomplete_connections);
    b.max_connections_per_user = sz(l.max_connections_per_user);
    b.max_pending_service_starts = sz(l.max_pending_service_starts);
    b.max_names_per_connection = sz(l.max_names_per_connection);
    b.max_match_rules_per_connection = sz(l.max_match_rules_per_connection);
    b.max_replies_per_connection = sz(l.max_replies_per_connection);
    b.max_queued_messages_per_user = sz(l.max_queued_messages_per_user);
    b.max_queued_unix_fds_per_user = sz(l.max_queued_unix_fds_per_user);
    b.max_queued_bytes_per_user = sz(l.max_queued_bytes_per_user);
    b.reply_timeout = l.has_reply_timeout() ? l.reply_timeout : -1;
    return b;
}

policy::Config load(const Options& o) {
    try {
        switch (o.config) {
            case Options::Config::file:
                return policy::load_config_file(o.config_file);
            case Options::Config::system: {
                std::string installed = KDBUSD_SYSCONFDIR "/kdbusd/system.conf";
                if (::access(installed.c_str(), R_OK) == 0) return policy::load_config_file(installed);
                return policy::load_config_string(embedded_system_conf, "(built-in system.conf)");
            }
            case Options::Config::session:
            case Options::Config::none: {
                std::string installed = KDBUSD_SYSCONFDIR "/kdbusd/session.conf";
                if (::access(installed.c_str(), R_OK) == 0) return policy::load_config_file(installed);
                return policy::load_config_string(embedded_session_conf, "(built-in session.conf)");
            }
        }
    } catch (const policy::ConfigError& e) {
        throw std::runtime_error(e.what());
    }
    throw std::runtime_error("no configuration");
}

}  // namespace

DaemonConfig load_daemon_config(const Options& options) {
    policy::Config c = load(options);
    for (const auto& w : c.warnings) spdlog::warn("{}", w);
    for (const auto& u : c.unsupported) spdlog::info("not supported, ignored: {}", u);

    DaemonConfig d;
    d.listen = options.address ? std::vector<std::string>{*options.address} : c.listen;
    d.user = c.user;
    d.fork = c.fork;
    d.keep_umask = c.keep_umask;
    d.pidfile = c.pidfile;
    d.settings = settings_from_config(c);
    d.settings.systemd_activation = options.systemd_activation;
    d.features = {"HeaderFiltering"};  // unknown header fields are dropped when forwarding
    // dbus-daemon creates $XDG_RUNTIME_DIR/dbus-1/services while loading,
    // so a service file can be dropped there before the first reload.
    try {
        policy::create_transient_servicedirs(c);
    } catch (const std::exception& e) {
        spdlog::warn("{}", e.what());
    }
    return d;
}

BusSettings settings_from_config(const policy::Config& c) {
    BusSettings s;
    s.type = c.type;
    s.auth_mechanisms = c.auth;
    s.allow_anonymous = c.allow_anonymous;
    s.limits = to_bus_limits(c.limits);
    s.policy = c.policy;
    s.servicedirs = c.servicedirs;
    s.servicehelper = c.servicehelper;
    return s;
}

}  // namespace kdbus::daemon
