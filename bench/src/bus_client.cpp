#include "bus_client.hpp"

#include <poll.h>
#include <systemd/sd-id128.h>

#include <algorithm>
#include <cerrno>

#include "clock.hpp"

namespace kdbus_bench {

BusClient &BusClient::operator=(BusClient &&other) noexcept {
    if (this != &other) {
        close();
        bus_ = other.bus_;
        other.bus_ = nullptr;
    }
    return *this;
}

void BusClient::close() {
    if (bus_) sd_bus_close_unref(bus_);
    bus_ = nullptr;
}

int BusClient::connect(const std::string &address, double call_timeout_s, bool await_hello) {
    close();
    sd_bus *bus = nullptr;
    int r = sd_bus_new(&bus);
    if (r < 0) return r;
    if ((r = sd_bus_set_address(bus, address.c_str())) < 0 || (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
        (r = sd_bus_negotiate_fds(bus, 1)) < 0 ||
        (r = sd_bus_set_method_call_timeout(bus, uint64_t(call_timeout_s * 1e6))) < 0 ||
        (r = sd_bus_start(bus)) < 0) {
        sd_bus_unref(bus);
        return r;
    }
    const char *unique = nullptr;
    if (await_hello && (r = sd_bus_get_unique_name(bus, &unique)) < 0) {
        sd_bus_close_unref(bus);
        return r;
    }
    bus_ = bus;
    return 0;
}

int BusClient::connect_peer(int fd, bool server, double call_timeout_s) {
    close();
    sd_bus *bus = nullptr;
    int r = sd_bus_new(&bus);
    if (r < 0) return r;
    sd_id128_t id{};
    if ((r = sd_bus_set_fd(bus, fd, fd)) < 0 || (r = sd_bus_negotiate_fds(bus, 1)) < 0 ||
        (r = sd_bus_set_method_call_timeout(bus, uint64_t(call_timeout_s * 1e6))) < 0 ||
        (server && ((r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_set_server(bus, 1, id)) < 0)) ||
        (r = sd_bus_start(bus)) < 0) {
        sd_bus_unref(bus);
        return r;
    }
    bus_ = bus;
    return 0;
}

namespace {

// Milliseconds poll() may sleep: until the deadline or sd-bus's own next timeout.
int poll_timeout_ms(const std::vector<sd_bus *> &buses, uint64_t deadline_ns) {
    uint64_t now = now_ns();
    if (deadline_ns <= now) return 0;
    uint64_t wait_ns = deadline_ns - now;
    for (sd_bus *bus : buses) {
        uint64_t usec = 0;
        if (sd_bus_get_timeout(bus, &usec) < 0 || usec == UINT64_MAX) continue;
        uint64_t at_ns = usec * 1000;
        wait_ns = std::min(wait_ns, at_ns > now ? at_ns - now : 0);
    }
    return int(std::min<uint64_t>(wait_ns / 1'000'000 + 1, 60'000));
}

}  // namespace

Dispatch dispatch_all_until(const std::vector<sd_bus *> &buses, const std::function<bool()> &done,
                            uint64_t deadline_ns, int wake_fd, int *error) {
    std::vector<pollfd> fds(buses.size() + 1);
    for (;;) {
        // Drain everything already readable before sleeping again.
        bool progressed = false;
        for (sd_bus *bus : buses) {
            int r;
            while ((r = sd_bus_process(bus, nullptr)) > 0) progressed = true;
            if (r < 0) {
                if (error) *error = -r;
                return Dispatch::error;
            }
        }
        if (done()) return Dispatch::done;
        if (progressed) continue;
        if (now_ns() >= deadline_ns) return Dispatch::timed_out;
        for (size_t i = 0; i < buses.size(); ++i)
            fds[i] = {sd_bus_get_fd(buses[i]), short(sd_bus_get_events(buses[i])), 0};
        fds.back() = {wake_fd, POLLIN, 0};
        int r = poll(fds.data(), fds.size(), poll_timeout_ms(buses, deadline_ns));
        if (r < 0 && errno != EINTR) {
            if (error) *error = errno;
            return Dispatch::error;
        }
        if (wake_fd >= 0 && fds.back().revents) return Dispatch::wake_fd;
    }
}

Dispatch dispatch_until(sd_bus *bus, const std::function<bool()> &done, uint64_t deadline_ns, int wake_fd,
                        int *error) {
    return dispatch_all_until({bus}, done, deadline_ns, wake_fd, error);
}

}  // namespace kdbus_bench
