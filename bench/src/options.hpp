// Command line of kdbus-bench: one scenario and its parameters.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kdbus_bench {

struct Options {
    std::string scenario;
    std::string address;          // the bus; empty with --p2p
    std::string label = "bus";    // printed as bus=LABEL
    bool p2p = false;             // rtt/payload over a socketpair; connect to the least bus
    std::string pin = "none";     // connect --p2p: what the least bus adds (least_bus.hpp)
    double duration = 1.0;        // measured seconds (rtt, par, payload, connect)
    uint64_t count = 0;           // calls (0: --duration bounds) or signals to emit
    long warmup = -1;             // unmeasured operations first; -1: the scenario's default
    size_t size = 0;              // string length (rtt, par) or body size (payload); 0: default
    bool memfd = false;           // payload: --via memfd
    int clients = 8;              // par
    int subscribers = 100;        // signal
    int subscriber_procs = 0;     // signal: processes the subscribers are spread over; 0: auto
    int rules = 10000;            // matches: installed rules that do not match
    int rule_holders = 10;        // matches: connections the rules are spread over
    int connections = 1000;       // idle
    int settle_ms = 200;          // idle: pause before the last memory sample
    std::vector<pid_t> pids;      // the daemon's processes (CPU and memory)
    double timeout = 60.0;        // bound on any single wait, seconds
    std::string path;             // journal-sink: socket path
    std::string out;              // journal-sink: file the datagrams are appended to
    std::vector<std::string> files;  // report: raw result files
};

// Parses argv; prints usage and exits on --help or a malformed command line.
Options parse_options(int argc, char **argv);

void print_usage(FILE *to);

}  // namespace kdbus_bench
