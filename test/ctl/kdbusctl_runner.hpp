// Runs the kdbusctl under test as a child process, as users and scripts do.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "process.hpp"

namespace kdbusctl::test {

using kdbusd::itest::CommandResult;
using kdbusd::itest::milliseconds;

inline std::string kdbusctl_binary() { return KDBUSCTL_BINARY; }

inline CommandResult kdbusctl(std::vector<std::string> args, milliseconds timeout = milliseconds(10000)) {
  args.insert(args.begin(), kdbusctl_binary());
  return kdbusd::itest::run_command(args, timeout);
}

// Runs kdbusctl with --json, expects success and returns the parsed output
// (null, with a test failure, otherwise).
inline nlohmann::json kdbusctl_json(std::vector<std::string> args) {
  args.push_back("--json");
  auto result = kdbusctl(args);
  EXPECT_TRUE(result.ok()) << result.describe();
  auto parsed = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << result.out;
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

}  // namespace kdbusctl::test
