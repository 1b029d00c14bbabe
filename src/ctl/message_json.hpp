/* D-Bus values as JSON: any message body, whatever its signature */
#pragma once

#include <nlohmann/json.hpp>
#include <sdbus-c++/Message.h>

namespace kdbusctl {

/* Reads the next complete value from msg (which must be positioned on one)
 * and returns it as JSON: integers and doubles as numbers, strings, object
 * paths and signatures as strings, arrays and structs as arrays, dictionaries
 * as objects (keys turned into strings), variants as the value they hold and
 * fds as their number. This is what lets kdbusctl print a{sv} answers such as
 * Debug.Stats.GetStats whose keys and value types vary between buses. */
nlohmann::json read_json_value(sdbus::Message& msg);

/* Reads every remaining value of msg's body, in order. */
nlohmann::json::array_t read_json_body(sdbus::Message& msg);

}  // namespace kdbusctl
