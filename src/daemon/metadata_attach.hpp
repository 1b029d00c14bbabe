/* Metadata Attach: kdbus per-message metadata, captured once per message
 * and added to each opted-in receiver's copy of the header */
#pragma once

#include <cstdint>
#include <vector>

#include "daemon/bus_message.hpp"
#include "daemon/connection.hpp"
#include "daemon/name_registry.hpp"

namespace kdbus::daemon {

/*
 * Builds `to`'s own header for `m` with field 128, holding what kdbus's
 * rule delivers: to.attach_recv ∩ (implicit ∪ sender's send mask ∪ process
 * items `to` could read itself), translated into `to`'s namespaces. Items
 * are captured from the sender (the stamp of the read that carried the
 * message, /proc through a pidfd) the first time a receiver needs them.
 * `sender` is nullptr for messages of the bus itself, which carry only
 * Timestamp. Returns an empty vector when nothing is to be added.
 */
/* At Hello: the peer's credentials (all eight ids, ppid) for
 * GetConnectionMetadata, and its namespaces for translating what it
 * receives, as kdbus captured both at HELLO. */
void pin_hello_identity(Connection& c);

std::vector<uint8_t> header_with_metadata(BusMessage& m, Connection* sender, const Connection& to,
                                          const NameRegistry& names, uint64_t& seqnum);

}  // namespace kdbus::daemon
