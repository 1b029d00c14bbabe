// libFuzzer target: D-Bus message framing, parsing and validation, and the
// forwarding header. Whatever parse_message accepts, the header the bus
// forwards in its place must parse again to the same message (the router
// relies on that: a message is validated once, then re-stitched per
// receiver, DESIGN.md "Rules that hold everywhere").
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> input(data, size);
    // Framing as a connection does it: the fixed header gives the length.
    if (size >= fixed_header_size) {
        const char* error = nullptr;
        size_t length = message_length(input.first<fixed_header_size>(), max_message_size, &error);
        if (length != 0 && length <= size) {
            Header h;
            if (parse_message(input.first(length), h) == nullptr) check_forward(h, input.first(length));
        }
    }
    // And the parser on its own, fed a buffer of any length.
    Header h;
    (void)parse_message(input, h);
    return 0;
}
