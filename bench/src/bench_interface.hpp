// Names the benchmark's clients and services use on the bus.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kdbus_bench {

inline constexpr const char *kObjectPath = "/org/kdbus/Bench";
inline constexpr const char *kInterface = "org.kdbus.Bench";
// Service names are this prefix plus the benchmark's pid, so that runs never collide.
inline constexpr const char *kServiceNamePrefix = "org.kdbus.Bench.Service.p";

// Payload bytes follow a pattern so that the receiver can check what arrived.
inline uint8_t payload_byte(size_t i) { return uint8_t(i % 251); }

}  // namespace kdbus_bench
