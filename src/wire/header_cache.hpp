/* Validation of a writer's header fields once, not per message */
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/message.hpp"

namespace kdbus::wire {

/*
 * parse_message() for the messages of one writer, remembering the header
 * fields of the last message it validated in full. Clients repeat their
 * headers: a proxy calls the same destination, path, interface and member
 * with the same signature again and again, and a service's replies differ
 * only in REPLY_SERIAL. When a message's fields are, byte for byte, those
 * it remembers (REPLY_SERIAL's value apart), in the same byte order and
 * for the same message type, their validation would decide the same, so
 * it is skipped: the fixed header and the body are still checked in full,
 * and REPLY_SERIAL is still read and checked. Cuts the instructions the
 * bus spends per routed message on parsing by two thirds
 * (docs/performance.md, "What changed" 17).
 *
 * The result is exactly parse_message()'s, the error text included; only
 * headers of fields the specification defines, of at most
 * max_remembered bytes, are remembered.
 */
class HeaderCache {
public:
    static constexpr size_t max_remembered = 512;

    const char* parse(std::span<const uint8_t> bytes, Header& out);

    /*
     * build_forward_header(h, sender, out) for the message `bytes` that
     * parse() accepted last, `h` its header. When parse() recognised its
     * fields and the last forward header was made for the same sender, it
     * is that header copied, with the fixed part and REPLY_SERIAL
     * rewritten, instead of one written field by field.
     */
    template <class Bytes>
    void forward_header(std::span<const uint8_t> bytes, const Header& h, std::string_view sender, Bytes& out);

private:
    /* A string field of the remembered header: where it is in the
     * message, and its length. */
    struct Field {
        uint32_t offset = 0;
        uint32_t length = 0;
    };

    const char* parse_in_full(std::span<const uint8_t> bytes, Header& out);
    bool same_fields(std::span<const uint8_t> bytes, const Header& fixed) const;
    void remember(std::span<const uint8_t> bytes, const Header& h, const HeaderLayout& layout);
    static std::string_view view(std::span<const uint8_t> bytes, Field f);

    /* The message's bytes from the field array's length to the body,
     * padding included; empty: nothing remembered. */
    std::vector<uint8_t> fields_;
    Endian endian_ = Endian::little;
    MessageType type_ = MessageType::invalid;
    Field path_, interface_, member_, error_name_, destination_, sender_, signature_;
    uint32_t reply_serial_at_ = 0;
    uint32_t unix_fds_ = 0;

    /* The message parse() accepted last, if its fields are the remembered
     * ones (its bytes; null otherwise), for forward_header(). */
    const uint8_t* current_ = nullptr;
    /* The forward header of the remembered fields for sender
     * forward_sender_; empty: none yet. */
    std::vector<uint8_t> forward_;
    std::string forward_sender_;
    size_t forward_reply_serial_at_ = 0;
};

template <class Bytes>
void HeaderCache::forward_header(std::span<const uint8_t> bytes, const Header& h, std::string_view sender,
                                 Bytes& out) {
    if (current_ != bytes.data()) {
        build_forward_header(h, sender, out);
        return;
    }
    if (!forward_.empty() && sender == forward_sender_) {
        out.assign(forward_.data(), forward_.data() + forward_.size());
        patch_forward_header(std::span<uint8_t>(out.data(), out.size()), h, forward_reply_serial_at_);
        return;
    }
    build_forward_header(h, sender, out);
    forward_.assign(out.data(), out.data() + out.size());
    forward_sender_ = sender;
    forward_reply_serial_at_ = forward_reply_serial_at(h, sender);
}

}  // namespace kdbus::wire
