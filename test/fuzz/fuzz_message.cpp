// libFuzzer target: D-Bus message framing, parsing and validation, and the
// forwarding header. Whatever parse_message accepts, the header the bus
// forwards in its place must parse again to the same message (the router
// relies on that: a message is validated once, then re-stitched per
// receiver, DESIGN.md "Rules that hold everywhere"). And HeaderCache, which
// skips the validation of header fields it has seen and copies the forward
// header it made for them, must answer as parse_message() and
// build_forward_header() do for a message that differs from the one before.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "wire/header_cache.hpp"
#include "wire/message.hpp"

using namespace kdbus::wire;

namespace {

void check_forward(const Header& h, std::span<const uint8_t> message) {
    std::vector<uint8_t> forwarded;
    build_forward_header(h, ":1.42", forwarded);
    auto body = message.subspan(h.body_offset);
    forwarded.insert(forwarded.end(), body.begin(), body.end());
    Header again;
    if (parse_message(forwarded, again) != nullptr) abort();
    if (again.type != h.type || again.serial != h.serial || again.body_length != h.body_length ||
        again.signature != h.signature || again.member != h.member || again.path != h.path ||
        again.interface != h.interface || again.destination != h.destination ||
        again.reply_serial != h.reply_serial || again.unix_fds != h.unix_fds || again.sender != ":1.42")
        abort();
}

/* `message` parsed; the bytes after it in the input say which byte of a
 * copy to change and to what. The cache has seen `message` first. */
void check_cache(std::span<const uint8_t> message, std::span<const uint8_t> tail) {
    HeaderCache cache;
    Header h;
    if (cache.parse(message, h) != nullptr) abort();
    std::vector<uint8_t> forwarded, built;
    cache.forward_header(message, h, ":1.42", forwarded);
    build_forward_header(h, ":1.42", built);
    if (forwarded != built) abort();
    std::vector<uint8_t> next(message.begin(), message.end());
    if (tail.size() >= 3) next[(tail[0] | tail[1] << 8) % next.size()] = tail[2];
    Header cached, direct;
    const char* cached_error = cache.parse(next, cached);
    const char* direct_error = parse_message(next, direct);
    if ((cached_error == nullptr) != (direct_error == nullptr)) abort();
    if (direct_error) {
        if (std::string_view(cached_error) != direct_error) abort();
        return;
    }
    if (cached.type != direct.type || cached.flags != direct.flags || cached.serial != direct.serial ||
        cached.body_length != direct.body_length || cached.body_offset != direct.body_offset ||
        cached.path != direct.path || cached.interface != direct.interface || cached.member != direct.member ||
        cached.error_name != direct.error_name || cached.destination != direct.destination ||
        cached.sender != direct.sender || cached.signature != direct.signature ||
        cached.reply_serial != direct.reply_serial || cached.unix_fds != direct.unix_fds)
        abort();
    forwarded.clear();
    built.clear();
    cache.forward_header(next, cached, ":1.42", forwarded);
    build_forward_header(direct, ":1.42", built);
    if (forwarded != built) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> input(data, size);
    // Framing as a connection does it: the fixed header gives the length.
    if (size >= fixed_header_size) {
        const char* error = nullptr;
        size_t length = message_length(input.first<fixed_header_size>(), max_message_size, &error);
        if (length != 0 && length <= size) {
            Header h;
            if (parse_message(input.first(length), h) == nullptr) {
                check_forward(h, input.first(length));
                check_cache(input.first(length), input.subspan(length));
            }
        }
    }
    // And the parser on its own, fed a buffer of any length.
    Header h;
    (void)parse_message(input, h);
    return 0;
}
