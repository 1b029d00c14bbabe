/* D-Bus messages: framing, parsing with full validation, building, forwarding
 * (D-Bus specification, "Message Format") */
#include "wire/message.hpp"

#include <array>
#include <cassert>
#include <bit>
#include <cstring>

#include "wire/syntax.hpp"

namespace kdbus::wire {

namespace {

constexpr uint8_t protocol_version = 1;
constexpr size_t header_fields_offset = 12;  // the a(yv) length

/* Specification, "Message Bus Specification": reserved for the
 * implementation's local use; libdbus and dbus-daemon refuse messages
 * that carry them. */
constexpr std::string_view local_path = "/org/freedesktop/DBus/Local";
constexpr std::string_view local_interface = "org.freedesktop.DBus.Local";

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

/*
 * Writes a message header in either byte order into zeroed bytes (which
 * provide every padding byte); alignment is relative to where the header
 * starts. size() measures it with arithmetic alone, so the buffer grows
 * once, and write_to() stores through a plain pointer in one pass;
 * write_to() asserts that the two agree. Shared by forwarding and
 * MessageBuilder (through the forward header functions) so the two cannot
 * disagree about the layout.
 */
class HeaderEmitter {
public:
    HeaderEmitter(const Header& h, std::string_view sender, uint32_t body_length,
                  std::span<const uint8_t> extra_fields)
        : h_(h), sender_(sender), body_length_(body_length), extra_(extra_fields),
          swap_((h.endian == Endian::little) != (std::endian::native == std::endian::little)) {}

    /* The field layout of write_to(): every field is a (yv) struct that
     * starts 8-aligned, with the type code, a one-byte signature and its
     * NUL in its first 4 bytes, so a string's length needs no padding. */
    size_t size() const {
        size_t n = fixed_header_size;
        auto field = [&n](size_t length) { n = align8(n) + length; };
        auto string_field = [&field](std::string_view v) {
            if (!v.empty()) field(4 + 4 + v.size() + 1);
        };
        string_field(h_.path);
        string_field(h_.interface);
        string_field(h_.member);
        string_field(h_.error_name);
        if (h_.reply_serial) field(4 + 4);
        string_field(h_.destination);
        string_field(sender_);
        if (!h_.signature.empty()) field(4 + 1 + h_.signature.size() + 1);
        if (h_.unix_fds) field(4 + 4);
        if (!extra_.empty()) field(extra_.size());
        return align8(n);  // the body starts 8-aligned
    }

    /* Where write_to() puts REPLY_SERIAL's value (0: nowhere): the field
     * after PATH, INTERFACE, MEMBER and ERROR_NAME. */
    size_t reply_serial_at() const {
        if (!h_.reply_serial) return 0;
        size_t n = fixed_header_size;
        for (std::string_view v : {h_.path, h_.interface, h_.member, h_.error_name})
            if (!v.empty()) n = align8(n) + 4 + 4 + v.size() + 1;
        return align8(n) + 4;
    }

    /* `out` holds `length` == size() zeroed bytes. */
    void write_to(uint8_t* out, [[maybe_unused]] size_t length) {
        p_ = out;
        pos_ = 0;
        put4({static_cast<uint8_t>(h_.endian), static_cast<uint8_t>(h_.type), h_.flags,
              protocol_version});
        u32(body_length_);
        u32(h_.serial);
        u32(0);  // the field array's length, set below
        string_field(HeaderField::path, 'o', h_.path);
        string_field(HeaderField::interface, 's', h_.interface);
        string_field(HeaderField::member, 's', h_.member);
        string_field(HeaderField::error_name, 's', h_.error_name);
        u32_field(HeaderField::reply_serial, h_.reply_serial);
        string_field(HeaderField::destination, 's', h_.destination);
        string_field(HeaderField::sender, 's', sender_);
        if (!h_.signature.empty()) {
            field_start(HeaderField::signature, 'g');
            p_[pos_++] = static_cast<uint8_t>(h_.signature.size());
            bytes(h_.signature);
        }
        u32_field(HeaderField::unix_fds, h_.unix_fds);
        if (!extra_.empty()) {
            pos_ = align8(pos_);
            std::memcpy(p_ + pos_, extra_.data(), extra_.size());
            pos_ += extra_.size();
        }
        size_t fields_end = pos_;
        pos_ = header_fields_offset;
        u32(static_cast<uint32_t>(fields_end - fixed_header_size));
        assert(align8(fields_end) == length);
    }

private:
    void string_field(HeaderField code, char type, std::string_view v) {
        if (v.empty()) return;
        field_start(code, type);
        u32(static_cast<uint32_t>(v.size()));
        bytes(v);
    }
    void u32_field(HeaderField code, uint32_t v) {
        if (v == 0) return;
        field_start(code, 'u');
        u32(v);
    }
    void field_start(HeaderField code, char type) {
        pos_ = align8(pos_);  // each field is a (yv) struct
        put4({static_cast<uint8_t>(code), 1, static_cast<uint8_t>(type), 0});
    }

    void put4(std::array<uint8_t, 4> v) {
        std::memcpy(p_ + pos_, v.data(), 4);
        pos_ += 4;
    }
    void u32(uint32_t v) {  // always at a 4-aligned position here
        if (swap_) v = __builtin_bswap32(v);
        std::memcpy(p_ + pos_, &v, 4);
        pos_ += 4;
    }
    void bytes(std::string_view v) {  // and the NUL, already zero
        std::memcpy(p_ + pos_, v.data(), v.size());
        pos_ += v.size() + 1;
    }

    const Header& h_;
    std::string_view sender_;
    uint32_t body_length_;
    std::span<const uint8_t> extra_;
    bool swap_;
    uint8_t* p_ = nullptr;
    size_t pos_ = 0;
};

/* The type code each defined header field must carry (specification,
 * "Header Fields"). */
char field_type(uint8_t code) {
    switch (static_cast<HeaderField>(code)) {
    case HeaderField::path: return 'o';
    case HeaderField::interface:
    case HeaderField::member:
    case HeaderField::error_name:
    case HeaderField::destination:
    case HeaderField::sender: return 's';
    case HeaderField::reply_serial:
    case HeaderField::unix_fds: return 'u';
    case HeaderField::signature: return 'g';
    }
    return 0;
}

/* Reads one defined header field's value into `out`; nullptr or a reason. */
const char* read_field(Reader& r, uint8_t code, Header& out) {
    std::string_view v;
    switch (static_cast<HeaderField>(code)) {
    case HeaderField::path:
        if (!r.read_object_path(v)) return "invalid PATH header field";
        if (v == local_path) return "PATH /org/freedesktop/DBus/Local is reserved";
        out.path = v;
        return nullptr;
    case HeaderField::interface:
        if (!r.read_name(v) || !is_valid_interface_name(v)) return "invalid INTERFACE header field";
        if (v == local_interface) return "INTERFACE org.freedesktop.DBus.Local is reserved";
        out.interface = v;
        return nullptr;
    case HeaderField::member:
        if (!r.read_name(v) || !is_valid_member_name(v)) return "invalid MEMBER header field";
        out.member = v;
        return nullptr;
    case HeaderField::error_name:
        if (!r.read_name(v) || !is_valid_error_name(v)) return "invalid ERROR_NAME header field";
        out.error_name = v;
        return nullptr;
    case HeaderField::destination:
        if (!r.read_name(v) || !is_valid_bus_name(v)) return "invalid DESTINATION header field";
        out.destination = v;
        return nullptr;
    case HeaderField::sender:
        if (!r.read_name(v) || !is_valid_bus_name(v)) return "invalid SENDER header field";
        out.sender = v;
        return nullptr;
    case HeaderField::signature:
        if (!r.read_signature(v)) return "invalid SIGNATURE header field";
        out.signature = v;
        return nullptr;
    case HeaderField::reply_serial:
        if (!r.read_u32(out.reply_serial)) return "invalid REPLY_SERIAL header field";
        if (out.reply_serial == 0) return "REPLY_SERIAL is 0";
        return nullptr;
    case HeaderField::unix_fds:
        if (!r.read_u32(out.unix_fds)) return "invalid UNIX_FDS header field";
        return nullptr;
    }
    return "unknown header field";
}

const char* check_required_fields(const Header& h) {
    switch (h.type) {
    case MessageType::method_call:
        if (h.path.empty()) return "METHOD_CALL without PATH";
        if (h.member.empty()) return "METHOD_CALL without MEMBER";
        return nullptr;
    case MessageType::method_return:
        if (h.reply_serial == 0) return "METHOD_RETURN without REPLY_SERIAL";
        return nullptr;
    case MessageType::error:
        if (h.error_name.empty()) return "ERROR without ERROR_NAME";
        if (h.reply_serial == 0) return "ERROR without REPLY_SERIAL";
        return nullptr;
    case MessageType::signal:
        if (h.path.empty()) return "SIGNAL without PATH";
        if (h.interface.empty()) return "SIGNAL without INTERFACE";
        if (h.member.empty()) return "SIGNAL without MEMBER";
        return nullptr;
    case MessageType::invalid:
        return "message type 0 is invalid";
    }
    // Specification: messages of unknown type must be ignored, not
    // rejected; they have no required fields.
    return nullptr;
}

}  // namespace

size_t message_length(std::span<const uint8_t, fixed_header_size> head, size_t max_size,
                      const char** error) {
    auto fail = [error](const char* why) {
        if (error) *error = why;
        return size_t{0};
    };
    if (head[0] != 'l' && head[0] != 'B') return fail("invalid endianness marker");
    if (head[1] == 0) return fail("message type 0 is invalid");
    if (head[3] != protocol_version) return fail("unsupported protocol version");
    auto endian = static_cast<Endian>(head[0]);
    uint64_t body_length = load_u32(head.data() + 4, endian);
    uint64_t fields_length = load_u32(head.data() + header_fields_offset, endian);
    if (fields_length > max_array_size) return fail("header field array longer than 64 MiB");
    uint64_t total = fixed_header_size + align8(fields_length) + body_length;
    if (max_size > max_message_size) max_size = max_message_size;
    if (total > max_size) return fail("message too large");
    return static_cast<size_t>(total);
}

const char* parse_fixed_header(std::span<const uint8_t> bytes, Header& out) {
    out = Header{};
    if (bytes.size() < fixed_header_size) return "message shorter than its fixed header";
    const char* error = "invalid fixed header";
    size_t length = message_length(bytes.first<fixed_header_size>(), max_message_size, &error);
    if (length == 0) return error;
    if (length != bytes.size()) return "message length does not match its header";

    out.endian = static_cast<Endian>(bytes[0]);
    out.type = static_cast<MessageType>(bytes[1]);
    out.flags = bytes[2];
    out.body_length = load_u32(bytes.data() + 4, out.endian);
    out.serial = load_u32(bytes.data() + 8, out.endian);
    if (out.serial == 0) return "serial is 0";
    uint32_t fields_length = load_u32(bytes.data() + header_fields_offset, out.endian);
    out.body_offset = fixed_header_size + align8(fields_length);
    return nullptr;
}

const char* check_body(std::span<const uint8_t> bytes, const Header& h) {
    if (h.signature.empty() && h.body_length != 0) return "body without SIGNATURE";
    if (!body_matches_signature(bytes, h)) return "body does not match SIGNATURE";
    return nullptr;
}

const char* parse_message(std::span<const uint8_t> bytes, Header& out) {
    HeaderLayout layout;
    return parse_message(bytes, out, layout);
}

const char* parse_message(std::span<const uint8_t> bytes, Header& out, HeaderLayout& layout) {
    layout = HeaderLayout{};
    if (const char* why = parse_fixed_header(bytes, out)) return why;
    uint32_t fields_length = load_u32(bytes.data() + header_fields_offset, out.endian);

    // The header fields: a(yv), alignment counted from the message start.
    Reader r(bytes.subspan(header_fields_offset, 4 + fields_length), out.endian,
             header_fields_offset);
    size_t end;
    if (!r.begin_array(8, end)) return "malformed header field array";
    unsigned seen = 0;  // bit n: defined field n present
    while (r.offset() < end) {
        uint8_t code;
        std::string_view type;
        if (!r.begin_struct() || !r.read_byte(code) || !r.read_signature(type))
            return "malformed header field";
        if (code == 0) return "header field 0 is invalid";
        char expected = field_type(code);
        if (expected == 0) {
            // Unknown fields (kdbusd's own 128 included) are ignored but
            // must be well-formed variants; the value sits in a(yv).
            if (!r.skip_value(type, 3)) return "malformed unknown header field";
            layout.unknown_fields = true;
            continue;
        }
        if (seen & (1u << code)) return "header field appears twice";
        seen |= 1u << code;
        if (type.size() != 1 || type[0] != expected) return "header field has the wrong type";
        if (const char* why = read_field(r, code, out)) return why;
        if (code == static_cast<uint8_t>(HeaderField::reply_serial))
            layout.reply_serial_at = static_cast<uint32_t>(header_fields_offset + r.offset() - 4);
    }
    // Specification: the header is padded to 8 with zero bytes.
    for (size_t i = fixed_header_size + fields_length; i < out.body_offset; ++i)
        if (bytes[i] != 0) return "header padding is not zero";

    if (const char* why = check_required_fields(out)) return why;
    return check_body(bytes, out);
}

bool body_matches_signature(std::span<const uint8_t> bytes, const Header& h) {
    if (h.signature.empty()) return bytes.size() == h.body_offset;
    // The body starts 8-aligned, so it is its own alignment base.
    Reader body(bytes.subspan(h.body_offset), h.endian, 0);
    return body.skip_all(h.signature);
}

size_t forward_header_size(const Header& h, std::string_view sender, std::span<const uint8_t> extra_fields) {
    return HeaderEmitter(h, sender, h.body_length, extra_fields).size();
}

void write_forward_header(const Header& h, std::string_view sender, std::span<const uint8_t> extra_fields,
                          std::span<uint8_t> out) {
    assert(out.size() == forward_header_size(h, sender, extra_fields));
    HeaderEmitter(h, sender, h.body_length, extra_fields).write_to(out.data(), out.size());
}

size_t forward_reply_serial_at(const Header& h, std::string_view sender) {
    return HeaderEmitter(h, sender, h.body_length, {}).reply_serial_at();
}

void patch_forward_header(std::span<uint8_t> head, const Header& h, size_t reply_serial_at) {
    head[2] = h.flags;
    store_u32(head.data() + 4, h.body_length, h.endian);
    store_u32(head.data() + 8, h.serial, h.endian);
    if (reply_serial_at) store_u32(head.data() + reply_serial_at, h.reply_serial, h.endian);
}

/* ---- MessageBuilder ---- */

MessageBuilder::MessageBuilder(MessageType type) : type_(type) {}

MessageBuilder& MessageBuilder::flags(uint8_t f) { flags_ = f; return *this; }
MessageBuilder& MessageBuilder::path(Borrowed v) { path_ = v; return *this; }
MessageBuilder& MessageBuilder::interface(Borrowed v) { interface_ = v; return *this; }
MessageBuilder& MessageBuilder::member(Borrowed v) { member_ = v; return *this; }
MessageBuilder& MessageBuilder::error_name(Borrowed v) { error_name_ = v; return *this; }
MessageBuilder& MessageBuilder::destination(Borrowed v) { destination_ = v; return *this; }
MessageBuilder& MessageBuilder::sender(Borrowed v) { sender_ = v; return *this; }
MessageBuilder& MessageBuilder::reply_serial(uint32_t v) { reply_serial_ = v; return *this; }
MessageBuilder& MessageBuilder::unix_fds(uint32_t v) { unix_fds_ = v; return *this; }

Writer& MessageBuilder::body(Borrowed signature) {
    signature_ = signature;
    // Room for the usual body of a bus message (a name or two, an error
    // text) at once, rather than growing from 4 bytes a value at a time.
    if (body_.bytes().capacity() == 0) body_.bytes().reserve(128);
    return body_;
}

Header MessageBuilder::header(uint32_t serial) const {
    Header h;
    h.endian = Endian::little;
    h.type = type_;
    h.flags = flags_;
    h.serial = serial;
    h.path = path_;
    h.interface = interface_;
    h.member = member_;
    h.error_name = error_name_;
    h.destination = destination_;
    h.signature = signature_;
    h.reply_serial = reply_serial_;
    h.unix_fds = unix_fds_;
    h.body_length = static_cast<uint32_t>(body_.size());
    return h;
}

std::vector<uint8_t> MessageBuilder::finish(uint32_t serial) const {
    std::vector<uint8_t> out;
    finish_into(serial, out);
    return out;
}

/* ---- messages kdbusd built ---- */

bool read_built_header(std::span<const uint8_t> bytes, Header& out) {
    out = Header{};
    if (bytes.size() < fixed_header_size) return false;
    out.endian = static_cast<Endian>(bytes[0]);
    if (out.endian != Endian::little && out.endian != Endian::big) return false;
    out.type = static_cast<MessageType>(bytes[1]);
    out.flags = bytes[2];
    out.body_length = load_u32(bytes.data() + 4, out.endian);
    out.serial = load_u32(bytes.data() + 8, out.endian);
    size_t fields_end = fixed_header_size + load_u32(bytes.data() + header_fields_offset, out.endian);
    out.body_offset = align8(fields_end);
    if (out.body_offset > bytes.size() || bytes.size() - out.body_offset != out.body_length) return false;

    // Each field is a (yv) struct at an 8-aligned offset: its code, the
    // variant's one-letter signature (length 1, type, NUL), then the value.
    const uint8_t* p = bytes.data();
    size_t pos = fixed_header_size;
    while (pos < fields_end) {
        uint8_t code = p[pos];
        char type = field_type(code);
        if (type == 0 || fields_end - pos < 5 || p[pos + 1] != 1 || p[pos + 2] != type) return false;
        uint32_t value = 0;
        std::string_view text;
        if (type == 'u') {
            if (fields_end - pos < 8) return false;
            value = load_u32(p + pos + 4, out.endian);
            pos += 8;
        } else {
            // s and o: a u32 length at +4; g: a byte length at +4. Then
            // the characters and a NUL.
            size_t start = pos + (type == 'g' ? 5 : 8);
            if (start > fields_end) return false;
            size_t length = type == 'g' ? p[pos + 4] : load_u32(p + pos + 4, out.endian);
            if (fields_end - start < length + 1) return false;
            text = std::string_view(reinterpret_cast<const char*>(p + start), length);
            pos = start + length + 1;
        }
        switch (static_cast<HeaderField>(code)) {
        case HeaderField::path: out.path = text; break;
        case HeaderField::interface: out.interface = text; break;
        case HeaderField::member: out.member = text; break;
        case HeaderField::error_name: out.error_name = text; break;
        case HeaderField::destination: out.destination = text; break;
        case HeaderField::sender: out.sender = text; break;
        case HeaderField::signature: out.signature = text; break;
        case HeaderField::reply_serial: out.reply_serial = value; break;
        case HeaderField::unix_fds: out.unix_fds = value; break;
        }
        pos = align8(pos);
    }
    return true;
}

}  // namespace kdbus::wire
