// Worker processes: the clients, subscribers and services of a scenario, each
// a forked child with its own connections, reporting through shared memory.
//
// A group starts its workers, waits until every one has said ready (its
// connections are up, its match rules installed), then releases them all at
// once by closing a pipe: a client takes the release as "start", a service
// or rule holder as "stop".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kdbus_bench {

// What one worker reports back. Lives in a MAP_SHARED mapping.
struct WorkerSlot {
    uint64_t count;        // operations done (calls, signals received)
    uint64_t lost;         // signals a subscriber never saw
    uint64_t out_of_order; // signals seen out of sequence
    uint64_t end_ns;       // when the worker did its last operation
    int32_t finished;      // set last, on success
    char error[180];       // set on failure
};

// Records why a worker failed; returns the worker's exit status (1).
int worker_error(WorkerSlot &slot, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

class WorkerContext {
public:
    WorkerContext(WorkerSlot &slot, int ready_fd, int release_fd, uint64_t &release_ns)
        : slot_(slot), ready_fd_(ready_fd), release_fd_(release_fd), release_ns_(release_ns) {}

    WorkerSlot &slot() { return slot_; }
    // Tells the parent this worker is set up. Returns false if the parent is gone.
    bool ready();
    // Blocks until the group is released.
    void wait_release();
    // Turns readable (EOF) when the group is released: for poll() loops.
    int release_fd() const { return release_fd_; }
    // When the parent released the group (valid after wait_release()).
    uint64_t release_ns() const { return release_ns_; }

private:
    WorkerSlot &slot_;
    int ready_fd_;
    int release_fd_;
    uint64_t &release_ns_;
};

using WorkerMain = std::function<int(WorkerContext &)>;

class WorkerGroup {
public:
    explicit WorkerGroup(int workers);
    WorkerGroup(const WorkerGroup &) = delete;
    WorkerGroup &operator=(const WorkerGroup &) = delete;
    ~WorkerGroup();

    // Forks worker `index`; it runs `main` and exits with its return value.
    void spawn(int index, const WorkerMain &main);
    // Waits for every worker's ready; false on timeout or if one died first.
    bool wait_ready(uint64_t deadline_ns);
    // Releases every worker; returns the release time.
    uint64_t release();
    // Reaps the workers; those still running at the deadline are killed.
    // True if all exited with status 0.
    bool reap(uint64_t deadline_ns);

    int size() const { return int(pids_.size()); }
    WorkerSlot &slot(int i) { return slots_[i]; }
    // The first error any worker recorded, or `fallback`.
    std::string first_error(const std::string &fallback) const;

private:
    struct Shared;
    Shared *shared_ = nullptr;
    WorkerSlot *slots_ = nullptr;
    size_t mapping_size_ = 0;
    std::vector<pid_t> pids_;
    int ready_read_ = -1, ready_write_ = -1;
    int release_read_ = -1, release_write_ = -1;
};

// Forks a child that closes the parent's pipe ends of every live group (so
// their EOFs still arrive), dies with the parent, and exits with main()'s
// return value.
pid_t fork_worker(const std::function<int()> &main);

}  // namespace kdbus_bench
