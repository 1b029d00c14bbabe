/* FdAdmission: which file descriptors a message may carry through the bus, and to whom */
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/bus_message.hpp"
#include "daemon/bus_settings.hpp"
#include "daemon/unique_fd.hpp"
#include "metadata/memfd.hpp"

namespace kdbus::daemon {

/*
 * What a receiver accepts (org.kdbusd.Bus1.SetFdPolicy): every fd, as in
 * D-Bus, or only sealed memfds — contents that cannot change under the
 * receiver, no sockets or files it would have to distrust (kdbus
 * PAYLOAD_MEMFD; DESIGN.md "memfd payloads").
 */
enum class FdPolicy { any, sealed_memfd_only };
std::optional<FdPolicy> parse_fd_policy(std::string_view text);  // "any" | "sealed-memfd-only"
std::string_view fd_policy_name(FdPolicy policy);

/* kdbus ipc/kdbus/limits.h: KDBUS_MSG_MAX_MEMFD_ITEMS (E2BIG). Plain fds
 * per message are the configuration's max_message_unix_fds, whose
 * dbus-daemon default, 16, is kdbus's KDBUS_CONN_MAX_FDS_PER_USER too. */
inline constexpr size_t max_memfds_per_message = 16;
/* Fds the bus may hold for one sending user at a time, over all its
 * connections: four connections' worth of max_incoming_unix_fds (which
 * bounds one connection). Plain fds and sealed memfds are counted apart,
 * each against this bound: a memfd is a payload, but still a fd in the
 * daemon's table. */
size_t max_fds_in_flight_per_user(const BusLimits& limits);

/* Classifies each fd of a message (see metadata/memfd.hpp): what quota code
 * uses to count sealed memfds as payload rather than as fds. */
metadata::FdCensus fd_census(std::span<const UniqueFd> fds);

/* A refusal: the D-Bus error the sender gets, and its text. */
struct FdRefusal {
    const char* error_name;
    std::string text;
};

/* Per-user counts of fds the bus holds, shared with the charges that point
 * into it so a charge may outlive the admission it came from. */
struct FdsInFlight {
    size_t plain = 0;
    size_t sealed_memfds = 0;
};
using FdsInFlightTable = std::unordered_map<uid_t, FdsInFlight>;

/* The charge a message with fds carries (BusMessage::in_flight_fds): its
 * census, taken once, and its fds counted to the sending user until the
 * message is freed. */
struct InFlightFds {
    metadata::FdCensus census;
    uid_t uid = 0;
    std::shared_ptr<FdsInFlightTable> table;
    ~InFlightFds();
};

class FdAdmission {
public:
    FdAdmission();

    /* Sender side, once per message that carries fds, before routing:
     * refuses kdbusd's own sockets, more memfds than kdbus allowed in one
     * message, and more fds in flight for the sending user than
     * max_fds_in_flight_per_user; otherwise charges the message
     * (m.in_flight_fds) and returns nothing. */
    std::optional<FdRefusal> admit(BusMessage& m, uid_t sender_uid, const BusLimits& limits);

    /* Receiver side: why `m` may not reach receiver `id` (called `name`),
     * or nothing. Cheap for receivers that accept any fd. */
    std::optional<FdRefusal> refusal_for(const BusMessage& m, uint64_t id, std::string_view name) const;

    /* Bus1.SetFdPolicy; forget() when the connection leaves. */
    void set_policy(uint64_t id, FdPolicy policy);
    FdPolicy policy(uint64_t id) const;
    void forget(uint64_t id) { policies_.erase(id); }

    FdsInFlight in_flight(uid_t uid) const;

private:
    pid_t daemon_pid_;
    std::shared_ptr<FdsInFlightTable> in_flight_;
    /* Only receivers that restricted themselves are here. */
    std::unordered_map<uint64_t, FdPolicy> policies_;
};

}  // namespace kdbus::daemon
