// The service the call scenarios talk to, in its own process. At /org/kdbus/Bench,
// interface org.kdbus.Bench:
//   Echo(s) -> s       the string back
//   Bytes(ay) -> t     checks the bytes (one per page and the last), returns the length
//   Fd(h, t) -> t      checks that the fd is a memfd sealed against shrink, grow and
//                      write, of that length, maps it and checks it, returns the length
#pragma once

#include <string>

#include "options.hpp"
#include "workers.hpp"

namespace kdbus_bench {

class EchoService {
public:
    // On the bus: owns org.kdbus.Bench.Service.p<pid>. Fails the run if it cannot start.
    explicit EchoService(const Options &options);
    // Over a socketpair: `service_fd` is its end (this process closes it), `client_fd`
    // the caller's end, which the service closes in its own process.
    EchoService(const Options &options, int service_fd, int client_fd);
    ~EchoService();

    // The destination for calls: the well-known name, or nullptr peer to peer.
    const char *destination() const { return name_.empty() ? nullptr : name_.c_str(); }

    // Stops the service; fails the run if it reported an error.
    void stop();

private:
    void start(const Options &options, int service_fd, int client_fd);

    WorkerGroup group_{1};
    std::string name_;
    bool stopped_ = false;
};

}  // namespace kdbus_bench
