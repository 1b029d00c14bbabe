/* Bus addresses: where a domain's control socket and buses live */
#pragma once

#include <string>
#include <string_view>

namespace kdbusctl {

/* The host domain of kdbusd.service (DESIGN.md, "Modes"). */
inline constexpr std::string_view kDefaultDomain = "/run/kdbus";

/* "unix:path=PATH" with PATH escaped as the D-Bus specification requires of
 * address values (every byte outside [-0-9A-Za-z_/.\*] as %hh). */
std::string unix_path_address(std::string_view path);

/* DIR/control. */
std::string control_address(std::string_view domain_dir);

/* A bus's default endpoint: DIR/<uid>-<name>/bus, as in kdbusfs (DESIGN.md). */
std::string bus_address(std::string_view domain_dir, std::string_view bus);

}  // namespace kdbusctl
