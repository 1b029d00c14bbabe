/* Service files: the .service files of the service directories, which say
 * how to start the owner of a bus name (D-Bus specification, "Message Bus
 * Starting Services"; dbus-daemon bus/activation.c, bus/desktop-file.c)
 *
 *   [D-BUS Service]
 *   Name=com.example.Foo
 *   Exec=/usr/libexec/foo --bus
 *   User=foo                        (system bus)
 *   SystemdService=foo.service      (with --systemd-activation)
 *
 * Pure functions: no bus, no event loop, so the unit tests drive them with
 * strings and temporary directories. */
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/config.hpp"

namespace kdbus::daemon {

struct ServiceFile {
    std::string name;             // Name=
    std::string exec;             // Exec=, unsplit
    std::string user;             // User=, empty if absent
    std::string systemd_service;  // SystemdService=, empty if absent
    std::string path;             // the file it came from
};

/* Parses the text of one .service file. On a file dbus-daemon would not
 * load, returns nullopt and sets *error (why, for the log). */
std::optional<ServiceFile> parse_service_file(std::string_view text, const std::string& path,
                                              std::string* error);

/* Every activatable name, by name. */
using ServiceTable = std::map<std::string, ServiceFile, std::less<>>;

/* Reads every *.service file of `dirs`, in order. As dbus-daemon: the first
 * file for a name wins, unreadable directories are skipped, and in a
 * transient directory ($XDG_RUNTIME_DIR/dbus-1/services) a file must be
 * named NAME.service. Files that are skipped are reported in *warnings. */
ServiceTable load_service_files(const std::vector<policy::ServiceDir>& dirs,
                                std::vector<std::string>* warnings);

/* Splits an Exec= line into argv as dbus-daemon does (dbus-shell.c: a
 * subset of POSIX shell quoting: '…', "…" with \ escapes, \ outside
 * quotes, # comments). On an error returns nullopt with dbus-daemon's text. */
std::optional<std::vector<std::string>> split_command_line(std::string_view command, std::string* error);

}  // namespace kdbus::daemon
