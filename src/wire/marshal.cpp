/* D-Bus marshalling: aligned values in either byte order (D-Bus
 * specification, "Marshaling (Wire Format)") */
#include "wire/marshal.hpp"

#include <bit>
#include <cstring>

#include "wire/syntax.hpp"

namespace kdbus::wire {

namespace {

/* Specification: arrays are at most 64 MiB (2^26 bytes). */
constexpr uint32_t max_array_length = 64u * 1024 * 1024;
/* Specification: containers nest at most 32 arrays and 32 structs deep, and
 * variants may not be used to nest deeper than that in total (libdbus:
 * DBUS_MAXIMUM_TYPE_RECURSION_DEPTH * 2). */
constexpr unsigned max_value_depth = 64;

constexpr bool native_little = std::endian::native == std::endian::little;

inline bool needs_swap(Endian e) {
    return (e == Endian::little) != native_little;
}

template <typename T>
T load(const uint8_t* p, Endian e) {
    T v;
    std::memcpy(&v, p, sizeof v);
    if (needs_swap(e)) {
        if constexpr (sizeof(T) == 2) v = static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
        if constexpr (sizeof(T) == 4) v = static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
        if constexpr (sizeof(T) == 8) v = static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
    }
    return v;
}

/* The size of a fixed type equals its alignment. */
inline size_t fixed_size(char c) { return type_alignment(c); }

}  // namespace

/* ---- Writer ---- */

template <typename T>
void Writer::store(T v) {
    if (swap_) {
        if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
        if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
        if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
    }
    size_t at = buf_.size();
    buf_.resize(at + sizeof v);
    std::memcpy(buf_.data() + at, &v, sizeof v);
}

void Writer::align(size_t alignment) {
    size_t padded = (buf_.size() + alignment - 1) & ~(alignment - 1);
    buf_.resize(padded, 0);
}

void Writer::put_byte(uint8_t v) { buf_.push_back(v); }
void Writer::put_bool(bool v) { put_u32(v ? 1 : 0); }
void Writer::put_i16(int16_t v) { put_u16(static_cast<uint16_t>(v)); }
void Writer::put_u16(uint16_t v) { align(2); store(v); }
void Writer::put_i32(int32_t v) { put_u32(static_cast<uint32_t>(v)); }
void Writer::put_u32(uint32_t v) { align(4); store(v); }
void Writer::put_i64(int64_t v) { put_u64(static_cast<uint64_t>(v)); }
void Writer::put_u64(uint64_t v) { align(8); store(v); }
void Writer::put_double(double v) { put_u64(std::bit_cast<uint64_t>(v)); }
void Writer::put_unix_fd(uint32_t index) { put_u32(index); }

void Writer::put_string(std::string_view v) {
    put_u32(static_cast<uint32_t>(v.size()));
    // One resize for the characters and the NUL (which it zero-fills):
    // an insert and a push_back could each grow the vector.
    size_t at = buf_.size();
    buf_.resize(at + v.size() + 1);
    if (!v.empty()) std::memcpy(buf_.data() + at, v.data(), v.size());
}

void Writer::put_object_path(std::string_view v) { put_string(v); }

void Writer::put_signature(std::string_view v) {
    buf_.push_back(static_cast<uint8_t>(v.size()));
    buf_.insert(buf_.end(), v.begin(), v.end());
    buf_.push_back(0);
}

Writer::ArrayToken Writer::begin_array(size_t element_alignment) {
    put_u32(0);
    size_t length_offset = buf_.size() - 4;
    align(element_alignment);  // present even when the array is empty
    return {length_offset, buf_.size()};
}

void Writer::end_array(ArrayToken token) {
    auto length = static_cast<uint32_t>(buf_.size() - token.data_offset);
    if (swap_) length = __builtin_bswap32(length);
    std::memcpy(buf_.data() + token.length_offset, &length, 4);
}

void Writer::put_raw(std::span<const uint8_t> bytes) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

/* ---- Reader ---- */

bool Reader::align_slow(size_t pad) {
    if (!need(pad)) return false;
    // Specification: alignment padding must be zero.
    for (size_t i = 0; i < pad; ++i)
        if (data_[pos_ + i] != 0) return fail();
    pos_ += pad;
    return true;
}

bool Reader::read_bool(bool& v) {
    uint32_t raw;
    if (!read_u32(raw)) return false;
    if (raw > 1) return fail();  // Specification: only 0 and 1 are valid
    v = raw != 0;
    return true;
}

bool Reader::read_u16(uint16_t& v) {
    if (!align(2) || !need(2)) return false;
    v = load<uint16_t>(data_.data() + pos_, endian_);
    pos_ += 2;
    return true;
}

bool Reader::read_u32(uint32_t& v) {
    if (!align(4) || !need(4)) return false;
    v = load<uint32_t>(data_.data() + pos_, endian_);
    pos_ += 4;
    return true;
}

bool Reader::read_u64(uint64_t& v) {
    if (!align(8) || !need(8)) return false;
    v = load<uint64_t>(data_.data() + pos_, endian_);
    pos_ += 8;
    return true;
}

bool Reader::read_i16(int16_t& v) {
    uint16_t u;
    if (!read_u16(u)) return false;
    v = static_cast<int16_t>(u);
    return true;
}

bool Reader::read_i32(int32_t& v) {
    uint32_t u;
    if (!read_u32(u)) return false;
    v = static_cast<int32_t>(u);
    return true;
}

bool Reader::read_i64(int64_t& v) {
    uint64_t u;
    if (!read_u64(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
}

bool Reader::read_double(double& v) {
    uint64_t u;
    if (!read_u64(u)) return false;
    v = std::bit_cast<double>(u);
    return true;
}

bool Reader::read_raw_string(size_t length, std::string_view& v) {
    // `length` bytes and a NUL terminator.
    if (length >= data_.size() || !need(length + 1)) return fail();
    const auto* p = data_.data() + pos_;
    if (p[length] != 0) return fail();
    v = std::string_view(reinterpret_cast<const char*>(p), length);
    pos_ += length + 1;
    return true;
}

bool Reader::read_string(std::string_view& v) {
    uint32_t length;
    if (!read_u32(length) || !read_raw_string(length, v)) return false;
    // Specification: valid UTF-8 and no NUL before the terminator.
    if (std::memchr(v.data(), 0, v.size()) != nullptr || !is_valid_utf8(v)) return fail();
    return true;
}

bool Reader::read_name(std::string_view& v) {
    uint32_t length;
    return read_u32(length) && read_raw_string(length, v);
}

bool Reader::read_object_path(std::string_view& v) {
    uint32_t length;
    if (!read_u32(length) || !read_raw_string(length, v)) return false;
    if (!is_valid_object_path(v)) return fail();
    return true;
}

bool Reader::read_signature(std::string_view& v) {
    uint8_t length;
    if (!read_byte(length) || !read_raw_string(length, v)) return false;
    if (!is_valid_signature(v)) return fail();
    return true;
}

bool Reader::begin_array(size_t element_alignment, size_t& end) {
    uint32_t length;
    if (!read_u32(length)) return false;
    if (length > max_array_length) return fail();
    // The padding to the first element is not counted in the length and is
    // present even for an empty array.
    if (!align(element_alignment) || !need(length)) return false;
    end = pos_ + length;
    return true;
}

bool Reader::skip_value(std::string_view single_complete_type) {
    return skip_value(single_complete_type, 0);
}

bool Reader::skip_value(std::string_view single_complete_type, unsigned enclosing_depth) {
    if (failed_) return false;
    if (!is_valid_single_type(single_complete_type)) return fail();
    return skip_one(single_complete_type, enclosing_depth);
}

bool Reader::skip_all(std::string_view signature) {
    if (failed_) return false;
    if (!is_valid_signature(signature)) return fail();
    while (!signature.empty())
        if (!skip_one(signature, 0)) return false;
    if (!at_end()) return fail();
    return true;
}

/*
 * Validates one value of the (already validated) type at the front of
 * `sig` and removes that type from `sig`. `depth` is the number of
 * containers, variants included, enclosing the value.
 */
bool Reader::skip_one(std::string_view& sig, unsigned depth) {
    char c = sig[0];
    switch (c) {
    case 'y':
        sig.remove_prefix(1);
        if (!need(1)) return false;
        ++pos_;
        return true;
    case 'b': {
        sig.remove_prefix(1);
        bool v;
        return read_bool(v);
    }
    case 'n': case 'q': case 'i': case 'u': case 'h': case 'x': case 't': case 'd': {
        sig.remove_prefix(1);
        size_t n = fixed_size(c);
        if (!align(n) || !need(n)) return false;
        pos_ += n;
        return true;
    }
    case 's': case 'o': case 'g': {
        sig.remove_prefix(1);
        std::string_view v;
        return c == 's' ? read_string(v) : c == 'o' ? read_object_path(v) : read_signature(v);
    }
    case 'v': {
        sig.remove_prefix(1);
        if (depth + 1 > max_value_depth) return fail();
        std::string_view inner;
        if (!read_signature(inner)) return false;
        if (!is_valid_single_type(inner)) return fail();  // exactly one type, not empty
        return skip_one(inner, depth + 1);
    }
    case 'a': {
        if (depth + 1 > max_value_depth) return fail();
        std::string_view rest = sig.substr(1);
        std::string_view element = rest.substr(0, single_type_length(rest));
        sig.remove_prefix(1 + element.size());
        char e = element[0];
        size_t end;
        if (!begin_array(type_alignment(e), end)) return false;
        if (is_fixed_type(e) && e != 'b') {
            // Specification: an array holds whole elements; nothing in
            // these types needs checking beyond that.
            if ((end - pos_) % fixed_size(e) != 0) return fail();
            pos_ = end;
            return true;
        }
        while (pos_ < end) {
            std::string_view one = element;
            if (!skip_one(one, depth + 1)) return false;
        }
        if (pos_ != end) return fail();  // the last element overran the length
        return true;
    }
    case '(': case '{': {
        if (depth + 1 > max_value_depth) return fail();
        size_t length = single_type_length(sig);
        std::string_view members = sig.substr(1, length - 2);
        sig.remove_prefix(length);
        if (!align(8)) return false;
        while (!members.empty())
            if (!skip_one(members, depth + 1)) return false;
        return true;
    }
    default:
        return fail();
    }
}

}  // namespace kdbus::wire
