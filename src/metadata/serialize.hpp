/* Serializing captured metadata into header field 128, translated for one receiver */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metadata/message_metadata.hpp"
#include "metadata/namespace_view.hpp"
#include "wire/marshal.hpp"

namespace kdbus::metadata {

/*
 * The items written are `mask` ∩ md.present, each translated into the
 * receiver's namespaces (KDBUS.md §3 rule 6): ids → 65534 when unmapped,
 * pids → 0 when invisible, loginuid → -1, caps per NamespaceView::caps(),
 * Exe omitted across fs roots. `names`, when given, replaces md.names (a
 * custom endpoint's SEE-filtered list). Item keys and signatures are
 * include/kdbus/interface.hpp's.
 */

/* The a{sv} value alone (array length, padding, entries), little-endian,
 * at the writer's current position. Returns the number of entries. */
size_t append_metadata_value(wire::Writer& w, const MessageMetadata& md, uint64_t mask,
                             const NamespaceView& receiver, const std::vector<std::string>* names = nullptr);

/*
 * Adds the whole field to a header as wire::build_forward_header() makes
 * it: `header` holds the message from its first byte up to the end of the
 * padded header-field array, in byte order `endian`. Appends the entry
 * (BYTE 128, VARIANT a{sv}), patches the field-array length at offset 12
 * and pads to 8 again so the body can follow. Appends nothing and returns
 * false when no item would be delivered.
 */
bool append_metadata_field(std::vector<uint8_t>& header, wire::Endian endian, const MessageMetadata& md,
                           uint64_t mask, const NamespaceView& receiver,
                           const std::vector<std::string>* names = nullptr);

}  // namespace kdbus::metadata
