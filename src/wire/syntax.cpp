/* D-Bus name, path and signature syntax (D-Bus specification, "Valid Names",
 * "Valid Signatures") */
#include "wire/syntax.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace kdbus::wire {

namespace {

constexpr size_t max_signature_length = 255;
constexpr size_t max_name_length = 255;
/* Specification: "The maximum depth of container type nesting is 32 array
 * type codes and 32 open parentheses." Dict entries count as structs, as in
 * libdbus. */
constexpr unsigned max_array_nesting = 32;
constexpr unsigned max_struct_nesting = 32;
constexpr size_t npos = static_cast<size_t>(-1);

/*
 * Parses the single complete type starting at `pos`; returns the position
 * after it, or npos. Recursion is bounded by the nesting limits (≤ 64).
 */
size_t parse_single(std::string_view sig, size_t pos, unsigned arrays, unsigned structs) {
    if (pos >= sig.size()) return npos;
    char c = sig[pos];
    switch (c) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't':
    case 'd': case 's': case 'o': case 'g': case 'h': case 'v':
        return pos + 1;
    case 'a': {
        if (++arrays > max_array_nesting) return npos;
        ++pos;
        if (pos < sig.size() && sig[pos] == '{') {
            // A dict entry: only here, directly in an array, with a basic key.
            if (++structs > max_struct_nesting) return npos;
            ++pos;
            if (pos >= sig.size() || !is_basic_type(sig[pos])) return npos;
            pos = parse_single(sig, pos + 1, arrays, structs);
            if (pos == npos || pos >= sig.size() || sig[pos] != '}') return npos;
            return pos + 1;
        }
        return parse_single(sig, pos, arrays, structs);
    }
    case '(': {
        if (++structs > max_struct_nesting) return npos;
        ++pos;
        if (pos < sig.size() && sig[pos] == ')') return npos;  // no empty structs
        while (pos < sig.size() && sig[pos] != ')') {
            pos = parse_single(sig, pos, arrays, structs);
            if (pos == npos) return npos;
        }
        if (pos >= sig.size()) return npos;
        return pos + 1;
    }
    default:
        return npos;  // includes '{' outside an array, ')', '}', unknown codes
    }
}

/* Character classes of names and paths, one table lookup per byte. */
enum : uint8_t {
    cls_alpha = 1,   // A-Z a-z _
    cls_digit = 2,   // 0-9
    cls_hyphen = 4,  // -
};

constexpr auto char_classes = [] {
    std::array<uint8_t, 256> t{};
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = cls_alpha;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = cls_alpha;
    t['_'] = cls_alpha;
    for (int c = '0'; c <= '9'; ++c) t[c] = cls_digit;
    t['-'] = cls_hyphen;
    return t;
}();

inline bool is_class(char c, uint8_t classes) {
    return char_classes[static_cast<uint8_t>(c)] & classes;
}

/*
 * Dot-separated elements, at least two, none empty, at most 255 bytes. An
 * element starts with a byte of class `first` and continues with `rest`.
 * Element by element, so the inner loop is one table lookup per byte (it
 * runs for two or three names of every message routed).
 */
bool dotted_name(std::string_view name, uint8_t first, uint8_t rest) {
    if (name.empty() || name.size() > max_name_length) return false;
    const char* p = name.data();
    const char* end = p + name.size();
    bool dotted = false;
    for (;;) {
        if (!is_class(*p, first)) return false;
        ++p;
        while (p != end && is_class(*p, rest)) ++p;
        if (p == end) return dotted;
        if (*p != '.') return false;
        dotted = true;
        if (++p == end) return false;  // an empty last element
    }
}

}  // namespace

size_t type_alignment(char c) {
    switch (c) {
    case 'n': case 'q': return 2;
    case 'b': case 'i': case 'u': case 'h': case 's': case 'o': case 'a': return 4;
    case 'x': case 't': case 'd': case '(': case '{': return 8;
    default: return 1;  // y, g, v
    }
}

bool is_basic_type(char c) {
    switch (c) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd':
    case 'h': case 's': case 'o': case 'g':
        return true;
    default:
        return false;
    }
}

bool is_fixed_type(char c) {
    switch (c) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd':
    case 'h':
        return true;
    default:
        return false;
    }
}

bool is_valid_signature(std::string_view sig) {
    // Most signatures on the wire are one type code: every header field's
    // variant carries one, five or six of them per message.
    if (sig.size() == 1) return is_basic_type(sig[0]) || sig[0] == 'v';
    if (sig.size() > max_signature_length) return false;
    size_t pos = 0;
    while (pos < sig.size()) {
        pos = parse_single(sig, pos, 0, 0);
        if (pos == npos) return false;
    }
    return true;
}

bool is_valid_single_type(std::string_view sig) {
    if (sig.empty() || sig.size() > max_signature_length) return false;
    return parse_single(sig, 0, 0, 0) == sig.size();
}

size_t single_type_length(std::string_view sig) {
    size_t pos = 0;
    while (pos < sig.size() && sig[pos] == 'a') ++pos;
    if (pos >= sig.size()) return pos;
    if (sig[pos] != '(' && sig[pos] != '{') return pos + 1;
    unsigned depth = 0;
    for (; pos < sig.size(); ++pos) {
        char c = sig[pos];
        if (c == '(' || c == '{') {
            ++depth;
        } else if (c == ')' || c == '}') {
            if (--depth == 0) return pos + 1;
        }
    }
    return pos;
}

bool is_valid_object_path(std::string_view path) {
    // "/" or "/elem/elem", elements of [A-Za-z0-9_], none empty, no trailing '/'.
    if (path.empty() || path[0] != '/') return false;
    if (path.size() == 1) return true;
    bool after_slash = true;
    for (size_t i = 1; i < path.size(); ++i) {
        char c = path[i];
        if (c == '/') {
            if (after_slash) return false;
            after_slash = true;
        } else if (is_class(c, cls_alpha | cls_digit)) {
            after_slash = false;
        } else {
            return false;
        }
    }
    return !after_slash;
}

bool is_valid_interface_name(std::string_view name) {
    return dotted_name(name, cls_alpha, cls_alpha | cls_digit);
}

bool is_valid_error_name(std::string_view name) { return is_valid_interface_name(name); }

bool is_valid_member_name(std::string_view name) {
    if (name.empty() || name.size() > max_name_length || !is_class(name[0], cls_alpha)) return false;
    for (char c : name)
        if (!is_class(c, cls_alpha | cls_digit)) return false;
    return true;
}

bool is_valid_unique_name(std::string_view name) {
    // ":" then elements that may start with a digit or hyphen.
    if (name.size() < 2 || name[0] != ':') return false;
    constexpr uint8_t any = cls_alpha | cls_digit | cls_hyphen;
    return name.size() <= max_name_length && dotted_name(name.substr(1), any, any);
}

bool is_valid_well_known_name(std::string_view name) {
    return dotted_name(name, cls_alpha | cls_hyphen, cls_alpha | cls_digit | cls_hyphen);
}

bool is_valid_bus_name(std::string_view name) {
    if (!name.empty() && name[0] == ':') return is_valid_unique_name(name);
    return is_valid_well_known_name(name);
}

namespace {

/* The length of the well-formed UTF-8 sequence at `p` (Unicode 15, Table
 * 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
size_t utf8_sequence(const uint8_t* p, const uint8_t* end) {
    uint8_t c = *p;
    if (c < 0x80) return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (static_cast<size_t>(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; ++i)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    // Noncharacters are valid (Corrigendum #9), as libdbus accepts them
    // since 1.8.
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        // ASCII fast path, eight bytes at a time.
        while (end - p >= 8) {
            uint64_t w;
            std::memcpy(&w, p, 8);
            if (w & 0x8080808080808080ull) break;
            p += 8;
        }
        if (p >= end) break;
        if (*p < 0x80) {
            ++p;
            continue;
        }
        size_t n = utf8_sequence(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

std::string valid_string(std::string_view bytes) {
    static constexpr std::string_view replacement = "\xef\xbf\xbd";  // U+FFFD
    std::string out;
    out.reserve(bytes.size());
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    const auto* end = p + bytes.size();
    while (p < end) {
        size_t n = *p == 0 ? 0 : utf8_sequence(p, end);
        if (n == 0) {
            out += replacement;
            ++p;
        } else {
            out.append(reinterpret_cast<const char*>(p), n);
            p += n;
        }
    }
    return out;
}

}  // namespace kdbus::wire
