// The README's "Per-message metadata" example, compiled and run by
// test_metadata.cpp (MetadataReadmeExample) against the real daemon so the
// README cannot rot: a GDBus service in C++ that opts in to kdbusd's
// per-message metadata and authorises each call from the credentials the bus
// captured when the call was sent — no GetConnectionUnixUser round trip, no
// pid-reuse race.
//
//   metadata_service_example ADDRESS ALLOWED_UID
//
// owns org.example.Vault and serves org.example.Vault.Open() → s at
// /org/example/Vault; prints "ready" once it is on the bus.
#include <gio/gio.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kdbus/attach_flags.hpp"
#include "kdbus/metadata_gio.hpp"

namespace {

guint32 allowed_uid = 0;

// README: begin
void on_call(GDBusConnection*, const char*, const char*, const char*, const char* method, GVariant*,
             GDBusMethodInvocation* invocation, gpointer) {
    // Header field 128, captured by the bus when the caller sent this call.
    auto md = kdbus::read_metadata(g_dbus_method_invocation_get_message(invocation));
    if (g_strcmp0(method, "Open") != 0 || !md || !md->creds) {
        g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.AccessDenied",
                                                   "no credentials attached");
        return;
    }
    if (md->creds->euid != allowed_uid) {
        std::string text = "uid " + std::to_string(md->creds->euid) + " may not open the vault";
        g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.AccessDenied",
                                                   text.c_str());
        return;
    }
    std::string answer = "opened for pid " + std::to_string(md->pids ? md->pids->pid : 0);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", answer.c_str()));
}

bool serve(GDBusConnection* bus) {
    // Opt in: reveal nothing of ourselves, receive Creds and Pids.
    GVariant* r = g_dbus_connection_call_sync(
        bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.kdbusd.Bus1", "UpdateAttachFlags",
        g_variant_new("(tt)", guint64{0}, guint64{kdbus::attach::creds | kdbus::attach::pids}), nullptr,
        G_DBUS_CALL_FLAGS_NONE, -1, nullptr, nullptr);
    if (!r) return false;
    g_variant_unref(r);

    static const char xml[] =
        "<node><interface name='org.example.Vault'>"
        "<method name='Open'><arg type='s' direction='out'/></method>"
        "</interface></node>";
    GDBusNodeInfo* info = g_dbus_node_info_new_for_xml(xml, nullptr);
    static const GDBusInterfaceVTable vtable = {on_call, nullptr, nullptr, {}};
    guint id = g_dbus_connection_register_object(bus, "/org/example/Vault", info->interfaces[0], &vtable,
                                                 nullptr, nullptr, nullptr);
    g_dbus_node_info_unref(info);
    return id != 0;
}
// README: end

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s ADDRESS ALLOWED_UID\n", argv[0]);
        return 2;
    }
    allowed_uid = static_cast<guint32>(std::strtoul(argv[2], nullptr, 10));
    GError* error = nullptr;
    GDBusConnection* bus = g_dbus_connection_new_for_address_sync(
        argv[1],
        static_cast<GDBusConnectionFlags>(G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION),
        nullptr, nullptr, &error);
    if (!bus) {
        std::fprintf(stderr, "connect: %s\n", error->message);
        return 1;
    }
    if (!serve(bus)) {
        std::fprintf(stderr, "could not opt in to metadata or export the object\n");
        return 1;
    }
    GVariant* owned = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                  "org.freedesktop.DBus", "RequestName",
                                                  g_variant_new("(su)", "org.example.Vault", 0u), nullptr,
                                                  G_DBUS_CALL_FLAGS_NONE, -1, nullptr, &error);
    if (!owned) {
        std::fprintf(stderr, "RequestName: %s\n", error->message);
        return 1;
    }
    g_variant_unref(owned);
    std::printf("ready\n");
    std::fflush(stdout);
    GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
    g_main_loop_run(loop);
    return 0;
}
