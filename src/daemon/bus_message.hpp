/* BusMessage: one message as the bus holds it, parsed once and shared by
 * every receiver it is queued for */
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include "daemon/unique_fd.hpp"
#include "metadata/message_metadata.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

/*
 * A message in one of two shapes:
 *  - received from a client: `raw` holds the client's bytes, `header`
 *    points into them, and `head` is the header re-stitched once for
 *    forwarding (SENDER stamped, undefined fields dropped); the body is
 *    sent from `raw` without copying (scatter-gather);
 *  - made by the bus (driver replies and signals): `raw` is the whole
 *    message as built, already carrying SENDER, and `head` stays empty.
 * Single-threaded, so the reference count is not atomic.
 */
class BusMessage : public boost::intrusive_ref_counter<BusMessage, boost::thread_unsafe_counter> {
public:
    std::vector<uint8_t> raw;
    wire::Header header;
    std::vector<uint8_t> head;
    /* The stamped sender, for match rules (the parsed header still holds
     * whatever the client wrote). */
    std::string sender;
    std::vector<UniqueFd> fds;

    /* Who wrote it, from SCM_CREDENTIALS of the read that carried it
     * (pid 0: not stamped, the connection's credentials stand in). */
    pid_t stamp_pid = 0;
    uid_t stamp_uid = static_cast<uid_t>(-1);
    gid_t stamp_gid = static_cast<gid_t>(-1);
    /* kdbus metadata, captured on first need and shared by every receiver
     * (DESIGN.md: captured when sent, translated per receiver). */
    std::unique_ptr<metadata::MessageMetadata> metadata;
    uint64_t metadata_tried = 0;  // items a capture was attempted for

    /* What goes on the wire: header_bytes() then body(). */
    std::span<const uint8_t> header_bytes() const {
        if (!head.empty()) return head;
        return std::span<const uint8_t>(raw).first(header.body_offset);
    }
    std::span<const uint8_t> body() const {
        return std::span<const uint8_t>(raw).subspan(header.body_offset);
    }
    size_t size() const { return header_bytes().size() + body().size(); }
};

using MessagePtr = boost::intrusive_ptr<BusMessage>;

}  // namespace kdbus::daemon
