#!/usr/bin/python3
"""python3-dbus service for the integration tests.

Owns the well-known name argv[1] on the bus in $DBUS_SESSION_BUS_ADDRESS and
exports /com/example/Itest with interface com.example.Itest:
  Echo(s) -> s   emits Pinged(s) with the argument, returns it upper-cased
  Quit()         stops the service
Prints "READY <unique name>" once the name is owned. Stops by itself after
30 s so that a failed test cannot leave it behind.
"""
import os
import sys

import dbus
import dbus.bus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "com.example.Itest"
PATH = "/com/example/Itest"


class Service(dbus.service.Object):
    def __init__(self, bus, loop):
        super().__init__(bus, PATH)
        self._loop = loop

    @dbus.service.method(IFACE, in_signature="s", out_signature="s")
    def Echo(self, text):
        self.Pinged(text)
        return text.upper()

    @dbus.service.signal(IFACE, signature="s")
    def Pinged(self, text):
        pass

    @dbus.service.method(IFACE)
    def Quit(self):
        GLib.idle_add(self._loop.quit)


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    loop = GLib.MainLoop()
    name = dbus.service.BusName(sys.argv[1], bus, do_not_queue=True)
    Service(bus, loop)
    GLib.timeout_add_seconds(30, loop.quit)
    print("READY", bus.get_unique_name(), flush=True)
    loop.run()
    del name


if __name__ == "__main__":
    main()
