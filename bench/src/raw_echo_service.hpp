// An Echo(s) -> s service that speaks the D-Bus wire protocol itself (with
// kdbusd's wire library) instead of through sd-bus, so that it can opt in to
// kdbusd's per-message metadata: libsystemd 252's sd-bus drops every message
// whose header carries field 128 (docs/compat.md), so an sd-bus service that
// sets a receive mask would never see a call.
//
// It runs in its own process, owns `name`, sets its receive mask with
// org.kdbusd.Bus1.UpdateAttachFlags (unless told not to call it at all) and
// checks every call it answers: with a mask, the field must carry every
// requested item of CREDS, PIDS and TIMESTAMP; with none, no field at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "workers.hpp"

namespace kdbus_bench {

struct RawServiceSpec {
    std::string address;                // unix:path=... only
    std::string name;                   // well-known name to own
    std::optional<uint64_t> recv_mask;  // nullopt: never call UpdateAttachFlags
    double timeout = 60.0;
};

// The worker's main: serves until the group is released. Its slot's count is
// the calls answered, lost the calls whose metadata was not as requested.
int serve_raw_echo(WorkerContext &context, const RawServiceSpec &spec);

}  // namespace kdbus_bench
