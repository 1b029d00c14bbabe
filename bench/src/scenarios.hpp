// The scenarios. Each prints one result line and returns the exit status.
#pragma once

#include "options.hpp"

namespace kdbus_bench {

int run_rtt(const Options &options);      // scenario_calls.cpp
int run_par(const Options &options);      // scenario_calls.cpp
int run_payload(const Options &options);  // scenario_calls.cpp
int run_signal(const Options &options);   // scenario_broadcast.cpp
int run_matches(const Options &options);  // scenario_broadcast.cpp
int run_metadata(const Options &options); // scenario_metadata.cpp
int run_connect(const Options &options);  // scenario_connections.cpp
int run_idle(const Options &options);     // scenario_connections.cpp
int run_wait(const Options &options);     // scenario_connections.cpp
int run_journal_sink(const Options &options);  // journal_sink.cpp
int run_smoke(const Options &options);    // smoke.cpp
int run_report(const Options &options);   // report.cpp

}  // namespace kdbus_bench
