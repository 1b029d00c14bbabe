// connect, idle and wait: the cost of connections themselves.
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <optional>
#include <vector>

#include "bus_client.hpp"
#include "clock.hpp"
#include "daemon_probe.hpp"
#include "least_bus.hpp"
#include "method_calls.hpp"
#include "result_line.hpp"
#include "scenarios.hpp"

namespace kdbus_bench {

namespace {

// Connect, SASL EXTERNAL, Hello (answered), disconnect.
void connect_once(const Options &options, uint64_t i) {
    BusClient bus;
    int r = bus.connect(options.address, options.timeout);
    if (r < 0) fail("connection %" PRIu64 ": %s", i, strerror(-r));
}

// Raises the soft RLIMIT_NOFILE to the hard limit; fails if that is below `needed`.
void raise_fd_limit(size_t needed) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) fail("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) fail("setrlimit: %s", strerror(errno));
    }
    if (rl.rlim_cur < needed)
        fail("RLIMIT_NOFILE hard limit %llu is below the %zu descriptors needed", (unsigned long long)rl.rlim_max,
             needed);
}

}  // namespace

int run_connect(const Options &bus_options) {
    std::optional<LeastBus> least;
    Options options = bus_options;
    if (options.p2p) {
        least.emplace(options);
        options.address = least->address();
        options.pids = {least->pid()};
    }
    for (long i = 0, n = options.warmup >= 0 ? options.warmup : 20; i < n; ++i) connect_once(options, uint64_t(i));
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    LatencySamples s;
    uint64_t duration = options.duration > 0 ? seconds_to_ns(options.duration) : UINT64_MAX;
    meter.start();
    uint64_t t0 = now_ns(), t = t0;
    do {
        uint64_t before = t;
        connect_once(options, s.calls);
        t = now_ns();
        s.ns.push_back(uint32_t(std::min<uint64_t>(t - before, UINT32_MAX)));
        ++s.calls;
    } while (t - t0 < duration && (options.count == 0 || s.calls < options.count));
    s.seconds = ns_to_seconds(t - t0);
    ResultLine line("connect", options.label);
    if (options.p2p) line.add_text("pin", options.pin.c_str());
    line.add("connects", s.calls).add("secs", s.seconds, 3).add("connects_per_s", s.calls_per_second());
    line.add("p50_us", s.percentile_us(0.5), 2).add("p99_us", s.percentile_us(0.99), 2);
    meter.add_to(line, s.calls);
    return line.print_ok();
}

int run_idle(const Options &options) {
    if (options.pids.empty()) fail("idle needs --pid (the daemon's pid)");
    if (options.connections < 1) fail("--connections must be at least 1");
    raise_fd_limit(size_t(options.connections) + 64);
    DaemonProbe probe(options.pids);
    auto before = probe.memory();
    if (!before) fail("cannot read the daemon's /proc/PID/status");
    std::vector<BusClient> conns(static_cast<size_t>(options.connections));
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < conns.size(); ++i) {
        int r = conns[i].connect(options.address, options.timeout);
        if (r < 0) fail("connection %zu: %s", i, strerror(-r));
    }
    double open_seconds = ns_to_seconds(now_ns() - t0);
    // Every Hello has been answered, so the daemon holds every connection's state.
    // A second sample after a pause shows memory the daemon frees or grows lazily.
    auto opened = probe.memory();
    poll(nullptr, 0, options.settle_ms);
    auto settled = probe.memory();
    if (!opened || !settled) fail("the daemon went away");
    conns.clear();
    double n = double(options.connections);
    ResultLine line("idle", options.label);
    line.add("connections", options.connections).add("open_secs", open_seconds, 3);
    line.add("rss_before_kib", before->rss_kib).add("rss_opened_kib", opened->rss_kib);
    line.add("rss_settled_kib", settled->rss_kib).add("anon_before_kib", before->anon_kib);
    line.add("anon_settled_kib", settled->anon_kib);
    line.add("per_conn_kib", double(settled->rss_kib - before->rss_kib) / n, 2);
    line.add("per_conn_anon_kib", double(settled->anon_kib - before->anon_kib) / n, 2);
    return line.print_ok();
}

int run_wait(const Options &options) {
    DaemonProbe probe(options.pids);
    uint64_t t0 = now_ns(), deadline = t0 + seconds_to_ns(options.timeout);
    for (;;) {
        BusClient bus;
        int r = bus.connect(options.address, options.timeout);
        if (r >= 0) break;
        if (!probe.empty() && !probe.alive()) fail("the daemon exited before answering Hello");
        if (now_ns() > deadline) fail("no answer from the bus: %s", strerror(-r));
        poll(nullptr, 0, 10);  // retry interval of a readiness probe
    }
    ResultLine line("wait", options.label);
    line.add("secs", ns_to_seconds(now_ns() - t0), 3);
    return line.print_ok();
}

}  // namespace kdbus_bench
