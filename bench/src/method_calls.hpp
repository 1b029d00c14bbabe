// The calls clients make to the EchoService, and a timed loop of them.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "daemon_probe.hpp"
#include "options.hpp"

namespace kdbus_bench {

// One synchronous call; returns 0 or a negative errno with *error set.
using MethodCall = std::function<int(sd_bus *bus, const char *destination, std::string *error)>;

// Echo(s) with a string of `length` bytes; checks the reply's length.
MethodCall echo_call(size_t length);

// Bytes(ay) with `body` inline, or Fd(h,t) with a fresh sealed memfd holding
// `body` per call (creating and filling it is part of what is measured, as it
// would be for a real sender). `body` must outlive the returned call.
MethodCall payload_call(const std::vector<uint8_t> &body, bool via_memfd);

std::vector<uint8_t> payload_body(size_t size);

struct LatencySamples {
    uint64_t calls = 0;
    double seconds = 0;
    std::vector<uint32_t> ns;  // per call

    double calls_per_second() const { return seconds > 0 ? double(calls) / seconds : 0; }
    double percentile_us(double q) const;
};

// `warmup` unmeasured calls, then calls until --count or --duration, but at
// least `min_calls`. The meter starts with the measured calls. Fails the run
// on a call error.
LatencySamples timed_calls(const Options &options, sd_bus *bus, const char *destination, const MethodCall &call,
                           long warmup, uint64_t min_calls, CpuMeter &meter);

}  // namespace kdbus_bench
