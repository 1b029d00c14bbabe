// The daemon under test as /proc shows it: CPU time and memory of its processes.
// For dbus-broker these are the broker and its launcher: both are what the bus costs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "result_line.hpp"

namespace kdbus_bench {

struct DaemonMemory {
    long rss_kib = 0;   // VmRSS
    long anon_kib = 0;  // RssAnon
};

class DaemonProbe {
public:
    explicit DaemonProbe(std::vector<pid_t> pids) : pids_(std::move(pids)) {}

    bool empty() const { return pids_.empty(); }

    // On-CPU time of every thread, in ns: /proc/PID/task/TID/schedstat, or
    // utime+stime from /proc/PID/stat where the kernel has no schedstat.
    uint64_t cpu_ns() const;

    // Summed over the processes; nullopt once one of them is gone.
    std::optional<DaemonMemory> memory() const;

    // False once any of the processes has exited (gone or a zombie).
    bool alive() const;

private:
    std::vector<pid_t> pids_;
};

// Daemon CPU over a measured window: adds daemon_cpu_pct and daemon_cpu_us_per_op.
// The window runs from start() to stop(), or to add_to() if stop() was not
// called: a scenario stops it before it tears its clients down, so that
// disconnects (and the rules they drop) are not charged to the operations.
class CpuMeter {
public:
    explicit CpuMeter(const DaemonProbe &probe) : probe_(probe) {}
    void start();
    void stop();
    void add_to(ResultLine &line, uint64_t operations) const;

private:
    const DaemonProbe &probe_;
    uint64_t wall0_ = 0, cpu0_ = 0;
    uint64_t wall1_ = 0, cpu1_ = 0;  // 0: not stopped
};

}  // namespace kdbus_bench
