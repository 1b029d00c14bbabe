/* Small reads of one process's /proc files, bound to that process through a pidfd */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "metadata/pidfd.hpp"

namespace kdbus::metadata {

/* Identity of a namespace or directory: what fstat says. */
struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const FileId&) const = default;
};
FileId file_id(const struct stat& st);

/*
 * /proc/PID of one process. open() opens the directory and then checks
 * the pidfd still names a live process: if so the directory cannot belong
 * to a later process that reused the pid, and every later read through it
 * either returns this process's data or fails. Reads are bounded (files
 * here are a few KiB at most), so they never stall the event loop.
 */
class ProcDir {
public:
    ProcDir() = default;
    ProcDir(ProcDir&& o) noexcept;
    ProcDir& operator=(ProcDir&& o) noexcept;
    ProcDir(const ProcDir&) = delete;
    ProcDir& operator=(const ProcDir&) = delete;
    ~ProcDir();

    /* nullopt when the process has exited (or has no pidfd to prove it is
     * still the same process). */
    static std::optional<ProcDir> open(const Pidfd& pidfd, pid_t pid);
    /* The daemon's own /proc/self, for comparisons. */
    static std::optional<ProcDir> self();

    int fd() const { return fd_; }

    /* Reads a whole file (at most `limit` bytes). */
    std::optional<std::string> read(const char* name, size_t limit = 64 * 1024) const;
    /* The target of a symlink such as "exe". */
    std::optional<std::string> readlink(const char* name) const;
    /* fstatat following the link ("root", "ns/user"). */
    std::optional<FileId> stat(const char* name) const;
    /* Opens a file below the directory (O_RDONLY|O_CLOEXEC); -1 on error. */
    int open_file(const char* name) const;

private:
    explicit ProcDir(int fd) : fd_(fd) {}
    int fd_ = -1;
};

/* One "Key:\tvalue" line of /proc/PID/status, without the key. */
std::optional<std::string_view> status_field(std::string_view status, std::string_view key);

}  // namespace kdbus::metadata
