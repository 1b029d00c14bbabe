/* BusMessage: one message as the bus holds it, parsed once and shared by
 * every receiver it is queued for */
#pragma once

#include <cstdint>
#include <functional>
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
 * What a connection has sent that the bus still holds (queued for
 * receivers, waiting for an activated service): dbus-daemon's
 * max_incoming_bytes and max_incoming_unix_fds bound it, by not reading
 * from the connection while it is over them. Each message carries the
 * charge and gives it back when it is freed.
 */
struct IncomingCharge {
    size_t bytes = 0;
    size_t fds = 0;
    /* Called when a release brings the account back under its limits. */
    std::function<void()> on_release;
    size_t max_bytes = 0;
    size_t max_fds = 0;

    bool over() const { return bytes > max_bytes || fds > max_fds; }
};

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
    /* The sender's account this message is charged to (nullptr for the
     * bus's own messages). */
    std::shared_ptr<IncomingCharge> charge;

    ~BusMessage() {
        if (!charge) return;
        bool was_over = charge->over();
        charge->bytes -= raw.size();
        charge->fds -= fds_charged;
        if (was_over && !charge->over() && charge->on_release) charge->on_release();
    }
    size_t fds_charged = 0;

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
