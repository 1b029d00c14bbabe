/* kdbusctl monitor: Monitoring.BecomeMonitor and one line per message
 *
 * This command uses sd-bus directly instead of sdbus-c++: sdbus-c++ 1.2 tells
 * neither a message's type nor its signature, and its dispatcher answers any
 * method call nobody handles with UnknownObject, which a monitor must never
 * do (dbus-daemon disconnects a monitor that sends). sd-bus in monitor mode
 * (sd_bus_set_monitor) hands over every message untouched, as busctl monitor
 * relies on. */
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <systemd/sd-bus.h>

#include "command.hpp"
#include "metadata_monitor.hpp"

namespace kdbusctl {

namespace {

struct BusUnref {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct MessageUnref {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

void check(int r, const std::string& what) {
    if (r < 0) throw std::runtime_error(what + ": " + std::strerror(-r));
}

BusPtr connect_monitor(const std::string& address) {
    sd_bus* raw = nullptr;
    check(sd_bus_new(&raw), "sd_bus_new");
    BusPtr bus(raw);
    check(sd_bus_set_address(bus.get(), address.c_str()), "invalid address '" + address + "'");
    check(sd_bus_set_monitor(bus.get(), 1), "sd_bus_set_monitor");
    check(sd_bus_set_bus_client(bus.get(), 1), "sd_bus_set_bus_client");
    check(sd_bus_start(bus.get()), "cannot connect to " + address);
    return bus;
}

void become_monitor(sd_bus* bus, const std::vector<std::string>& rules) {
    sd_bus_message* raw = nullptr;
    check(sd_bus_message_new_method_call(bus, &raw, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus.Monitoring", "BecomeMonitor"),
          "BecomeMonitor");
    MessagePtr call(raw);
    check(sd_bus_message_open_container(call.get(), 'a', "s"), "BecomeMonitor");
    for (const auto& rule : rules) check(sd_bus_message_append_basic(call.get(), 's', rule.c_str()), "BecomeMonitor");
    check(sd_bus_message_close_container(call.get()), "BecomeMonitor");
    const uint32_t flags = 0;  // the specification defines none
    check(sd_bus_message_append_basic(call.get(), 'u', &flags), "BecomeMonitor");
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int r = sd_bus_call(bus, call.get(), 0, &error, nullptr);
    if (r < 0) {
        std::string why = error.name ? std::string(error.name) + ": " + (error.message ? error.message : "")
                                     : std::strerror(-r);
        sd_bus_error_free(&error);
        throw std::runtime_error("BecomeMonitor failed: " + why);
    }
}

const char* type_name(uint8_t type) {
    switch (type) {
    case SD_BUS_MESSAGE_METHOD_CALL: return "method_call";
    case SD_BUS_MESSAGE_METHOD_RETURN: return "method_return";
    case SD_BUS_MESSAGE_METHOD_ERROR: return "error";
    case SD_BUS_MESSAGE_SIGNAL: return "signal";
    default: return "unknown";
    }
}

nlohmann::json optional_string(const char* text) { return text ? nlohmann::json(text) : nlohmann::json(nullptr); }

/* The header of one message, in the order dbus-monitor prints it. */
nlohmann::ordered_json describe(sd_bus_message* m) {
    uint8_t type = 0;
    sd_bus_message_get_type(m, &type);
    uint64_t serial = 0, reply_serial = 0;
    sd_bus_message_get_cookie(m, &serial);
    nlohmann::ordered_json line = {
        {"type", type_name(type)},
        {"sender", optional_string(sd_bus_message_get_sender(m))},
        {"destination", optional_string(sd_bus_message_get_destination(m))},
        {"serial", serial},
    };
    if (sd_bus_message_get_reply_cookie(m, &reply_serial) >= 0) line["reply_serial"] = reply_serial;
    if (type == SD_BUS_MESSAGE_METHOD_ERROR) line["error_name"] = optional_string(sd_bus_message_get_error(m)->name);
    line["path"] = optional_string(sd_bus_message_get_path(m));
    line["interface"] = optional_string(sd_bus_message_get_interface(m));
    line["member"] = optional_string(sd_bus_message_get_member(m));
    line["signature"] = optional_string(sd_bus_message_get_signature(m, 1));
    return line;
}

/* A metadata item for a human: "uid:0,euid:0,…" for a struct, "a,b" for a
 * list, the text itself for a string. */
std::string flat(const nlohmann::ordered_json& value) {
    auto one = [](const nlohmann::ordered_json& v) {
        return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::string text;
    if (value.is_object()) {
        for (const auto& [k, v] : value.items()) text += (text.empty() ? "" : ",") + k + ":" + one(v);
    } else if (value.is_array()) {
        for (const auto& v : value) text += (text.empty() ? "" : ",") + one(v);
    } else {
        text = one(value);
    }
    return text;
}

/* key=value pairs: readable, and split by a shell's `read` or awk. */
std::string human_line(const nlohmann::ordered_json& line) {
    std::string text = line["type"].get<std::string>();
    for (const auto& [key, value] : line.items()) {
        if (key == "type") continue;
        if (key == "metadata") {
            // Each item as Key=value, after the header: "Creds=uid:0,euid:0,…".
            if (value.is_object())
                for (const auto& [item, v] : value.items()) text += " " + item + "=" + flat(v);
            continue;
        }
        std::string shown = value.is_null() ? "-" : value.is_string() ? value.get<std::string>() : value.dump();
        if (shown.empty()) shown = "\"\"";
        text += " " + key + "=" + shown;
    }
    return text;
}

/* monitor --metadata: a raw connection that can receive header field 128. */
int run_metadata_monitor(const Context& context) {
    MetadataMonitor monitor(context.target_bus_address(0), context.args.values("match"));
    while (auto line = monitor.next()) {
        std::string text = context.json ? line->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                        : human_line(*line);
        context.out << text << '\n' << std::flush;
        if (!context.out) return kExitSuccess;
    }
    std::cerr << "kdbusctl: the bus closed the connection\n";
    return kExitSuccess;
}

}  // namespace

int run_monitor(const Context& context) {
    if (context.args.has("metadata")) return run_metadata_monitor(context);
    auto bus = connect_monitor(context.target_bus_address(0));
    become_monitor(bus.get(), context.args.values("match"));
    for (;;) {
        sd_bus_message* raw = nullptr;
        int r = sd_bus_process(bus.get(), &raw);
        check(r, "reading from the bus");
        MessagePtr m(raw);
        if (m) {
            if (sd_bus_message_is_signal(m.get(), "org.freedesktop.DBus.Local", "Disconnected") > 0) {
                std::cerr << "kdbusctl: the bus closed the connection\n";
                return kExitSuccess;
            }
            auto line = describe(m.get());
            std::string text = context.json ? line.dump() : human_line(line);
            // One write and one flush per message, so a reader at the other
            // end of a pipe sees each message as it happens.
            context.out << text << '\n' << std::flush;
            if (!context.out) return kExitSuccess;  // the reader went away
            continue;
        }
        if (r > 0) continue;
        check(sd_bus_wait(bus.get(), UINT64_MAX), "waiting for the bus");
    }
}

}  // namespace kdbusctl
