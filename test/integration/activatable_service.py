#!/usr/bin/python3
"""A service started by bus activation, for test_activation.cpp.

Connects to the bus in $DBUS_STARTER_ADDRESS (as activated services do),
owns the well-known name argv[1] and exports /com/example/Activated with
interface com.example.Activated:
  Env(s key) -> s   the value of $key in this process's environment ("" if unset)
  Quit()            exits
Stops by itself after 30 s so that a failed test cannot leave it behind.
"""
import os
import sys

import dbus
import dbus.bus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "com.example.Activated"
PATH = "/com/example/Activated"


class Service(dbus.service.Object):
    def __init__(self, bus, loop):
        super().__init__(bus, PATH)
        self._loop = loop

    @dbus.service.method(IFACE, in_signature="s", out_signature="s")
    def Env(self, key):
        return os.environ.get(key, "")

    @dbus.service.method(IFACE)
    def Quit(self):
        GLib.idle_add(self._loop.quit)


def main():
    DBusGMainLoop(set_as_default=True)
    loop = GLib.MainLoop()
    bus = dbus.bus.BusConnection(os.environ["DBUS_STARTER_ADDRESS"])
    service = Service(bus, loop)
    bus.request_name(sys.argv[1], dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    GLib.timeout_add_seconds(30, loop.quit)
    loop.run()
    del service


if __name__ == "__main__":
    main()
