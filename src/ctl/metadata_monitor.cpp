#include "metadata_monitor.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "kdbus/attach_flags.hpp"
#include "kdbus/interface.hpp"

namespace kdbusctl {

namespace {

/* D-Bus header field codes (specification, "Header Fields"). */
enum Field : uint8_t {
    path = 1,
    interface = 2,
    member = 3,
    error_name = 4,
    reply_serial = 5,
    destination = 6,
    sender = 7,
    signature = 8,
};

std::runtime_error os_error(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

/* Little-endian marshalling of the few values the monitor sends; offsets
 * (and so alignment) are from the start of `out`. */
class Writer {
public:
    std::vector<uint8_t> out;
    void align(size_t a) { out.resize((out.size() + a - 1) / a * a, 0); }
    void u8(uint8_t v) { out.push_back(v); }
    void u32(uint32_t v) {
        align(4);
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    void u64(uint64_t v) {
        align(8);
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    void string(std::string_view s) {
        u32(static_cast<uint32_t>(s.size()));
        out.insert(out.end(), s.begin(), s.end());
        out.push_back(0);
    }
    void signature(std::string_view s) {
        u8(static_cast<uint8_t>(s.size()));
        out.insert(out.end(), s.begin(), s.end());
        out.push_back(0);
    }
    /* One header field (yv) holding a string-like value. */
    void field(uint8_t code, char type, std::string_view value) {
        align(8);
        u8(code);
        signature(std::string(1, type));
        if (type == 'g')
            signature(value);
        else
            string(value);
    }
};

std::string unescape(std::string_view value) {
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 2 < value.size()) {
            out += static_cast<char>(std::stoi(std::string(value.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += value[i];
        }
    }
    return out;
}

/* The socket address of the first unix: entry of a D-Bus address. */
sockaddr_un parse_address(const std::string& address, socklen_t& length) {
    std::string_view rest = address;
    while (!rest.empty()) {
        std::string_view entry = rest.substr(0, rest.find(';'));
        rest = entry.size() < rest.size() ? rest.substr(entry.size() + 1) : std::string_view();
        if (entry.substr(0, 5) != "unix:") continue;
        std::string_view pairs = entry.substr(5);
        while (!pairs.empty()) {
            std::string_view pair = pairs.substr(0, pairs.find(','));
            pairs = pair.size() < pairs.size() ? pairs.substr(pair.size() + 1) : std::string_view();
            auto eq = pair.find('=');
            if (eq == std::string_view::npos) continue;
            std::string_view key = pair.substr(0, eq);
            if (key != "path" && key != "abstract") continue;
            std::string where = unescape(pair.substr(eq + 1));
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            size_t offset = key == "abstract" ? 1 : 0;
            if (where.size() + offset >= sizeof(sa.sun_path)) throw std::runtime_error("socket path too long");
            std::memcpy(sa.sun_path + offset, where.data(), where.size());
            length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + where.size() + (offset ? 0 : 1));
            return sa;
        }
    }
    throw std::runtime_error("--metadata needs a unix:path= or unix:abstract= address, not '" + address + "'");
}

void write_all(int fd, const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
        ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw os_error("writing to the bus");
        p += n;
        size -= static_cast<size_t>(n);
    }
}

std::string hex(std::string_view s) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

nlohmann::json optional_string(const std::optional<std::string>& s) {
    return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

const char* type_name(uint8_t type) {
    switch (type) {
    case 1: return "method_call";
    case 2: return "method_return";
    case 3: return "error";
    case 4: return "signal";
    default: return "unknown";
    }
}

}  // namespace

MetadataMonitor::MetadataMonitor(const std::string& address, const std::vector<std::string>& rules) {
    socklen_t length = 0;
    sockaddr_un sa = parse_address(address, length);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw os_error("socket");
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), length) < 0) throw os_error("cannot connect to " + address);

    // SASL EXTERNAL with our uid, then BEGIN (D-Bus specification,
    // "Authentication Protocol"); no fd passing: a read() discards any fd a
    // message brings.
    std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex(std::to_string(::geteuid())) + "\r\n";
    write_all(fd_, auth.data(), auth.size());
    std::string line;
    while (line.find("\r\n") == std::string::npos) {
        char buf[256];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("the bus closed the connection during authentication");
        line.append(buf, static_cast<size_t>(n));
    }
    if (line.rfind("OK ", 0) != 0) throw std::runtime_error("authentication failed: " + line.substr(0, line.find('\r')));
    write_all(fd_, "BEGIN\r\n", 7);
    // Whatever followed the OK line already belongs to the message stream.
    in_.assign(line.begin() + static_cast<std::ptrdiff_t>(line.find("\r\n") + 2), line.end());

    expect_reply(call_driver("org.freedesktop.DBus", "Hello", "", {}), "Hello");
    Writer flags;
    flags.u64(0);  // reveal nothing of ourselves
    flags.u64(kdbus::attach::all);
    expect_reply(call_driver(std::string(kdbus::interface::bus).c_str(), "UpdateAttachFlags", "tt", flags.out),
                 "org.kdbusd.Bus1.UpdateAttachFlags (is this bus kdbusd?)");
    Writer become;
    become.u32(0);
    size_t start = become.out.size();
    for (const auto& rule : rules) become.string(rule);
    uint32_t array_length = static_cast<uint32_t>(become.out.size() - start);
    std::memcpy(become.out.data(), &array_length, 4);  // little-endian host (x86, arm)
    become.u32(0);                                     // flags: the specification defines none
    expect_reply(call_driver("org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", become.out), "BecomeMonitor");
}

MetadataMonitor::~MetadataMonitor() {
    if (fd_ >= 0) ::close(fd_);
}

uint32_t MetadataMonitor::call_driver(const char* interface, const char* member, const char* signature,
                                      const std::vector<uint8_t>& body) {
    uint32_t serial = next_serial_++;
    Writer w;
    w.u8('l');
    w.u8(1);  // METHOD_CALL
    w.u8(0);
    w.u8(1);  // protocol version
    w.u32(static_cast<uint32_t>(body.size()));
    w.u32(serial);
    w.u32(0);  // fields length, patched below
    size_t fields_start = w.out.size();
    w.field(Field::path, 'o', kdbus::interface::driver_path);
    w.field(Field::destination, 's', kdbus::interface::driver_name);
    w.field(Field::interface, 's', interface);
    w.field(Field::member, 's', member);
    if (*signature) w.field(Field::signature, 'g', signature);
    uint32_t fields_length = static_cast<uint32_t>(w.out.size() - fields_start);
    std::memcpy(w.out.data() + 12, &fields_length, 4);
    w.align(8);
    w.out.insert(w.out.end(), body.begin(), body.end());
    write_all(fd_, w.out.data(), w.out.size());
    return serial;
}

void MetadataMonitor::expect_reply(uint32_t serial, const std::string& what) {
    for (;;) {
        auto m = read_message();
        if (!m) throw std::runtime_error(what + ": the bus closed the connection");
        if (m->reply_serial != serial) continue;  // NameAcquired and the like
        if (m->type == 3) {
            std::string text;
            kdbus::detail::MetadataReader r(m->bytes.data(), m->bytes.size(), m->bytes[0] == 'B');
            uint32_t fields_length = 0;
            r.seek(12);
            r.u32(fields_length);
            r.seek((16 + size_t(fields_length) + 7) / 8 * 8);
            r.string(text);
            throw std::runtime_error(what + " failed: " + m->fields[Field::error_name].value_or("error") + ": " + text);
        }
        return;
    }
}

void MetadataMonitor::read_more() {
    uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw os_error("reading from the bus");
        if (n == 0) throw std::runtime_error("closed");
        in_.insert(in_.end(), buf, buf + n);
        return;
    }
}

std::optional<MetadataMonitor::Received> MetadataMonitor::read_message() {
    try {
        while (in_.size() < 16) read_more();
        bool big = in_[0] == 'B';
        kdbus::detail::MetadataReader fixed(in_.data(), 16, big);
        uint32_t body_length = 0, serial = 0, fields_length = 0;
        fixed.seek(4);
        fixed.u32(body_length);
        fixed.u32(serial);
        fixed.u32(fields_length);
        size_t total = (16 + size_t(fields_length) + 7) / 8 * 8 + body_length;
        while (in_.size() < total) read_more();

        Received m;
        m.bytes.assign(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(total));
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(total));
        m.type = m.bytes[1];
        m.serial = serial;
        kdbus::detail::MetadataReader r(m.bytes.data(), m.bytes.size(), big);
        r.seek(16);
        while (r.ok() && r.pos() < 16 + fields_length) {
            uint8_t code = 0;
            std::string sig, value;
            if (!r.align(8) || !r.u8(code) || !r.signature(sig)) break;
            if (code == Field::reply_serial && sig == "u") {
                uint32_t v = 0;
                r.u32(v);
                m.reply_serial = v;
            } else if (code >= 1 && code <= 8 && (sig == "s" || sig == "o") && r.string(value)) {
                m.fields[code] = value;
            } else if (code == Field::signature && sig == "g" && r.signature(value)) {
                m.fields[code] = value;
            } else {
                std::string_view rest = sig;
                r.skip(rest);  // field 128 and anything newer: read_metadata() has it
            }
        }
        return m;
    } catch (const std::runtime_error& e) {
        if (std::string_view(e.what()) == "closed") return std::nullopt;
        throw;
    }
}

std::optional<nlohmann::ordered_json> MetadataMonitor::next() {
    auto m = read_message();
    if (!m) return std::nullopt;
    const auto& fields = m->fields;
    // The same members, in the same order, as the sd-bus monitor prints.
    nlohmann::ordered_json line = {
        {"type", type_name(m->type)},
        {"sender", optional_string(fields[Field::sender])},
        {"destination", optional_string(fields[Field::destination])},
        {"serial", m->serial},
    };
    if (m->reply_serial) line["reply_serial"] = *m->reply_serial;
    if (m->type == 3) line["error_name"] = optional_string(fields[Field::error_name]);
    line["path"] = optional_string(fields[Field::path]);
    line["interface"] = optional_string(fields[Field::interface]);
    line["member"] = optional_string(fields[Field::member]);
    line["signature"] = fields[Field::signature].value_or("");
    auto md = kdbus::read_metadata(m->bytes.data(), m->bytes.size());
    line["metadata"] = md ? metadata_json(*md) : nlohmann::ordered_json(nullptr);
    return line;
}

nlohmann::ordered_json metadata_json(const kdbus::Metadata& md) {
    namespace f = kdbus::metadata_field;
    using nlohmann::ordered_json;
    ordered_json j = ordered_json::object();
    auto key = [](const f::Key& k) { return std::string(k.name); };
    if (md.timestamp)
        j[key(f::timestamp)] = {{"seqnum", md.timestamp->seqnum},
                                {"monotonic_ns", md.timestamp->monotonic_ns},
                                {"realtime_ns", md.timestamp->realtime_ns}};
    if (md.creds) {
        const auto& c = *md.creds;
        j[key(f::creds)] = {{"uid", c.uid},     {"euid", c.euid}, {"suid", c.suid}, {"fsuid", c.fsuid},
                            {"gid", c.gid},     {"egid", c.egid}, {"sgid", c.sgid}, {"fsgid", c.fsgid}};
    }
    if (md.pids) j[key(f::pids)] = {{"pid", md.pids->pid}, {"tid", md.pids->tid}, {"ppid", md.pids->ppid}};
    if (md.auxgroups) j[key(f::auxgroups)] = *md.auxgroups;
    if (md.names) j[key(f::names)] = *md.names;
    if (md.tid_comm) j[key(f::tid_comm)] = *md.tid_comm;
    if (md.pid_comm) j[key(f::pid_comm)] = *md.pid_comm;
    if (md.exe) j[key(f::exe)] = *md.exe;
    if (md.cmdline) j[key(f::cmdline)] = *md.cmdline;
    if (md.cgroup) j[key(f::cgroup)] = *md.cgroup;
    if (md.caps)
        j[key(f::caps)] = {{"last_cap", md.caps->last_cap},   {"inheritable", md.caps->inheritable},
                           {"permitted", md.caps->permitted}, {"effective", md.caps->effective},
                           {"bounding", md.caps->bounding}};
    if (md.seclabel) j[key(f::seclabel)] = std::string(md.seclabel->begin(), md.seclabel->end());
    if (md.audit) j[key(f::audit)] = {{"loginuid", md.audit->loginuid}, {"sessionid", md.audit->sessionid}};
    if (md.conn_description) j[key(f::conn_description)] = *md.conn_description;
    return j;
}

}  // namespace kdbusctl
