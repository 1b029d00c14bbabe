// libFuzzer target: the whole daemon fed one connection's bytes. A Bus runs
// on an io_context in this process, listening on an abstract unix socket;
// each input is written by a fresh client, which then shuts its write side
// and reads whatever the bus answers until the bus hangs up. The first byte
// chooses a prefix (SASL EXTERNAL for our uid, and Hello) so the fuzzer
// spends its time past authentication as well as in it.
//
// Invariants: the bus hangs up on a client whose input ended (it saw EOF),
// and afterwards holds no connection of it (no leak of Connection or fd).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "daemon/bus.hpp"
#include "daemon/driver.hpp"
#include "wire/message.hpp"

using namespace kdbus;

namespace {

struct Harness {
    boost::asio::io_context io;
    std::unique_ptr<daemon::Bus> bus;
    sockaddr_un addr{};
    socklen_t addr_len = 0;

    Harness() {
        spdlog::set_level(spdlog::level::off);
        daemon::BusSettings settings;
        settings.type = "session";
        bus = std::make_unique<daemon::Bus>(io, std::move(settings));
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        addr.sun_family = AF_UNIX;
        std::string name = "kdbusd-fuzz-" + std::to_string(::getpid());
        // Abstract namespace: leading NUL, nothing on the filesystem.
        std::copy(name.begin(), name.end(), addr.sun_path + 1);
        addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 || ::listen(fd, 16) != 0) abort();
        bus->add_listener(daemon::UniqueFd(fd));
    }
};

std::vector<uint8_t> prefix(uint8_t mode) {
    std::vector<uint8_t> out;
    if (!(mode & 1)) return out;
    std::string hex;
    for (char c : std::to_string(::getuid())) {
        static const char digits[] = "0123456789abcdef";
        hex += digits[static_cast<uint8_t>(c) >> 4];
        hex += digits[static_cast<uint8_t>(c) & 15];
    }
    std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex + "\r\n";
    if (mode & 4) auth += "NEGOTIATE_UNIX_FD\r\n";
    auth += "BEGIN\r\n";
    out.assign(auth.begin(), auth.end());
    if (mode & 2) {
        wire::MessageBuilder hello(wire::MessageType::method_call);
        hello.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("Hello");
        hello.destination("org.freedesktop.DBus");
        auto bytes = hello.finish(1);
        out.insert(out.end(), bytes.begin(), bytes.end());
    }
    return out;
}

// Runs the bus until the client sees it hang up (or the round budget ends).
bool run_until_hangup(Harness& h, int client) {
    uint8_t sink[65536];
    for (int round = 0; round < 2000; ++round) {
        h.io.poll();
        h.io.restart();
        ssize_t n = ::recv(client, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0 && errno != EAGAIN) return true;  // ECONNRESET: hung up too
        if (n < 0) {
            pollfd p{client, POLLIN, 0};
            ::poll(&p, 1, 1);
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Harness h;
    if (size == 0) return 0;
    std::vector<uint8_t> input = prefix(data[0]);
    input.insert(input.end(), data + 1, data + size);
    if (input.size() > 200 * 1024) return 0;

    int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int sndbuf = 1 << 20;
    ::setsockopt(client, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (::connect(client, reinterpret_cast<sockaddr*>(&h.addr), h.addr_len) != 0) abort();
    size_t off = 0;
    uint8_t sink[65536];
    while (off < input.size()) {
        ssize_t n = ::send(client, input.data() + off, input.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN) break;  // the bus hung up already
        h.io.poll();
        h.io.restart();
        while (::recv(client, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    }
    ::shutdown(client, SHUT_WR);
    bool hung_up = run_until_hangup(h, client);
    ::close(client);
    // Let the bus notice our close and forget the connection.
    for (int round = 0; round < 100 && (h.bus->incomplete_connections() != 0 || !h.bus->connections().empty());
         ++round) {
        h.io.poll();
        h.io.restart();
    }
    if (!hung_up) abort();  // the bus ignored EOF
    if (h.bus->incomplete_connections() != 0 || !h.bus->connections().empty()) abort();  // leaked
    return 0;
}
