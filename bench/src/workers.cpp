#include "workers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "clock.hpp"
#include "result_line.hpp"

namespace kdbus_bench {

namespace {

// Pipe ends only the benchmark's main process may hold: a worker that kept a
// copy of another group's release end would keep that group from ever seeing EOF.
std::vector<int> g_parent_only_fds;

void forget_parent_only(int fd) {
    g_parent_only_fds.erase(std::remove(g_parent_only_fds.begin(), g_parent_only_fds.end(), fd),
                            g_parent_only_fds.end());
}

void close_fd(int &fd) {
    if (fd >= 0) {
        forget_parent_only(fd);
        ::close(fd);
    }
    fd = -1;
}

}  // namespace

int worker_error(WorkerSlot &slot, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot.error, sizeof slot.error, fmt, ap);
    va_end(ap);
    return 1;
}

bool WorkerContext::ready() {
    ssize_t n;
    do n = write(ready_fd_, "R", 1);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

void WorkerContext::wait_release() {
    char c;
    while (read(release_fd_, &c, 1) < 0 && errno == EINTR) {
    }
}

pid_t fork_worker(const std::function<int()> &main) {
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    for (int fd : g_parent_only_fds) ::close(fd);
    g_parent_only_fds.clear();
    _exit(main());
}

struct WorkerGroup::Shared {
    uint64_t release_ns;
};

WorkerGroup::WorkerGroup(int workers) : pids_(size_t(workers), -1) {
    mapping_size_ = sizeof(Shared) + sizeof(WorkerSlot) * size_t(workers);
    void *p = mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("mmap: %s", strerror(errno));
    shared_ = static_cast<Shared *>(p);  // anonymous memory starts zeroed
    slots_ = reinterpret_cast<WorkerSlot *>(shared_ + 1);
    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    ready_read_ = ready[0];
    ready_write_ = ready[1];
    release_read_ = release[0];
    release_write_ = release[1];
    g_parent_only_fds.push_back(ready_read_);
    g_parent_only_fds.push_back(release_write_);
}

WorkerGroup::~WorkerGroup() {
    reap(now_ns());
    close_fd(ready_read_);
    close_fd(ready_write_);
    close_fd(release_read_);
    close_fd(release_write_);
    munmap(shared_, mapping_size_);
}

void WorkerGroup::spawn(int index, const WorkerMain &main) {
    WorkerSlot &slot = slots_[index];
    int ready_fd = ready_write_, release_fd = release_read_;
    uint64_t &release_ns = shared_->release_ns;
    pids_[size_t(index)] = fork_worker([&] {
        WorkerContext context(slot, ready_fd, release_fd, release_ns);
        int status = main(context);
        if (status == 0) slot.finished = 1;
        return status;
    });
}

bool WorkerGroup::wait_ready(uint64_t deadline_ns) {
    // Our copy of the write end must go, or a worker's death would not show as EOF.
    close_fd(ready_write_);
    int missing = size();
    while (missing > 0) {
        uint64_t now = now_ns();
        if (now >= deadline_ns) return false;
        pollfd p{ready_read_, POLLIN, 0};
        int r = poll(&p, 1, int(std::min<uint64_t>((deadline_ns - now) / 1'000'000 + 1, 60'000)));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return false;
        if (r == 0) continue;
        char buf[256];
        ssize_t n = read(ready_read_, buf, std::min<size_t>(sizeof buf, size_t(missing)));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;  // every worker has exited or closed its end
        missing -= int(n);
    }
    return true;
}

uint64_t WorkerGroup::release() {
    shared_->release_ns = now_ns();
    close_fd(release_write_);
    return shared_->release_ns;
}

bool WorkerGroup::reap(uint64_t deadline_ns) {
    bool clean = true;
    for (;;) {
        bool running = false;
        for (pid_t &pid : pids_) {
            if (pid <= 0) continue;
            int status = 0;
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == 0) {
                running = true;
                continue;
            }
            if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = false;
            pid = -1;
        }
        if (!running) return clean;
        if (now_ns() >= deadline_ns) {
            for (pid_t &pid : pids_) {
                if (pid <= 0) continue;
                kill(pid, SIGKILL);
                waitpid(pid, nullptr, 0);
                pid = -1;
            }
            return false;
        }
        poll(nullptr, 0, 2);  // a short nap between waitpid() rounds, not a synchronisation
    }
}

std::string WorkerGroup::first_error(const std::string &fallback) const {
    for (size_t i = 0; i < pids_.size(); ++i)
        if (slots_[i].error[0]) return "worker " + std::to_string(i) + ": " + slots_[i].error;
    return fallback;
}

}  // namespace kdbus_bench
