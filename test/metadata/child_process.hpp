/* Test helper: a forked child that sets itself up (namespaces, mounts) and then waits to be released */
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace kdbus::metadata::test {

/*
 * fork()s; the child runs `setup`, which returns the pid to report (or -1
 * on failure), writes it to the parent and blocks until the parent
 * releases it (destructor). Synchronisation is by pipes only.
 * `setup` may itself fork (pid namespaces): the reported pid is then the
 * grandchild's, which must block on `release_fd` too.
 */
class ChildProcess {
public:
    /* setup(release_fd) runs in the child. */
    explicit ChildProcess(const std::function<pid_t(int release_fd)>& setup) {
        int ready[2], release[2];
        if (::pipe(ready) != 0 || ::pipe(release) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(ready[0]);
            ::close(release[1]);
            pid_t reported = setup(release[0]);
            (void)!::write(ready[1], &reported, sizeof reported);
            ::close(ready[1]);
            char c;
            (void)!::read(release[0], &c, 1);
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(release[0]);
        release_ = release[1];
        if (::read(ready[0], &reported_, sizeof reported_) != sizeof reported_) reported_ = -1;
        ::close(ready[0]);
    }
    ~ChildProcess() { finish(); }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /* What setup reported (its own pid by convention, or a grandchild's). */
    pid_t reported() const { return reported_; }

    /* Releases the child and reaps it. */
    void finish() {
        if (release_ >= 0) ::close(release_);
        release_ = -1;
        if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    /* Blocks on the release pipe; for grandchildren made in setup. */
    static void wait_for_release(int release_fd) {
        char c;
        (void)!::read(release_fd, &c, 1);
    }

private:
    pid_t pid_ = -1;
    pid_t reported_ = -1;
    int release_ = -1;
};

}  // namespace kdbus::metadata::test
