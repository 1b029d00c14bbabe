/* D-Bus name, path and signature syntax (D-Bus specification, "Valid Names") */
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kdbus::wire {

/* A whole signature: ≤255 bytes, only complete types, ≤32 nested arrays
 * and ≤32 nested structs, dict entries only directly in arrays with a basic
 * key type, no empty structs. */
bool is_valid_signature(std::string_view sig);
/* Exactly one single complete type. */
bool is_valid_single_type(std::string_view sig);
/* Length of the single complete type at the start of `sig` (which must be
 * valid), e.g. 5 for "a{sv}i". */
size_t single_type_length(std::string_view sig);
/* Alignment of the type whose code is `c` (1, 2, 4 or 8). */
size_t type_alignment(char c);
bool is_basic_type(char c);
bool is_fixed_type(char c);

bool is_valid_object_path(std::string_view path);
bool is_valid_interface_name(std::string_view name);
bool is_valid_member_name(std::string_view name);
bool is_valid_error_name(std::string_view name);  // same rules as interface names
/* Unique (":1.42") or well-known ("org.example.Foo"), ≤255 bytes. */
bool is_valid_bus_name(std::string_view name);
bool is_valid_unique_name(std::string_view name);
bool is_valid_well_known_name(std::string_view name);
bool is_valid_utf8(std::string_view s);
/* `bytes` as a valid D-Bus string, for texts from outside (a process
 * name, a file, an errno text): every NUL, and every byte that does not
 * belong to a well-formed UTF-8 sequence, becomes U+FFFD. */
std::string valid_string(std::string_view bytes);

}  // namespace kdbus::wire
