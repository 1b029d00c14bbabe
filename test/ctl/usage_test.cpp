// kdbusctl's command line: --help for every command (exit 0), usage errors
// (exit 2) caught before anything is contacted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kdbusctl_runner.hpp"

namespace kdbusctl::test {
namespace {

const std::vector<std::string> kCommands = {
    "bus create",      "bus remove",      "bus list",      "endpoint create", "endpoint update",
    "endpoint remove", "endpoint list",   "domain create", "domain list",     "names",
    "connections",     "stats",           "monitor",       "reload",
};

std::vector<std::string> split(const std::string& words) {
  std::vector<std::string> result;
  std::istringstream in(words);
  for (std::string word; in >> word;) result.push_back(word);
  return result;
}

TEST(Usage, EveryCommandHasHelp) {
  for (const auto& command : kCommands) {
    for (const char* flag : {"--help", "-h"}) {
      auto args = split(command);
      args.push_back(flag);
      auto result = kdbusctl(args);
      EXPECT_EQ(result.exit_status, 0) << command << ": " << result.describe();
      EXPECT_THAT(result.out, ::testing::StartsWith("Usage: kdbusctl " + command)) << command;
      EXPECT_THAT(result.out, ::testing::HasSubstr("--json")) << command;
    }
  }
}

TEST(Usage, OverviewListsEveryCommand) {
  auto result = kdbusctl({"--help"});
  ASSERT_EQ(result.exit_status, 0) << result.describe();
  for (const auto& command : kCommands) EXPECT_THAT(result.out, ::testing::HasSubstr("  " + command + " "));
  for (const char* group : {"bus", "endpoint", "domain"}) {
    auto group_help = kdbusctl({group, "--help"});
    EXPECT_EQ(group_help.exit_status, 0) << group_help.describe();
    EXPECT_THAT(group_help.out, ::testing::HasSubstr("  " + std::string(group) + " list "));
  }
}

TEST(Usage, HelpAfterGlobalOptions) {
  auto result = kdbusctl({"--domain", "/nonexistent", "bus", "create", "--help"});
  EXPECT_EQ(result.exit_status, 0) << result.describe();
  EXPECT_THAT(result.out, ::testing::HasSubstr("--persist"));
}

TEST(Usage, ErrorsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"bus"},
      {"bus", "frobnicate"},
      {"bus", "create"},                                   // NAME missing
      {"bus", "create", "0-a", "0-b"},                     // one too many
      {"bus", "create", "0-a", "--world", "--group"},      // exclusive
      {"bus", "create", "0-a", "--persist=yes"},           // a flag takes no value
      {"bus", "list", "--frobnicate"},
      {"bus", "list", "-x"},
      {"endpoint", "create", "0-a"},                       // NAME missing
      {"endpoint", "create", "0-a", "e", "--call", "org.a"},  // N=RULE
      {"endpoint", "create", "0-a", "e", "--mode", "999"},    // not octal
      {"endpoint", "create", "0-a", "e", "--owner"},          // value missing
      {"domain", "create"},                                // --target missing
      {"domain", "create", "--target", "x"},
      {"names"},                                           // neither BUS nor --address
      {"--address", "unix:path=/x", "names", "0-a"},       // both
      {"--address", "unix:path=/x", "--domain", "/d", "names"},
      {"--address", "unix:path=/x", "bus", "list"},        // domain command on a bus
      {"stats", "0-a", "0-b"},
      {"monitor", "--match"},
  };
  for (const auto& args : cases) {
    auto result = kdbusctl(args);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    EXPECT_EQ(result.exit_status, 2) << shown << ": " << result.describe();
    EXPECT_THAT(result.err, ::testing::Not(::testing::IsEmpty())) << shown;
    EXPECT_THAT(result.out, ::testing::IsEmpty()) << shown;
  }
}

}  // namespace
}  // namespace kdbusctl::test
