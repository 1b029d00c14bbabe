#include "daemon_probe.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "clock.hpp"

namespace kdbus_bench {

namespace {

bool read_u64(const std::string &file, unsigned long long *value) {
    FILE *f = fopen(file.c_str(), "re");
    if (!f) return false;
    bool ok = fscanf(f, "%llu", value) == 1;
    fclose(f);
    return ok;
}

// The fields of /proc/PID/stat after the command name, which may itself hold ')'.
std::string stat_tail(pid_t pid) {
    FILE *f = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "re");
    if (!f) return {};
    char line[1024];
    bool ok = fgets(line, sizeof line, f) != nullptr;
    fclose(f);
    const char *paren = ok ? strrchr(line, ')') : nullptr;
    return paren && paren[1] ? std::string(paren + 2) : std::string();
}

uint64_t stat_cpu_ns(pid_t pid) {
    std::string tail = stat_tail(pid);
    unsigned long long utime = 0, stime = 0;
    // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
    if (sscanf(tail.c_str(), "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    return (utime + stime) * (1'000'000'000ull / uint64_t(sysconf(_SC_CLK_TCK)));
}

}  // namespace

uint64_t DaemonProbe::cpu_ns() const {
    uint64_t total = 0;
    for (pid_t pid : pids_) {
        std::string tasks = "/proc/" + std::to_string(pid) + "/task";
        DIR *dir = opendir(tasks.c_str());
        if (!dir) continue;
        uint64_t process_ns = 0;
        bool have_schedstat = true;
        while (dirent *e = readdir(dir)) {
            if (e->d_name[0] == '.') continue;
            unsigned long long ns = 0;
            if (!read_u64(tasks + "/" + e->d_name + "/schedstat", &ns)) {
                have_schedstat = false;
                break;
            }
            process_ns += ns;
        }
        closedir(dir);
        total += have_schedstat ? process_ns : stat_cpu_ns(pid);
    }
    return total;
}

std::optional<DaemonMemory> DaemonProbe::memory() const {
    DaemonMemory sum;
    for (pid_t pid : pids_) {
        FILE *f = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "re");
        if (!f) return std::nullopt;
        char line[256];
        long kib;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "VmRSS: %ld", &kib) == 1) sum.rss_kib += kib;
            if (sscanf(line, "RssAnon: %ld", &kib) == 1) sum.anon_kib += kib;
        }
        fclose(f);
    }
    return sum;
}

bool DaemonProbe::alive() const {
    for (pid_t pid : pids_) {
        std::string tail = stat_tail(pid);
        if (tail.empty() || tail[0] == 'Z' || tail[0] == 'X') return false;
    }
    return true;
}

// KDBUS_BENCH_WINDOW_HOOK: a command run as "CMD start" just before the
// window opens and "CMD stop" just after it closes (outside the measured
// CPU), so that a tool attached to the daemon (callgrind_control -i on/off
// and -d, strace -c) sees exactly the window (docs/benchmark.md). Unset:
// nothing is run.
static void run_window_hook(const char *what) {
    const char *hook = getenv("KDBUS_BENCH_WINDOW_HOOK");
    if (!hook || !*hook) return;
    std::string saved = hook, command = saved + " " + what;
    // Not inherited: a kdbus-bench the hook runs must not run the hook again.
    unsetenv("KDBUS_BENCH_WINDOW_HOOK");
    if (system(command.c_str()) != 0) fprintf(stderr, "kdbus-bench: window hook '%s' failed\n", command.c_str());
    setenv("KDBUS_BENCH_WINDOW_HOOK", saved.c_str(), 1);
}

void CpuMeter::start() {
    run_window_hook("start");
    wall0_ = now_ns();
    cpu0_ = probe_.cpu_ns();
    wall1_ = cpu1_ = 0;
}

void CpuMeter::stop() {
    cpu1_ = probe_.cpu_ns();
    wall1_ = now_ns();
    run_window_hook("stop");
}

void CpuMeter::add_to(ResultLine &line, uint64_t operations) const {
    if (probe_.empty()) return;
    bool stopped = wall1_ != 0;
    double cpu = double((stopped ? cpu1_ : probe_.cpu_ns()) - cpu0_);
    double wall = double((stopped ? wall1_ : now_ns()) - wall0_);
    line.add("daemon_cpu_pct", wall > 0 ? 100.0 * cpu / wall : 0.0);
    line.add("daemon_cpu_us_per_op", operations ? cpu / 1e3 / double(operations) : 0.0, 3);
}

}  // namespace kdbus_bench
