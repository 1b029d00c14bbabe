#include "metadata/serialize.hpp"

#include <cstring>
#include <string_view>

#include "kdbus/attach_flags.hpp"
#include "kdbus/interface.hpp"
#include "wire/syntax.hpp"

namespace kdbus::metadata {
namespace {

namespace key = kdbus::metadata_field;

/*
 * Appends to an existing header in either byte order, with the same
 * operations as wire::Writer (which is little-endian only); alignment is
 * relative to the vector's start, which is the message's first byte.
 */
class HeaderWriter {
public:
    HeaderWriter(std::vector<uint8_t>& buf, wire::Endian endian) : buf_(buf), big_(endian == wire::Endian::big) {}

    void align(size_t a) { buf_.resize((buf_.size() + a - 1) & ~(a - 1), 0); }
    void put_byte(uint8_t v) { buf_.push_back(v); }
    void put_u32(uint32_t v) { put_fixed(v, 4); }
    void put_u64(uint64_t v) { put_fixed(v, 8); }
    void put_string(std::string_view s) {
        put_u32(static_cast<uint32_t>(s.size()));
        put_raw(s);
        buf_.push_back(0);
    }
    void put_signature(std::string_view s) {
        buf_.push_back(static_cast<uint8_t>(s.size()));
        put_raw(s);
        buf_.push_back(0);
    }
    void put_raw(std::string_view s) { buf_.insert(buf_.end(), s.begin(), s.end()); }
    void put_raw(std::span<const uint8_t> s) { buf_.insert(buf_.end(), s.begin(), s.end()); }
    void begin_struct() { align(8); }
    void begin_variant(std::string_view sig) { put_signature(sig); }

    struct ArrayToken {
        size_t length_offset, data_offset;
    };
    ArrayToken begin_array(size_t alignment) {
        align(4);
        size_t at = buf_.size();
        put_u32(0);
        align(alignment);
        return {at, buf_.size()};
    }
    void end_array(ArrayToken t) { patch_u32(t.length_offset, static_cast<uint32_t>(buf_.size() - t.data_offset)); }
    void patch_u32(size_t at, uint32_t v) {
        for (size_t i = 0; i < 4; ++i) buf_[at + i] = static_cast<uint8_t>(v >> (8 * (big_ ? 3 - i : i)));
    }

private:
    void put_fixed(uint64_t v, size_t n) {
        align(n);
        for (size_t i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * (big_ ? n - 1 - i : i))));
    }

    std::vector<uint8_t>& buf_;
    bool big_;
};

void put_raw(wire::Writer& w, std::string_view s) {
    w.put_raw(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
void put_raw(HeaderWriter& w, std::string_view s) { w.put_raw(s); }

/* D-Bus strings must be UTF-8 without NUL; comm, exe and cgroup are bytes
 * the sender chose. One that is not valid cannot be expressed, so it is
 * dropped, not altered (KDBUS.md §3 rules 6, 7). */
bool sendable(std::string_view s) { return s.find('\0') == std::string_view::npos && wire::is_valid_utf8(s); }

template <class W>
class Entries {
public:
    explicit Entries(W& w) : w_(w) {}

    /* Opens one dict entry; the caller writes the value. */
    void open(const key::Key& k) {
        w_.begin_struct();
        w_.put_string(k.name);
        w_.begin_variant(k.signature);
        ++count;
    }
    void string_item(const key::Key& k, std::string_view s) {
        if (!sendable(s)) return;
        open(k);
        w_.put_string(s);
    }
    void u32_array(std::span<const uint32_t> words) {
        auto a = w_.begin_array(4);
        for (uint32_t v : words) w_.put_u32(v);
        w_.end_array(a);
    }
    void bytes(std::string_view b) {
        auto a = w_.begin_array(1);
        put_raw(w_, b);
        w_.end_array(a);
    }

    size_t count = 0;

private:
    W& w_;
};

template <class W>
size_t write_items(W& w, const MessageMetadata& md, uint64_t mask, const NamespaceView& r,
                   const std::vector<std::string>* names) {
    mask &= md.present;
    Entries<W> e(w);
    auto dict = w.begin_array(8);

    if (mask & attach::timestamp) {
        e.open(key::timestamp);
        w.begin_struct();
        w.put_u64(md.seqnum);
        w.put_u64(md.monotonic_ns);
        w.put_u64(md.realtime_ns);
    }
    if (mask & attach::creds) {
        e.open(key::creds);
        w.begin_struct();
        for (size_t i = 0; i < 4; ++i) w.put_u32(r.uid(md.ids[i]));
        for (size_t i = 4; i < 8; ++i) w.put_u32(r.gid(md.ids[i]));
    }
    if (mask & attach::pids) {
        e.open(key::pids);
        w.begin_struct();
        w.put_u32(r.pid(md.pid));
        w.put_u32(r.tid(md.tid));
        w.put_u32(r.pid(md.ppid));
    }
    if (mask & attach::auxgroups) {
        e.open(key::auxgroups);
        auto a = w.begin_array(4);
        for (gid_t g : md.auxgroups) w.put_u32(r.gid(g));
        w.end_array(a);
    }
    if (mask & attach::names) {
        e.open(key::names);
        auto a = w.begin_array(4);
        for (const std::string& n : names ? *names : md.names) w.put_string(n);
        w.end_array(a);
    }
    if (mask & attach::tid_comm) e.string_item(key::tid_comm, md.tid_comm);
    if (mask & attach::pid_comm) e.string_item(key::pid_comm, md.pid_comm);
    if ((mask & attach::exe) && r.same_root(md.root)) e.string_item(key::exe, md.exe);
    if (mask & attach::cmdline) {
        e.open(key::cmdline);
        auto a = w.begin_array(4);
        for (const std::string& arg : md.cmdline) e.bytes(arg);
        w.end_array(a);
    }
    if (mask & attach::cgroup) e.string_item(key::cgroup, md.cgroup);
    if (mask & attach::caps) {
        const auto view = r.caps(md.userns, md.ids[1]);
        auto set = [&](const std::array<uint32_t, 2>& words) {
            static constexpr std::array<uint32_t, 2> zero{}, ones{0xffffffffu, 0xffffffffu};
            /* All-ones means every capability up to last_cap. */
            std::array<uint32_t, 2> all = ones;
            if (md.caps.last_cap < 63) {
                uint64_t m = (uint64_t{1} << (md.caps.last_cap + 1)) - 1;
                all = {static_cast<uint32_t>(m), static_cast<uint32_t>(m >> 32)};
            }
            e.u32_array(view == NamespaceView::CapsView::verbatim ? words
                        : view == NamespaceView::CapsView::all_ones ? all
                                                                     : zero);
        };
        e.open(key::caps);
        w.begin_struct();
        w.put_u32(md.caps.last_cap);
        set(md.caps.inheritable);
        set(md.caps.permitted);
        set(md.caps.effective);
        set(md.caps.bounding);
    }
    if ((mask & attach::seclabel) && !md.seclabel.empty()) {
        e.open(key::seclabel);
        e.bytes(md.seclabel);
    }
    if (mask & attach::audit) {
        e.open(key::audit);
        w.begin_struct();
        w.put_u32(r.loginuid(md.loginuid));
        w.put_u32(md.sessionid);
    }
    if (mask & attach::conn_description) e.string_item(key::conn_description, md.conn_description);

    w.end_array(dict);
    return e.count;
}

}  // namespace

size_t append_metadata_value(wire::Writer& w, const MessageMetadata& md, uint64_t mask, const NamespaceView& receiver,
                             const std::vector<std::string>* names) {
    return write_items(w, md, mask, receiver, names);
}

bool append_metadata_field(std::vector<uint8_t>& header, wire::Endian endian, const MessageMetadata& md,
                           uint64_t mask, const NamespaceView& receiver, const std::vector<std::string>* names) {
    if (header.size() < 16 || header.size() % 8 != 0 || !(mask & md.present)) return false;
    const size_t original = header.size();
    HeaderWriter w(header, endian);
    w.begin_struct();
    w.put_byte(key::code);
    w.begin_variant(key::signature);
    if (write_items(w, md, mask, receiver, names) == 0) {
        header.resize(original);
        return false;
    }
    /* The field array now ends here; the header is padded to 8 again. */
    w.patch_u32(12, static_cast<uint32_t>(header.size() - 16));
    w.align(8);
    return true;
}

}  // namespace kdbus::metadata
