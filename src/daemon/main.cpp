/* kdbusd: the message bus daemon */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "daemon/bus.hpp"
#include "daemon/bus_config.hpp"
#include "daemon/domain.hpp"
#include "daemon/driver.hpp"
#include "daemon/listen_address.hpp"
#include "daemon/options.hpp"

using namespace kdbus::daemon;

namespace {

/* dbus-daemon's fork test runs us with fds 0–2 closed: make sure they are
 * open, so no socket lands on them and no log goes to a socket. */
void ensure_standard_fds() {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = ::open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                ::dup2(n, fd);
                ::close(n);
            }
        }
    }
}

/* SIGTERM/SIGINT stop the loop after `stop`; SIGHUP runs `reload`. Both
 * tell systemd (Type=notify) what is going on. */
class ProcessSignals {
public:
    ProcessSignals(boost::asio::io_context& io, std::function<void()> stop, std::function<void()> reload)
        : io_(io), stop_set_(io, SIGTERM, SIGINT), hup_set_(io, SIGHUP), stop_(std::move(stop)),
          reload_(std::move(reload)) {
        stop_set_.async_wait([this](const boost::system::error_code& ec, int) {
            if (ec) return;
            sd_notify(0, "STOPPING=1");
            stop_();
            io_.stop();
        });
        wait_hup();
    }

private:
    void wait_hup() {
        hup_set_.async_wait([this](const boost::system::error_code& ec, int) {
            if (ec) return;
            sd_notify(0, "RELOADING=1");
            reload_();
            sd_notify(0, "READY=1");
            wait_hup();
        });
    }

    boost::asio::io_context& io_;
    boost::asio::signal_set stop_set_;
    boost::asio::signal_set hup_set_;
    std::function<void()> stop_;
    std::function<void()> reload_;
};

bool write_all(int fd, const std::string& s) {
    const char* p = s.data();
    size_t left = s.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        left -= static_cast<size_t>(n);
    }
    return true;
}

/* As root with <user>: raise the fd limit while we still may, then drop. */
void drop_privileges(const std::string& user) {
    if (::geteuid() != 0) return;
    rlimit rl{65536, 65536};
    ::setrlimit(RLIMIT_NOFILE, &rl);
    passwd* pw = ::getpwnam(user.c_str());
    if (!pw) {
        char* end = nullptr;
        unsigned long uid = std::strtoul(user.c_str(), &end, 10);
        if (end && *end == '\0') pw = ::getpwuid(static_cast<uid_t>(uid));
    }
    if (!pw) throw std::runtime_error("could not get UID and GID for username \"" + user + "\"");
    if (::initgroups(pw->pw_name, pw->pw_gid) < 0 || ::setgid(pw->pw_gid) < 0 || ::setuid(pw->pw_uid) < 0)
        throw std::runtime_error("failed to drop privileges to " + user + ": " + std::strerror(errno));
}

int run(const Options& opts) {
    DaemonConfig config = load_daemon_config(opts);
    std::vector<ListenSocket> sockets;
    for (const auto& address : config.listen) {
        for (auto& s : bind_listen_address(address)) sockets.push_back(std::move(s));
    }
    if (sockets.empty()) throw std::runtime_error("no addresses to listen on");
    if (config.user) drop_privileges(*config.user);

    // Fork before the event loop exists; the parent returns once the child
    // has printed what was asked (dbus-daemon's --fork contract).
    int ready_pipe[2] = {-1, -1};
    bool fork = opts.fork.value_or(config.fork);
    if (fork) {
        if (::pipe2(ready_pipe, O_CLOEXEC) < 0) throw std::runtime_error("pipe failed");
        pid_t child = ::fork();
        if (child < 0) throw std::runtime_error("fork failed");
        if (child > 0) {
            ::close(ready_pipe[1]);
            char byte = 0;
            ssize_t n;
            do n = ::read(ready_pipe[0], &byte, 1);
            while (n < 0 && errno == EINTR);
            return n == 1 ? 0 : 1;
        }
        ::close(ready_pipe[0]);
        ::setsid();
        if (!config.keep_umask) ::umask(022);
    }

    // One thread runs everything (DESIGN.md: one loop, no locks), so
    // Asio's scheduler and reactor need no mutexes either: 3 % of the
    // daemon's instructions per routed method call.
    boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
    Bus bus(io, config.settings);
    for (auto& s : sockets) bus.add_listener(UniqueFd(s.fd.release()));

    std::string printed;
    for (const auto& s : sockets) {
        if (s.address.empty()) continue;
        if (!printed.empty()) printed += ';';
        printed += s.address + ",guid=" + bus.guid();
    }
    if (opts.print_address && !write_all(opts.print_address_fd, printed + "\n"))
        spdlog::warn("could not print the address");
    if (opts.print_pid && !write_all(opts.print_pid_fd, std::to_string(::getpid()) + "\n"))
        spdlog::warn("could not print the pid");
    std::string pidfile = (!opts.nopidfile && config.pidfile) ? *config.pidfile : std::string();
    if (!pidfile.empty()) {
        std::ofstream f(pidfile);
        f << ::getpid() << "\n";
    }
    if (fork) {
        char byte = 1;
        (void)!::write(ready_pipe[1], &byte, 1);
        ::close(ready_pipe[1]);
    }

    bus.driver().reload = [&]() -> std::string {
        try {
            DaemonConfig fresh = load_daemon_config(opts);
            bus.set_settings(fresh.settings);
            spdlog::info("configuration reloaded");
            return {};
        } catch (const std::exception& e) {
            spdlog::warn("configuration reload failed, keeping the old one: {}", e.what());
            return std::string("Unable to reload configuration: ") + e.what();
        }
    };
    bus.driver().features = config.features;
    if (opts.systemd_activation) bus.driver().features.push_back("SystemdActivation");

    ProcessSignals signals(io, [&] { bus.shutdown(); }, [&] { bus.driver().reload(); });

    sd_notifyf(0, "READY=1\nSTATUS=Listening on %s", printed.c_str());
    spdlog::info("kdbusd {} bus listening on {}", config.settings.type, printed);
    io.run();

    for (const auto& s : sockets)
        if (!s.unlink_path.empty()) ::unlink(s.unlink_path.c_str());
    if (!pidfile.empty()) ::unlink(pidfile.c_str());
    return 0;
}

/* kdbusd --domain DIR: the control socket and the buses made through it. */
int run_domain(const Options& opts) {
    Domain::Options d;
    d.dir = opts.domain_dir;
    if (opts.config == Options::Config::file) {
        std::ifstream f(opts.config_file);
        if (!f) throw std::runtime_error("cannot read " + opts.config_file);
        d.config_json.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        d.config_name = opts.config_file;
    } else {
        d.config_json = embedded_domain_json;
        d.config_name = "(built-in kdbusd.json)";
    }
    boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);  // one thread, as above
    Domain domain(io, std::move(d));
    domain.start();
    if (opts.print_address) write_all(opts.print_address_fd, domain.control_address() + "\n");
    if (opts.print_pid) write_all(opts.print_pid_fd, std::to_string(::getpid()) + "\n");

    ProcessSignals signals(io, [&] { domain.shutdown(); }, [&] {
        if (std::string err = domain.reload(); !err.empty()) spdlog::warn("{}", err);
    });
    sd_notifyf(0, "READY=1\nSTATUS=Domain %s, control socket %s", opts.domain_dir.c_str(),
               domain.control_address().c_str());
    spdlog::info("kdbusd domain {} ready, control socket {}", opts.domain_dir, domain.control_address());
    io.run();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ensure_standard_fds();
    ::signal(SIGPIPE, SIG_IGN);
    // stdout may carry --print-address; logs go to stderr, as dbus-daemon's.
    spdlog::set_default_logger(spdlog::stderr_color_st("kdbusd"));
    spdlog::set_pattern("kdbusd[%P]: %l: %v");
    if (const char* level = ::getenv("KDBUSD_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(level));

    Options opts;
    try {
        opts = parse_options(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n" << usage_text();
        return 1;
    }
    if (opts.help) {
        std::cout << usage_text();
        return 0;
    }
    if (opts.version) {
        std::cout << "kdbusd " << KDBUSD_VERSION << "\n"
                  << "A message bus daemon speaking D-Bus, with kdbus's domains, endpoints and metadata.\n";
        return 0;
    }
    if (opts.introspect) {
        std::cout << Driver::introspection();
        return 0;
    }
    try {
        if (!opts.domain_dir.empty()) return run_domain(opts);
        return run(opts);
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        std::cerr << "kdbusd: " << e.what() << "\n";
        return 1;
    }
}
