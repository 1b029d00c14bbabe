#include "daemon/driver.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include <spdlog/spdlog.h>

#include "daemon/bus.hpp"
#include "daemon/connection.hpp"
#include "daemon/endpoint.hpp"
#include "daemon/errors.hpp"
#include "daemon/match_rule.hpp"
#include "kdbus/attach_flags.hpp"
#include "metadata/message_metadata.hpp"
#include "metadata/serialize.hpp"
#include "wire/syntax.hpp"

namespace kdbus::daemon {

namespace {

constexpr std::string_view driver_name = "org.freedesktop.DBus";
constexpr std::string_view driver_path = "/org/freedesktop/DBus";
constexpr const char* iface_dbus = "org.freedesktop.DBus";
constexpr const char* iface_monitoring = "org.freedesktop.DBus.Monitoring";
constexpr const char* iface_stats = "org.freedesktop.DBus.Debug.Stats";
constexpr const char* iface_introspectable = "org.freedesktop.DBus.Introspectable";
constexpr const char* iface_peer = "org.freedesktop.DBus.Peer";
constexpr const char* iface_properties = "org.freedesktop.DBus.Properties";
constexpr const char* iface_bus1 = "org.kdbusd.Bus1";


const char* introspection_xml() {
    return R"(<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="org.freedesktop.DBus">
    <method name="Hello"><arg direction="out" type="s"/></method>
    <method name="RequestName"><arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="out" type="u"/></method>
    <method name="ReleaseName"><arg direction="in" type="s"/><arg direction="out" type="u"/></method>
    <method name="StartServiceByName"><arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="out" type="u"/></method>
    <method name="UpdateActivationEnvironment"><arg direction="in" type="a{ss}"/></method>
    <method name="NameHasOwner"><arg direction="in" type="s"/><arg direction="out" type="b"/></method>
    <method name="ListNames"><arg direction="out" type="as"/></method>
    <method name="ListActivatableNames"><arg direction="out" type="as"/></method>
    <method name="AddMatch"><arg direction="in" type="s"/></method>
    <method name="RemoveMatch"><arg direction="in" type="s"/></method>
    <method name="GetNameOwner"><arg direction="in" type="s"/><arg direction="out" type="s"/></method>
    <method name="ListQueuedOwners"><arg direction="in" type="s"/><arg direction="out" type="as"/></method>
    <method name="GetConnectionUnixUser"><arg direction="in" type="s"/><arg direction="out" type="u"/></method>
    <method name="GetConnectionUnixProcessID"><arg direction="in" type="s"/><arg direction="out" type="u"/></method>
    <method name="GetAdtAuditSessionData"><arg direction="in" type="s"/><arg direction="out" type="ay"/></method>
    <method name="GetConnectionSELinuxSecurityContext"><arg direction="in" type="s"/><arg direction="out" type="ay"/></method>
    <method name="GetConnectionCredentials"><arg direction="in" type="s"/><arg direction="out" type="a{sv}"/></method>
    <method name="ReloadConfig"/>
    <method name="GetId"><arg direction="out" type="s"/></method>
    <signal name="NameOwnerChanged"><arg type="s"/><arg type="s"/><arg type="s"/></signal>
    <signal name="NameLost"><arg type="s"/></signal>
    <signal name="NameAcquired"><arg type="s"/></signal>
    <property name="Features" type="as" access="read">
      <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
    </property>
    <property name="Interfaces" type="as" access="read">
      <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>
    </property>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="out" type="v"/></method>
    <method name="GetAll"><arg direction="in" type="s"/><arg direction="out" type="a{sv}"/></method>
    <method name="Set"><arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="in" type="v"/></method>
    <signal name="PropertiesChanged"><arg type="s" name="interface_name"/><arg type="a{sv}" name="changed_properties"/><arg type="as" name="invalidated_properties"/></signal>
  </interface>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Monitoring">
    <method name="BecomeMonitor"><arg direction="in" type="as"/><arg direction="in" type="u"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Debug.Stats">
    <method name="GetStats"><arg direction="out" type="a{sv}"/></method>
    <method name="GetConnectionStats"><arg direction="in" type="s"/><arg direction="out" type="a{sv}"/></method>
    <method name="GetAllMatchRules"><arg direction="out" type="a{sas}"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="GetMachineId"><arg direction="out" type="s"/></method>
    <method name="Ping"/>
  </interface>
  <interface name="org.kdbusd.Bus1">
    <method name="UpdateAttachFlags"><arg direction="in" type="t" name="send_mask"/><arg direction="in" type="t" name="recv_mask"/></method>
    <method name="GetAttachFlags"><arg direction="out" type="t" name="send_mask"/><arg direction="out" type="t" name="recv_mask"/></method>
    <method name="GetConnectionMetadata"><arg direction="in" type="s" name="name"/><arg direction="in" type="t" name="mask"/><arg direction="out" type="a{sv}"/></method>
    <method name="SetConnectionDescription"><arg direction="in" type="s"/></method>
    <method name="SetFdPolicy"><arg direction="in" type="s" name="policy"/></method>
    <signal name="MessagesLost"><arg type="u" name="count"/></signal>
  </interface>
</node>
)";
}

const char* root_introspection_xml() {
    return R"(<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="GetMachineId"><arg direction="out" type="s"/></method>
    <method name="Ping"/>
  </interface>
  <node name="org/freedesktop/DBus"/>
</node>
)";
}

std::string read_machine_id() {
    for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
        std::ifstream f(path);
        std::string id;
        // 32 hex digits (dbus-daemon: "contains invalid hex data" otherwise).
        auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
        if (f >> id && id.size() == 32 && std::all_of(id.begin(), id.end(), hex)) return id;
    }
    return {};
}

void put_string_array(wire::Writer& w, const std::vector<std::string>& v) {
    auto t = w.begin_array(4);
    for (const auto& s : v) w.put_string(s);
    w.end_array(t);
}

/* One a{sv} entry with a u32 value. */
void put_dict_u32(wire::Writer& w, std::string_view key, uint32_t v) {
    w.begin_struct();
    w.put_string(key);
    w.begin_variant("u");
    w.put_u32(v);
}

}  // namespace

const Driver::Method Driver::methods_[] = {
    {iface_dbus, "Hello", "", &Driver::hello, true},
    {iface_dbus, "RequestName", "su", &Driver::request_name, true},
    {iface_dbus, "ReleaseName", "s", &Driver::release_name, true},
    {iface_dbus, "StartServiceByName", "su", &Driver::start_service_by_name, true},
    {iface_dbus, "UpdateActivationEnvironment", "a{ss}", &Driver::update_activation_environment, false},
    {iface_dbus, "NameHasOwner", "s", &Driver::name_has_owner, true},
    {iface_dbus, "ListNames", "", &Driver::list_names, true},
    {iface_dbus, "ListActivatableNames", "", &Driver::list_activatable_names, true},
    {iface_dbus, "AddMatch", "s", &Driver::add_match, true},
    {iface_dbus, "RemoveMatch", "s", &Driver::remove_match, true},
    {iface_dbus, "GetNameOwner", "s", &Driver::get_name_owner, true},
    {iface_dbus, "ListQueuedOwners", "s", &Driver::list_queued_owners, true},
    {iface_dbus, "GetConnectionUnixUser", "s", &Driver::get_connection_unix_user, true},
    {iface_dbus, "GetConnectionUnixProcessID", "s", &Driver::get_connection_unix_process_id, true},
    {iface_dbus, "GetAdtAuditSessionData", "s", &Driver::get_adt_audit_session_data, true},
    {iface_dbus, "GetConnectionSELinuxSecurityContext", "s", &Driver::get_selinux_context, true},
    {iface_dbus, "GetConnectionCredentials", "s", &Driver::get_connection_credentials, true},
    {iface_dbus, "ReloadConfig", "", &Driver::reload_config, true},
    {iface_dbus, "GetId", "", &Driver::get_id, true},
    {iface_monitoring, "BecomeMonitor", "asu", &Driver::become_monitor, false},
    {iface_introspectable, "Introspect", "", &Driver::introspect, true},
    {iface_peer, "Ping", "", &Driver::ping, true},
    {iface_peer, "GetMachineId", "", &Driver::get_machine_id, true},
    {iface_properties, "Get", "ss", &Driver::properties_get, false},
    {iface_properties, "GetAll", "s", &Driver::properties_get_all, false},
    {iface_properties, "Set", "ssv", &Driver::properties_set, false},
    {iface_stats, "GetStats", "", &Driver::get_stats, false},
    {iface_stats, "GetConnectionStats", "s", &Driver::get_connection_stats, false},
    {iface_stats, "GetAllMatchRules", "", &Driver::get_all_match_rules, false},
    {iface_bus1, "UpdateAttachFlags", "tt", &Driver::update_attach_flags, false},
    {iface_bus1, "GetAttachFlags", "", &Driver::get_attach_flags, false},
    {iface_bus1, "GetConnectionMetadata", "st", &Driver::get_connection_metadata, false},
    {iface_bus1, "SetConnectionDescription", "s", &Driver::set_connection_description, false},
    {iface_bus1, "SetFdPolicy", "s", &Driver::set_fd_policy, false},
};

/* build_forward_header drops header fields the specification does not
 * define, which is what HeaderFiltering promises. */
Driver::Driver(Bus& bus) : features{"HeaderFiltering"}, bus_(bus) {}

const char* Driver::introspection() { return introspection_xml(); }

void Driver::handle(Connection& from, const MessagePtr& call) {
    const wire::Header& h = call->header;
    const Method* method = nullptr;
    bool interface_known = h.interface.empty();
    for (const auto& m : methods_) {
        if (!h.interface.empty() && h.interface != m.interface) continue;
        interface_known = true;
        if (h.member == m.member) {
            method = &m;
            break;
        }
    }

    Reply r;
    if (!method && from.active()) {
        for (const auto& ext : extensions) {
            if (h.member != ext.member || (!h.interface.empty() && h.interface != ext.interface)) continue;
            if (h.path != ext.path)
                r.fail(error::unknown_interface,
                       "org.freedesktop.DBus does not understand message " + std::string(h.member));
            else if (h.signature != ext.in_signature)
                r.fail(error::invalid_args, "Call to " + std::string(h.member) + " has wrong args (" +
                                                std::string(h.signature) + ", expected " + ext.in_signature + ")");
            else {
                wire::Reader args(call->body(), h.endian);
                ext.handler(from, h, args, r);
            }
            send_reply(from, h, r);
            return;
        }
    }
    if (from.state() != Connection::State::active && (!method || method->handler != &Driver::hello)) {
        from.close("first message was not Hello");
        return;
    }
    bool at_root = h.path == "/";
    if (!method) {
        if (!interface_known)
            r.fail(error::unknown_interface, "Interface \"" + std::string(h.interface) + "\" does not exist");
        else
            r.fail(error::unknown_method,
                   "Method \"" + std::string(h.member) + "\" with signature \"" + std::string(h.signature) +
                       "\" on interface \"" + std::string(h.interface.empty() ? "(null)" : h.interface) +
                       "\" doesn't exist");
    } else if (method->handler == &Driver::update_activation_environment && h.path != driver_path) {
        // dbus-daemon: a method of an any-path interface that is itself
        // only at the canonical path (bus/driver.c, METHOD_FLAG_ANY_PATH).
        r.fail(error::access_denied, "Method 'UpdateActivationEnvironment' is only available at the canonical "
                                     "object path '/org/freedesktop/DBus'");
    } else if (!method->any_path && h.path != driver_path &&
               !(at_root && (method->interface == std::string_view(iface_introspectable) ||
                             method->interface == std::string_view(iface_peer)))) {
        // dbus-daemon skips interfaces that exist only at the canonical
        // path, so the method is not understood at all.
        r.fail(error::unknown_interface,
               "org.freedesktop.DBus does not understand message " + std::string(h.member));
    } else if (h.signature != method->in_signature) {
        r.fail(error::invalid_args, "Call to " + std::string(h.member) + " has wrong args (" +
                                        std::string(h.signature) + ", expected " + method->in_signature + ")");
    } else {
        wire::Reader args(call->body(), h.endian);
        (this->*(method->handler))(from, h, args, r);
    }

    send_reply(from, h, r);
}

void Driver::send_reply(Connection& from, const wire::Header& h, Reply& r) {
    if (r.deferred) return;
    if (r.before) r.before();
    if (h.flags & wire::flag::no_reply_expected) {
        if (r.after) r.after();
        return;
    }
    if (!r.error_name.empty()) {
        wire::MessageBuilder b = Bus::error_message(r.error_name, h.serial, r.error_text);
        if (from.unique_name.empty()) {
            // A failed Hello: the connection has no name to address, so
            // the error goes straight to it, without DESTINATION (as
            // dbus-daemon does).
            if (MessagePtr m = bus_.driver_message(b, bus_.next_driver_serial())) {
                bus_.capture(m);
                from.enqueue(m);
            }
            return;
        }
        b.destination(from.unique_name);
        bus_.send_from_driver(b, bus_.next_driver_serial());
        return;
    }
    r.builder.reply_serial(h.serial).sender(driver_name).destination(from.unique_name);
    if (!r.fds.empty()) r.builder.unix_fds(static_cast<uint32_t>(r.fds.size()));
    bus_.send_from_driver(r.builder, bus_.next_driver_serial(), std::move(r.fds));
    if (r.after) r.after();
}

Connection* Driver::lookup(const Connection& caller, std::string_view name, const char* what, Reply& r) {
    Connection* c = visible(caller, name) ? bus_.resolve(name) : nullptr;
    if (!c) {
        if (!wire::is_valid_bus_name(name))
            r.fail(error::invalid_args, "Could not get " + std::string(what) + " of name '" + std::string(name) +
                                            "': not a valid bus name");
        else
            r.fail(error::name_has_no_owner,
                   "Could not get " + std::string(what) + " of name '" + std::string(name) + "': no such name");
    }
    return c;
}

bool Driver::visible(const Connection& caller, std::string_view name) {
    return !caller.endpoint || endpoint_filter::sees(bus_, caller, name);
}

bool Driver::privileged(const Connection& c) const {
    // kdbus: there is no privilege on a custom endpoint.
    if (c.endpoint) return false;
    uid_t uid = c.credentials().uid;
    return uid == 0 || uid == ::geteuid();
}

/* org.freedesktop.DBus */

void Driver::hello(Connection& c, const wire::Header&, wire::Reader&, Reply& r) {
    if (c.active()) {
        r.fail(error::failed, "Already handled an Hello message");
        return;
    }
    if (auto limit = bus_.connection_limit_reached(c)) {
        r.fail(error::limits_exceeded, *limit);
        return;
    }
    bus_.register_connection(c);
    r.body("s").put_string(c.unique_name);
    Connection* self = &c;
    r.after = [this, self] {
        bus_.announce(NameChange{self->unique_name, 0, self->id});
    };
}

void Driver::request_name(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    uint32_t flags = 0;
    args.read_string(name);
    args.read_u32(flags);
    if (!wire::is_valid_bus_name(name)) {
        r.fail(error::invalid_args, "Requested bus name \"" + std::string(name) + "\" is not valid");
        return;
    }
    if (name[0] == ':') {
        r.fail(error::invalid_args,
               "Cannot acquire a service starting with ':' such as \"" + std::string(name) + "\"");
        return;
    }
    if (name == driver_name) {
        r.fail(error::invalid_args, "Connection \"" + c.unique_name +
                                        "\" is not allowed to own the service \"org.freedesktop.DBus\" because "
                                        "it is reserved for D-Bus' use only");
        return;
    }
    if (!bus_.may_own(c, name)) {
        r.fail(error::access_denied, "Connection \"" + c.unique_name + "\" is not allowed to own the service \"" +
                                         std::string(name) + "\" due to security policies in the configuration file");
        return;
    }
    auto& names = bus_.names();
    if (!names.is_owner_or_queued(name, c.id) &&
        // dbus-daemon counts the unique name as one of the connection's names.
        names.count_for(c.id) + 1 >= bus_.settings().limits.max_names_per_connection) {
        r.fail(error::limits_exceeded,
               "Connection \"" + c.unique_name +
                   "\" is not allowed to own more services (increase limits in configuration file if required; "
                   "max_names_per_connection=" +
                   std::to_string(bus_.settings().limits.max_names_per_connection) + ")");
        return;
    }
    if (!names.is_owner_or_queued(name, c.id)) {
        if (auto text = bus_.user_limit_reached(c, UserResource::names)) {
            r.fail(error::limits_exceeded, "Connection \"" + c.unique_name + "\" is not allowed to own more services: " +
                                               *text);
            return;
        }
    }
    auto changes = std::make_shared<std::vector<NameChange>>();
    auto result = names.request(name, c.id, flags, *changes);
    r.body("u").put_u32(static_cast<uint32_t>(result));
    if (!changes->empty()) r.before = [this, changes] { bus_.announce(*changes); };
}

void Driver::release_name(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (!wire::is_valid_bus_name(name)) {
        r.fail(error::invalid_args, "Given bus name \"" + std::string(name) + "\" is not valid");
        return;
    }
    if (name[0] == ':') {
        r.fail(error::invalid_args,
               "Cannot release a service starting with ':' such as \"" + std::string(name) + "\"");
        return;
    }
    if (name == driver_name) {
        r.fail(error::invalid_args,
               "Cannot release the D-Bus service because it is owned by the bus");
        return;
    }
    if (!visible(c, name)) {
        r.body("u").put_u32(static_cast<uint32_t>(ReleaseNameResult::non_existent));
        return;
    }
    auto changes = std::make_shared<std::vector<NameChange>>();
    auto result = bus_.names().release(name, c.id, *changes);
    r.body("u").put_u32(static_cast<uint32_t>(result));
    if (!changes->empty()) r.before = [this, changes] { bus_.announce(*changes); };
}

void Driver::list_queued_owners(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    std::vector<std::string> out;
    if (!visible(caller, name)) {
        // A hidden name has no owners, as one nobody owns.
    } else if (name == driver_name) {
        out.emplace_back(driver_name);
    } else if (!name.empty() && name[0] == ':') {
        if (Connection* c = bus_.resolve(name)) out.push_back(c->unique_name);
    } else {
        for (OwnerId id : bus_.names().owners(name))
            if (Connection* c = bus_.find(id)) out.push_back(c->unique_name);
    }
    if (out.empty()) {
        if (!wire::is_valid_bus_name(name))
            r.fail(error::invalid_args, "Could not get owners of name '" + std::string(name) + "': not a valid bus name");
        else
            r.fail(error::name_has_no_owner, "Could not get owners of name '" + std::string(name) + "': no such name");
        return;
    }
    put_string_array(r.body("as"), out);
}

void Driver::list_names(Connection& caller, const wire::Header&, wire::Reader&, Reply& r) {
    std::vector<std::string> out;
    out.emplace_back(driver_name);
    for (auto& n : bus_.names().names())
        if (visible(caller, n)) out.push_back(std::move(n));
    // Unique names are listed whatever the endpoint (kdbus: LIST_UNIQUE
    // lists every id; ID_ADD/REMOVE reach everyone).
    for (const auto& [id, c] : bus_.connections())
        if (c->active() && !c->monitor) out.push_back(c->unique_name);
    put_string_array(r.body("as"), out);
}

void Driver::list_activatable_names(Connection& caller, const wire::Header&, wire::Reader&, Reply& r) {
    std::vector<std::string> out{std::string(driver_name)};
    for (auto& n : bus_.activation().activatable_names())
        if (visible(caller, n)) out.push_back(std::move(n));
    put_string_array(r.body("as"), out);
}

void Driver::name_has_owner(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (!wire::is_valid_bus_name(name)) {
        r.fail(error::invalid_args, "Could not check whether name '" + std::string(name) + "' has an owner: not a valid bus name");
        return;
    }
    bool has = name == driver_name || (visible(caller, name) && bus_.resolve(name) != nullptr);
    r.body("b").put_bool(has);
}

void Driver::get_name_owner(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (name == driver_name) {
        r.body("s").put_string(driver_name);
        return;
    }
    if (Connection* c = lookup(caller, name, "owner", r)) r.body("s").put_string(c->unique_name);
}

void Driver::start_service_by_name(Connection& c, const wire::Header& h, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (!visible(c, name)) {
        // Never started, never admitted to: as a name no file provides.
        r.fail(error::service_unknown, Activation::not_provided_text(name));
        return;
    }
    if (name == driver_name || bus_.resolve(name)) {
        r.body("u").put_u32(2);  // DBUS_START_REPLY_ALREADY_RUNNING
        return;
    }
    // Answered with 1 (DBUS_START_REPLY_SUCCESS) once the name appears.
    if (auto failure = bus_.activation().start_by_name(c, h, name))
        r.fail(failure->name, failure->text);
    else
        r.deferred = true;
}

void Driver::update_activation_environment(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    if (!privileged(c)) {
        r.fail(error::access_denied, "Connection \"" + c.unique_name +
                                         "\" is not allowed to call UpdateActivationEnvironment");
        return;
    }
    size_t end = 0;
    args.begin_array(8, end);
    std::vector<std::pair<std::string, std::string>> vars;
    while (args.offset() < end) {
        std::string_view k, v;
        args.begin_struct();
        args.read_string(k);
        args.read_string(v);
        vars.emplace_back(k, v);
    }
    bus_.activation().update_environment(vars);
}

void Driver::get_connection_unix_user(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (name == driver_name) {
        r.body("u").put_u32(::geteuid());
        return;
    }
    if (Connection* c = lookup(caller, name, "UID", r)) r.body("u").put_u32(c->credentials().uid);
}

void Driver::get_connection_unix_process_id(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (name == driver_name) {
        r.body("u").put_u32(static_cast<uint32_t>(::getpid()));
        return;
    }
    if (Connection* c = lookup(caller, name, "PID", r)) {
        if (c->credentials().pid <= 0) {
            r.fail(error::failed, "Could not get PID of name '" + std::string(name) + "': PID unknown");
            return;
        }
        r.body("u").put_u32(static_cast<uint32_t>(c->credentials().pid));
    }
}

void Driver::get_connection_credentials(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    PeerCredentials self;
    const PeerCredentials* creds = nullptr;
    UniqueFd pidfd;
    const std::string* endpoint_name = nullptr;
    if (name == driver_name) {
        self.uid = ::geteuid();
        self.pid = ::getpid();
        creds = &self;
    } else if (Connection* c = lookup(caller, name, "credentials", r)) {
        creds = &c->credentials();
        // ProcessFD: a pidfd of the peer as it connected (SO_PEERPIDFD),
        // for callers that can receive fds (dbus-daemon 1.15 does the same).
        if (caller.unix_fds_negotiated()) pidfd = c->peer_pidfd();
        if (c->endpoint) endpoint_name = &c->endpoint->endpoint->name;
    } else {
        return;
    }
    auto& w = r.body("a{sv}");
    auto t = w.begin_array(8);
    put_dict_u32(w, "UnixUserID", creds->uid);
    if (!creds->groups.empty()) {
        w.begin_struct();
        w.put_string("UnixGroupIDs");
        w.begin_variant("au");
        auto g = w.begin_array(4);
        for (gid_t gid : creds->groups) w.put_u32(gid);
        w.end_array(g);
    }
    if (creds->pid > 0) put_dict_u32(w, "ProcessID", static_cast<uint32_t>(creds->pid));
    if (!creds->security_label.empty()) {
        w.begin_struct();
        w.put_string("LinuxSecurityLabel");
        w.begin_variant("ay");
        auto a = w.begin_array(1);
        for (char ch : creds->security_label) w.put_byte(static_cast<uint8_t>(ch));
        w.put_byte(0);  // dbus-daemon includes the terminating NUL
        w.end_array(a);
    }
    if (endpoint_name) {
        w.begin_struct();
        w.put_string("org.kdbusd.Endpoint");
        w.begin_variant("s");
        w.put_string(*endpoint_name);
    }
    if (pidfd) {
        w.begin_struct();
        w.put_string("ProcessFD");
        w.begin_variant("h");
        w.put_unix_fd(static_cast<uint32_t>(r.fds.size()));
        r.fds.push_back(std::move(pidfd));
    }
    w.end_array(t);
}

void Driver::get_adt_audit_session_data(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (name != driver_name && !lookup(caller, name, "audit session data", r)) return;
    r.fail(error::adt_audit_data_unknown,
           "Could not determine audit session data for '" + std::string(name) + "'");
}

void Driver::get_selinux_context(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    if (name != driver_name && !lookup(caller, name, "security context", r)) return;
    r.fail(error::selinux_context_unknown,
           "Could not determine security context for '" + std::string(name) + "'");
}

void Driver::add_match(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view text;
    args.read_string(text);
    std::string err;
    auto rule = MatchRule::parse(text, &err);
    if (!rule) {
        r.fail(error::match_rule_invalid, err);
        return;
    }
    if (bus_.matches().count(c.id) >= bus_.settings().limits.max_match_rules_per_connection) {
        r.fail(error::limits_exceeded,
               "Connection \"" + c.unique_name +
                   "\" is not allowed to add more match rules (increase limits in configuration file if "
                   "required; max_match_rules_per_connection=" +
                   std::to_string(bus_.settings().limits.max_match_rules_per_connection) + ")");
        return;
    }
    if (auto text = bus_.user_limit_reached(c, UserResource::match_rules)) {
        r.fail(error::limits_exceeded,
               "Connection \"" + c.unique_name + "\" is not allowed to add more match rules: " + *text);
        return;
    }
    bus_.matches().add(c.id, *rule);
    c.hold(UserResource::match_rules);
}

void Driver::remove_match(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view text;
    args.read_string(text);
    std::string err;
    auto rule = MatchRule::parse(text, &err);
    if (!rule) {
        r.fail(error::match_rule_invalid, err);
        return;
    }
    if (!bus_.matches().remove(c.id, *rule)) {
        r.fail(error::match_rule_not_found, "The given match rule wasn't found and can't be removed");
        return;
    }
    c.give_back(UserResource::match_rules);
}

void Driver::get_id(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    r.body("s").put_string(bus_.guid());
}

void Driver::reload_config(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    if (reload) {
        std::string err = reload();
        if (!err.empty()) r.fail(error::failed, err);
    }
}

void Driver::become_monitor(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    if (c.endpoint) {
        // kdbus: no monitors on custom endpoints (EOPNOTSUPP).
        r.fail(error::not_supported, "Monitors cannot attach through the custom endpoint " +
                                         c.endpoint->endpoint->name);
        return;
    }
    if (!privileged(c)) {
        r.fail(error::access_denied, "Connection " + c.unique_name + " (uid=" +
                                         std::to_string(c.credentials().uid) + ") is not privileged");
        return;
    }
    size_t end = 0;
    args.begin_array(4, end);
    std::vector<MatchRule> rules;
    while (args.offset() < end) {
        std::string_view text;
        args.read_string(text);
        std::string err;
        auto rule = MatchRule::parse(text, &err);
        if (!rule) {
            r.fail(error::match_rule_invalid, err);
            return;
        }
        rules.push_back(std::move(*rule));
    }
    uint32_t flags = 0;
    args.read_u32(flags);
    if (flags != 0) {
        r.fail(error::invalid_args, "BecomeMonitor does not support any flags yet");
        return;
    }
    Connection* self = &c;
    auto shared_rules = std::make_shared<std::vector<MatchRule>>(std::move(rules));
    r.after = [this, self, shared_rules] { bus_.make_monitor(*self, std::move(*shared_rules)); };
}

/* org.freedesktop.DBus.Introspectable, Peer, Properties */

void Driver::introspect(Connection&, const wire::Header& h, wire::Reader&, Reply& r) {
    r.body("s").put_string(h.path == driver_path ? introspection_xml() : root_introspection_xml());
}

void Driver::ping(Connection&, const wire::Header&, wire::Reader&, Reply&) {}

void Driver::get_machine_id(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    std::string id = read_machine_id();
    if (id.empty()) {
        r.fail(error::failed, "Unable to load the machine UUID");
        return;
    }
    r.body("s").put_string(id);
}

void Driver::put_property(wire::Writer& w, std::string_view name) {
    if (name == "Features") {
        w.begin_variant("as");
        put_string_array(w, features);
    } else {
        w.begin_variant("as");
        put_string_array(w, {iface_monitoring, iface_stats, "org.kdbusd.Bus1"});
    }
}

void Driver::properties_get(Connection&, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view iface, name;
    args.read_string(iface);
    args.read_string(name);
    if (iface != iface_dbus) {
        r.fail(error::unknown_interface, "Interface \"" + std::string(iface) + "\" does not exist");
        return;
    }
    if (name != "Features" && name != "Interfaces") {
        r.fail(error::unknown_property, "Property \"" + std::string(name) + "\" does not exist on interface \"" +
                                            std::string(iface) + "\"");
        return;
    }
    put_property(r.body("v"), name);
}

void Driver::properties_get_all(Connection&, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view iface;
    args.read_string(iface);
    if (!iface.empty() && iface != iface_dbus) {
        r.fail(error::unknown_interface, "Interface \"" + std::string(iface) + "\" does not exist");
        return;
    }
    auto& w = r.body("a{sv}");
    auto t = w.begin_array(8);
    for (const char* name : {"Features", "Interfaces"}) {
        w.begin_struct();
        w.put_string(name);
        put_property(w, name);
    }
    w.end_array(t);
}

void Driver::properties_set(Connection&, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view iface, name;
    args.read_string(iface);
    args.read_string(name);
    if (iface != iface_dbus) {
        r.fail(error::unknown_interface, "Interface \"" + std::string(iface) + "\" does not exist");
        return;
    }
    if (name != "Features" && name != "Interfaces") {
        r.fail(error::unknown_property, "Property \"" + std::string(name) + "\" does not exist");
        return;
    }
    r.fail(error::property_read_only, "Property \"" + std::string(name) + "\" is read-only");
}

/* org.freedesktop.DBus.Debug.Stats */

void Driver::get_stats(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    auto& w = r.body("a{sv}");
    auto t = w.begin_array(8);
    put_dict_u32(w, "Serial", bus_.next_driver_serial());
    put_dict_u32(w, "ActiveConnections", static_cast<uint32_t>(bus_.connections().size()));
    put_dict_u32(w, "MatchRules", static_cast<uint32_t>(bus_.matches().total()));
    put_dict_u32(w, "BusNames", static_cast<uint32_t>(bus_.names().names().size()));
    put_dict_u32(w, "MessagesRouted", static_cast<uint32_t>(bus_.stats().messages_routed));
    put_dict_u32(w, "DeliveriesDropped", static_cast<uint32_t>(bus_.stats().deliveries_dropped));
    // kdbusd: per-receiver accounting (receive_quota.hpp); `kdbusctl stats` shows them.
    put_dict_u32(w, "QuotaRefusals", static_cast<uint32_t>(bus_.stats().quota_refusals));
    put_dict_u32(w, "QuotaDrops", static_cast<uint32_t>(bus_.stats().quota_drops));
    put_dict_u32(w, "UserLimitRefusals", static_cast<uint32_t>(bus_.stats().user_limit_refusals));
    w.end_array(t);
}

void Driver::get_connection_stats(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    Connection* c = lookup(caller, name, "statistics", r);
    if (!c) return;
    auto& w = r.body("a{sv}");
    auto t = w.begin_array(8);
    put_dict_u32(w, "Serial", bus_.next_driver_serial());
    w.begin_struct();
    w.put_string("UniqueName");
    w.begin_variant("s");
    w.put_string(c->unique_name);
    put_dict_u32(w, "OutgoingMessages", static_cast<uint32_t>(c->queued_messages()));
    put_dict_u32(w, "OutgoingBytes", static_cast<uint32_t>(c->queued_bytes()));
    put_dict_u32(w, "MatchRules", static_cast<uint32_t>(bus_.matches().count(c->id)));
    put_dict_u32(w, "BusNames", static_cast<uint32_t>(bus_.names().names_owned_by(c->id).size()));
    w.end_array(t);
}

void Driver::get_all_match_rules(Connection& caller, const wire::Header&, wire::Reader&, Reply& r) {
    if (caller.endpoint) {
        // Every connection's rules name what they listen to.
        r.fail(error::access_denied, "GetAllMatchRules is not available through a custom endpoint");
        return;
    }
    auto& w = r.body("a{sas}");
    auto t = w.begin_array(8);
    for (const auto& [id, c] : bus_.connections()) {
        auto rules = bus_.matches().rules_of(id);
        if (rules.empty()) continue;
        w.begin_struct();
        w.put_string(c->unique_name);
        put_string_array(w, rules);
    }
    w.end_array(t);
}

/* org.kdbusd.Bus1 */

void Driver::update_attach_flags(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    uint64_t send = 0, recv = 0;
    args.read_u64(send);
    args.read_u64(recv);
    if ((send | recv) & ~attach::all) {
        r.fail(error::invalid_args, "Unknown attach flags (known: 0x" + std::to_string(attach::all) + ")");
        return;
    }
    if (recv && !c.namespaces) {
        // Translation needs the receiver's namespaces; they are pinned now.
        metadata::Pidfd pidfd = metadata::Pidfd::open(c.credentials().pid);
        if (pidfd) c.namespaces = metadata::NamespaceView::capture(pidfd, c.credentials().pid);
        if (!c.namespaces) {
            r.fail(error::failed, "Could not read the caller's namespaces");
            return;
        }
    }
    c.attach_send = send;
    c.attach_recv = recv;
    if (recv) bus_.enable_credential_stamps();
}

void Driver::get_attach_flags(Connection& c, const wire::Header&, wire::Reader&, Reply& r) {
    auto& w = r.body("tt");
    w.put_u64(c.attach_send);
    w.put_u64(c.attach_recv);
}

void Driver::get_connection_metadata(Connection& caller, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    uint64_t mask = 0;
    args.read_string(name);
    args.read_u64(mask);
    if (mask & ~attach::all) {
        r.fail(error::invalid_args, "Unknown attach flags");
        return;
    }
    Connection* target = lookup(caller, name, "metadata", r);
    if (!target) return;
    // kdbus CONN_INFO: requested ∩ what the target's send mask allows (the
    // implicit items always), translated into the caller's namespaces.
    uint64_t allowed = mask & (attach::implicit | target->attach_send) & ~attach::timestamp;
    metadata::MessageMetadata md;
    metadata::MessageCredentials creds;
    creds.has_creds = true;
    creds.pid = target->credentials().pid;
    creds.uid = target->credentials().uid;
    creds.gid = target->credentials().gid;
    metadata::Pidfd pidfd = metadata::Pidfd::open(creds.pid);
    metadata::capture_process_items(md, allowed & ~metadata::connection_items, creds, pidfd ? &pidfd : nullptr);
    // kdbus CONN_INFO reports the credentials cached at HELLO, even when
    // the target changed them since.
    if (target->hello_identity && (md.present & attach::creds)) md.ids = target->hello_identity->ids;
    if (target->hello_identity && (md.present & attach::pids)) md.ppid = target->hello_identity->ppid;
    if (allowed & attach::names) {
        md.names = bus_.names().names_owned_by(target->id);
        std::erase_if(md.names, [&](const std::string& n) { return !visible(caller, n); });
        md.present |= attach::names;
    }
    if ((allowed & attach::conn_description) && !target->description.empty()) {
        md.conn_description = target->description;
        md.present |= attach::conn_description;
    }
    std::optional<metadata::NamespaceView> own;
    const metadata::NamespaceView* view = caller.namespaces ? &*caller.namespaces : nullptr;
    if (!view) {
        metadata::Pidfd self = metadata::Pidfd::open(caller.credentials().pid);
        if (self) own = metadata::NamespaceView::capture(self, caller.credentials().pid);
        if (!own) {
            r.fail(error::failed, "Could not read the caller's namespaces");
            return;
        }
        view = &*own;
    }
    metadata::append_metadata_value(r.body("a{sv}"), md, allowed, *view);
}

void Driver::set_connection_description(Connection& c, const wire::Header&, wire::Reader& args, Reply&) {
    std::string_view text;
    args.read_string(text);
    c.description = std::string(text);
}

void Driver::set_fd_policy(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view text;
    args.read_string(text);
    auto policy = parse_fd_policy(text);
    if (!policy) {
        r.fail(error::invalid_args,
               "Unknown fd policy \"" + std::string(text) + "\" (known: \"any\", \"sealed-memfd-only\")");
        return;
    }
    bus_.fd_admission().set_policy(c.id, *policy);
}

}  // namespace kdbus::daemon
