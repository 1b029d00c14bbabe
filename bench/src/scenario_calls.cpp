// rtt, par and payload: method calls from clients to one EchoService.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bus_client.hpp"
#include "clock.hpp"
#include "daemon_probe.hpp"
#include "echo_service.hpp"
#include "method_calls.hpp"
#include "result_line.hpp"
#include "scenarios.hpp"

namespace kdbus_bench {

namespace {

const char *mode(const Options &options) { return options.p2p ? "p2p" : "bus"; }

// Runs `call` sequentially against a fresh service, on the bus or (--p2p) over
// a socketpair.
LatencySamples against_service(const Options &options, const MethodCall &call, long warmup, uint64_t min_calls,
                               CpuMeter &meter) {
    BusClient client;
    if (options.p2p) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) fail("socketpair: %s", strerror(errno));
        EchoService service(options, pair[1], pair[0]);
        int r = client.connect_peer(pair[0], false, options.timeout);
        if (r < 0) fail("peer connect: %s", strerror(-r));
        LatencySamples s = timed_calls(options, client.get(), nullptr, call, warmup, min_calls, meter);
        client.close();
        service.stop();
        return s;
    }
    EchoService service(options);
    int r = client.connect(options.address, options.timeout);
    if (r < 0) fail("connect %s: %s", options.address.c_str(), strerror(-r));
    LatencySamples s = timed_calls(options, client.get(), service.destination(), call, warmup, min_calls, meter);
    client.close();
    service.stop();
    return s;
}

int par_client(WorkerContext &context, const Options &options, const char *destination) {
    WorkerSlot &slot = context.slot();
    BusClient client;
    int r = client.connect(options.address, options.timeout);
    if (r < 0) return worker_error(slot, "connect: %s", strerror(-r));
    MethodCall call = echo_call(options.size ? options.size : 16);
    std::string error;
    for (long i = 0, n = options.warmup >= 0 ? options.warmup : 100; i < n; ++i)
        if (call(client.get(), destination, &error) < 0) return worker_error(slot, "warm-up: %s", error.c_str());
    if (!context.ready()) return worker_error(slot, "parent gone");
    context.wait_release();
    uint64_t stop = context.release_ns() + seconds_to_ns(options.duration > 0 ? options.duration : 1.0);
    uint64_t calls = 0, t;
    do {
        if (call(client.get(), destination, &error) < 0) return worker_error(slot, "call: %s", error.c_str());
        ++calls;
        t = now_ns();
    } while (t < stop && (options.count == 0 || calls < options.count));
    slot.count = calls;
    slot.end_ns = t;
    return 0;
}

}  // namespace

int run_rtt(const Options &options) {
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    size_t length = options.size ? options.size : 16;
    LatencySamples s =
        against_service(options, echo_call(length), options.warmup >= 0 ? options.warmup : 500, 1, meter);
    ResultLine line("rtt", options.label);
    line.add_text("mode", mode(options)).add("size", length).add("calls", s.calls).add("secs", s.seconds, 3);
    line.add("calls_per_s", s.calls_per_second());
    line.add("p50_us", s.percentile_us(0.50), 2).add("p90_us", s.percentile_us(0.90), 2);
    line.add("p99_us", s.percentile_us(0.99), 2).add("max_us", s.percentile_us(1.0), 2);
    meter.add_to(line, s.calls);
    return line.print_ok();
}

int run_payload(const Options &options) {
    std::vector<uint8_t> body = payload_body(options.size ? options.size : 4096);
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    LatencySamples s = against_service(options, payload_call(body, options.memfd),
                                       options.warmup >= 0 ? options.warmup : 1, 2, meter);
    ResultLine line("payload", options.label);
    line.add_text("mode", mode(options)).add_text("via", options.memfd ? "memfd" : "inline");
    line.add("size", body.size()).add("calls", s.calls).add("secs", s.seconds, 3);
    line.add("calls_per_s", s.calls_per_second());
    line.add("mb_per_s", s.seconds > 0 ? double(body.size()) * double(s.calls) / s.seconds / 1e6 : 0.0);
    line.add("p50_us", s.percentile_us(0.50), 2).add("p99_us", s.percentile_us(0.99), 2);
    meter.add_to(line, s.calls);
    return line.print_ok();
}

int run_par(const Options &options) {
    if (options.p2p) fail("par has no p2p mode");
    if (options.clients < 1) fail("--clients must be at least 1");
    EchoService service(options);
    const char *destination = service.destination();
    WorkerGroup clients(options.clients);
    for (int i = 0; i < options.clients; ++i)
        clients.spawn(i, [&](WorkerContext &context) { return par_client(context, options, destination); });
    if (!clients.wait_ready(now_ns() + seconds_to_ns(options.timeout))) {
        clients.reap(now_ns() + seconds_to_ns(2));
        fail("clients did not get ready: %s", clients.first_error("no reason given").c_str());
    }
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    meter.start();
    uint64_t t0 = clients.release();
    bool clean = clients.reap(t0 + seconds_to_ns(options.duration + options.timeout));
    uint64_t total = 0, end = t0;
    double slowest = 1e300;
    for (int i = 0; i < clients.size(); ++i) {
        const WorkerSlot &s = clients.slot(i);
        if (!s.finished) fail("%s", clients.first_error("client " + std::to_string(i) + " did not finish").c_str());
        total += s.count;
        end = std::max(end, s.end_ns);
        slowest = std::min(slowest, double(s.count) / ns_to_seconds(std::max<uint64_t>(s.end_ns - t0, 1)));
    }
    if (!clean) fail("a client exited uncleanly");
    ResultLine line("par", options.label);
    double seconds = ns_to_seconds(end - t0);
    line.add("clients", options.clients).add("calls", total).add("secs", seconds, 3);
    line.add("calls_per_s", seconds > 0 ? double(total) / seconds : 0.0);
    line.add("client_min_calls_per_s", slowest);
    meter.add_to(line, total);
    service.stop();
    return line.print_ok();
}

}  // namespace kdbus_bench
