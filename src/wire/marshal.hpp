/* D-Bus marshalling: aligned values in either byte order */
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace kdbus::wire {

enum class Endian : uint8_t { little = 'l', big = 'B' };

/* A u32 at `p` in byte order `e`, read or written in place: for code that
 * reads or patches a message at offsets it knows (the fixed header, a
 * remembered REPLY_SERIAL). */
inline uint32_t load_u32(const uint8_t* p, Endian e) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return (e == Endian::little) == (std::endian::native == std::endian::little) ? v : __builtin_bswap32(v);
}
inline void store_u32(uint8_t* p, uint32_t v, Endian e) {
    if ((e == Endian::little) != (std::endian::native == std::endian::little)) v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}

/*
 * Appends values to a byte vector in little-endian order (or the given
 * one), aligning each to its natural boundary relative to the start of the
 * vector (which must be the start of the message, or of something 8-aligned
 * within it).
 */
class Writer {
public:
    Writer() = default;
    /* For values that go into a message of the other byte order, e.g. a
     * header field added to a forwarded big-endian message. */
    explicit Writer(Endian endian) : swap_(endian != native_endian()) {}

    void align(size_t alignment);
    void put_byte(uint8_t v);
    void put_bool(bool v);
    void put_i16(int16_t v);
    void put_u16(uint16_t v);
    void put_i32(int32_t v);
    void put_u32(uint32_t v);
    void put_i64(int64_t v);
    void put_u64(uint64_t v);
    void put_double(double v);
    void put_unix_fd(uint32_t index);
    void put_string(std::string_view v);       // s
    void put_object_path(std::string_view v);  // o
    void put_signature(std::string_view v);    // g

    /*
     * Arrays: begin_array() writes the length placeholder and the padding
     * to the element alignment and returns a token; end_array() patches the
     * length (which excludes that padding).
     */
    struct ArrayToken {
        size_t length_offset;
        size_t data_offset;
    };
    ArrayToken begin_array(size_t element_alignment);
    void end_array(ArrayToken token);

    void begin_struct() { align(8); }  // also dict entries
    /* A variant: its signature, then the value is written by the caller. */
    void begin_variant(std::string_view signature) { put_signature(signature); }

    /* Raw bytes, no alignment. */
    void put_raw(std::span<const uint8_t> bytes);

    size_t size() const { return buf_.size(); }
    std::vector<uint8_t>& bytes() { return buf_; }
    const std::vector<uint8_t>& bytes() const { return buf_; }

private:
    static Endian native_endian() {
        return std::endian::native == std::endian::little ? Endian::little : Endian::big;
    }
    template <typename T>
    void store(T v);

    std::vector<uint8_t> buf_;
    bool swap_ = std::endian::native != std::endian::little;
};

/*
 * Reads values from a buffer in the given byte order. Offsets (and so
 * alignment) are relative to `data.data() - base`, i.e. pass the body with
 * base 0 when the body starts 8-aligned in its message. Every read checks
 * bounds, alignment padding (must be zero) and value validity (booleans
 * 0/1, strings UTF-8 without interior NUL and NUL-terminated, paths and
 * signatures valid); a failed read returns false and leaves the reader in
 * the failed state.
 */
class Reader {
public:
    Reader(std::span<const uint8_t> data, Endian endian, size_t base = 0)
        : data_(data), endian_(endian), pos_(0), base_(base) {}

    bool read_byte(uint8_t& v) {
        if (!need(1)) return false;
        v = data_[pos_++];
        return true;
    }
    bool read_bool(bool& v);
    bool read_i16(int16_t& v);
    bool read_u16(uint16_t& v);
    bool read_i32(int32_t& v);
    bool read_u32(uint32_t& v);
    bool read_i64(int64_t& v);
    bool read_u64(uint64_t& v);
    bool read_double(double& v);
    bool read_unix_fd(uint32_t& index) { return read_u32(index); }
    bool read_string(std::string_view& v);
    /* A string's bytes without the UTF-8 and NUL checks, for callers that
     * check a stricter ASCII syntax (bus, interface and member names). */
    bool read_name(std::string_view& v);
    bool read_object_path(std::string_view& v);
    bool read_signature(std::string_view& v);

    /*
     * Arrays: reads the length and skips the padding to the element
     * alignment; `end` receives the offset where the array data ends.
     * Loop `while (reader.offset() < end)`. Fails if the length exceeds 64
     * MiB or the remaining data.
     */
    bool begin_array(size_t element_alignment, size_t& end);
    bool begin_struct() { return align(8); }

    /*
     * Reads (and fully validates) one value of the single complete type at
     * the start of `signature`, without returning it; nesting depth is
     * checked as in the specification (variants count too).
     */
    bool skip_value(std::string_view single_complete_type);
    /* The same, for a value already inside `enclosing_depth` containers
     * (e.g. 3 for a header field's variant: a(yv)). */
    bool skip_value(std::string_view single_complete_type, unsigned enclosing_depth);

    /* Validates the whole remaining data as a sequence of `signature`
     * values that must end exactly at the end of the data. */
    bool skip_all(std::string_view signature);

    bool align(size_t alignment) {
        size_t pad = (0 - (base_ + pos_)) & (alignment - 1);
        return pad == 0 ? !failed_ : align_slow(pad);
    }
    size_t offset() const { return pos_; }
    bool at_end() const { return pos_ == data_.size(); }
    bool failed() const { return failed_; }
    Endian endian() const { return endian_; }

private:
    bool fail() { failed_ = true; return false; }
    // Inline, with align() and read_byte(): they run for every value read,
    // and the call cost more than the check.
    bool need(size_t n) { return (!failed_ && data_.size() - pos_ >= n) || fail(); }
    bool align_slow(size_t pad);
    bool read_raw_string(size_t length, std::string_view& v);
    bool skip_one(std::string_view& sig, unsigned depth);

    std::span<const uint8_t> data_;
    Endian endian_;
    size_t pos_;
    size_t base_;
    bool failed_ = false;
};

}  // namespace kdbus::wire
