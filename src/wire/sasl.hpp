/* SASL, server side (D-Bus specification, "Authentication Protocol") */
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace kdbus::wire {

/*
 * The server half of D-Bus authentication, without I/O: feed it the bytes
 * a client sent, send back what it appends to `reply`. Mechanisms:
 * EXTERNAL (the hex-encoded decimal uid must equal the SO_PEERCRED uid; an
 * empty initial response is answered with DATA and the client's empty or
 * hex DATA completes it) and ANONYMOUS (only when allowed). Also
 * NEGOTIATE_UNIX_FD, CANCEL, ERROR, BEGIN; the leading NUL byte is
 * required. Lines longer than max_line_length or more than max_commands
 * commands fail the exchange.
 */
class SaslServer {
public:
    struct Options {
        uid_t peer_uid = static_cast<uid_t>(-1);  // SO_PEERCRED
        bool allow_external = true;
        bool allow_anonymous = false;
        bool unix_fd_capable = true;  // the transport can pass fds
        /* 32 lowercase hex characters; a view of the bus's GUID, which
         * outlives every connection's authentication. */
        std::string_view guid;
    };
    enum class State {
        in_progress,
        done,    // BEGIN received: the rest of the input is D-Bus messages
        failed,  // protocol violation: disconnect
    };

    static constexpr size_t max_line_length = 16 * 1024;
    static constexpr unsigned max_commands = 64;

    explicit SaslServer(Options options);

    /*
     * Consumes input up to and including the line that completes the
     * exchange (BEGIN), so bytes a client pipelined after BEGIN are left
     * for the caller; returns the number of bytes consumed. Replies are
     * appended to `reply`.
     */
    size_t feed(std::span<const uint8_t> input, std::string& reply);

    State state() const { return state_; }
    bool unix_fd_negotiated() const { return unix_fd_; }
    bool anonymous() const { return anonymous_; }

private:
    enum class Phase { nul_byte, wait_auth, wait_data, wait_begin };
    void handle_line(std::string_view line, std::string& reply);
    void handle_auth(std::string_view args, std::string& reply);
    bool external_identity_ok(std::string_view hex) const;
    void accept(std::string& reply);
    void reject(std::string& reply);

    Options options_;
    State state_ = State::in_progress;
    Phase phase_ = Phase::nul_byte;
    std::string line_;
    unsigned commands_ = 0;
    bool unix_fd_ = false;
    bool anonymous_ = false;
};

}  // namespace kdbus::wire
