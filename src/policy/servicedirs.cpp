/* Standard service directories, as dbus-daemon 1.14 expands
 * <standard_session_servicedirs/> and <standard_system_servicedirs/>
 * (dbus/dbus-sysdeps-util-unix.c) */
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "policy/config.hpp"

namespace kdbus::policy {

namespace {

std::optional<std::string> env(const LoadOptions& options, std::string_view name)
{
    if (options.getenv)
        return options.getenv(name);
    if (const char* v = std::getenv(std::string(name).c_str()))
        return std::string(v);
    return std::nullopt;
}

/* _dbus_concat_dir_and_file: exactly one '/' between the parts. */
std::string join(std::string dir, std::string_view file)
{
    if (dir.empty())
        return std::string(file);
    const bool dir_slash = dir.back() == '/';
    const bool file_slash = !file.empty() && file.front() == '/';
    if (dir_slash && file_slash)
        file.remove_prefix(1);
    else if (!dir_slash && !file_slash)
        dir += '/';
    return dir + std::string(file);
}

std::string home_dir(const LoadOptions& options)
{
    if (auto home = env(options, "HOME"))
        return *home;
    std::string buf(16384, '\0');
    passwd pw{};
    passwd* result = nullptr;
    if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr)
        return pw.pw_dir;
    return "/";
}

void add_unique(std::vector<ServiceDir>& dirs, ServiceDir dir)
{
    for (const ServiceDir& d : dirs) {
        if (d.path == dir.path)
            return;
    }
    dirs.push_back(std::move(dir));
}

/* _dbus_split_paths_and_append: each ':'-separated entry + suffix. */
void add_search_path(std::vector<ServiceDir>& dirs, std::string_view search_path,
                     std::string_view suffix)
{
    while (!search_path.empty()) {
        const size_t colon = search_path.find(':');
        std::string_view entry = search_path.substr(0, colon);
        if (!entry.empty())
            add_unique(dirs, ServiceDir{join(std::string(entry), suffix), false});
        if (colon == std::string_view::npos)
            break;
        search_path.remove_prefix(colon + 1);
    }
}

}  // namespace

std::vector<ServiceDir> standard_session_servicedirs(const LoadOptions& options)
{
    std::vector<ServiceDir> dirs;
    /* The transient directory comes first; dbus-daemon creates it at load
     * time, kdbusd leaves that to the broker (create_transient_servicedirs). */
    if (auto runtime = env(options, "XDG_RUNTIME_DIR"))
        dirs.push_back(ServiceDir{join(*runtime, "dbus-1/services"), true});

    std::string search_path;
    if (auto data_home = env(options, "XDG_DATA_HOME"))
        search_path = *data_home;
    else
        search_path = join(home_dir(options), ".local/share");
    search_path += ':';
    if (auto data_dirs = env(options, "XDG_DATA_DIRS"))
        search_path += *data_dirs + ":";
    else
        search_path += "/usr/local/share:/usr/share:";
    search_path += "/usr/share";  // DBUS_DATADIR
    add_search_path(dirs, search_path, "/dbus-1/services");
    return dirs;
}

std::vector<ServiceDir> standard_system_servicedirs()
{
    std::vector<ServiceDir> dirs;
    add_search_path(dirs, "/usr/local/share:/usr/share:/usr/share:/lib", "/dbus-1/system-services");
    return dirs;
}

}  // namespace kdbus::policy

#include <sys/stat.h>

#include <cerrno>
#include <system_error>

namespace kdbus::policy {

void create_transient_servicedirs(const Config& config)
{
    for (const ServiceDir& dir : config.servicedirs) {
        if (!dir.transient)
            continue;
        /* $XDG_RUNTIME_DIR/dbus-1 and …/services, private to the user. */
        const std::string parent = dir.path.substr(0, dir.path.rfind('/'));
        for (const std::string& path : {parent, dir.path}) {
            if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
                throw std::system_error(errno, std::generic_category(), "mkdir " + path);
        }
    }
}

}  // namespace kdbus::policy
