#include "daemon/service_file.hpp"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "wire/syntax.hpp"

namespace kdbus::daemon {

namespace {

constexpr std::string_view service_section = "D-BUS Service";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

/* desktop-file.c: key names are [A-Za-z0-9-], optionally with a [locale]. */
bool valid_key(std::string_view key) {
    if (key.empty()) return false;
    size_t bracket = key.find('[');
    std::string_view base = key.substr(0, bracket);
    if (base.empty()) return false;
    for (char c : base)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
    return bracket == std::string_view::npos || key.back() == ']';
}

}  // namespace

std::optional<ServiceFile> parse_service_file(std::string_view text, const std::string& path,
                                              std::string* error) {
    std::map<std::string, std::map<std::string, std::string>> sections;
    std::string current;
    bool in_section = false;
    unsigned line_no = 0;
    auto fail = [&](std::string why) -> std::optional<ServiceFile> {
        if (error) *error = path + ":" + std::to_string(line_no) + ": " + std::move(why);
        return std::nullopt;
    };
    // dbus-daemon (bus/desktop-file.c) too: what the file says ends up in
    // messages (SystemdService=) and error texts, which must be UTF-8.
    if (!wire::is_valid_utf8(text)) return fail("invalid UTF-8");
    while (!text.empty()) {
        ++line_no;
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty() || line.front() == '#') continue;
        if (line.front() == '[') {
            if (line.back() != ']') return fail("invalid syntax for section header");
            current = std::string(line.substr(1, line.size() - 2));
            if (sections.count(current)) return fail("duplicate section name \"" + current + "\"");
            sections[current];
            in_section = true;
            continue;
        }
        if (!in_section) return fail("key/value pair outside of a section");
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) return fail("line is neither a section, a comment nor a key=value pair");
        std::string key(trim(line.substr(0, eq)));
        if (!valid_key(key)) return fail("invalid characters in key name \"" + key + "\"");
        auto& keys = sections[current];
        if (keys.count(key)) return fail("duplicate key \"" + key + "\"");
        keys[key] = std::string(trim(line.substr(eq + 1)));
    }

    auto section = sections.find(std::string(service_section));
    if (section == sections.end()) return fail("no [D-BUS Service] section");
    const auto& keys = section->second;
    auto get = [&](const char* key) -> std::string {
        auto it = keys.find(key);
        return it == keys.end() ? std::string() : it->second;
    };
    ServiceFile s;
    s.path = path;
    s.name = get("Name");
    s.exec = get("Exec");
    s.user = get("User");
    s.systemd_service = get("SystemdService");
    // dbus-daemon requires Name and Exec in every file (update_desktop_file_entry).
    if (!keys.count("Name")) return fail("no \"Name\" key in the [D-BUS Service] section");
    if (!keys.count("Exec")) return fail("no \"Exec\" key in the [D-BUS Service] section");
    if (!wire::is_valid_bus_name(s.name) || s.name[0] == ':')
        return fail("\"" + s.name + "\" is not a valid well-known bus name");
    return s;
}

ServiceTable load_service_files(const std::vector<policy::ServiceDir>& dirs,
                                std::vector<std::string>* warnings) {
    ServiceTable table;
    auto warn = [&](std::string w) {
        if (warnings) warnings->push_back(std::move(w));
    };
    for (const auto& dir : dirs) {
        DIR* d = ::opendir(dir.path.c_str());
        if (!d) continue;  // a missing service directory is normal
        std::vector<std::string> files;
        while (dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n.size() > 8 && n.substr(n.size() - 8) == ".service") files.emplace_back(n);
        }
        ::closedir(d);
        // Directory order is arbitrary; sorted makes "first wins" repeatable.
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            std::string path = dir.path + "/" + f;
            std::ifstream in(path);
            if (!in) {
                warn("cannot read service file " + path);
                continue;
            }
            std::stringstream buf;
            buf << in.rdbuf();
            std::string err;
            auto s = parse_service_file(buf.str(), path, &err);
            if (!s) {
                warn(err);
                continue;
            }
            if (dir.transient && f != s->name + ".service") {
                warn("Service file \"" + path + "\" should have been named \"" + s->name +
                     ".service\": not loading it");
                continue;
            }
            if (table.count(s->name)) {
                warn("Service " + s->name + " already exists in activation entry list (" + path + " ignored)");
                continue;
            }
            std::string name = s->name;
            table.emplace(std::move(name), std::move(*s));
        }
    }
    return table;
}

std::optional<std::vector<std::string>> split_command_line(std::string_view command, std::string* error) {
    std::vector<std::string> argv;
    std::string token;
    bool in_token = false;
    auto fail = [&](std::string why) -> std::optional<std::vector<std::string>> {
        if (error) *error = std::move(why);
        return std::nullopt;
    };
    auto end_token = [&] {
        if (in_token) argv.push_back(std::move(token));
        token.clear();
        in_token = false;
    };
    for (size_t i = 0; i < command.size(); ++i) {
        char c = command[i];
        switch (c) {
            case ' ':
            case '\t':
            case '\n':
                end_token();
                break;
            case '#':
                if (!in_token) {  // a comment only where a word could start
                    while (i < command.size() && command[i] != '\n') ++i;
                } else {
                    token += c;
                }
                break;
            case '\\':
                if (i + 1 >= command.size())
                    return fail("Text ended just after a '\\' character. (The text was '" + std::string(command) +
                                "')");
                ++i;
                if (command[i] != '\n') {  // backslash-newline continues the line
                    token += command[i];
                    in_token = true;
                }
                break;
            case '\'':
            case '"': {
                const char quote = c;
                in_token = true;
                size_t j = i + 1;
                for (; j < command.size() && command[j] != quote; ++j) {
                    // Inside "…" a backslash escapes only " \ $ ` and newline.
                    if (quote == '"' && command[j] == '\\' && j + 1 < command.size() &&
                        std::string_view("\"\\$`\n").find(command[j + 1]) != std::string_view::npos) {
                        ++j;
                        if (command[j] == '\n') continue;
                    }
                    token += command[j];
                }
                if (j >= command.size())
                    return fail(std::string("Text ended before matching quote was found for ") + quote +
                                ". (The text was '" + std::string(command) + "')");
                i = j;
                break;
            }
            default:
                token += c;
                in_token = true;
        }
    }
    end_token();
    if (argv.empty()) return fail("Text was empty (or contained only whitespace)");
    return argv;
}

}  // namespace kdbus::daemon
