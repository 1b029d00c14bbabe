#include "daemon/options.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace kdbus::daemon {

namespace {

int parse_fd(std::string_view v, std::string_view option) {
    if (v.empty()) throw std::invalid_argument(std::string(option) + " needs a file descriptor");
    int fd = 0;
    for (char c : v) {
        if (c < '0' || c > '9' || fd > 100000)
            throw std::invalid_argument("invalid file descriptor for " + std::string(option) + ": " + std::string(v));
        fd = fd * 10 + (c - '0');
    }
    return fd;
}

}  // namespace

const char* usage_text() {
    return "kdbusd [--version] [--session] [--system] [--config-file=FILE] [--print-address[=DESCRIPTOR]] "
           "[--print-pid[=DESCRIPTOR]] [--introspect] [--address=ADDRESS] [--nopidfile] [--nosyslog] "
           "[--syslog] [--syslog-only] [--nofork] [--fork] [--systemd-activation] [--domain DIR]\n";
}

Options parse_options(int argc, char** argv) {
    Options o;
    auto set_config = [&o](Options::Config c, std::string file = {}) {
        if (o.config != Options::Config::none)
            throw std::invalid_argument("only one of --session, --system, --config-file may be given");
        o.config = c;
        o.config_file = std::move(file);
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value_of = [&](std::string_view name) -> std::optional<std::string> {
            if (a.substr(0, name.size()) != name) return std::nullopt;
            std::string_view rest = a.substr(name.size());
            if (rest.empty()) {
                if (i + 1 >= argc) throw std::invalid_argument(std::string(name) + " needs a value");
                return std::string(argv[++i]);
            }
            if (rest[0] != '=') return std::nullopt;
            return std::string(rest.substr(1));
        };
        if (a == "--session") set_config(Options::Config::session);
        else if (a == "--system") set_config(Options::Config::system);
        else if (auto v = value_of("--config-file")) set_config(Options::Config::file, *v);
        else if (auto v = value_of("--address")) o.address = *v;
        else if (auto v = value_of("--domain")) o.domain_dir = *v;
        else if (a == "--print-address") o.print_address = true;
        else if (a.substr(0, 16) == "--print-address=") {
            o.print_address = true;
            o.print_address_fd = parse_fd(a.substr(16), "--print-address");
        } else if (a == "--print-pid") o.print_pid = true;
        else if (a.substr(0, 12) == "--print-pid=") {
            o.print_pid = true;
            o.print_pid_fd = parse_fd(a.substr(12), "--print-pid");
        } else if (a == "--nofork") o.fork = false;
        else if (a == "--fork") o.fork = true;
        else if (a == "--nopidfile") o.nopidfile = true;
        else if (a == "--systemd-activation") o.systemd_activation = true;
        else if (a == "--syslog" || a == "--syslog-only") o.syslog = true;
        else if (a == "--nosyslog") o.syslog = false;
        else if (a == "--version") o.version = true;
        else if (a == "--introspect") o.introspect = true;
        else if (a == "--help" || a == "-h") o.help = true;
        else throw std::invalid_argument("unknown option: " + std::string(a));
    }
    return o;
}

}  // namespace kdbus::daemon
