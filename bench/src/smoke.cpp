// smoke: every scenario once with a handful of operations, so that a test
// suite can check that the benchmark still works, with no timing asserted.
// Without --address only the peer-to-peer runs (no bus needed).
#include <sys/wait.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "scenarios.hpp"
#include "workers.hpp"

namespace kdbus_bench {

namespace {

struct SmokeRun {
    std::string name;
    std::function<int(Options &)> run;  // adjusts its copy of the options, then runs
};

}  // namespace

int run_smoke(const Options &options) {
    const bool bus = !options.address.empty() && !options.p2p;
    std::vector<SmokeRun> runs = {
        {"rtt p2p", [](Options &o) { o.p2p = true; o.label = "p2p"; o.pids.clear(); o.count = 50; return run_rtt(o); }},
        {"payload p2p memfd", [](Options &o) { o.p2p = true; o.label = "p2p"; o.pids.clear(); o.count = 5; o.size = 64 << 10; o.memfd = true; return run_payload(o); }},
        {"connect p2p", [](Options &o) { o.p2p = true; o.label = "p2p"; o.pids.clear(); o.count = 10; return run_connect(o); }},
        {"connect p2p pidfd,stats", [](Options &o) { o.p2p = true; o.label = "p2p"; o.pids.clear(); o.count = 10; o.pin = "pidfd,stats"; return run_connect(o); }},
        {"connect p2p identity", [](Options &o) { o.p2p = true; o.label = "p2p"; o.pids.clear(); o.count = 10; o.pin = "identity"; return run_connect(o); }},
    };
    if (bus) {
        runs.push_back({"rtt", [](Options &o) { o.count = 50; return run_rtt(o); }});
        runs.push_back({"par", [](Options &o) { o.count = 20; o.clients = 2; return run_par(o); }});
        runs.push_back({"signal", [](Options &o) { o.count = 100; o.subscribers = 3; o.subscriber_procs = 2; return run_signal(o); }});
        runs.push_back({"matches", [](Options &o) { o.count = 100; o.rules = 50; o.rule_holders = 2; return run_matches(o); }});
        runs.push_back({"payload inline", [](Options &o) { o.count = 5; o.size = 64 << 10; return run_payload(o); }});
        runs.push_back({"payload memfd", [](Options &o) { o.count = 5; o.size = 64 << 10; o.memfd = true; return run_payload(o); }});
        runs.push_back({"connect", [](Options &o) { o.count = 10; return run_connect(o); }});
        if (!options.pids.empty()) runs.push_back({"idle", [](Options &o) { o.connections = 10; o.settle_ms = 0; return run_idle(o); }});
    }
    int failed = 0;
    for (const SmokeRun &r : runs) {
        // Each run in its own process: a failing scenario ends its process.
        pid_t pid = fork_worker([&] {
            Options o = options;
            o.warmup = 1;
            o.duration = 0;
            return r.run(o);
        });
        int status = 0;
        bool ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok) {
            ++failed;
            fprintf(stderr, "smoke: %s failed\n", r.name.c_str());
        }
    }
    printf("smoke: %zu runs, %d failed%s\n", runs.size(), failed, bus ? "" : " (peer to peer only: no --address)");
    return failed ? 1 : 0;
}

}  // namespace kdbus_bench
