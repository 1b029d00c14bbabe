// journal-sink: a stand-in for journald's native socket. dbus-broker-launch
// refuses to start without /run/systemd/journal/socket; run.sh binds a temp dir
// over /run/systemd in a private mount namespace and serves the socket with this.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "result_line.hpp"
#include "scenarios.hpp"

namespace kdbus_bench {

int run_journal_sink(const Options &options) {
    if (options.path.empty()) fail("journal-sink needs --path");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (options.path.size() >= sizeof address.sun_path) fail("socket path too long");
    memcpy(address.sun_path, options.path.c_str(), options.path.size());
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail("socket: %s", strerror(errno));
    unlink(options.path.c_str());
    if (bind(sock, reinterpret_cast<sockaddr *>(&address), sizeof address) < 0) fail("bind: %s", strerror(errno));
    int out = -1;
    if (!options.out.empty() &&
        (out = open(options.out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        fail("open %s: %s", options.out.c_str(), strerror(errno));
    std::vector<char> datagram(1 << 17);
    for (;;) {
        ssize_t n = recv(sock, datagram.data(), datagram.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("recv: %s", strerror(errno));
        if (out >= 0 && (write(out, datagram.data(), size_t(n)) < 0 || write(out, "\n", 1) < 0))
            fail("write: %s", strerror(errno));
    }
}

}  // namespace kdbus_bench
