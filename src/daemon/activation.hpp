/* Activation: starting the service behind an unowned name, and holding the
 * messages for it until it takes its name (D-Bus specification, "Message
 * Bus Starting Services"; dbus-daemon bus/activation.c) */
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/bus_message.hpp"
#include "daemon/service_file.hpp"
#include "daemon/service_process.hpp"

namespace kdbus::daemon {

class Bus;
class Connection;

/*
 * Two ways to start a service, both available on one bus:
 *  - exec (traditional): fork and exec the file's Exec= line, with
 *    DBUS_STARTER_ADDRESS and DBUS_STARTER_BUS_TYPE in its environment;
 *  - systemd (--systemd-activation, file has SystemdService=): the signal
 *    org.freedesktop.systemd1.Activator.ActivationRequest(s unit) to
 *    org.freedesktop.systemd1, itself held until systemd connects;
 *    systemd answers failures with ActivationFailure(s unit, s error, s text).
 * Whichever way, messages wait per name, in arrival order, until the name
 * gets a primary owner (then they are routed as if just sent, so receive
 * policy applies then), or fail together with the start's error.
 */
class Activation {
public:
    struct Settings {
        std::vector<policy::ServiceDir> servicedirs;
        /* <servicehelper>: set on a system bus; services then need User=. */
        std::optional<std::string> servicehelper;
        bool systemd = false;  // --systemd-activation
        std::string bus_type;  // DBUS_STARTER_BUS_TYPE
        int64_t start_timeout_ms = 25000;
        size_t max_pending = 512;
    };
    /* A start that failed: the D-Bus error for whoever asked. */
    struct Failure {
        std::string name;
        std::string text;
    };
    /* ServiceUnknown's text for a name no .service file provides (also
     * what a name hidden by a custom endpoint gets). */
    static std::string not_provided_text(std::string_view name);

    Activation(Bus& bus, boost::asio::io_context& io);
    ~Activation();
    Activation(const Activation&) = delete;
    Activation& operator=(const Activation&) = delete;

    /* New settings (startup, ReloadConfig): the service directories are
     * read again. Pending starts carry on. */
    void configure(Settings settings);
    /* The bus's address for DBUS_STARTER_ADDRESS. */
    void set_address(std::string address) { address_ = std::move(address); }

    /* ListActivatableNames. */
    std::vector<std::string> activatable_names();

    /* A message from `from` to an unowned name (auto-start): held until the
     * name appears. Send policy is checked first, with no receiver, as
     * dbus-daemon does. On failure nothing is held. */
    std::optional<Failure> auto_start(Connection& from, const MessagePtr& message);
    /* StartServiceByName: answered later with START_REPLY_SUCCESS (1) when
     * the name appears, or the start's error. */
    std::optional<Failure> start_by_name(Connection& from, const wire::Header& call, std::string_view name);

    /* `name` got a primary owner: release what waits for it. */
    void name_acquired(std::string_view name);
    /* ActivationFailure from the owner of org.freedesktop.systemd1. */
    void systemd_failed(std::string_view unit, std::string_view error_name, std::string_view text);

    /* UpdateActivationEnvironment: merged into every service's environment
     * from now on, and passed on to systemd (Manager.SetEnvironment). */
    void update_environment(const std::vector<std::pair<std::string, std::string>>& vars);
    const std::map<std::string, std::string>& environment() const { return environment_; }

private:
    /* One message (or StartServiceByName call) waiting for a name. */
    struct Waiting {
        uint64_t sender = 0;  // connection id; 0: the bus's own message
        MessagePtr message;   // auto-start: the held message
        bool auto_start = true;
        uint32_t call_serial = 0;  // StartServiceByName: the call to answer
        bool no_reply = false;
    };
    struct Pending {
        uint64_t id;
        std::string name;
        std::string exec;
        std::string systemd_service;
        std::vector<Waiting> waiting;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::shared_ptr<ServiceProcess> process;
    };

    const ServiceFile* find(std::string_view name);
    std::optional<Failure> enqueue(std::string_view name, const ServiceFile* file, Waiting w);
    std::optional<Failure> start(Pending& p, const ServiceFile* file, Connection* requester);
    std::optional<Failure> start_with_systemd(Pending& p, const ServiceFile& file);
    std::optional<Failure> start_with_exec(Pending& p, const ServiceFile& file);
    std::vector<std::string> spawn_environment() const;
    void on_exit(uint64_t pending_id, const std::string& exec, const ServiceExit& exit);
    /* Answers everyone waiting with `f` and forgets the start. */
    void fail(const std::string& name, const Failure& f);
    /* Sends a message the bus makes to org.freedesktop.systemd1, held (and
     * systemd "activated") while systemd is not connected. */
    std::optional<Failure> send_to_systemd(const wire::MessageBuilder& b);

    Bus& bus_;
    boost::asio::io_context& io_;
    Settings settings_;
    ServiceTable services_;
    std::string address_;
    std::map<std::string, std::string> environment_;
    std::map<std::string, Pending, std::less<>> pending_;
    size_t waiting_count_ = 0;
    uint64_t next_pending_id_ = 1;
    /* Expires with this object; what outlives it (service processes) checks. */
    std::shared_ptr<const int> lifetime_ = std::make_shared<const int>(0);
};

}  // namespace kdbus::daemon
