/* D-Bus messages: framing, parsing with full validation, building, forwarding */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/marshal.hpp"

namespace kdbus::wire {

enum class MessageType : uint8_t {
    invalid = 0,
    method_call = 1,
    method_return = 2,
    error = 3,
    signal = 4,
};

/* Header flag bits (D-Bus specification, "Message Format"). */
namespace flag {
inline constexpr uint8_t no_reply_expected = 0x1;
inline constexpr uint8_t no_auto_start = 0x2;
inline constexpr uint8_t allow_interactive_authorization = 0x4;
}  // namespace flag

enum class HeaderField : uint8_t {
    path = 1,
    interface = 2,
    member = 3,
    error_name = 4,
    reply_serial = 5,
    destination = 6,
    sender = 7,
    signature = 8,
    unix_fds = 9,
};

/* kdbusd's metadata header field (DESIGN.md, "Fixed interfaces"). */
inline constexpr uint8_t metadata_field_code = 128;

inline constexpr size_t fixed_header_size = 16;
/* D-Bus specification: the maximum message size is 128 MiB. */
inline constexpr size_t max_message_size = 128u * 1024 * 1024;
inline constexpr size_t max_array_size = 64u * 1024 * 1024;

/*
 * Framing. Given the first 16 bytes of a message, the length of the whole
 * message (header, header padding and body). Returns 0 and sets *error when
 * the fixed part is invalid (bad endianness, version, lengths, or larger
 * than max_size).
 */
size_t message_length(std::span<const uint8_t, fixed_header_size> head, size_t max_size,
                      const char** error);

/*
 * The parsed header of a message. String views point into the bytes the
 * message was parsed from; an absent field is an empty view (every defined
 * string field is non-empty when present, so empty means absent).
 */
struct Header {
    Endian endian = Endian::little;
    MessageType type = MessageType::invalid;
    uint8_t flags = 0;
    uint32_t body_length = 0;
    uint32_t serial = 0;

    std::string_view path;
    std::string_view interface;
    std::string_view member;
    std::string_view error_name;
    std::string_view destination;
    std::string_view sender;
    std::string_view signature;  // empty: no body
    uint32_t reply_serial = 0;   // 0: absent (0 is never a valid serial)
    uint32_t unix_fds = 0;

    /* Offset of the body: the header length rounded up to 8. */
    size_t body_offset = 0;

    bool expects_reply() const {
        return type == MessageType::method_call && !(flags & flag::no_reply_expected);
    }
};

/*
 * Parses and fully validates one complete message (exactly
 * message_length() bytes): fixed header, header fields (types, syntax of
 * every name and path, required fields per message type, unknown fields are
 * skipped but must be well-formed), and the body against SIGNATURE.
 * Returns nullptr on success, else a static reason string. Header fields
 * this specification does not define (including field 128) are accepted
 * and ignored here; forwarding drops them.
 */
const char* parse_message(std::span<const uint8_t> bytes, Header& out);

/* What parse_message() saw that a Header does not say, for HeaderCache:
 * where REPLY_SERIAL's value is (offset in the message, 0: absent), and
 * whether fields this specification does not define were skipped. */
struct HeaderLayout {
    uint32_t reply_serial_at = 0;
    bool unknown_fields = false;
};
const char* parse_message(std::span<const uint8_t> bytes, Header& out, HeaderLayout& layout);

/* The first and last steps of parse_message(), which HeaderCache runs
 * alone for a message whose header fields it has validated before:
 * parse_fixed_header() frames the message and fills the fixed part of
 * `out` (everything but the fields, body_offset included); check_body()
 * checks that the body agrees with SIGNATURE and BODY_LENGTH. */
const char* parse_fixed_header(std::span<const uint8_t> bytes, Header& out);
const char* check_body(std::span<const uint8_t> bytes, const Header& h);
/* Whether the body of `bytes` (from h.body_offset) holds exactly values of
 * h.signature, none when it is empty; strings UTF-8, paths valid, padding
 * zero. parse_message() checks it; the bus checks it for what it builds. */
bool body_matches_signature(std::span<const uint8_t> bytes, const Header& h);

/*
 * The header as the bus forwards it: the fixed part and only the header
 * fields the specification defines, with SENDER set to `sender` (replacing
 * any the client supplied), in the message's own byte order, padded to 8
 * so the original body can follow it unchanged. `extra_fields` (may be
 * empty) are appended to the header field array: whole (yv) structs in
 * h.endian, marshalled from an 8-aligned offset (e.g. with
 * Writer(h.endian)), such as kdbusd's metadata field for this receiver.
 *
 * forward_header_size() is its length; write_forward_header() writes it to
 * `out`, which must hold exactly that many zeroed bytes (padding is not
 * written).
 */
size_t forward_header_size(const Header& h, std::string_view sender, std::span<const uint8_t> extra_fields = {});
void write_forward_header(const Header& h, std::string_view sender, std::span<const uint8_t> extra_fields,
                          std::span<uint8_t> out);

/*
 * For a forward header made from another: the offset of REPLY_SERIAL's
 * value in the forward header of `h` (0: it has none), and the rewrite of
 * what differs between messages whose header fields are otherwise the
 * same (flags, body length, serial, REPLY_SERIAL) in a copy of such a
 * header.
 */
size_t forward_reply_serial_at(const Header& h, std::string_view sender);
void patch_forward_header(std::span<uint8_t> head, const Header& h, size_t reply_serial_at);

/*
 * Appends the forward header to `out`: a std::vector<uint8_t>, or any byte
 * buffer whose resize() zero-fills (the bus keeps it inline in its message,
 * daemon/bus_message.hpp, to spare an allocation per message).
 */
template <class Bytes>
void build_forward_header(const Header& h, std::string_view sender, std::span<const uint8_t> extra_fields,
                          Bytes& out) {
    size_t base = out.size();
    size_t length = forward_header_size(h, sender, extra_fields);
    out.resize(base + length);
    write_forward_header(h, sender, extra_fields, std::span<uint8_t>(out.data() + base, length));
}
template <class Bytes>
void build_forward_header(const Header& h, std::string_view sender, Bytes& out) {
    build_forward_header(h, sender, {}, out);
}

/*
 * Builds messages that originate in the bus itself (driver replies, errors
 * and signals) and messages in tests. Always little-endian.
 *
 *   MessageBuilder b(MessageType::method_return);
 *   b.reply_serial(call.serial).destination(":1.5").sender("org.freedesktop.DBus");
 *   b.body("s").put_string("hello");
 *   std::vector<uint8_t> bytes = b.finish(serial);
 *
 * The builder keeps views of the strings it is given, not copies (the
 * driver's names are longer than std::string's inline buffer, so copies
 * cost an allocation each, several per message): they must outlive
 * finish(). Literals, names the bus holds and the caller's own strings do;
 * a temporary std::string does not, and passing one does not compile.
 */
class MessageBuilder {
public:
    /* A string the builder may keep a view of: anything that converts to
     * std::string_view, except a temporary std::string. */
    class Borrowed {
    public:
        Borrowed(const char* s) : v_(s) {}
        Borrowed(std::string_view s) : v_(s) {}
        Borrowed(const std::string& s) : v_(s) {}
        Borrowed(std::string&&) = delete;  // would dangle before finish()
        operator std::string_view() const { return v_; }

    private:
        std::string_view v_;
    };

    explicit MessageBuilder(MessageType type);

    MessageBuilder& flags(uint8_t f);
    MessageBuilder& path(Borrowed v);
    MessageBuilder& interface(Borrowed v);
    MessageBuilder& member(Borrowed v);
    MessageBuilder& error_name(Borrowed v);
    MessageBuilder& destination(Borrowed v);
    MessageBuilder& sender(Borrowed v);
    MessageBuilder& reply_serial(uint32_t v);
    MessageBuilder& unix_fds(uint32_t v);

    /* Sets the body signature and returns the body writer. */
    Writer& body(Borrowed signature);

    /* The complete message. */
    std::vector<uint8_t> finish(uint32_t serial) const;
    /* The same, written to `out` (replacing what it held): a
     * std::vector<uint8_t> or any byte buffer with resize() and data(), so
     * the bus builds its own messages straight into their BusMessage. */
    template <class Bytes>
    void finish_into(uint32_t serial, Bytes& out) const;

private:
    /* The header of the finished message, without SENDER (that is
     * sender_, passed beside it as to the forwarding functions). */
    Header header(uint32_t serial) const;

    MessageType type_;
    uint8_t flags_ = 0;
    std::string_view path_, interface_, member_, error_name_, destination_, sender_, signature_;
    uint32_t reply_serial_ = 0;
    uint32_t unix_fds_ = 0;
    Writer body_;
};

template <class Bytes>
void MessageBuilder::finish_into(uint32_t serial, Bytes& out) const {
    Header h = header(serial);
    size_t header_length = forward_header_size(h, sender_);
    out.resize(header_length + body_.size());
    std::memset(out.data(), 0, header_length);  // the padding write_forward_header() leaves
    write_forward_header(h, sender_, {}, std::span<uint8_t>(out.data(), header_length));
    if (body_.size() != 0) std::memcpy(out.data() + header_length, body_.bytes().data(), body_.size());
}

/*
 * The Header of a message kdbusd built itself (MessageBuilder::finish), as
 * parse_message() fills it, but without validating the header fields: the
 * bus's own names and paths are valid by construction, and validating them
 * cost about 2,000 instructions a message, two messages per connect. Only
 * the framing is checked (every field lies within the header, the lengths
 * add up to the size of `bytes`), so a bug cannot make it read out of
 * bounds; it returns false when that does not hold, or when it finds a
 * field MessageBuilder does not write. The body is not looked at: its
 * strings may come from outside, so the bus checks it with
 * body_matches_signature(). Never for bytes from a peer.
 */
bool read_built_header(std::span<const uint8_t> bytes, Header& out);

}  // namespace kdbus::wire
