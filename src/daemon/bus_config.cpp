#include "daemon/bus_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "policy/config.hpp"

namespace kdbus::daemon {

namespace {

size_t to_size(int64_t v) { return v < 0 ? size_t(0) : static_cast<size_t>(v); }

/* One uid's limits from the configuration's per-user values; an unset
 * (-1) count of names, rules or replies is the default, raised to the
 * per-connection limit so that one connection can always use all of its
 * own (session.conf's 50000 rules per connection stay usable). */
UserLimits user_limits(const policy::Limits& l) {
    UserLimits u;
    auto at_least_per_connection = [](int64_t per_user, int64_t per_connection, size_t fallback) {
        return per_user >= 0 ? to_size(per_user) : std::max(fallback, to_size(per_connection));
    };
    u.connections = to_size(l.max_connections_per_user);
    u.names = at_least_per_connection(l.max_names_per_user, l.max_names_per_connection, u.names);
    u.match_rules =
        at_least_per_connection(l.max_match_rules_per_user, l.max_match_rules_per_connection, u.match_rules);
    u.replies = at_least_per_connection(l.max_replies_per_user, l.max_replies_per_connection, u.replies);
    u.queued_messages = to_size(l.max_queued_messages_per_user);
    u.queued_unix_fds = to_size(l.max_queued_unix_fds_per_user);
    u.queued_bytes = to_size(l.max_queued_bytes_per_user);
    return u;
}

BusLimits to_bus_limits(const policy::Limits& l) {
    BusLimits b;
    b.max_incoming_bytes = to_size(l.max_incoming_bytes);
    b.max_incoming_unix_fds = to_size(l.max_incoming_unix_fds);
    b.max_outgoing_bytes = to_size(l.max_outgoing_bytes);
    b.max_outgoing_unix_fds = to_size(l.max_outgoing_unix_fds);
    b.max_message_size = to_size(l.max_message_size);
    b.max_message_unix_fds = to_size(l.max_message_unix_fds);
    b.service_start_timeout = l.service_start_timeout;
    b.auth_timeout = l.auth_timeout;
    b.pending_fd_timeout = l.pending_fd_timeout;
    b.max_completed_connections = to_size(l.max_completed_connections);
    b.max_incomplete_connections = to_size(l.max_incomplete_connections);
    b.max_pending_service_starts = to_size(l.max_pending_service_starts);
    b.max_names_per_connection = to_size(l.max_names_per_connection);
    b.max_match_rules_per_connection = to_size(l.max_match_rules_per_connection);
    b.max_replies_per_connection = to_size(l.max_replies_per_connection);
    b.reply_timeout = l.has_reply_timeout() ? l.reply_timeout : -1;
    b.per_user = user_limits(l);
    // A uid's own values start from everyone's and override them one by
    // one, wherever in the configuration they appeared.
    std::map<uid_t, policy::Limits> own;
    for (const auto& u : l.per_uid) {
        auto [it, fresh] = own.try_emplace(u.uid, l);
        it->second.*(u.field) = u.value;
    }
    for (const auto& [uid, limits] : own) b.per_uid.emplace(uid, user_limits(limits));
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
