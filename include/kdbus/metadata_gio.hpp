/* Reading kdbusd's per-message metadata (header field 128) from a GDBusMessage; header-only, needs GIO */
#pragma once

#include <gio/gio.h>

#include <optional>

#include "kdbus/metadata.hpp"

namespace kdbus {

/*
 * GDBus keeps header fields it does not know: field 128 is in
 * g_dbus_message_get_header_fields() and survives g_dbus_message_to_blob().
 * It hands them out as GVariant, whose serialization is not D-Bus's, so
 * this re-serializes the message to D-Bus bytes and lets read_metadata()
 * parse them: one copy of the message, paid only by callers who want the
 * metadata.
 */
inline std::optional<Metadata> read_metadata(GDBusMessage* message) {
    if (!message ||
        !g_dbus_message_get_header(message, static_cast<GDBusMessageHeaderField>(metadata_field::code)))
        return std::nullopt;
    gsize size = 0;
    guchar* blob = g_dbus_message_to_blob(message, &size, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, nullptr);
    if (!blob) return std::nullopt;
    std::optional<Metadata> md = read_metadata(blob, size);
    g_free(blob);
    return md;
}

}  // namespace kdbus
