// The least bus: connect's reference without a real bus, as the socketpair is
// rtt's. In its own process it does per connection only what any D-Bus broker
// must: accept, read the peer's credentials as dbus-broker 33 does
// (SO_PEERCRED, SO_PEERGROUPS, SO_PEERSEC), answer SASL EXTERNAL and Hello
// with bytes it made once, and close at the client's disconnect. No policy,
// no names, no accounting: its cost per connect is the floor of any bus's.
//
// --pin adds what kdbusd pays for on top of that floor, so that each part
// can be measured alone (a comma-separated list):
//   pidfd        SO_PEERPIDFD at accept, held for the connection's life (as
//                dbus-broker releases newer than Debian 12's 33 do);
//   hello-pidfd  at Hello, SO_PEERPIDFD, PIDFD_GET_INFO and close;
//   stats        at Hello, stats of /proc/PID/ns/user, ns/pid and root;
//   identity     both of the last two: kdbusd's pin of the peer's identity
//                at Hello (kdbus §3 rule 5).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "options.hpp"
#include "workers.hpp"

namespace kdbus_bench {

class LeastBus {
public:
    struct Pins {
        bool held_pidfd = false, hello_pidfd = false, stats = false;
    };
    // The --pin list; nullopt if it names something else.
    static std::optional<Pins> parse_pins(std::string_view list);

    // Starts the bus on a socket in a fresh temporary directory; fails the run
    // if it cannot.
    explicit LeastBus(const Options &options);
    ~LeastBus();
    LeastBus(const LeastBus &) = delete;
    LeastBus &operator=(const LeastBus &) = delete;

    const std::string &address() const { return address_; }
    // Its process, for the CPU probe.
    pid_t pid() const { return pid_; }

private:
    std::string dir_;
    std::string address_;
    pid_t pid_ = -1;
};

}  // namespace kdbus_bench
