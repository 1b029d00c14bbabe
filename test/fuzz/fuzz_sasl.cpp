// libFuzzer target: the server side of SASL fed arbitrary client bytes, in
// chunks whose sizes the input chooses (a client may split lines anywhere).
// Invariants: feed never consumes more than it was given, the state never
// leaves done/failed once reached, and replies stay bounded.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "wire/sasl.hpp"

using kdbus::wire::SaslServer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    SaslServer::Options options;
    options.peer_uid = 1000;
    options.allow_anonymous = data[0] & 1;
    options.unix_fd_capable = data[0] & 2;
    options.guid = "0123456789abcdef0123456789abcdef";
    size_t chunk = data[1] % 16 + 1;
    std::span<const uint8_t> input(data + 2, size - 2);

    SaslServer sasl(options);
    std::string reply;
    while (!input.empty() && sasl.state() == SaslServer::State::in_progress) {
        auto piece = input.first(std::min(chunk, input.size()));
        size_t used = sasl.feed(piece, reply);
        if (used > piece.size()) abort();
        // In progress, everything offered is consumed (buffered as a partial line).
        if (sasl.state() == SaslServer::State::in_progress && used != piece.size()) abort();
        input = input.subspan(used);
    }
    // One reply line per command at most, each short.
    if (reply.size() > (SaslServer::max_commands + 1) * 128) abort();
    return 0;
}
