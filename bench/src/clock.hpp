// Monotonic time for measurements and deadlines.
#pragma once

#include <cstdint>
#include <ctime>

namespace kdbus_bench {

inline uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

inline uint64_t seconds_to_ns(double s) { return uint64_t(s * 1e9); }

inline double ns_to_seconds(uint64_t ns) { return double(ns) / 1e9; }

}  // namespace kdbus_bench
