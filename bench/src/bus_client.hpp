// One sd-bus connection, owned: to a bus (SASL + Hello) or to a peer over a socketpair.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kdbus_bench {

class BusClient {
public:
    BusClient() = default;
    BusClient(BusClient &&other) noexcept : bus_(other.bus_) { other.bus_ = nullptr; }
    BusClient &operator=(BusClient &&other) noexcept;
    BusClient(const BusClient &) = delete;
    BusClient &operator=(const BusClient &) = delete;
    ~BusClient() { close(); }

    sd_bus *get() const { return bus_; }
    explicit operator bool() const { return bus_ != nullptr; }
    void close();

    // Connects to the bus at `address` with unix-fd passing negotiated. With
    // `await_hello` it returns only once Hello is answered (the bus knows us).
    // Returns 0 or a negative errno.
    int connect(const std::string &address, double call_timeout_s, bool await_hello = true);

    // A direct connection over one end of a socketpair: no bus, no Hello.
    int connect_peer(int fd, bool server, double call_timeout_s);

private:
    sd_bus *bus_ = nullptr;
};

// Result of waiting on connections.
enum class Dispatch { done, timed_out, wake_fd, error };

// Processes the connection until done() holds, `deadline_ns` passes or
// `wake_fd` (if >= 0) turns readable. On Dispatch::error, *error is the errno.
Dispatch dispatch_until(sd_bus *bus, const std::function<bool()> &done, uint64_t deadline_ns, int wake_fd = -1,
                        int *error = nullptr);

// The same for many connections at once, with one poll().
Dispatch dispatch_all_until(const std::vector<sd_bus *> &buses, const std::function<bool()> &done,
                            uint64_t deadline_ns, int wake_fd = -1, int *error = nullptr);

}  // namespace kdbus_bench
