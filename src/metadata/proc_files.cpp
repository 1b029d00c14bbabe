#include "metadata/proc_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace kdbus::metadata {

FileId file_id(const struct stat& st) { return FileId{st.st_dev, st.st_ino}; }

ProcDir::ProcDir(ProcDir&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
ProcDir& ProcDir::operator=(ProcDir&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}
ProcDir::~ProcDir() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<ProcDir> ProcDir::open(const Pidfd& pidfd, pid_t pid) {
    if (!pidfd || pid <= 0) return std::nullopt;
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
    ProcDir dir(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.fd_ < 0) return std::nullopt;
    /* Order matters: the directory was opened first, so if the process is
     * alive now, the pid was not reused in between. */
    if (!pidfd.alive()) return std::nullopt;
    return dir;
}

std::optional<ProcDir> ProcDir::self() {
    ProcDir dir(::open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.fd_ < 0) return std::nullopt;
    return dir;
}

int ProcDir::open_file(const char* name) const { return ::openat(fd_, name, O_RDONLY | O_CLOEXEC); }

std::optional<std::string> ProcDir::read(const char* name, size_t limit) const {
    int fd = open_file(name);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            ::close(fd);
            return std::nullopt;  // ESRCH: the process went away mid-read
        }
        if (n == 0) break;
        out.append(buf, std::min(static_cast<size_t>(n), limit - out.size()));
        if (out.size() >= limit) break;
    }
    ::close(fd);
    return out;
}

std::optional<std::string> ProcDir::readlink(const char* name) const {
    char buf[4096];
    ssize_t n = ::readlinkat(fd_, name, buf, sizeof buf);
    if (n < 0 || static_cast<size_t>(n) >= sizeof buf) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
}

std::optional<FileId> ProcDir::stat(const char* name) const {
    struct stat st;
    if (::fstatat(fd_, name, &st, 0) != 0) return std::nullopt;
    return file_id(st);
}

std::optional<std::string_view> status_field(std::string_view status, std::string_view key) {
    size_t pos = 0;
    while (pos < status.size()) {
        size_t eol = status.find('\n', pos);
        if (eol == std::string_view::npos) eol = status.size();
        std::string_view line = status.substr(pos, eol - pos);
        if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
            line.remove_prefix(key.size() + 1);
            while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) line.remove_prefix(1);
            return line;
        }
        pos = eol + 1;
    }
    return std::nullopt;
}

}  // namespace kdbus::metadata
