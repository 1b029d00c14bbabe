// libFuzzer target: the whole daemon fed one connection's bytes. A Bus runs
// on an io_context in this process, listening on an abstract unix socket;
// each input is written by a fresh client, which then shuts its write side
// and reads whatever the bus answers until the bus hangs up. The first byte
// chooses a prefix (SASL EXTERNAL for our uid, and Hello) so the fuzzer
// spends its time past authentication as well as in it.
//
// Invariants: the bus hangs up on a client whose input ended (it saw EOF),
// and afterwards holds no connection of it (no leak of Connection or fd).
//
// Cost: one input is a few hundred microseconds of daemon work, so the
// harness does nothing per input beyond that: no sleeps, no timeouts, no
// allocations of its own. Everything the bus must react to (the bytes and
// the EOF) is in the socket before the io_context runs, so it runs until it
// has nothing left to do instead of for a number of rounds.
#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
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

std::vector<uint8_t> make_prefix(uint8_t mode) {
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

size_t open_fds() {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

struct Harness {
    boost::asio::io_context io;
    std::unique_ptr<daemon::Bus> bus;
    sockaddr_un addr{};
    socklen_t addr_len = 0;
    std::array<std::vector<uint8_t>, 8> prefixes;
    std::vector<uint8_t> input;
    std::array<uint8_t, 65536> sink;
    uint64_t executions = 0;
    size_t baseline_fds = 0;

    Harness() {
        spdlog::set_level(spdlog::level::off);
        daemon::BusSettings settings;
        settings.type = "session";
        // A header may claim up to max_message_size, and a connection
        // reserves the whole claim once it exceeds half the read buffer
        // (256 KiB). It used to zero-fill it too, and at the 32 MiB
        // default most of the fuzzer's time went into page faults for
        // bytes that never came (now fixed in the daemon, see
        // Connection::large_). 256 KiB still admits everything an input
        // (<= 64 KiB) can carry, the large-message path (> 128 KiB) and
        // the too-large rejection, and keeps each input cheap.
        settings.limits.max_message_size = 256 * 1024;
        bus = std::make_unique<daemon::Bus>(io, std::move(settings));
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        addr.sun_family = AF_UNIX;
        std::string name = "kdbusd-fuzz-" + std::to_string(::getpid());
        // Abstract namespace: leading NUL, nothing on the filesystem.
        std::copy(name.begin(), name.end(), addr.sun_path + 1);
        addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 || ::listen(fd, 16) != 0) abort();
        bus->add_listener(daemon::UniqueFd(fd));
        for (size_t mode = 0; mode < prefixes.size(); ++mode) prefixes[mode] = make_prefix(static_cast<uint8_t>(mode));
    }

    // Runs the bus's handlers that are ready now; the number run.
    size_t run_ready() {
        size_t ran = io.poll();
        io.restart();
        return ran;
    }

    // Reads what the bus wrote; false when it hung up (EOF or reset).
    bool drain(int client, bool& got) {
        for (;;) {
            ssize_t n = ::recv(client, sink.data(), sink.size(), MSG_DONTWAIT);
            if (n > 0) {
                got = true;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
            return false;
        }
    }

    // Lets the bus work until it hangs up; false if it went idle without.
    bool run_until_hangup(int client) {
        // Work the bus does without end (a ping-pong with itself) is a bug
        // too; this bound makes it an abort instead of a libFuzzer timeout.
        for (int round = 0; round < 100000; ++round) {
            size_t ran = run_ready();
            bool got = false;
            if (!drain(client, got)) return true;
            if (ran == 0 && !got) return false;
        }
        std::fputs("fuzz_connection: the bus never went idle\n", stderr);
        abort();
    }

    // The fd table must not grow with the number of inputs. Counted now and
    // then (a directory read); the slack covers fds others open for good,
    // such as the pipes to the symbolizer.
    void check_fds() {
        if (executions % 4096 != 1) return;
        size_t now = open_fds();
        if (baseline_fds == 0) baseline_fds = now;
        if (now > baseline_fds + 32) {
            std::fprintf(stderr, "fuzz_connection: %zu fds open, %zu at the start: the bus leaks fds\n", now,
                         baseline_fds);
            abort();
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Harness h;
    if (size == 0) return 0;
    ++h.executions;
    const auto& prefix = h.prefixes[data[0] & 7];
    h.input.assign(prefix.begin(), prefix.end());
    h.input.insert(h.input.end(), data + 1, data + size);
    if (h.input.size() > 200 * 1024) return 0;

    int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int sndbuf = 1 << 20;
    ::setsockopt(client, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (::connect(client, reinterpret_cast<sockaddr*>(&h.addr), h.addr_len) != 0) abort();
    size_t off = 0;
    while (off < h.input.size()) {
        ssize_t n = ::send(client, h.input.data() + off, h.input.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;  // the bus hung up already
        // Full: let the bus read (and answer, which we discard).
        h.run_ready();
        bool got = false;
        if (!h.drain(client, got)) break;
    }
    ::shutdown(client, SHUT_WR);
    bool hung_up = h.run_until_hangup(client);
    ::close(client);
    if (!hung_up) {
        std::fputs("fuzz_connection: the bus went idle without hanging up on EOF\n", stderr);
        abort();
    }
    // The bus forgets a connection as it closes it; run what that posted.
    h.run_ready();
    if (h.bus->incomplete_connections() != 0 || !h.bus->connections().empty()) {
        std::fputs("fuzz_connection: the bus still holds the connection after it hung up\n", stderr);
        abort();
    }
    h.check_fds();
    return 0;
}
