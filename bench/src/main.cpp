// kdbus-bench: the project's benchmark client. See docs/benchmark.md and bench/run.sh.
#include <csignal>
#include <cstdio>
#include <string_view>

#include "options.hpp"
#include "result_line.hpp"
#include "scenarios.hpp"

int main(int argc, char **argv) {
    using namespace kdbus_bench;
    signal(SIGPIPE, SIG_IGN);
    Options options = parse_options(argc, argv);
    struct Entry {
        std::string_view name;
        int (*run)(const Options &);
        bool needs_bus;
    };
    static constexpr Entry scenarios[] = {
        {"rtt", run_rtt, true},         {"par", run_par, true},         {"signal", run_signal, true},
        {"matches", run_matches, true}, {"payload", run_payload, true}, {"connect", run_connect, true},
        {"idle", run_idle, true},       {"metadata", run_metadata, true},
               {"wait", run_wait, true},       {"smoke", run_smoke, false},
        {"journal-sink", run_journal_sink, false}, {"report", run_report, false},
    };
    for (const Entry &e : scenarios) {
        if (e.name != options.scenario) continue;
        if (e.needs_bus && !options.p2p && options.address.empty())
            fail("no --address and no DBUS_SESSION_BUS_ADDRESS");
        if (options.p2p && e.name != "rtt" && e.name != "payload" && e.name != "connect" && e.name != "smoke")
            fail("--p2p applies to rtt, payload and connect only");
        return e.run(options);
    }
    fail("unknown scenario (see --help)");
}
