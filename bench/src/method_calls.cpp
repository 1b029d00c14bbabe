#include "method_calls.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "bench_interface.hpp"
#include "clock.hpp"
#include "result_line.hpp"

namespace kdbus_bench {

namespace {

int finish(int r, sd_bus_error *e, sd_bus_message *reply, std::string *error) {
    if (r < 0) *error = e->message ? e->message : strerror(-r);
    sd_bus_error_free(e);
    sd_bus_message_unref(reply);
    return r;
}

// A memfd holding `body`, sealed as a kdbus memfd payload had to be: no shrink,
// grow or write, and no further seals (kdbus PAYLOAD_MEMFD, ETXTBSY otherwise).
int sealed_memfd(const std::vector<uint8_t> &body) {
    int fd = memfd_create("kdbus-bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    size_t off = 0;
    while (off < body.size()) {
        ssize_t n = write(fd, body.data() + off, body.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        off += size_t(n);
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

}  // namespace

MethodCall echo_call(size_t length) {
    return [text = std::string(length, 'x')](sd_bus *bus, const char *destination, std::string *error) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = nullptr;
        int r = sd_bus_call_method(bus, destination, kObjectPath, kInterface, "Echo", &e, &reply, "s", text.c_str());
        const char *back;
        if (r >= 0 && (r = sd_bus_message_read(reply, "s", &back)) >= 0 && strlen(back) != text.size()) r = -EBADMSG;
        return finish(r, &e, reply, error);
    };
}

MethodCall payload_call(const std::vector<uint8_t> &body, bool via_memfd) {
    return [&body, via_memfd](sd_bus *bus, const char *destination, std::string *error) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *call = nullptr, *reply = nullptr;
        int r = sd_bus_message_new_method_call(bus, &call, destination, kObjectPath, kInterface,
                                               via_memfd ? "Fd" : "Bytes");
        if (r >= 0 && via_memfd) {
            int fd = r = sealed_memfd(body);
            if (fd >= 0) {
                r = sd_bus_message_append(call, "ht", fd, uint64_t(body.size()));  // sd-bus dups the fd
                close(fd);
            }
        } else if (r >= 0) {
            r = sd_bus_message_append_array(call, 'y', body.data(), body.size());
        }
        if (r >= 0) r = sd_bus_call(bus, call, 0, &e, &reply);
        uint64_t length = 0;
        if (r >= 0 && (r = sd_bus_message_read(reply, "t", &length)) >= 0 && length != body.size()) r = -EBADMSG;
        sd_bus_message_unref(call);
        return finish(r, &e, reply, error);
    };
}

std::vector<uint8_t> payload_body(size_t size) {
    std::vector<uint8_t> body(size);
    for (size_t i = 0; i < size; ++i) body[i] = payload_byte(i);
    return body;
}

double LatencySamples::percentile_us(double q) const {
    if (ns.empty()) return 0;
    std::vector<uint32_t> sorted = ns;
    size_t k = std::min(sorted.size() - 1, size_t(q * double(sorted.size())));
    std::nth_element(sorted.begin(), sorted.begin() + long(k), sorted.end());
    return sorted[k] / 1e3;
}

LatencySamples timed_calls(const Options &options, sd_bus *bus, const char *destination, const MethodCall &call,
                           long warmup, uint64_t min_calls, CpuMeter &meter) {
    std::string error;
    for (long i = 0; i < warmup; ++i)
        if (call(bus, destination, &error) < 0) fail("warm-up call: %s", error.c_str());
    LatencySamples s;
    s.ns.reserve(1 << 18);
    uint64_t duration = options.duration > 0 ? seconds_to_ns(options.duration) : UINT64_MAX;
    meter.start();
    uint64_t t0 = now_ns(), t = t0;
    for (;;) {
        uint64_t before = t;
        if (call(bus, destination, &error) < 0) fail("call %" PRIu64 ": %s", s.calls, error.c_str());
        t = now_ns();
        s.ns.push_back(uint32_t(std::min<uint64_t>(t - before, UINT32_MAX)));
        ++s.calls;
        if (s.calls < min_calls) continue;
        if (options.count > 0 && s.calls >= options.count) break;
        if (t - t0 >= duration) break;
    }
    meter.stop();  // before the client and the service disconnect
    s.seconds = ns_to_seconds(t - t0);
    return s;
}

}  // namespace kdbus_bench
