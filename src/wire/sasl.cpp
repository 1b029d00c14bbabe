/* SASL, server side (D-Bus specification, "Authentication Protocol") */
#include "wire/sasl.hpp"

#include <charconv>
#include <cstring>
#include <utility>

namespace kdbus::wire {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits "COMMAND args" at the first space. */
std::pair<std::string_view, std::string_view> split_command(std::string_view line) {
    size_t space = line.find(' ');
    if (space == std::string_view::npos) return {line, {}};
    return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

SaslServer::SaslServer(Options options) : options_(std::move(options)) {}

size_t SaslServer::feed(std::span<const uint8_t> input, std::string& reply) {
    size_t pos = 0;
    if (state_ != State::in_progress) return 0;
    if (phase_ == Phase::nul_byte) {
        if (input.empty()) return 0;
        // Specification: the client's first byte must be NUL (it carries
        // credentials on some transports).
        if (input[0] != 0) {
            state_ = State::failed;
            return 1;
        }
        phase_ = Phase::wait_auth;
        pos = 1;
    }
    while (pos < input.size() && state_ == State::in_progress) {
        const auto* start = input.data() + pos;
        const auto* nl = static_cast<const uint8_t*>(std::memchr(start, '\n', input.size() - pos));
        size_t take = nl ? static_cast<size_t>(nl - start) + 1 : input.size() - pos;
        if (line_.size() + take > max_line_length + 2) {  // + "\r\n"
            state_ = State::failed;
            return pos + take;
        }
        pos += take;
        if (!nl) {
            line_.append(reinterpret_cast<const char*>(start), take);
            break;
        }
        // A line that arrived whole (the usual case) is read where it is;
        // only one split across reads is put together in line_.
        std::string_view line(reinterpret_cast<const char*>(start), take);
        if (!line_.empty()) {
            line_.append(line);
            line = line_;
        }
        // Specification: commands end with CRLF.
        if (line.size() < 2 || line[line.size() - 2] != '\r') {
            state_ = State::failed;
            break;
        }
        if (++commands_ > max_commands) {
            state_ = State::failed;
            break;
        }
        line.remove_suffix(2);
        handle_line(line, reply);
        line_.clear();
    }
    return pos;
}

void SaslServer::handle_line(std::string_view line, std::string& reply) {
    auto [command, args] = split_command(line);

    // Specification: at any time before BEGIN the client may CANCEL (or
    // send ERROR); the server answers REJECTED and starts over.
    if (command == "CANCEL" || command == "ERROR") {
        reject(reply);
        return;
    }
    if (command == "BEGIN") {
        // BEGIN before OK is a protocol violation: disconnect, as libdbus.
        state_ = phase_ == Phase::wait_begin ? State::done : State::failed;
        return;
    }
    switch (phase_) {
    case Phase::wait_auth:
        if (command == "AUTH") {
            handle_auth(args, reply);
            return;
        }
        if (command == "NEGOTIATE_UNIX_FD") {
            reply += "ERROR \"Need to authenticate first\"\r\n";
            return;
        }
        break;
    case Phase::wait_data:
        if (command == "DATA") {
            // An empty response means "the identity of my credentials".
            if (external_identity_ok(args)) {
                accept(reply);
            } else {
                reject(reply);
            }
            return;
        }
        break;
    case Phase::wait_begin:
        if (command == "NEGOTIATE_UNIX_FD") {
            if (options_.unix_fd_capable) {
                unix_fd_ = true;
                reply += "AGREE_UNIX_FD\r\n";
            } else {
                reply += "ERROR \"Unix fd passing is not supported on this transport\"\r\n";
            }
            return;
        }
        break;
    case Phase::nul_byte:
        break;
    }
    reply += "ERROR \"Unknown command\"\r\n";
}

void SaslServer::handle_auth(std::string_view args, std::string& reply) {
    auto [mechanism, response] = split_command(args);
    if (mechanism == "EXTERNAL" && options_.allow_external) {
        if (response.empty()) {
            // No initial response: ask for one; an empty DATA then selects
            // the peer's credentials (libdbus does the same).
            phase_ = Phase::wait_data;
            reply += "DATA\r\n";
            return;
        }
        if (external_identity_ok(response)) {
            accept(reply);
            return;
        }
    } else if (mechanism == "ANONYMOUS" && options_.allow_anonymous) {
        // The optional trace string is ignored.
        anonymous_ = true;
        accept(reply);
        return;
    }
    reject(reply);
}

/* EXTERNAL: the authorization identity is the uid in ASCII decimal,
 * hex-encoded; it must be the uid the kernel reports for the peer. */
bool SaslServer::external_identity_ok(std::string_view hex) const {
    if (options_.peer_uid == static_cast<uid_t>(-1)) return false;
    if (hex.empty()) return true;
    if (hex.size() % 2 != 0 || hex.size() > 40) return false;
    char decimal[20];
    size_t n = hex.size() / 2;
    for (size_t i = 0; i < n; ++i) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        decimal[i] = static_cast<char>(hi * 16 + lo);
        if (decimal[i] < '0' || decimal[i] > '9') return false;
    }
    uint64_t uid = 0;
    auto [end, ec] = std::from_chars(decimal, decimal + n, uid);
    if (ec != std::errc{} || end != decimal + n) return false;
    return uid == options_.peer_uid;
}

/* Authenticated: OK with the server GUID; BEGIN may follow. */
void SaslServer::accept(std::string& reply) {
    phase_ = Phase::wait_begin;
    // One allocation for this line and the AGREE_UNIX_FD that clients
    // usually ask for in the same write.
    reply.reserve(reply.size() + 64);
    reply.append("OK ").append(options_.guid).append("\r\n");
}

void SaslServer::reject(std::string& reply) {
    phase_ = Phase::wait_auth;
    anonymous_ = false;
    unix_fd_ = false;
    reply += "REJECTED";
    if (options_.allow_external) reply += " EXTERNAL";
    if (options_.allow_anonymous) reply += " ANONYMOUS";
    reply += "\r\n";
}

}  // namespace kdbus::wire
