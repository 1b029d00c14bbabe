#include "least_bus.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "metadata/linux_compat.hpp"
#include "metadata/pidfd.hpp"
#include "result_line.hpp"
#include "wire/marshal.hpp"
#include "wire/message.hpp"
#include "wire/sasl.hpp"

namespace kdbus_bench {

namespace {

constexpr std::string_view unique_name = ":1.1";  // every client gets the same: nothing checks
constexpr std::string_view guid = "5c1e9a5f0b7d4e3a9c2f6d8b1a4e7c30";

struct Peer {
    explicit Peer(uid_t uid) : sasl(kdbus::wire::SaslServer::Options{.peer_uid = uid, .guid = guid}) {}
    int fd = -1;
    int pidfd = -1;  // --pin pidfd: held for the connection's life
    pid_t pid = 0;
    std::string input;
    kdbus::wire::SaslServer sasl;
    bool began = false, answered = false;
};

// The Hello reply and NameAcquired, made once per Hello serial (sd-bus always
// sends Hello as serial 1).
class HelloAnswer {
public:
    const std::vector<uint8_t> &bytes(uint32_t hello_serial) {
        if (hello_serial == serial_ && !bytes_.empty()) return bytes_;
        kdbus::wire::MessageBuilder reply(kdbus::wire::MessageType::method_return);
        reply.destination(unique_name).sender("org.freedesktop.DBus").reply_serial(hello_serial);
        reply.body("s").put_string(unique_name);
        kdbus::wire::MessageBuilder acquired(kdbus::wire::MessageType::signal);
        acquired.path("/org/freedesktop/DBus").interface("org.freedesktop.DBus").member("NameAcquired");
        acquired.destination(unique_name).sender("org.freedesktop.DBus");
        acquired.body("s").put_string(unique_name);
        bytes_ = reply.finish(1);
        std::vector<uint8_t> second = acquired.finish(2);
        bytes_.insert(bytes_.end(), second.begin(), second.end());
        serial_ = hello_serial;
        return bytes_;
    }

private:
    uint32_t serial_ = 0;
    std::vector<uint8_t> bytes_;
};

// The parts of kdbusd's pin at Hello (src/daemon/metadata_attach.cpp).
void pin_at_hello(const Peer &peer, const LeastBus::Pins &pins) {
    kdbus::metadata::Pidfd pidfd;
    if (pins.hello_pidfd) {
        int fd = -1;
        socklen_t len = sizeof fd;
        if (getsockopt(peer.fd, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) pidfd = kdbus::metadata::Pidfd(fd);
    }
    if (pins.stats) {
        char path[48];
        struct stat st;
        for (const char *name : {"ns/user", "ns/pid", "root"}) {
            snprintf(path, sizeof path, "/proc/%d/%s", int(peer.pid), name);
            if (stat(path, &st) != 0) break;
        }
    }
    if (pidfd) (void)pidfd.info();
}

class Loop {
public:
    Loop(int listener, const LeastBus::Pins &pins) : listener_(listener), pins_(pins) {
        // As kdbusd does, so that the stats find the namespaces' dentries.
        if (pins_.stats)
            for (const char *ns : {"/proc/self/ns/user", "/proc/self/ns/pid"}) held_.push_back(open(ns, O_PATH | O_CLOEXEC));
    }

    int run() {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = nullptr;
        if (epoll_ < 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev) < 0) return 1;
        epoll_event events[64];
        for (;;) {
            int n = epoll_wait(epoll_, events, 64, -1);
            if (n < 0 && errno != EINTR) return 1;
            for (int i = 0; i < n; ++i) {
                if (events[i].data.ptr) serve(static_cast<Peer *>(events[i].data.ptr));
                else accept_all();
            }
        }
    }

private:
    void accept_all() {
        for (;;) {
            int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) return;
            ucred uc{};
            socklen_t len = sizeof uc;
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len);
            auto *peer = new Peer(uc.uid);
            peer->fd = fd;
            peer->pid = uc.pid;
            gid_t groups[64];
            len = sizeof groups;
            getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
            char label[256];
            len = sizeof label;
            getsockopt(fd, SOL_SOCKET, SO_PEERSEC, label, &len);
            if (pins_.held_pidfd) {
                len = sizeof peer->pidfd;
                getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &peer->pidfd, &len);
            }
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
            ev.data.ptr = peer;
            epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
            serve(peer);  // clients write their SASL greeting before accept()
        }
    }

    // Reads until EAGAIN; closes the peer at EOF or error.
    void serve(Peer *peer) {
        char buf[4096];
        for (;;) {
            ssize_t n = recv(peer->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) return;
            if (n <= 0) {
                close(peer->fd);
                if (peer->pidfd >= 0) close(peer->pidfd);
                delete peer;
                return;
            }
            if (peer->answered) continue;  // nothing after Hello is answered
            peer->input.append(buf, size_t(n));
            if (!peer->began) sasl(*peer);
            if (peer->began) hello(*peer);
        }
    }

    // The project's SASL server, as kdbusd runs it: every complete line is
    // answered at once, as a pipelining client expects.
    void sasl(Peer &peer) {
        std::string reply;
        auto input = std::span(reinterpret_cast<const uint8_t *>(peer.input.data()), peer.input.size());
        peer.input.erase(0, peer.sasl.feed(input, reply));
        if (!reply.empty()) send(peer.fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (peer.sasl.state() == kdbus::wire::SaslServer::State::failed) shutdown(peer.fd, SHUT_RDWR);
        peer.began = peer.sasl.state() == kdbus::wire::SaslServer::State::done;
    }

    // Answers the first message, Hello, once it is complete; a malformed
    // one closes the connection at the client's next write.
    void hello(Peer &peer) {
        namespace wire = kdbus::wire;
        if (peer.input.size() < wire::fixed_header_size) return;
        const auto *head = reinterpret_cast<const uint8_t *>(peer.input.data());
        const char *error = nullptr;
        size_t length = wire::message_length(std::span<const uint8_t, wire::fixed_header_size>(head, wire::fixed_header_size),
                                             wire::max_message_size, &error);
        if (length == 0) {
            shutdown(peer.fd, SHUT_RDWR);
            return;
        }
        if (peer.input.size() < length) return;
        pin_at_hello(peer, pins_);
        auto endian = static_cast<wire::Endian>(head[0]);
        const std::vector<uint8_t> &answer = hello_.bytes(wire::load_u32(head + 8, endian));
        send(peer.fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        peer.answered = true;
        peer.input.clear();
    }

    int listener_;
    LeastBus::Pins pins_;
    int epoll_ = -1;
    std::vector<int> held_;
    HelloAnswer hello_;
};

}  // namespace

LeastBus::LeastBus(const Options &options) {
    std::optional<Pins> pins = parse_pins(options.pin);
    if (!pins) fail("--pin: '%s' is not a list of pidfd, hello-pidfd, stats, identity (or none)", options.pin.c_str());
    char dir[] = "/tmp/kdbus-bench-least.XXXXXX";
    if (!mkdtemp(dir)) fail("mkdtemp: %s", strerror(errno));
    dir_ = dir;
    std::string path = dir_ + "/bus";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    // Listening before the fork: the bus is ready when the constructor returns.
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0 ||
        listen(listener, 4096) < 0)
        fail("least bus at %s: %s", path.c_str(), strerror(errno));
    address_ = "unix:path=" + path;
    pid_ = fork_worker([listener, pins] { return Loop(listener, *pins).run(); });
    close(listener);
}

std::optional<LeastBus::Pins> LeastBus::parse_pins(std::string_view list) {
    Pins pins;
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (item == "pidfd") pins.held_pidfd = true;
        else if (item == "hello-pidfd") pins.hello_pidfd = true;
        else if (item == "stats") pins.stats = true;
        else if (item == "identity") pins.hello_pidfd = pins.stats = true;
        else if (item != "none") return std::nullopt;
    }
    return pins;
}

LeastBus::~LeastBus() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    unlink((dir_ + "/bus").c_str());
    rmdir(dir_.c_str());
}

}  // namespace kdbus_bench
