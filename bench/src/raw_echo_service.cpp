#include "raw_echo_service.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "bench_interface.hpp"
#include "clock.hpp"
#include "kdbus/attach_flags.hpp"
#include "kdbus/interface.hpp"
#include "kdbus/metadata.hpp"
#include "wire/message.hpp"

namespace kdbus_bench {

namespace {

namespace wire = kdbus::wire;

class RawConnection {
public:
    ~RawConnection() {
        if (fd_ >= 0) close(fd_);
    }

    int fd() const { return fd_; }

    // Connects and authenticates (SASL EXTERNAL with our uid). Returns an error text or "".
    std::string open(const std::string &address, uint64_t deadline_ns) {
        constexpr std::string_view key = "unix:path=";
        if (!address.starts_with(key)) return "only unix:path= addresses are supported";
        std::string path = address.substr(key.size(), address.find(',') - key.size());
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (path.size() >= sizeof sa.sun_path) return "socket path too long";
        memcpy(sa.sun_path, path.data(), path.size());
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr *>(&sa), sizeof sa) < 0)
            return std::string("connect: ") + strerror(errno);
        std::string uid = std::to_string(getuid()), hex;
        for (char c : uid) hex += "3" + std::string(1, c);  // hex of ASCII digits
        std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex + "\r\n";
        if (!write_all(auth.data(), auth.size())) return std::string("write: ") + strerror(errno);
        std::string line;
        while (line.find("\r\n") == std::string::npos) {
            char buf[256];
            if (!wait_readable(deadline_ns)) return "no answer to AUTH";
            ssize_t n = read(fd_, buf, sizeof buf);
            if (n <= 0) return "connection closed during AUTH";
            line.append(buf, size_t(n));
        }
        if (!line.starts_with("OK ")) return "AUTH refused: " + line;
        return write_all("BEGIN\r\n", 7) ? "" : std::string("write: ") + strerror(errno);
    }

    bool send(const std::vector<uint8_t> &message) { return write_all(message.data(), message.size()); }

    // Reads what is there (after waiting up to the deadline); false on EOF or error.
    bool receive(uint64_t deadline_ns) {
        if (!wait_readable(deadline_ns)) return true;
        size_t old = in_.size();
        in_.resize(old + 65536);
        ssize_t n = read(fd_, in_.data() + old, 65536);
        in_.resize(old + size_t(n > 0 ? n : 0));
        return n > 0;
    }

    // The next whole message in the input, or an empty span; *error on a framing error.
    std::span<const uint8_t> next(const char **error) {
        if (in_.size() - start_ < wire::fixed_header_size) return compact();
        std::span<const uint8_t, wire::fixed_header_size> head(in_.data() + start_, wire::fixed_header_size);
        size_t length = wire::message_length(head, wire::max_message_size, error);
        if (length == 0 || in_.size() - start_ < length) return compact();
        std::span<const uint8_t> m(in_.data() + start_, length);
        start_ += length;
        return m;
    }

    bool wait_readable(uint64_t deadline_ns) {
        uint64_t now = now_ns();
        int ms = now >= deadline_ns ? 0 : int(std::min<uint64_t>((deadline_ns - now) / 1'000'000 + 1, 60'000));
        pollfd p{fd_, POLLIN, 0};
        return poll(&p, 1, ms) > 0;
    }

private:
    bool write_all(const void *data, size_t size) {
        const auto *p = static_cast<const char *>(data);
        while (size > 0) {
            ssize_t n = write(fd_, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            p += n;
            size -= size_t(n);
        }
        return true;
    }

    // Drops consumed bytes once nothing whole is left; returns the empty span.
    std::span<const uint8_t> compact() {
        in_.erase(in_.begin(), in_.begin() + long(start_));
        start_ = 0;
        return {};
    }

    int fd_ = -1;
    std::vector<uint8_t> in_;
    size_t start_ = 0;
};

wire::MessageBuilder driver_call(std::string_view interface, std::string_view member) {
    wire::MessageBuilder b(wire::MessageType::method_call);
    b.path(kdbus::interface::driver_path).interface(interface).member(member);
    b.destination(kdbus::interface::driver_name);
    return b;
}

// Whether `message` carries exactly what a receiver with `recv_mask` (from
// CREDS, PIDS and TIMESTAMP) must get from a plain client.
bool metadata_as_requested(std::span<const uint8_t> message, std::optional<uint64_t> recv_mask) {
    auto md = kdbus::read_metadata(message.data(), message.size());
    uint64_t mask = recv_mask.value_or(0);
    if (mask == 0) return !md;
    if (!md) return false;
    namespace f = kdbus::attach;
    return ((mask & f::creds) == 0 || md->creds) && ((mask & f::pids) == 0 || (md->pids && md->pids->pid != 0)) &&
           ((mask & f::timestamp) == 0 || md->timestamp);
}

}  // namespace

int serve_raw_echo(WorkerContext &context, const RawServiceSpec &spec) {
    WorkerSlot &slot = context.slot();
    uint64_t deadline = now_ns() + seconds_to_ns(spec.timeout);
    RawConnection conn;
    if (std::string e = conn.open(spec.address, deadline); !e.empty()) return worker_error(slot, "%s", e.c_str());

    // Hello, RequestName and UpdateAttachFlags pipelined; serials 1..3.
    namespace dbus = kdbus::interface;
    uint32_t serial = 1;
    conn.send(driver_call(dbus::driver_name, "Hello").finish(serial++));
    wire::MessageBuilder request = driver_call(dbus::driver_name, "RequestName");
    wire::Writer &name_args = request.body("su");
    name_args.put_string(spec.name);
    name_args.put_u32(4);  // DBUS_NAME_FLAG_DO_NOT_QUEUE
    conn.send(request.finish(serial++));
    if (spec.recv_mask) {
        wire::MessageBuilder flags = driver_call(dbus::bus, "UpdateAttachFlags");
        wire::Writer &masks = flags.body("tt");
        masks.put_u64(0);  // send mask
        masks.put_u64(*spec.recv_mask);
        conn.send(flags.finish(serial++));
    }
    uint32_t answered = 0;
    while (answered + 1 < serial) {
        if (now_ns() >= deadline) return worker_error(slot, "no reply from the driver");
        if (!conn.receive(deadline)) return worker_error(slot, "connection closed during set-up");
        const char *error = nullptr;
        for (auto m = conn.next(&error); !m.empty(); m = conn.next(&error)) {
            wire::Header h;
            if (const char *e = wire::parse_message(m, h)) return worker_error(slot, "invalid message: %s", e);
            if (h.reply_serial == 0) continue;  // NameAcquired and the like
            if (h.type == wire::MessageType::error)
                return worker_error(slot, "driver call %u: %.*s", h.reply_serial, int(h.error_name.size()),
                                    h.error_name.data());
            ++answered;
        }
        if (error) return worker_error(slot, "framing: %s", error);
    }
    if (!context.ready()) return worker_error(slot, "parent gone");

    // Serve until released (the release pipe turns readable at EOF).
    for (;;) {
        pollfd p[2] = {{conn.fd(), POLLIN, 0}, {context.release_fd(), POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return worker_error(slot, "poll: %s", strerror(errno));
        }
        if (p[1].revents) return 0;
        if (!conn.receive(0)) return worker_error(slot, "the bus closed the connection");
        const char *error = nullptr;
        for (auto m = conn.next(&error); !m.empty(); m = conn.next(&error)) {
            wire::Header h;
            if (const char *e = wire::parse_message(m, h)) return worker_error(slot, "invalid message: %s", e);
            if (h.type != wire::MessageType::method_call || h.member != "Echo") continue;
            if (!metadata_as_requested(m, spec.recv_mask)) ++slot.lost;
            wire::Reader body(m.subspan(h.body_offset), h.endian);
            std::string_view text;
            if (h.signature != "s" || !body.read_string(text)) return worker_error(slot, "Echo without a string");
            wire::MessageBuilder reply(wire::MessageType::method_return);
            reply.reply_serial(h.serial).destination(h.sender);
            reply.body("s").put_string(text);
            if (!conn.send(reply.finish(serial++))) return worker_error(slot, "write: %s", strerror(errno));
            ++slot.count;
        }
        if (error) return worker_error(slot, "framing: %s", error);
    }
}

}  // namespace kdbus_bench
