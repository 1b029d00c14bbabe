/* Validation of a writer's header fields once, not per message */
#include "wire/header_cache.hpp"

#include <cstring>

namespace kdbus::wire {

namespace {

constexpr size_t fields_start = 12;  // the a(yv) length, then the fields

}  // namespace

const char* HeaderCache::parse(std::span<const uint8_t> bytes, Header& out) {
    current_ = nullptr;
    // Shorter than the remembered header: not the same, and bytes[0] and
    // bytes[1] may not exist.
    if (fields_.empty() || bytes.size() < fields_start + fields_.size() ||
        bytes[0] != static_cast<uint8_t>(endian_) || bytes[1] != static_cast<uint8_t>(type_))
        return parse_in_full(bytes, out);
    if (const char* why = parse_fixed_header(bytes, out)) return why;
    if (!same_fields(bytes, out)) return parse_in_full(bytes, out);
    out.path = view(bytes, path_);
    out.interface = view(bytes, interface_);
    out.member = view(bytes, member_);
    out.error_name = view(bytes, error_name_);
    out.destination = view(bytes, destination_);
    out.sender = view(bytes, sender_);
    out.signature = view(bytes, signature_);
    out.unix_fds = unix_fds_;
    if (reply_serial_at_) {
        out.reply_serial = load_u32(bytes.data() + reply_serial_at_, endian_);
        if (out.reply_serial == 0) return "REPLY_SERIAL is 0";
    }
    if (const char* why = check_body(bytes, out)) return why;
    current_ = bytes.data();
    return nullptr;
}

const char* HeaderCache::parse_in_full(std::span<const uint8_t> bytes, Header& out) {
    HeaderLayout layout;
    const char* why = parse_message(bytes, out, layout);
    if (!why) remember(bytes, out, layout);
    return why;
}

/* `fixed` is the message's fixed header, already parsed: the message is
 * at least as long as its header. */
bool HeaderCache::same_fields(std::span<const uint8_t> bytes, const Header& fixed) const {
    if (fixed.body_offset != fields_start + fields_.size()) return false;
    const uint8_t* p = bytes.data() + fields_start;
    if (!reply_serial_at_) return std::memcmp(p, fields_.data(), fields_.size()) == 0;
    size_t hole = reply_serial_at_ - fields_start;
    return std::memcmp(p, fields_.data(), hole) == 0 &&
           std::memcmp(p + hole + 4, fields_.data() + hole + 4, fields_.size() - hole - 4) == 0;
}

void HeaderCache::remember(std::span<const uint8_t> bytes, const Header& h, const HeaderLayout& layout) {
    forward_.clear();  // made for other fields
    size_t length = h.body_offset - fields_start;
    if (layout.unknown_fields || length > max_remembered) {
        fields_.clear();
        return;
    }
    fields_.assign(bytes.begin() + fields_start, bytes.begin() + static_cast<std::ptrdiff_t>(h.body_offset));
    current_ = bytes.data();
    endian_ = h.endian;
    type_ = h.type;
    auto field = [&bytes](std::string_view v) {
        return v.empty() ? Field{} : Field{static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(v.data()) - bytes.data()),
                                           static_cast<uint32_t>(v.size())};
    };
    path_ = field(h.path);
    interface_ = field(h.interface);
    member_ = field(h.member);
    error_name_ = field(h.error_name);
    destination_ = field(h.destination);
    sender_ = field(h.sender);
    signature_ = field(h.signature);
    reply_serial_at_ = layout.reply_serial_at;
    unix_fds_ = h.unix_fds;
}

std::string_view HeaderCache::view(std::span<const uint8_t> bytes, Field f) {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()) + f.offset, f.length);
}

}  // namespace kdbus::wire
