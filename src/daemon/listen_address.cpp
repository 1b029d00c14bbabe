#include "daemon/listen_address.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

#include <systemd/sd-daemon.h>

#include "wire/address.hpp"

namespace kdbus::daemon {

namespace {

std::string random_name(size_t n) {
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device rd;
    std::string s;
    for (size_t i = 0; i < n; ++i) s += chars[rd() % (sizeof(chars) - 1)];
    return s;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

ListenSocket path_socket(const std::string& path) {
    ListenSocket s;
    s.fd = listen_unix(path);
    wire::Address a{"unix", {{"path", path}}};
    s.address = wire::format_address(a);
    s.unlink_path = path;
    return s;
}

}  // namespace

UniqueFd listen_unix(const std::string& path, int backlog) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) fail("socket path too long: " + path);
    std::memcpy(sa.sun_path, path.data(), path.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    bool abstract = !path.empty() && path[0] == '\0';
    if (!abstract) len += 1;

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) fail(std::string("socket: ") + std::strerror(errno));
    if (!abstract) ::unlink(path.c_str());  // a stale socket from an earlier run, as libdbus does
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) < 0)
        fail("cannot bind " + (abstract ? "abstract socket " + path.substr(1) : path) + ": " +
             std::strerror(errno));
    if (!abstract) ::chmod(path.c_str(), 0666);  // access is decided by policy, as dbus-daemon
    if (::listen(fd.get(), backlog) < 0) fail(std::string("listen: ") + std::strerror(errno));
    return fd;
}

std::vector<ListenSocket> bind_listen_address(const std::string& text) {
    std::string error;
    auto parsed = wire::parse_addresses(text, &error);
    if (!parsed) fail("invalid address \"" + text + "\": " + error);
    std::vector<ListenSocket> out;
    for (const auto& a : *parsed) {
        if (a.transport == "unix") {
            auto path = a.get("path");
            auto abstract = a.get("abstract");
            auto dir = a.get("dir");
            auto tmpdir = a.get("tmpdir");
            auto runtime = a.get("runtime");
            int given = !!path + !!abstract + !!dir + !!tmpdir + !!runtime;
            if (given != 1)
                fail("address \"" + text + "\" must have exactly one of path, abstract, dir, tmpdir, runtime");
            if (path) {
                out.push_back(path_socket(std::string(*path)));
            } else if (abstract) {
                ListenSocket s;
                s.fd = listen_unix(std::string(1, '\0') + std::string(*abstract));
                s.address = wire::format_address(wire::Address{"unix", {{"abstract", std::string(*abstract)}}});
                out.push_back(std::move(s));
            } else if (dir || tmpdir) {
                // dbus-daemon 1.14 makes a real file for tmpdir too.
                std::string base(dir ? *dir : *tmpdir);
                out.push_back(path_socket(base + "/dbus-" + random_name(10)));
            } else {
                if (*runtime != "yes") fail("unix:runtime must be \"yes\"");
                const char* xdg = ::getenv("XDG_RUNTIME_DIR");
                if (!xdg || !*xdg) fail("unix:runtime=yes needs XDG_RUNTIME_DIR");
                out.push_back(path_socket(std::string(xdg) + "/bus"));
            }
        } else if (a.transport == "systemd") {
            int n = sd_listen_fds(1);
            if (n <= 0) fail("systemd: address given but no sockets were passed (LISTEN_FDS)");
            for (int i = 0; i < n; ++i) {
                int fd = SD_LISTEN_FDS_START + i;
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0)
                    fail("systemd: inherited fd " + std::to_string(fd) + " is not a listening AF_UNIX socket");
                ListenSocket s;
                s.fd = UniqueFd(fd);
                sockaddr_un sa{};
                socklen_t len = sizeof(sa);
                if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 &&
                    len > offsetof(sockaddr_un, sun_path) && sa.sun_path[0] != '\0')
                    s.address = wire::format_address(wire::Address{"unix", {{"path", sa.sun_path}}});
                out.push_back(std::move(s));
            }
        } else if (a.transport == "tcp" || a.transport == "nonce-tcp") {
            fail("address \"" + text + "\": TCP transports are not supported; kdbusd listens on AF_UNIX only");
        } else {
            fail("address \"" + text + "\": unknown transport \"" + a.transport + "\"");
        }
    }
    return out;
}

}  // namespace kdbus::daemon
