/* Hand-made wire bytes for tests: values in either byte order, and whole
 * messages with arbitrary (also invalid) header fields. Independent of the
 * code under test so that round trips check it against a second encoder. */
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "wire/marshal.hpp"

namespace kdbus::wire::test {

/* Header field codes and message types as raw bytes, for assemble(). */
inline constexpr uint8_t PATH = 1, INTERFACE = 2, MEMBER = 3, ERROR_NAME = 4, REPLY_SERIAL = 5,
                         DESTINATION = 6, SENDER = 7, SIGNATURE = 8, UNIX_FDS = 9;
inline constexpr uint8_t CALL = 1, RETURN = 2, ERROR = 3, SIGNAL = 4;

class Raw {
public:
    explicit Raw(Endian e) : big_(e == Endian::big) {}

    void align(size_t n) {
        while (b.size() % n) b.push_back(0);
    }
    void y(uint8_t v) { b.push_back(v); }
    void u16(uint16_t v) { align(2); put(v, 2); }
    void u32(uint32_t v) { align(4); put(v, 4); }
    void u64(uint64_t v) { align(8); put(v, 8); }
    void d(double v) { u64(std::bit_cast<uint64_t>(v)); }
    void str(std::string_view v) {
        u32(static_cast<uint32_t>(v.size()));
        b.insert(b.end(), v.begin(), v.end());
        b.push_back(0);
    }
    void sig(std::string_view v) {
        b.push_back(static_cast<uint8_t>(v.size()));
        b.insert(b.end(), v.begin(), v.end());
        b.push_back(0);
    }
    /* Returns the offset of the length; end_array() patches it. */
    size_t begin_array(size_t element_alignment) {
        u32(0);
        size_t at = b.size() - 4;
        align(element_alignment);
        starts_.push_back(b.size());
        return at;
    }
    void end_array(size_t at) {
        size_t start = starts_.back();
        starts_.pop_back();
        patch_u32(at, static_cast<uint32_t>(b.size() - start));
    }
    void patch_u32(size_t at, uint32_t v) {
        for (int i = 0; i < 4; ++i)
            b[at + i] = static_cast<uint8_t>(v >> (big_ ? 8 * (3 - i) : 8 * i));
    }

    /* Header fields (inside the a(yv) array). */
    void field_str(uint8_t code, char type, std::string_view v) {
        align(8);
        y(code);
        sig(std::string_view(&type, 1));
        str(v);
    }
    void field_u32(uint8_t code, uint32_t v) {
        align(8);
        y(code);
        sig("u");
        u32(v);
    }
    void field_sig(uint8_t code, std::string_view v) {
        align(8);
        y(code);
        sig("g");
        sig(v);
    }

    std::vector<uint8_t> b;

private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            b.push_back(static_cast<uint8_t>(v >> (big_ ? 8 * (n - 1 - i) : 8 * i)));
    }
    bool big_;
    std::vector<size_t> starts_;
};

/* A whole message: fixed header, the fields `fields` writes, padding, body. */
inline std::vector<uint8_t> assemble(Endian e, uint8_t type, uint32_t serial,
                                     const std::function<void(Raw&)>& fields,
                                     const std::vector<uint8_t>& body = {}, uint8_t flags = 0) {
    Raw r(e);
    r.y(static_cast<uint8_t>(e));
    r.y(type);
    r.y(flags);
    r.y(1);
    r.u32(static_cast<uint32_t>(body.size()));
    r.u32(serial);
    size_t at = r.begin_array(8);
    fields(r);
    r.end_array(at);
    r.align(8);
    r.b.insert(r.b.end(), body.begin(), body.end());
    return r.b;
}

}  // namespace kdbus::wire::test
