// signal and matches: one emitter broadcasting to subscribers that installed
// match rules, every delivery checked (count and order) on the receiving side.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <string>
#include <vector>

#include "bench_interface.hpp"
#include "bus_client.hpp"
#include "clock.hpp"
#include "daemon_probe.hpp"
#include "result_line.hpp"
#include "scenarios.hpp"
#include "workers.hpp"

namespace kdbus_bench {

namespace {

constexpr uint64_t kMatchesWarmup = 1000;  // signals before the window (--warmup)

// The rule shape of a typical client (sd-bus, GDBus): type, path, interface and
// member all given. The daemon must evaluate it, not just an interface index.
std::string subscription_rule(const char *member) {
    return std::string("type='signal',path='") + kObjectPath + "',interface='" + kInterface + "',member='" + member +
           "'";
}

// A rule with the same interface and member as the broadcast but another path:
// the PropertiesChanged pattern of desktops, where thousands of rules share an
// interface and member and differ in the object they watch. It never matches.
std::string unmatched_rule(int i) {
    return std::string("type='signal',path='") + kObjectPath + "/unmatched/" + std::to_string(i) + "',interface='" +
           kInterface + "',member='Tick'";
}

struct Subscription {
    BusClient bus;
    uint64_t expected = 0;  // next sequence number
    uint64_t received = 0;
    uint64_t out_of_order = 0;
    uint64_t last_ns = 0;
    bool ended = false;
};

int on_tick(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *s = static_cast<Subscription *>(userdata);
    uint64_t seq;
    int r = sd_bus_message_read(m, "t", &seq);
    if (r < 0) return r;
    if (seq != s->expected) ++s->out_of_order;
    s->expected = seq + 1;
    ++s->received;
    s->last_ns = now_ns();
    return 1;
}

int on_end(sd_bus_message *, void *userdata, sd_bus_error *) {
    static_cast<Subscription *>(userdata)->ended = true;
    return 1;
}

// One subscriber process serving `connections` subscriptions with one poll loop.
// The first `warmup` Ticks are not measured: once every subscription has them,
// it says so (a ready more) and goes on.
int subscriber_process(WorkerContext &context, const Options &options, int connections, uint64_t warmup,
                       uint64_t signals) {
    WorkerSlot &slot = context.slot();
    std::vector<Subscription> subs(static_cast<size_t>(connections));
    std::vector<sd_bus *> buses;
    const std::string tick = subscription_rule("Tick"), end = subscription_rule("End");
    for (Subscription &s : subs) {
        int r = s.bus.connect(options.address, options.timeout);
        if (r < 0) return worker_error(slot, "connect: %s", strerror(-r));
        // Synchronous AddMatch: once it returns, the bus holds the rule.
        if ((r = sd_bus_add_match(s.bus.get(), nullptr, tick.c_str(), on_tick, &s)) < 0 ||
            (r = sd_bus_add_match(s.bus.get(), nullptr, end.c_str(), on_end, &s)) < 0)
            return worker_error(slot, "AddMatch: %s", strerror(-r));
        buses.push_back(s.bus.get());
    }
    if (!context.ready()) return worker_error(slot, "parent gone");
    int error = 0;
    Dispatch d = Dispatch::done;
    if (warmup > 0) {
        d = dispatch_all_until(
            buses,
            [&] {
                return std::all_of(subs.begin(), subs.end(),
                                   [&](const Subscription &s) { return s.received >= warmup || s.ended; });
            },
            now_ns() + seconds_to_ns(options.timeout), -1, &error);
        // Said even if it failed (the parent learns why from the slot).
        if (!context.ready()) return worker_error(slot, "parent gone");
    }
    if (d == Dispatch::done)
        d = dispatch_all_until(
            buses, [&] { return std::all_of(subs.begin(), subs.end(), [](const Subscription &s) { return s.ended; }); },
            now_ns() + seconds_to_ns(options.timeout), -1, &error);
    for (const Subscription &s : subs) {
        slot.count += s.received > warmup ? s.received - warmup : 0;  // measured deliveries
        slot.lost += warmup + signals > s.received ? warmup + signals - s.received : 0;
        slot.out_of_order += s.out_of_order;
        slot.end_ns = std::max(slot.end_ns, s.last_ns);
    }
    int status = 0;
    if (d == Dispatch::error) status = worker_error(slot, "dispatch: %s", strerror(error));
    else if (d != Dispatch::done) status = worker_error(slot, "timed out after %" PRIu64 " signals", slot.count);
    // Done (or failed): say so a second time and keep the connections until
    // the parent has read the daemon's CPU, so that our disconnects stay out
    // of the measured window.
    context.ready();
    context.wait_release();
    return status;
}

// Holds `rules` unmatched rules spread over `connections` idle connections
// until released. The rules are installed pipelined (AddMatch without waiting
// for each reply), then every reply is checked.
int rule_holder(WorkerContext &context, const Options &options, int connections, int rules) {
    WorkerSlot &slot = context.slot();
    std::vector<BusClient> conns(static_cast<size_t>(connections));
    std::vector<sd_bus *> buses;
    struct Acks {
        int ok = 0, failed = 0;
        std::string error;
    } acks;
    auto on_installed = [](sd_bus_message *reply, void *userdata, sd_bus_error *) -> int {
        auto *a = static_cast<Acks *>(userdata);
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        if (e) {
            ++a->failed;
            if (a->error.empty()) a->error = e->message ? e->message : e->name;
        } else {
            ++a->ok;
        }
        return 1;
    };
    for (size_t i = 0; i < conns.size(); ++i) {
        int r = conns[i].connect(options.address, options.timeout);
        if (r < 0) return worker_error(slot, "connect: %s", strerror(-r));
        buses.push_back(conns[i].get());
    }
    for (int i = 0; i < rules; ++i) {
        int r = sd_bus_add_match_async(buses[size_t(i) % buses.size()], nullptr, unmatched_rule(i).c_str(), nullptr,
                                       on_installed, &acks);
        if (r < 0) return worker_error(slot, "AddMatch %d: %s", i, strerror(-r));
    }
    int error = 0;
    Dispatch d = dispatch_all_until(buses, [&] { return acks.ok + acks.failed == rules; },
                                    now_ns() + seconds_to_ns(options.timeout), -1, &error);
    if (d == Dispatch::error) return worker_error(slot, "dispatch: %s", strerror(error));
    if (d != Dispatch::done) return worker_error(slot, "%d of %d AddMatch replies", acks.ok + acks.failed, rules);
    if (acks.failed) return worker_error(slot, "%d AddMatch refused: %s", acks.failed, acks.error.c_str());
    slot.count = uint64_t(acks.ok);
    if (!context.ready()) return worker_error(slot, "parent gone");
    context.wait_release();
    return 0;
}

struct BroadcastResult {
    uint64_t signals = 0;     // emitted
    uint64_t delivered = 0;   // received, summed over subscribers
    uint64_t lost = 0;
    uint64_t out_of_order = 0;
    double seconds = 0;       // first emit to last delivery
    double emit_seconds = 0;  // first emit to the End signal written
    std::string error;        // empty if every subscriber got every signal in order
};

// Emits `warmup` Ticks outside the measured window (waiting until every
// subscription has them), then `signals` Ticks and an End to `subscribers`
// subscriptions spread over `processes` worker processes, while `rules`
// unmatched rules are installed.
BroadcastResult broadcast(const Options &options, int subscribers, int processes, int rules, int holders,
                          uint64_t warmup, CpuMeter &meter) {
    uint64_t signals = options.count ? options.count : 10000;
    uint64_t deadline = now_ns() + seconds_to_ns(options.timeout);
    WorkerGroup holding(rules > 0 || holders > 0 ? 1 : 0);
    if (holding.size()) {
        holding.spawn(0, [&](WorkerContext &c) { return rule_holder(c, options, std::max(holders, 1), rules); });
        if (!holding.wait_ready(deadline)) fail("rule holder: %s", holding.first_error("did not get ready").c_str());
    }
    processes = std::clamp(processes, 1, subscribers);
    WorkerGroup subs(processes);
    for (int p = 0; p < processes; ++p) {
        int mine = subscribers / processes + (p < subscribers % processes ? 1 : 0);
        subs.spawn(p, [&, mine](WorkerContext &c) { return subscriber_process(c, options, mine, warmup, signals); });
    }
    BusClient emitter;
    int r = emitter.connect(options.address, options.timeout);
    if (r < 0) fail("emitter connect: %s", strerror(-r));
    if (!subs.wait_ready(deadline)) {
        subs.reap(now_ns() + seconds_to_ns(2));
        fail("subscribers: %s", subs.first_error("did not get ready").c_str());
    }
    for (uint64_t i = 0; i < warmup; ++i) {
        if ((r = sd_bus_emit_signal(emitter.get(), kObjectPath, kInterface, "Tick", "t", i)) < 0)
            fail("emit: %s", strerror(-r));
        if ((i & 63) == 63 && (r = sd_bus_flush(emitter.get())) < 0) fail("flush: %s", strerror(-r));
    }
    if (warmup > 0) {
        if ((r = sd_bus_flush(emitter.get())) < 0) fail("flush: %s", strerror(-r));
        if (!subs.wait_ready(deadline)) {
            subs.reap(now_ns() + seconds_to_ns(2));
            fail("subscribers: %s", subs.first_error("did not get the warm-up signals").c_str());
        }
    }
    meter.start();
    uint64_t t0 = now_ns();
    for (uint64_t i = warmup; i < warmup + signals; ++i) {
        if ((r = sd_bus_emit_signal(emitter.get(), kObjectPath, kInterface, "Tick", "t", i)) < 0)
            fail("emit: %s", strerror(-r));
        // Bound sd-bus's own write queue: wait for the socket rather than queue without end.
        if ((i & 63) == 63 && (r = sd_bus_flush(emitter.get())) < 0) fail("flush: %s", strerror(-r));
    }
    if ((r = sd_bus_emit_signal(emitter.get(), kObjectPath, kInterface, "End", "t", warmup + signals)) < 0 ||
        (r = sd_bus_flush(emitter.get())) < 0)
        fail("emit End: %s", strerror(-r));
    uint64_t emitted = now_ns();
    // Every subscriber reports a second ready once it has seen End; the window
    // ends there, before any client disconnects or the rule holder drops its
    // rules (10,000 RemoveMatch-equivalents that are not broadcast cost).
    bool finished = subs.wait_ready(now_ns() + seconds_to_ns(options.timeout));
    meter.stop();
    subs.release();
    bool clean = subs.reap(now_ns() + seconds_to_ns(options.timeout)) && finished;
    BroadcastResult result;
    result.signals = signals;
    uint64_t end = t0;
    for (int p = 0; p < subs.size(); ++p) {
        const WorkerSlot &s = subs.slot(p);
        result.delivered += s.count;
        result.lost += s.lost;
        result.out_of_order += s.out_of_order;
        end = std::max(end, s.end_ns);
    }
    result.seconds = ns_to_seconds(end - t0);
    result.emit_seconds = ns_to_seconds(emitted - t0);
    if (!clean) result.error = subs.first_error("a subscriber exited uncleanly");
    else if (result.lost || result.out_of_order) result.error = "signals lost or reordered";
    if (holding.size()) {
        holding.release();
        if (!holding.reap(now_ns() + seconds_to_ns(10)) && result.error.empty())
            result.error = holding.first_error("rule holder exited uncleanly");
    }
    return result;
}

void add_broadcast_keys(ResultLine &line, const BroadcastResult &b) {
    line.add("signals", b.signals).add("delivered", b.delivered).add("lost", b.lost);
    line.add("out_of_order", b.out_of_order).add("secs", b.seconds, 3);
    line.add("signals_per_s", b.seconds > 0 ? double(b.delivered) / b.seconds : 0.0);
    line.add("emit_per_s", b.emit_seconds > 0 ? double(b.signals) / b.emit_seconds : 0.0);
}

}  // namespace

int run_signal(const Options &options) {
    if (options.subscribers < 1) fail("--subscribers must be at least 1");
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    int processes = options.subscriber_procs ? options.subscriber_procs : std::min(options.subscribers, 8);
    uint64_t warmup = options.warmup > 0 ? uint64_t(options.warmup) : 0;  // none unless asked for
    BroadcastResult b = broadcast(options, options.subscribers, processes, 0, 0, warmup, meter);
    ResultLine line("signal", options.label);
    line.add("subscribers", options.subscribers).add("subscriber_procs", std::min(processes, options.subscribers));
    add_broadcast_keys(line, b);
    meter.add_to(line, b.delivered);  // per delivered signal
    return b.error.empty() ? line.print_ok() : line.print_failed(b.error);
}

int run_matches(const Options &options) {
    if (options.rules < 0) fail("--rules must not be negative");
    DaemonProbe probe(options.pids);
    CpuMeter meter(probe);
    // The window starts after a warm-up. Right after the rule holder has
    // installed its rules, the emitter, the daemon and the subscriber (one
    // CPU in the 1cpu placement) do not yet take turns as they go on to: a
    // window of a few hundred signals measured that transient, not matching.
    uint64_t warmup = options.warmup >= 0 ? uint64_t(options.warmup) : kMatchesWarmup;
    BroadcastResult b = broadcast(options, 1, 1, options.rules, options.rule_holders, warmup, meter);
    ResultLine line("matches", options.label);
    line.add("rules", options.rules).add("rule_holders", options.rule_holders).add("warmup", warmup);
    add_broadcast_keys(line, b);
    meter.add_to(line, b.signals);  // per emitted signal, each delivered once
    return b.error.empty() ? line.print_ok() : line.print_failed(b.error);
}

}  // namespace kdbus_bench
