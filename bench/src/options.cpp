#include "options.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "result_line.hpp"

namespace kdbus_bench {

void print_usage(FILE *to) {
    fputs(R"(usage: kdbus-bench SCENARIO [options]
       kdbus-bench report RAWFILE...

Measures a D-Bus bus from the outside, with sd-bus clients in their own
processes. Each scenario prints one line, "scenario=NAME bus=LABEL key=value
... ok=1", and exits 0; a failure prints ok=0 error=WHY and exits 1.

Scenarios:
  rtt        one client, sequential Echo(s)->s calls to one service: calls/s
             and latency percentiles (us); --p2p: over a socketpair, no bus
  par        --clients K clients calling the one service at once (default 8)
  signal     one emitter, --subscribers M subscribers (default 100) with match
             rules; --count N signals (default 10000), each checked as
             delivered, in order, to every subscriber (ok=0 otherwise)
  matches    one emitter, one subscriber, while --rules R rules (default
             10000) that do not match are installed on --rule-holders H
             connections (default 10): the broadcast cost of idle rules;
             the window starts after --warmup W signals (default 1000)
  payload    --size S bytes per call (default 4K; K/M/G suffixes), --via
             inline (ay) or memfd (a sealed memfd per call, h): MB/s; --p2p
  connect    connect, SASL EXTERNAL, Hello, disconnect, one after another;
             --p2p: against the least bus, the floor of any bus's cost
  metadata   kdbusd only: rtt against three raw services, one that never set
             a receive mask, one with mask 0, one with CREDS|PIDS|TIMESTAMP
             (org.kdbusd.Bus1.UpdateAttachFlags), in alternating segments:
             calls/s and daemon CPU per call, each as a ratio to the first
  idle       opens --connections C (default 1000) and reads the daemon's RSS
             growth per connection (needs --pid; use a fresh daemon)
  wait       retries connect + Hello until the bus answers (readiness probe)
  smoke      a few operations of every scenario, for a test suite: p2p only,
             or against --address; exits 0 if all passed
  journal-sink --path P [--out F]: a datagram socket in journald's place
  report     prints the table for raw lines written by run.sh

Options:
  --address ADDR     the bus (default $DBUS_SESSION_BUS_ADDRESS)
  --label NAME       printed as bus=NAME
  --p2p              rtt and payload without a bus; connect against the least
                     bus (accept, credentials, canned SASL and Hello answers)
  --pin LIST         connect --p2p: what the least bus adds to that floor, of
                     pidfd (SO_PEERPIDFD held per connection), hello-pidfd
                     (at Hello: SO_PEERPIDFD, PIDFD_GET_INFO, close), stats
                     (at Hello: three stats of /proc/PID), identity (both:
                     kdbusd's pin); default none
  --duration SEC     measured time of rtt, par, payload, connect (default 1)
  --count N          calls or connects to make instead; signals to emit
  --warmup N         unmeasured operations first
  --size BYTES       string length (rtt, par) or body size (payload)
  --via inline|memfd payload transport
  --clients K  --subscribers M  --subscriber-procs P  --rules R
  --rule-holders H  --connections C  --settle-ms MS
  --pid PID[,PID]    the daemon's processes: adds daemon_cpu_us_per_op (from
                     /proc/PID/task/*/schedstat); needed by idle
  --timeout SEC      bound on any single wait (default 60)
)",
          to);
}

namespace {

size_t parse_size(std::string_view text) {
    std::string s(text);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s.c_str(), &end, 10);
    if (errno || end == s.c_str()) fail("bad size '%s'", s.c_str());
    switch (*end) {
    case 'k': case 'K': v <<= 10; ++end; break;
    case 'm': case 'M': v <<= 20; ++end; break;
    case 'g': case 'G': v <<= 30; ++end; break;
    default: break;
    }
    if (*end == 'i') ++end;
    if (*end == 'B') ++end;
    if (*end) fail("bad size '%s'", s.c_str());
    return size_t(v);
}

long parse_long(std::string_view text) {
    std::string s(text);
    char *end;
    errno = 0;
    long v = strtol(s.c_str(), &end, 10);
    if (errno || end == s.c_str() || *end || v < 0) fail("bad number '%s'", s.c_str());
    return v;
}

double parse_seconds(std::string_view text) {
    std::string s(text);
    char *end;
    errno = 0;
    double v = strtod(s.c_str(), &end);
    if (errno || end == s.c_str() || *end || v < 0) fail("bad number '%s'", s.c_str());
    return v;
}

void parse_pids(std::string_view list, std::vector<pid_t> *pids) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view one = list.substr(0, comma);
        if (!one.empty()) pids->push_back(pid_t(parse_long(one)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

}  // namespace

Options parse_options(int argc, char **argv) {
    Options o;
    if (argc < 2) {
        print_usage(stderr);
        exit(2);
    }
    o.scenario = argv[1];
    if (o.scenario == "-h" || o.scenario == "--help") {
        print_usage(stdout);
        exit(0);
    }
    set_run_identity(o.scenario, o.label);
    bool label_given = false, duration_given = false;
    for (int i = 2; i < argc; ++i) {
        std::string_view arg = argv[i], value;
        bool attached = false;
        if (arg.starts_with("--") && arg.find('=') != std::string_view::npos) {
            value = arg.substr(arg.find('=') + 1);
            arg = arg.substr(0, arg.find('='));
            attached = true;
        }
        auto next = [&]() -> std::string_view {
            if (attached) return value;
            if (i + 1 >= argc) fail("%s needs a value", std::string(arg).c_str());
            return argv[++i];
        };
        if (arg == "--address") o.address = next();
        else if (arg == "--label") { o.label = next(); label_given = true; }
        else if (arg == "--p2p") o.p2p = true;
        else if (arg == "--pin") o.pin = std::string(next());
        else if (arg == "--duration") { o.duration = parse_seconds(next()); duration_given = true; }
        else if (arg == "--count") o.count = uint64_t(parse_long(next()));
        else if (arg == "--warmup") o.warmup = parse_long(next());
        else if (arg == "--size") o.size = parse_size(next());
        else if (arg == "--via") {
            std::string_view via = next();
            if (via != "inline" && via != "memfd") fail("--via is inline or memfd");
            o.memfd = via == "memfd";
        }
        else if (arg == "--clients") o.clients = int(parse_long(next()));
        else if (arg == "--subscribers") o.subscribers = int(parse_long(next()));
        else if (arg == "--subscriber-procs") o.subscriber_procs = int(parse_long(next()));
        else if (arg == "--rules") o.rules = int(parse_long(next()));
        else if (arg == "--rule-holders") o.rule_holders = int(parse_long(next()));
        else if (arg == "--connections") o.connections = int(parse_long(next()));
        else if (arg == "--settle-ms") o.settle_ms = int(parse_long(next()));
        else if (arg == "--pid") parse_pids(next(), &o.pids);
        else if (arg == "--timeout") o.timeout = parse_seconds(next());
        else if (arg == "--path") o.path = next();
        else if (arg == "--out") o.out = next();
        else if (arg == "-h" || arg == "--help") {
            print_usage(stdout);
            exit(0);
        } else if (!arg.starts_with("-") && o.scenario == "report") {
            o.files.emplace_back(arg);
        } else {
            fail("unknown option '%s' (see --help)", std::string(arg).c_str());
        }
    }
    // --count alone means exactly that many operations.
    if (o.count > 0 && !duration_given) o.duration = 0;
    if (o.p2p && !label_given) o.label = "p2p";
    if (o.address.empty() && !o.p2p) {
        const char *env = getenv("DBUS_SESSION_BUS_ADDRESS");
        if (env) o.address = env;
    }
    set_run_identity(o.scenario, o.label);
    return o;
}

}  // namespace kdbus_bench
