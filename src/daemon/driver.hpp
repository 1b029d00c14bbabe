/* Driver: the bus's own object, org.freedesktop.DBus */
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/bus_message.hpp"
#include "wire/marshal.hpp"
#include "wire/message.hpp"

namespace kdbus::daemon {

class Bus;
class Connection;

/*
 * The driver is a table of methods (interface, member, input signature,
 * handler). Arguments are checked against the signature once, generically,
 * before a handler runs; a handler reads them with the Reader it is given
 * and either fills the reply or returns an error.
 */
class Driver {
public:
    explicit Driver(Bus& bus);

    void handle(Connection& from, const MessagePtr& call);
    /* The introspection XML of /org/freedesktop/DBus (also --introspect). */
    static const char* introspection();

    /* Hook for ReloadConfig; returns an error text or empty on success. */
    std::function<std::string()> reload;
    /* Features advertised in the Features property. */
    std::vector<std::string> features;

    /* What a handler produces. */
    struct Reply {
        std::string error_name;  // empty: success
        std::string error_text;
        std::string signature;
        /* File descriptors the reply carries (its `h` values index them). */
        std::vector<UniqueFd> fds;
        wire::MessageBuilder builder{wire::MessageType::method_return};
        /* Run just before and just after the reply is queued: dbus-daemon
         * sends RequestName's signals before its reply, Hello's after. */
        std::function<void()> before;
        std::function<void()> after;
        /* The answer comes later (StartServiceByName waits for the name). */
        bool deferred = false;

        /* The builder keeps a view of the signature: of `signature`, not
         * of the caller's (which may be a temporary), so a Reply stays
         * where it was made. */
        Reply() = default;
        Reply(const Reply&) = delete;
        Reply& operator=(const Reply&) = delete;

        wire::Writer& body(std::string_view sig) {
            signature = sig;
            return builder.body(signature);
        }
        void fail(std::string_view name, std::string text) {
            error_name = name;
            error_text = std::move(text);
        }
    };
    using Handler = void (Driver::*)(Connection&, const wire::Header&, wire::Reader&, Reply&);

    /* Methods added by the process around the bus (a domain's
     * org.kdbusd.Control1), served only at their own object path. */
    struct ExtensionMethod {
        std::string interface;
        std::string member;
        std::string in_signature;
        std::string path;
        std::function<void(Connection&, const wire::Header&, wire::Reader&, Reply&)> handler;
    };
    std::vector<ExtensionMethod> extensions;

private:
    struct Method {
        const char* interface;
        const char* member;
        const char* in_signature;
        Handler handler;
        bool any_path;  // dbus-daemon allows these on every object path
    };
    static const Method methods_[];

    void hello(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void request_name(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void release_name(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void list_queued_owners(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void list_names(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void list_activatable_names(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void name_has_owner(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_name_owner(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void start_service_by_name(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void update_activation_environment(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_connection_unix_user(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_connection_unix_process_id(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_connection_credentials(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_adt_audit_session_data(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_selinux_context(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void add_match(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void remove_match(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_id(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void reload_config(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void become_monitor(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void introspect(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void ping(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_machine_id(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void properties_get(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void properties_get_all(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void properties_set(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_stats(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_connection_stats(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_all_match_rules(Connection&, const wire::Header&, wire::Reader&, Reply&);
    /* org.kdbusd.Bus1 (DESIGN.md, "Fixed interfaces") */
    void update_attach_flags(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_attach_flags(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void get_connection_metadata(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void set_connection_description(Connection&, const wire::Header&, wire::Reader&, Reply&);
    void set_fd_policy(Connection&, const wire::Header&, wire::Reader&, Reply&);

    /* The connection a name argument refers to, or nullptr after filling
     * NameHasNoOwner with "Could not get <what> of name '<name>': no such name". */
    /* The connection that owns `name` as `caller` may know it, else
     * nullptr and the error a name nobody owns gets. */
    Connection* lookup(const Connection& caller, std::string_view name, const char* what, Reply& r);
    /* Whether `name` exists for `caller` (custom endpoints hide names). */
    bool visible(const Connection& caller, std::string_view name);
    void send_reply(Connection& from, const wire::Header& call, Reply& r);
    bool privileged(const Connection& c) const;
    void put_property(wire::Writer& w, std::string_view name);

    Bus& bus_;
};

}  // namespace kdbus::daemon
