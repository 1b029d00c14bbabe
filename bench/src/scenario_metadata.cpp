// metadata: what kdbusd's per-message metadata costs a round trip (issue 5,
// "Cost"). One sd-bus client calls Echo(s) on three raw services that differ
// only in what they asked the bus for:
//   none    never called UpdateAttachFlags (the bus as without the feature);
//   recv0   UpdateAttachFlags(0, 0): the feature present, nothing requested;
//   attach  UpdateAttachFlags(0, CREDS|PIDS|TIMESTAMP).
// The calls alternate between the three in short segments, in an order rotated
// per round, so that machine noise hits all three alike; each figure is then a
// ratio to `none` within the same run. dbus-broker and dbus-daemon have no
// such feature, so the scenario runs against kdbusd only.
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "bus_client.hpp"
#include "clock.hpp"
#include "daemon_probe.hpp"
#include "kdbus/attach_flags.hpp"
#include "method_calls.hpp"
#include "raw_echo_service.hpp"
#include "result_line.hpp"
#include "scenarios.hpp"
#include "workers.hpp"

namespace kdbus_bench {

namespace {

struct Variant {
    const char *key;
    std::optional<uint64_t> recv_mask;
    uint64_t calls = 0;
    uint64_t ns = 0;      // wall time of its segments
    uint64_t cpu_ns = 0;  // daemon CPU over its segments
};

constexpr int kRounds = 10;

}  // namespace

int run_metadata(const Options &options) {
    namespace attach = kdbus::attach;
    std::array<Variant, 3> variants = {{
        {"none", std::nullopt},
        {"recv0", uint64_t(0)},
        {"attach", attach::creds | attach::pids | attach::timestamp},
    }};
    DaemonProbe probe(options.pids);
    WorkerGroup services(int(variants.size()));
    std::array<std::string, 3> names;
    for (size_t v = 0; v < variants.size(); ++v) {
        names[v] = "org.kdbus.Bench.Metadata.p" + std::to_string(getpid()) + "." + variants[v].key;
        RawServiceSpec spec{options.address, names[v], variants[v].recv_mask, options.timeout};
        services.spawn(int(v), [spec](WorkerContext &c) { return serve_raw_echo(c, spec); });
    }
    if (!services.wait_ready(now_ns() + seconds_to_ns(options.timeout))) {
        services.reap(now_ns() + seconds_to_ns(2));
        fail("services: %s", services.first_error("did not get ready").c_str());
    }
    BusClient client;
    int r = client.connect(options.address, options.timeout);
    if (r < 0) fail("connect %s: %s", options.address.c_str(), strerror(-r));
    MethodCall call = echo_call(options.size ? options.size : 16);
    std::string error;
    long warmup = options.warmup >= 0 ? options.warmup : 500;
    for (size_t v = 0; v < variants.size(); ++v)
        for (long i = 0; i < warmup; ++i)
            if (call(client.get(), names[v].c_str(), &error) < 0) fail("warm-up call: %s", error.c_str());

    const uint64_t segment = seconds_to_ns(options.duration > 0 ? options.duration : 1.0) / kRounds;
    for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < variants.size(); ++i) {
            size_t v = (i + size_t(round)) % variants.size();
            Variant &var = variants[v];
            uint64_t cpu0 = probe.cpu_ns(), t0 = now_ns(), t = t0;
            do {
                if (call(client.get(), names[v].c_str(), &error) < 0) fail("call: %s", error.c_str());
                ++var.calls;
                t = now_ns();
            } while (t - t0 < segment);
            var.ns += t - t0;
            var.cpu_ns += probe.cpu_ns() - cpu0;
        }
    }
    client.close();
    services.release();
    bool clean = services.reap(now_ns() + seconds_to_ns(options.timeout));

    ResultLine line("metadata", options.label);
    line.add("size", options.size ? options.size : 16);
    auto calls_per_s = [](const Variant &v) { return v.ns ? double(v.calls) * 1e9 / double(v.ns) : 0.0; };
    auto cpu_us = [](const Variant &v) { return v.calls ? double(v.cpu_ns) / 1e3 / double(v.calls) : 0.0; };
    const Variant &base = variants[0];
    for (const Variant &v : variants) {
        std::string k = v.key;
        line.add((k + "_calls").c_str(), v.calls);
        line.add((k + "_calls_per_s").c_str(), calls_per_s(v));
        if (!probe.empty()) line.add((k + "_cpu_us_per_call").c_str(), cpu_us(v), 3);
        if (&v == &base) continue;
        line.add((k + "_calls_ratio").c_str(), calls_per_s(base) > 0 ? calls_per_s(v) / calls_per_s(base) : 0.0, 4);
        if (!probe.empty() && cpu_us(base) > 0) line.add((k + "_cpu_ratio").c_str(), cpu_us(v) / cpu_us(base), 4);
    }
    uint64_t wrong = 0;
    for (int v = 0; v < services.size(); ++v) wrong += services.slot(v).lost;
    line.add("metadata_wrong", wrong);
    if (!clean) return line.print_failed(services.first_error("a service exited uncleanly"));
    if (wrong) return line.print_failed("calls whose metadata was not as requested");
    return line.print_ok();
}

}  // namespace kdbus_bench
