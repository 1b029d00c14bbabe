/* Reading kdbusd's per-message metadata (header field 128) out of a received message; header-only, C++17 */
#pragma once

/*
 *   if (auto md = kdbus::read_metadata(bytes, size); md && md->creds)
 *       uid = md->creds->uid;
 *
 * `bytes` is one whole message as received from the bus (either byte
 * order). The bus only attaches items the receiver asked for with
 * org.kdbusd.Bus1.UpdateAttachFlags; every item is optional because the bus
 * drops what it may not or cannot translate (KDBUS.md §3 rules 4–6).
 * comm, exe and cmdline are set by the sender and are never to be trusted.
 */

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kdbus/interface.hpp"

namespace kdbus {

struct Metadata {
    struct Timestamp {
        uint64_t seqnum = 0;
        uint64_t monotonic_ns = 0;
        uint64_t realtime_ns = 0;
    };
    struct Creds {
        uint32_t uid = 0, euid = 0, suid = 0, fsuid = 0;
        uint32_t gid = 0, egid = 0, sgid = 0, fsgid = 0;
    };
    struct Pids {
        uint32_t pid = 0, tid = 0, ppid = 0;  // 0: not visible to the receiver
    };
    struct Caps {
        uint32_t last_cap = 0;
        std::vector<uint32_t> inheritable, permitted, effective, bounding;  // u32 words, low first
    };
    struct Audit {
        uint32_t loginuid = 0;  // 0xffffffff: unset or unmappable
        uint32_t sessionid = 0;
    };

    std::optional<Timestamp> timestamp;
    std::optional<Creds> creds;
    std::optional<Pids> pids;
    std::optional<std::vector<uint32_t>> auxgroups;
    std::optional<std::vector<std::string>> names;
    std::optional<std::string> tid_comm;
    std::optional<std::string> pid_comm;
    std::optional<std::string> exe;
    std::optional<std::vector<std::string>> cmdline;  // arguments as raw bytes
    std::optional<std::string> cgroup;
    std::optional<Caps> caps;
    std::optional<std::vector<uint8_t>> seclabel;
    std::optional<Audit> audit;
    std::optional<std::string> conn_description;
};

namespace detail {

/* A bounds-checked reader over one message; offsets are from its start,
 * which is also what D-Bus alignment is relative to. */
class MetadataReader {
public:
    MetadataReader(const uint8_t* data, size_t size, bool big_endian)
        : d_(data), n_(size), big_(big_endian) {}

    bool ok() const { return ok_; }
    size_t pos() const { return pos_; }
    void seek(size_t p) { pos_ = p; }

    bool align(size_t a) {
        size_t p = (pos_ + a - 1) & ~(a - 1);
        if (p > n_) return fail();
        pos_ = p;
        return true;
    }
    bool u8(uint8_t& v) {
        if (!ok_ || pos_ >= n_) return fail();
        v = d_[pos_++];
        return true;
    }
    bool u32(uint32_t& v) {
        uint64_t w;
        if (!fixed(4, w)) return false;
        v = static_cast<uint32_t>(w);
        return true;
    }
    bool u64(uint64_t& v) { return fixed(8, v); }
    bool string(std::string& v) {  // s, o
        uint32_t len;
        if (!u32(len) || len > n_ - pos_ || n_ - pos_ - len < 1) return fail();
        v.assign(reinterpret_cast<const char*>(d_ + pos_), len);
        pos_ += len + 1;
        return true;
    }
    bool signature(std::string& v) {  // g
        uint8_t len;
        if (!u8(len) || len > n_ - pos_ || n_ - pos_ - len < 1) return fail();
        v.assign(reinterpret_cast<const char*>(d_ + pos_), len);
        pos_ += len + 1;
        return true;
    }
    /* Reads an array length and aligns to its elements; `end` is where they stop. */
    bool array(size_t element_alignment, size_t& end) {
        uint32_t len;
        if (!u32(len) || !align(element_alignment) || len > n_ - pos_) return fail();
        end = pos_ + len;
        return true;
    }
    bool u32_array(std::vector<uint32_t>& v) {
        size_t end;
        if (!array(4, end)) return false;
        v.clear();
        while (pos_ < end) {
            uint32_t x;
            if (!u32(x)) return false;
            v.push_back(x);
        }
        return pos_ == end || fail();
    }
    bool byte_array(std::string& v) {
        size_t end;
        if (!array(1, end)) return false;
        v.assign(reinterpret_cast<const char*>(d_ + pos_), end - pos_);
        pos_ = end;
        return true;
    }

    /* Skips one value of the single complete type at the start of `sig`,
     * advancing `sig` past it. */
    bool skip(std::string_view& sig, int depth = 0) {
        if (sig.empty() || depth > 64) return fail();
        char c = sig.front();
        sig.remove_prefix(1);
        uint64_t w;
        std::string s;
        switch (c) {
        case 'y': return fixed(1, w);
        case 'n': case 'q': return fixed(2, w);
        case 'b': case 'i': case 'u': case 'h': return fixed(4, w);
        case 'x': case 't': case 'd': return fixed(8, w);
        case 's': case 'o': return string(s);
        case 'g': return signature(s);
        case 'v': {
            if (!signature(s)) return false;
            std::string_view inner = s;
            return skip(inner, depth + 1) && (inner.empty() || fail());
        }
        case 'a': {
            std::string_view elem = sig;
            size_t alignment = alignment_of(elem);
            size_t end;
            if (!skip_type(sig) || !array(alignment, end)) return fail();
            while (pos_ < end) {
                std::string_view e = elem;
                if (!skip(e, depth + 1)) return false;
            }
            return pos_ == end || fail();
        }
        case '(': case '{': {
            if (!align(8)) return false;
            char close = c == '(' ? ')' : '}';
            while (!sig.empty() && sig.front() != close)
                if (!skip(sig, depth + 1)) return false;
            if (sig.empty()) return fail();
            sig.remove_prefix(1);
            return true;
        }
        default: return fail();
        }
    }

private:
    bool fail() { ok_ = false; return false; }
    bool fixed(size_t size, uint64_t& v) {
        if (!ok_ || !align(size) || size > n_ - pos_) return fail();
        v = 0;
        for (size_t i = 0; i < size; ++i) {
            uint64_t b = d_[pos_ + i];
            v |= big_ ? b << (8 * (size - 1 - i)) : b << (8 * i);
        }
        pos_ += size;
        return true;
    }
    static size_t alignment_of(std::string_view sig) {
        switch (sig.empty() ? '\0' : sig.front()) {
        case 'y': case 'g': case 'v': return 1;
        case 'n': case 'q': return 2;
        case 'x': case 't': case 'd': case '(': case '{': return 8;
        default: return 4;
        }
    }
    /* Advances `sig` past one complete type without reading data. */
    static bool skip_type(std::string_view& sig) {
        if (sig.empty()) return false;
        char c = sig.front();
        sig.remove_prefix(1);
        if (c == 'a') return skip_type(sig);
        if (c == '(' || c == '{') {
            char close = c == '(' ? ')' : '}';
            while (!sig.empty() && sig.front() != close)
                if (!skip_type(sig)) return false;
            if (sig.empty()) return false;
            sig.remove_prefix(1);
        }
        return true;
    }

    const uint8_t* d_;
    size_t n_;
    bool big_;
    size_t pos_ = 0;
    bool ok_ = true;
};

inline bool read_metadata_entry(MetadataReader& r, const std::string& key, const std::string& sig,
                                Metadata& md) {
    namespace f = metadata_field;
    auto is = [&](const f::Key& k) { return key == k.name && sig == k.signature; };
    if (is(f::timestamp)) {
        Metadata::Timestamp t;
        if (!r.align(8) || !r.u64(t.seqnum) || !r.u64(t.monotonic_ns) || !r.u64(t.realtime_ns)) return false;
        md.timestamp = t;
    } else if (is(f::creds)) {
        Metadata::Creds c;
        if (!r.align(8)) return false;
        for (uint32_t* p : {&c.uid, &c.euid, &c.suid, &c.fsuid, &c.gid, &c.egid, &c.sgid, &c.fsgid})
            if (!r.u32(*p)) return false;
        md.creds = c;
    } else if (is(f::pids)) {
        Metadata::Pids p;
        if (!r.align(8) || !r.u32(p.pid) || !r.u32(p.tid) || !r.u32(p.ppid)) return false;
        md.pids = p;
    } else if (is(f::auxgroups)) {
        std::vector<uint32_t> g;
        if (!r.u32_array(g)) return false;
        md.auxgroups = std::move(g);
    } else if (is(f::names) || is(f::cmdline)) {
        std::vector<std::string> list;
        size_t end;
        if (!r.array(4, end)) return false;
        while (r.pos() < end) {
            std::string s;
            if (!(sig == "as" ? r.string(s) : r.byte_array(s))) return false;
            list.push_back(std::move(s));
        }
        if (r.pos() != end) return false;
        (sig == "as" ? md.names : md.cmdline) = std::move(list);
    } else if (is(f::tid_comm) || is(f::pid_comm) || is(f::exe) || is(f::cgroup) || is(f::conn_description)) {
        std::string s;
        if (!r.string(s)) return false;
        (key == f::tid_comm.name   ? md.tid_comm
         : key == f::pid_comm.name ? md.pid_comm
         : key == f::exe.name      ? md.exe
         : key == f::cgroup.name   ? md.cgroup
                                   : md.conn_description) = std::move(s);
    } else if (is(f::caps)) {
        Metadata::Caps c;
        if (!r.align(8) || !r.u32(c.last_cap) || !r.u32_array(c.inheritable) || !r.u32_array(c.permitted) ||
            !r.u32_array(c.effective) || !r.u32_array(c.bounding))
            return false;
        md.caps = std::move(c);
    } else if (is(f::seclabel)) {
        std::string s;
        if (!r.byte_array(s)) return false;
        md.seclabel = std::vector<uint8_t>(s.begin(), s.end());
    } else if (is(f::audit)) {
        Metadata::Audit a;
        if (!r.align(8) || !r.u32(a.loginuid) || !r.u32(a.sessionid)) return false;
        md.audit = a;
    } else {
        /* A key from a newer bus, or an unexpected signature: skip it. */
        std::string_view s = sig;
        return r.skip(s) && s.empty();
    }
    return true;
}

}  // namespace detail

/*
 * The metadata the bus attached to one whole message (`size` bytes as
 * received, either byte order), or nullopt when the message carries no
 * field 128 or is malformed.
 */
inline std::optional<Metadata> read_metadata(const void* message, size_t size) {
    const auto* d = static_cast<const uint8_t*>(message);
    if (size < 16 || (d[0] != 'l' && d[0] != 'B')) return std::nullopt;
    detail::MetadataReader r(d, size, d[0] == 'B');
    uint32_t fields_len;
    r.seek(12);
    if (!r.u32(fields_len) || fields_len > size - 16) return std::nullopt;
    const size_t fields_end = 16 + size_t(fields_len);
    while (r.pos() < fields_end) {
        uint8_t code;
        std::string sig;
        if (!r.align(8) || !r.u8(code) || !r.signature(sig)) return std::nullopt;
        if (code != metadata_field::code || sig != metadata_field::signature) {
            std::string_view s = sig;
            if (!r.skip(s) || !s.empty()) return std::nullopt;
            continue;
        }
        Metadata md;
        size_t end;
        if (!r.array(8, end)) return std::nullopt;
        while (r.pos() < end) {
            std::string key, value_sig;
            if (!r.align(8) || !r.string(key) || !r.signature(value_sig)) return std::nullopt;
            if (!detail::read_metadata_entry(r, key, value_sig, md)) return std::nullopt;
        }
        if (r.pos() != end || !r.ok()) return std::nullopt;
        return md;
    }
    return std::nullopt;
}

}  // namespace kdbus
