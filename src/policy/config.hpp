/* Config: a dbus-daemon XML configuration file, loaded with expat
 *
 *   Config c = load_config_file("/usr/share/dbus-1/system.conf");
 *   // c.listen, c.auth, c.user, c.limits, c.policy, c.servicedirs …
 *
 * The whole dbus-daemon 1.14 language (dbus-daemon(1)): <busconfig>,
 * <type>, <user>, <fork>, <keep_umask>, <listen>, <pidfile>, <auth>,
 * <allow_anonymous>, <servicedir>, <standard_session_servicedirs>,
 * <standard_system_servicedirs>, <servicehelper>, <include> (ignore_missing,
 * if_selinux_enabled, selinux_root_relative), <includedir>, <policy> with
 * <allow>/<deny>, <limit>, <syslog>, <selinux>/<associate>, <apparmor>.
 * Validation and error texts follow bus/config-parser.c, so every file
 * dbus-daemon rejects is rejected here, and the other way round.
 *
 * Loading is pure: no global state is read or written except through
 * LoadOptions (environment, user database, SELinux state), so the broker
 * reloads by loading a new Config and swapping it in. */
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/limits.hpp"
#include "policy/policy.hpp"

namespace kdbus::policy {

/* A file dbus-daemon would refuse. what() is "file:line: reason";
 * reason() is dbus-daemon's own text for the same mistake (for XML syntax
 * errors: "Error in file F, line L, column C: <expat's message>"). */
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, unsigned line, std::string reason);
    const std::string& file() const { return file_; }
    unsigned line() const { return line_; }
    const std::string& reason() const { return reason_; }

private:
    std::string file_;
    unsigned line_;
    std::string reason_;
};

/* A directory searched for .service files. */
struct ServiceDir {
    std::string path;
    /* $XDG_RUNTIME_DIR/dbus-1/services: transient, so not watched, and
     * only files named after their bus name count (dbus-daemon's
     * BUS_SERVICE_DIR_FLAGS_NO_WATCH | STRICT_NAMING). */
    bool transient = false;

    bool operator==(const ServiceDir&) const = default;
};

struct Config {
    std::string type;                  // <type>: "session", "system", or anything
    std::optional<std::string> user;   // <user>: name or uid to drop to
    bool fork = false;
    bool keep_umask = false;
    bool syslog = false;
    bool allow_anonymous = false;
    std::vector<std::string> listen;   // addresses as written, in order
    std::vector<std::string> auth;     // mechanisms; empty = all
    std::optional<std::string> pidfile;
    std::vector<ServiceDir> servicedirs;  // resolved, deduplicated, in order
    std::optional<std::string> servicehelper;
    Limits limits;
    std::shared_ptr<const Policy> policy = std::make_shared<const Policy>();

    /* <includedir>s that existed: dbus-daemon watches them for changes. */
    std::vector<std::string> conf_dirs;
    /* Every file read, top level first. */
    std::vector<std::string> files_read;
    /* <selinux><associate own= context=/>: name → SELinux context. */
    std::vector<std::pair<std::string, std::string>> selinux_associations;
    /* <apparmor mode=...>, last one wins. */
    std::optional<std::string> apparmor_mode;
    /* Accepted but not enforced by kdbusd (SELinux, AppArmor), one line
     * each, for the log. */
    std::vector<std::string> unsupported;
    /* Non-fatal problems dbus-daemon also only warns about: unknown users
     * and groups (their rules are dropped), broken files in an
     * <includedir> (skipped). */
    std::vector<std::string> warnings;
};

struct LoadOptions {
    /* Environment for <standard_session_servicedirs/>: XDG_RUNTIME_DIR,
     * XDG_DATA_HOME, XDG_DATA_DIRS, HOME. Defaults to getenv(). */
    std::function<std::optional<std::string>(std::string_view)> getenv;
    /* User and group names (or numeric ids) to ids. Default: the system's
     * user database (getpwnam_r / getgrnam_r). */
    std::function<std::optional<uid_t>(std::string_view)> lookup_user;
    std::function<std::optional<gid_t>(std::string_view)> lookup_group;
    /* kdbusd has no SELinux support: if_selinux_enabled includes are
     * skipped, as dbus-daemon does on a system without SELinux. */
    bool selinux_enabled = false;
    /* dbus-daemon refuses a top-level file without <listen>. */
    bool require_listen = true;
};

/* Throws ConfigError. */
Config load_config_file(const std::string& path, const LoadOptions& options = {});
/* `virtual_path` names the text in errors and is the base of relative
 * <include>, <includedir> and <servicedir> paths. */
Config load_config_string(std::string_view xml, const std::string& virtual_path,
                          const LoadOptions& options = {});

/* <standard_session_servicedirs/> and <standard_system_servicedirs/> as
 * dbus-daemon 1.14 on Unix expands them (dbus-sysdeps-util-unix.c). */
std::vector<ServiceDir> standard_session_servicedirs(const LoadOptions& options = {});
std::vector<ServiceDir> standard_system_servicedirs();
/* Create the transient service directories of `config` (mode 0700), as
 * dbus-daemon does while loading; the broker calls it before reading
 * service files. Throws std::system_error. */
void create_transient_servicedirs(const Config& config);

/* The system user database, as LoadOptions uses by default. */
std::optional<uid_t> lookup_system_user(std::string_view name_or_id);
std::optional<gid_t> lookup_system_group(std::string_view name_or_id);
/* All groups of a user (primary first), for Policy::allows_user. */
std::vector<gid_t> groups_of_user(uid_t uid);

}  // namespace kdbus::policy
