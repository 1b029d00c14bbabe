#include "daemon/control_options.hpp"

namespace kdbus::daemon {

bool read_options(wire::Reader& r, OptionMap& out) {
    size_t end = 0;
    if (!r.begin_array(8, end)) return false;
    while (r.offset() < end) {
        std::string_view key, sig;
        if (!r.begin_struct() || !r.read_string(key) || !r.read_signature(sig)) return false;
        if (sig == "b") {
            bool v;
            if (!r.read_bool(v)) return false;
            out[std::string(key)] = v;
        } else if (sig == "u") {
            uint32_t v;
            if (!r.read_u32(v)) return false;
            out[std::string(key)] = v;
        } else if (sig == "s") {
            std::string_view v;
            if (!r.read_string(v)) return false;
            out[std::string(key)] = std::string(v);
        } else if (sig == "as") {
            size_t aend = 0;
            std::vector<std::string> v;
            if (!r.begin_array(4, aend)) return false;
            while (r.offset() < aend) {
                std::string_view s;
                if (!r.read_string(s)) return false;
                v.emplace_back(s);
            }
            out[std::string(key)] = std::move(v);
        } else if (!r.skip_value(sig)) {
            return false;
        }
    }
    return true;
}

}  // namespace kdbus::daemon
