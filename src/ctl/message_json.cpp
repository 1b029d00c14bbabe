#include "message_json.hpp"

#include <sdbus-c++/Types.h>
#include <stdexcept>
#include <string>

namespace kdbusctl {

namespace {

/* sd_bus_message_peek_type() reports the end of a container as type 0. */
bool at_end(const sdbus::Message& msg, std::string& type, std::string& contents) {
    msg.peekType(type, contents);
    return type.empty() || type[0] == '\0';
}

template <typename T>
nlohmann::json read_basic(sdbus::Message& msg) {
    T value{};
    msg >> value;
    if constexpr (std::is_same_v<T, sdbus::ObjectPath> || std::is_same_v<T, sdbus::Signature>)
        return std::string(value);
    else if constexpr (std::is_same_v<T, sdbus::UnixFd>)
        return value.get();
    else
        return value;
}

std::string dict_key(const nlohmann::json& key) {
    return key.is_string() ? key.get<std::string>() : key.dump();
}

nlohmann::json read_array(sdbus::Message& msg, const std::string& element) {
    msg.enterContainer(element);
    std::string type, contents;
    nlohmann::json result = element.starts_with('{') ? nlohmann::json::object() : nlohmann::json::array();
    while (!at_end(msg, type, contents)) {
        if (type[0] == 'e') {
            msg.enterDictEntry(contents);
            auto key = read_json_value(msg);
            result[dict_key(key)] = read_json_value(msg);
            msg.exitDictEntry();
        } else {
            result.push_back(read_json_value(msg));
        }
    }
    msg.exitContainer();
    return result;
}

}  // namespace

nlohmann::json read_json_value(sdbus::Message& msg) {
    std::string type, contents;
    if (at_end(msg, type, contents)) throw std::runtime_error("no value left in message");
    switch (type[0]) {
    case 'y': return read_basic<uint8_t>(msg);
    case 'b': return read_basic<bool>(msg);
    case 'n': return read_basic<int16_t>(msg);
    case 'q': return read_basic<uint16_t>(msg);
    case 'i': return read_basic<int32_t>(msg);
    case 'u': return read_basic<uint32_t>(msg);
    case 'x': return read_basic<int64_t>(msg);
    case 't': return read_basic<uint64_t>(msg);
    case 'd': return read_basic<double>(msg);
    case 's': return read_basic<std::string>(msg);
    case 'o': return read_basic<sdbus::ObjectPath>(msg);
    case 'g': return read_basic<sdbus::Signature>(msg);
    case 'h': return read_basic<sdbus::UnixFd>(msg);
    case 'a': return read_array(msg, contents);
    case 'v': {
        msg.enterVariant(contents);
        auto value = read_json_value(msg);
        msg.exitVariant();
        return value;
    }
    case 'r': {
        msg.enterStruct(contents);
        nlohmann::json fields = nlohmann::json::array();
        std::string t, c;
        while (!at_end(msg, t, c)) fields.push_back(read_json_value(msg));
        msg.exitStruct();
        return fields;
    }
    default:
        throw std::runtime_error("unsupported D-Bus type '" + type + "'");
    }
}

nlohmann::json::array_t read_json_body(sdbus::Message& msg) {
    nlohmann::json::array_t values;
    std::string type, contents;
    while (!at_end(msg, type, contents)) values.push_back(read_json_value(msg));
    return values;
}

}  // namespace kdbusctl
