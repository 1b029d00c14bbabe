#include "echo_service.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "bench_interface.hpp"
#include "bus_client.hpp"
#include "clock.hpp"
#include "result_line.hpp"

namespace kdbus_bench {

namespace {

size_t count_corrupt(const uint8_t *bytes, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i += 4096) bad += bytes[i] != payload_byte(i);
    if (n) bad += bytes[n - 1] != payload_byte(n - 1);
    return bad;
}

int reply_checked(sd_bus_message *call, uint64_t length, bool corrupt) {
    int r = corrupt ? sd_bus_reply_method_errorf(call, "org.kdbus.Bench.Error.Corrupt", "payload corrupted")
                    : sd_bus_reply_method_return(call, "t", length);
    return r < 0 ? r : 1;
}

int on_echo(sd_bus_message *call) {
    const char *text;
    int r = sd_bus_message_read(call, "s", &text);
    if (r < 0) return r;
    r = sd_bus_reply_method_return(call, "s", text);
    return r < 0 ? r : 1;
}

int on_bytes(sd_bus_message *call) {
    const void *bytes;
    size_t n;
    int r = sd_bus_message_read_array(call, 'y', &bytes, &n);
    if (r < 0) return r;
    return reply_checked(call, n, count_corrupt(static_cast<const uint8_t *>(bytes), n) != 0);
}

int on_fd(sd_bus_message *call) {
    int fd;
    uint64_t length;
    int r = sd_bus_message_read(call, "ht", &fd, &length);
    if (r < 0) return r;
    struct stat st{};
    if (fstat(fd, &st) < 0) return -errno;
    int seals = fcntl(fd, F_GET_SEALS);
    const int needed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    if (seals < 0 || (seals & needed) != needed) {
        r = sd_bus_reply_method_errorf(call, "org.kdbus.Bench.Error.NotSealed", "fd is not a sealed memfd");
        return r < 0 ? r : 1;
    }
    if (uint64_t(st.st_size) != length) {
        r = sd_bus_reply_method_errorf(call, "org.kdbus.Bench.Error.Size", "memfd holds %lld bytes, not %" PRIu64,
                                       (long long)st.st_size, length);
        return r < 0 ? r : 1;
    }
    bool corrupt = false;
    if (length) {
        void *map = mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) return -errno;
        corrupt = count_corrupt(static_cast<const uint8_t *>(map), length) != 0;
        munmap(map, length);
    }
    return reply_checked(call, length, corrupt);
}

// A method table rather than a vtable: no introspection or signature checks on
// the service side, so that the service costs the same on every bus and as
// little as possible.
int on_call(sd_bus_message *call, void *, sd_bus_error *) {
    struct Method {
        const char *name;
        int (*handle)(sd_bus_message *);
    };
    static constexpr Method methods[] = {{"Echo", on_echo}, {"Bytes", on_bytes}, {"Fd", on_fd}};
    for (const Method &m : methods)
        if (sd_bus_message_is_method_call(call, kInterface, m.name) > 0) return m.handle(call);
    return 0;
}

int serve(WorkerContext &context, const Options &options, const std::string &name, int service_fd) {
    WorkerSlot &slot = context.slot();
    BusClient bus;
    int r = service_fd >= 0 ? bus.connect_peer(service_fd, true, options.timeout)
                            : bus.connect(options.address, options.timeout);
    if (r < 0) return worker_error(slot, "service connect: %s", strerror(-r));
    if (!name.empty() && (r = sd_bus_request_name(bus.get(), name.c_str(), 0)) < 0)
        return worker_error(slot, "RequestName %s: %s", name.c_str(), strerror(-r));
    if ((r = sd_bus_add_object(bus.get(), nullptr, kObjectPath, on_call, nullptr)) < 0)
        return worker_error(slot, "add_object: %s", strerror(-r));
    if (!context.ready()) return worker_error(slot, "parent gone");
    int error = 0;
    // Serve until released; the client's hang-up is a normal end too.
    Dispatch d = dispatch_until(bus.get(), [] { return false; }, UINT64_MAX, context.release_fd(), &error);
    if (d == Dispatch::error && error != ECONNRESET && error != ENOTCONN)
        return worker_error(slot, "service: %s", strerror(error));
    return 0;
}

}  // namespace

EchoService::EchoService(const Options &options) {
    name_ = kServiceNamePrefix + std::to_string(getpid());
    start(options, -1, -1);
}

EchoService::EchoService(const Options &options, int service_fd, int client_fd) {
    start(options, service_fd, client_fd);
    ::close(service_fd);
}

void EchoService::start(const Options &options, int service_fd, int client_fd) {
    group_.spawn(0, [&](WorkerContext &context) {
        if (client_fd >= 0) ::close(client_fd);
        return serve(context, options, name_, service_fd);
    });
    if (!group_.wait_ready(now_ns() + seconds_to_ns(options.timeout))) {
        group_.reap(now_ns() + seconds_to_ns(2));
        fail("service did not start: %s", group_.first_error("no reason given").c_str());
    }
}

void EchoService::stop() {
    if (stopped_) return;
    stopped_ = true;
    group_.release();
    if (!group_.reap(now_ns() + seconds_to_ns(5))) fail("%s", group_.first_error("service did not exit cleanly").c_str());
}

EchoService::~EchoService() {
    if (!stopped_) {
        stopped_ = true;
        group_.release();
        group_.reap(now_ns() + seconds_to_ns(5));
    }
}

}  // namespace kdbus_bench
