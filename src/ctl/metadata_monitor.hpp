/* MetadataMonitor: a monitor connection that opts in to kdbusd's per-message metadata (kdbusctl monitor --metadata)
 *
 * sd-bus (libsystemd 252) drops every message carrying a header field it
 * does not know whose value is a container, so it cannot receive header
 * field 128 (a{sv}). This connection speaks the little of D-Bus a monitor
 * needs on a plain socket: SASL EXTERNAL, Hello,
 * org.kdbusd.Bus1.UpdateAttachFlags(0, all), BecomeMonitor, then whole
 * messages, whose header it reads and whose field 128 it hands to
 * include/kdbus/metadata.hpp. */
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kdbus/metadata.hpp"

namespace kdbusctl {

class MetadataMonitor {
public:
    /* Connects to `address` (unix:path= or unix:abstract=), asks for every
     * metadata item and becomes a monitor for `rules` (none: everything).
     * Throws std::runtime_error with the bus's error when a step fails, e.g.
     * on a bus that is not kdbusd. */
    MetadataMonitor(const std::string& address, const std::vector<std::string>& rules);
    ~MetadataMonitor();
    MetadataMonitor(const MetadataMonitor&) = delete;
    MetadataMonitor& operator=(const MetadataMonitor&) = delete;

    /* The next message's header, as `kdbusctl monitor` describes it, with a
     * "metadata" member (null when the message carried no field 128); nothing
     * once the bus closed the connection. */
    std::optional<nlohmann::ordered_json> next();

private:
    /* One whole message and the header fields the monitor shows. */
    struct Received {
        std::vector<uint8_t> bytes;
        uint8_t type = 0;
        uint32_t serial = 0;
        std::optional<uint32_t> reply_serial;
        std::optional<std::string> fields[9];  // by code: path … signature
    };
    std::optional<Received> read_message();
    /* Sends a method call to the driver; `body` is already marshalled. */
    uint32_t call_driver(const char* interface, const char* member, const char* signature,
                         const std::vector<uint8_t>& body);
    /* Waits for the reply to `serial`; throws with the error if it failed. */
    void expect_reply(uint32_t serial, const std::string& what);
    void read_more();

    int fd_ = -1;
    uint32_t next_serial_ = 1;
    std::vector<uint8_t> in_;
};

/* Field 128 as JSON: one member per item, keys as in DESIGN.md. */
nlohmann::ordered_json metadata_json(const kdbus::Metadata& md);

}  // namespace kdbusctl
