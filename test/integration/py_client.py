#!/usr/bin/python3
"""python3-dbus client for the integration tests.

Calls com.example.Itest.Echo("hello") on argv[1] at /com/example/Itest over
the bus in $DBUS_SESSION_BUS_ADDRESS and waits (GLib main loop, 10 s at most)
for the service's Pinged signal. Prints "REPLY <value>" and
"SIGNAL <value> <sender>"; exits 0 only if both arrived.
"""
import os
import sys

import dbus
import dbus.bus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "com.example.Itest"
PATH = "/com/example/Itest"


def main():
    service = sys.argv[1]
    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    loop = GLib.MainLoop()
    got = {}

    def on_pinged(text, sender=None):
        got["signal"] = (str(text), str(sender))
        loop.quit()

    # Subscribed before the call, so the signal cannot be missed.
    bus.add_signal_receiver(on_pinged, signal_name="Pinged", dbus_interface=IFACE,
                            bus_name=service, path=PATH, sender_keyword="sender")
    proxy = bus.get_object(service, PATH, introspect=False)
    reply = proxy.Echo("hello", dbus_interface=IFACE, timeout=5)
    print("REPLY", reply, flush=True)
    if "signal" not in got:
        GLib.timeout_add_seconds(10, loop.quit)
        loop.run()
    if "signal" not in got:
        print("NO SIGNAL", flush=True)
        return 1
    print("SIGNAL", *got["signal"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
