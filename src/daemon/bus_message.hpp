/* BusMessage: one message as the bus holds it, parsed once and shared by
 * every receiver it is queued for */
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include "daemon/unique_fd.hpp"
#include "metadata/message_metadata.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

struct InFlightFds;  // daemon/fd_admission.hpp

/*
 * A message's bytes: a vector of bytes whose growth leaves the new bytes
 * unwritten. A large message is received straight into them as it arrives
 * (Connection::on_readable): making room for the next read must not
 * zero-fill it first, which would be one more pass over every byte (for
 * 1 MiB, about as long as the kernel's copy in), and memory the kernel has
 * not written yet stays untouched. Not std::vector with an allocator that
 * skips construction: libstdc++ then constructs and destroys byte by byte,
 * which only the optimiser removes (a Debug build spent half a millisecond
 * per 64 KiB message in those loops).
 */
class MessageBytes {
public:
    MessageBytes() = default;
    MessageBytes(MessageBytes&& other) noexcept
        : bytes_(std::move(other.bytes_)),
          size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    MessageBytes& operator=(MessageBytes&& other) noexcept {
        bytes_ = std::move(other.bytes_);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        return *this;
    }

    uint8_t* data() { return bytes_.get(); }
    const uint8_t* data() const { return bytes_.get(); }
    uint8_t* begin() { return data(); }
    uint8_t* end() { return data() + size_; }
    const uint8_t* begin() const { return data(); }
    const uint8_t* end() const { return data() + size_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    void reserve(size_t n) {
        if (n <= capacity_) return;
        std::unique_ptr<uint8_t[]> grown(new uint8_t[n]);  // default-initialised: not written
        if (size_) std::memcpy(grown.get(), bytes_.get(), size_);
        bytes_ = std::move(grown);
        capacity_ = n;
    }
    /* Bytes beyond the old size are not written. */
    void resize(size_t n) {
        if (n > capacity_) reserve(std::max(n, capacity_ * 2));
        size_ = n;
    }

private:
    std::unique_ptr<uint8_t[]> bytes_;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

/* A copy of `bytes`. */
inline MessageBytes copy_message_bytes(std::span<const uint8_t> bytes) {
    MessageBytes out;
    out.resize(bytes.size());
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

#if defined(__SANITIZE_ADDRESS__)
#define KDBUSD_MESSAGE_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KDBUSD_MESSAGE_POOL 0
#endif
#endif
#ifndef KDBUSD_MESSAGE_POOL
#define KDBUSD_MESSAGE_POOL 1
#endif

/*
 * A free list of blocks of one size (`block_size`, at least a pointer): a
 * block freed by one message is taken by the next, so routing does not go
 * to malloc for the message object. It keeps at most `max_free` blocks.
 * One per thread (the bus runs on one); it is constant-initialised and has
 * no destructor, so a message freed during exit still finds it. ASan builds
 * use the allocator directly, so that a use after free is still caught.
 */
template <size_t block_size>
class MessagePool {
public:
    static constexpr size_t max_free = 256;

    void* take() {
        if (!KDBUSD_MESSAGE_POOL || !free_) return ::operator new(block_size);
        Block* b = free_;
        free_ = b->next;
        --count_;
        return b;
    }
    void give(void* p) {
        if (!KDBUSD_MESSAGE_POOL || count_ >= max_free) return ::operator delete(p);  // unsized: clang does not enable sized deallocation by default
        free_ = new (p) Block{free_};
        ++count_;
    }

private:
    struct Block {
        Block* next;
    };
    static_assert(block_size >= sizeof(Block));
    Block* free_ = nullptr;
    size_t count_ = 0;
};

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
 *
 * Every routed message makes one, so it costs as few allocations as the
 * message path allows: the object comes from a free list (MessagePool), and
 * `head` lives inside it up to `inline_head` bytes, which holds the headers
 * that clients commonly send (sd-bus's method call to a well-known name
 * with SENDER stamped is 150–250 bytes). Only `raw` is allocated per message.
 */
class BusMessage : public boost::intrusive_ref_counter<BusMessage, boost::thread_unsafe_counter> {
public:
    static constexpr size_t inline_head = 256;

    /* From the pool; a class derived from this one (none is) would get
     * the allocator's own blocks. */
    static void* operator new(size_t size);
    static void operator delete(void* p, size_t size);

    MessageBytes raw;
    wire::Header header;
    boost::container::small_vector<uint8_t, inline_head> head;
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
    /* Its fds' census and their charge to the sending user (FdAdmission). */
    std::shared_ptr<InFlightFds> in_flight_fds;

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
        if (!head.empty()) return {head.data(), head.size()};
        return std::span<const uint8_t>(raw).first(header.body_offset);
    }
    std::span<const uint8_t> body() const {
        return std::span<const uint8_t>(raw).subspan(header.body_offset);
    }
    size_t size() const { return header_bytes().size() + body().size(); }
};

namespace detail {
inline constinit thread_local MessagePool<sizeof(BusMessage)> message_pool;
}  // namespace detail

inline void* BusMessage::operator new(size_t size) {
    return size == sizeof(BusMessage) ? detail::message_pool.take() : ::operator new(size);
}
inline void BusMessage::operator delete(void* p, size_t size) {
    if (size == sizeof(BusMessage)) detail::message_pool.give(p);
    else ::operator delete(p);
}

using MessagePtr = boost::intrusive_ptr<BusMessage>;

}  // namespace kdbus::daemon
