/* D-Bus error names the bus answers with (D-Bus specification, dbus-protocol.h) */
#pragma once

namespace kdbus::daemon::error {

inline constexpr const char* failed = "org.freedesktop.DBus.Error.Failed";
inline constexpr const char* no_memory = "org.freedesktop.DBus.Error.NoMemory";
inline constexpr const char* service_unknown = "org.freedesktop.DBus.Error.ServiceUnknown";
inline constexpr const char* name_has_no_owner = "org.freedesktop.DBus.Error.NameHasNoOwner";
inline constexpr const char* no_reply = "org.freedesktop.DBus.Error.NoReply";
inline constexpr const char* access_denied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* limits_exceeded = "org.freedesktop.DBus.Error.LimitsExceeded";
inline constexpr const char* invalid_args = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* unknown_method = "org.freedesktop.DBus.Error.UnknownMethod";
inline constexpr const char* unknown_object = "org.freedesktop.DBus.Error.UnknownObject";
inline constexpr const char* unknown_interface = "org.freedesktop.DBus.Error.UnknownInterface";
inline constexpr const char* unknown_property = "org.freedesktop.DBus.Error.UnknownProperty";
inline constexpr const char* property_read_only = "org.freedesktop.DBus.Error.PropertyReadOnly";
inline constexpr const char* match_rule_invalid = "org.freedesktop.DBus.Error.MatchRuleInvalid";
inline constexpr const char* match_rule_not_found = "org.freedesktop.DBus.Error.MatchRuleNotFound";
inline constexpr const char* not_supported = "org.freedesktop.DBus.Error.NotSupported";
inline constexpr const char* adt_audit_data_unknown = "org.freedesktop.DBus.Error.AdtAuditDataUnknown";
inline constexpr const char* selinux_context_unknown =
    "org.freedesktop.DBus.Error.SELinuxSecurityContextUnknown";
inline constexpr const char* timed_out = "org.freedesktop.DBus.Error.TimedOut";

}  // namespace kdbus::daemon::error
