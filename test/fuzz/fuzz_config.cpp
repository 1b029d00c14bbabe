// libFuzzer target: the dbus-daemon XML configuration loader. Every input
// loads or throws ConfigError; nothing else may escape. Includes resolve
// against a directory that does not exist, and user and group lookups are
// answered without the system's database, so a run touches no real file.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/config.hpp"

using namespace kdbus::policy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view xml(reinterpret_cast<const char*>(data), size);
    LoadOptions options;
    options.getenv = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    options.lookup_user = [](std::string_view name) -> std::optional<uid_t> {
        if (name == "root") return 0;
        return std::nullopt;
    };
    options.lookup_group = [](std::string_view name) -> std::optional<gid_t> {
        if (name == "root") return 0;
        return std::nullopt;
    };
    options.require_listen = size > 0 && (data[0] & 1);
    try {
        (void)load_config_string(xml, "/nonexistent/kdbusd-fuzz/bus.conf", options);
    } catch (const ConfigError&) {
    }
    return 0;
}
