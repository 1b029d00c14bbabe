#include "daemon/activation.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/bus.hpp"
#include "daemon/connection.hpp"
#include "daemon/errors.hpp"
#include "wire/message.hpp"

extern char** environ;

namespace kdbus::daemon {

namespace {

constexpr std::string_view systemd_name = "org.freedesktop.systemd1";

/* dbus-daemon's activation environment starts as its own, minus what
 * describes the daemon's own service rather than the one it starts
 * (bus/activation.c populate_environment). */
std::map<std::string, std::string> initial_environment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv = *e;
        size_t eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    for (const char* drop : {"JOURNAL_STREAM", "LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET",
                             "INVOCATION_ID"})
        env.erase(drop);
    return env;
}

}  // namespace

Activation::Activation(Bus& bus, boost::asio::io_context& io)
    : bus_(bus), io_(io), environment_(initial_environment()) {}

Activation::~Activation() = default;

void Activation::configure(Settings settings) {
    settings_ = std::move(settings);
    std::vector<std::string> warnings;
    services_ = load_service_files(settings_.servicedirs, &warnings);
    for (const auto& w : warnings) spdlog::warn("{}", w);
}

std::vector<std::string> Activation::activatable_names() {
    // dbus-daemon watches its service directories (inotify) and so always
    // lists what is there now; reading them again gives the same answer.
    std::vector<std::string> warnings;
    services_ = load_service_files(settings_.servicedirs, &warnings);
    std::vector<std::string> out;
    for (const auto& [name, file] : services_) out.push_back(name);
    return out;
}

const ServiceFile* Activation::find(std::string_view name) {
    auto it = services_.find(name);
    if (it == services_.end()) {
        // dbus-daemon rereads the directories when a name is not known
        // (activation_find_entry), so a new file works without a reload.
        std::vector<std::string> warnings;
        services_ = load_service_files(settings_.servicedirs, &warnings);
        it = services_.find(name);
    }
    return it == services_.end() ? nullptr : &it->second;
}

std::optional<Activation::Failure> Activation::auto_start(Connection& from, const MessagePtr& message) {
    std::string_view name = message->header.destination;
    const ServiceFile* file = nullptr;
    if (waiting_count_ >= settings_.max_pending)
        return Failure{error::limits_exceeded, "The maximum number of pending activations has been reached, "
                                               "activation of " + std::string(name) + " failed "
                                               "(max_pending_service_starts=" +
                                                   std::to_string(settings_.max_pending) + ")"};
    // With systemd activation, systemd itself needs no .service file: it
    // is assumed to connect eventually.
    if (!(settings_.systemd && name == systemd_name)) {
        file = find(name);
        if (!file)
            return Failure{error::service_unknown,
                           not_provided_text(name)};
        // Send policy before anything starts: a denied message must not
        // even wake the service (dbus-daemon checks with no receiver).
        if (auto denial = bus_.send_denial(&from, message, nullptr, false))
            return Failure{error::access_denied, *denial};
    }
    Waiting w;
    w.sender = from.id;
    w.message = message;
    return enqueue(name, file, std::move(w));
}

std::string Activation::not_provided_text(std::string_view name) {
    return "The name " + std::string(name) + " was not provided by any .service files";
}

std::optional<Activation::Failure> Activation::start_by_name(Connection& from, const wire::Header& call,
                                                              std::string_view name) {
    if (waiting_count_ >= settings_.max_pending)
        return Failure{error::limits_exceeded, "The maximum number of pending activations has been reached, "
                                               "activation of " + std::string(name) + " failed "
                                               "(max_pending_service_starts=" +
                                                   std::to_string(settings_.max_pending) + ")"};
    const ServiceFile* file = nullptr;
    if (!(settings_.systemd && name == systemd_name)) {
        file = find(name);
        if (!file)
            return Failure{error::service_unknown,
                           not_provided_text(name)};
    }
    Waiting w;
    w.sender = from.id;
    w.auto_start = false;
    w.call_serial = call.serial;
    w.no_reply = call.flags & wire::flag::no_reply_expected;
    return enqueue(name, file, std::move(w));
}

std::optional<Activation::Failure> Activation::enqueue(std::string_view name, const ServiceFile* file, Waiting w) {
    Connection* requester = w.sender ? bus_.find(w.sender) : nullptr;
    if (auto it = pending_.find(name); it != pending_.end()) {
        it->second.waiting.push_back(std::move(w));
        ++waiting_count_;
        return std::nullopt;  // already being started
    }
    Pending p;
    p.id = next_pending_id_++;
    p.name = std::string(name);
    if (file) {
        p.exec = file->exec;
        p.systemd_service = file->systemd_service;
    }
    p.waiting.push_back(std::move(w));
    p.timer = std::make_unique<boost::asio::steady_timer>(io_);
    auto [it, inserted] = pending_.emplace(p.name, std::move(p));
    ++waiting_count_;
    Pending& pending = it->second;
    if (settings_.start_timeout_ms > 0) {
        pending.timer->expires_after(std::chrono::milliseconds(settings_.start_timeout_ms));
        // `alive`: a handler queued as the bus goes away still runs.
        pending.timer->async_wait([this, alive = std::weak_ptr<const int>(lifetime_), name = pending.name,
                                   id = pending.id](const boost::system::error_code& ec) {
            if (ec || alive.expired()) return;
            auto p = pending_.find(name);
            if (p == pending_.end() || p->second.id != id) return;
            if (p->second.process) p->second.process->kill();
            Failure f{error::timed_out, "Failed to activate service '" + name + "': timed out (service_start_timeout=" +
                                            std::to_string(settings_.start_timeout_ms) + "ms)"};
            spdlog::warn("{}", f.text);
            fail(name, f);
        });
    }
    if (auto failure = start(pending, file, requester)) {
        // Nobody else can be waiting yet: only the one just queued.
        waiting_count_ -= pending.waiting.size();
        pending_.erase(it);
        return failure;
    }
    return std::nullopt;
}

std::optional<Activation::Failure> Activation::start(Pending& p, const ServiceFile* file, Connection* requester) {
    std::string who = requester ? requester->unique_name : std::string("the bus");
    if (!file) return std::nullopt;  // systemd itself: wait for it to connect
    if (settings_.systemd && !file->systemd_service.empty()) {
        spdlog::info("Activating via systemd: service name='{}' unit='{}' requested by '{}'", p.name,
                     file->systemd_service, who);
        return start_with_systemd(p, *file);
    }
    spdlog::info("Activating service name='{}' requested by '{}'", p.name, who);
    return start_with_exec(p, *file);
}

std::optional<Activation::Failure> Activation::start_with_systemd(Pending&, const ServiceFile& file) {
    // A directed signal, not a call: success shows as the name appearing
    // (bus/activation.c explains why).
    wire::MessageBuilder b(wire::MessageType::signal);
    b.path("/org/freedesktop/DBus").interface("org.freedesktop.systemd1.Activator").member("ActivationRequest");
    b.sender("org.freedesktop.DBus").destination(systemd_name);
    b.body("s").put_string(file.systemd_service);
    return send_to_systemd(b);
}

std::optional<Activation::Failure> Activation::send_to_systemd(const wire::MessageBuilder& b) {
    MessagePtr m = bus_.driver_message(b, bus_.next_driver_serial());
    if (!m) return Failure{error::failed, "could not build a message for systemd"};
    // Monitors see what the bus wants to send even while systemd is away.
    bus_.capture(m);
    if (Connection* systemd = bus_.resolve(systemd_name)) {
        bus_.deliver_held(0, m, *systemd);
        return std::nullopt;
    }
    Waiting w;
    w.message = m;
    return enqueue(systemd_name, nullptr, std::move(w));
}

std::vector<std::string> Activation::spawn_environment() const {
    std::map<std::string, std::string> env = environment_;
    env["DBUS_STARTER_ADDRESS"] = address_;
    if (!settings_.bus_type.empty()) {
        env["DBUS_STARTER_BUS_TYPE"] = settings_.bus_type;
        if (settings_.bus_type == "session") env["DBUS_SESSION_BUS_ADDRESS"] = address_;
        if (settings_.bus_type == "system") env["DBUS_SYSTEM_BUS_ADDRESS"] = address_;
    }
    std::vector<std::string> out;
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

std::optional<Activation::Failure> Activation::start_with_exec(Pending& p, const ServiceFile& file) {
    // A system bus (one with <servicehelper>) starts services as their
    // User=; dbus-daemon's helper refuses files without one.
    if (settings_.servicehelper && file.user.empty())
        return Failure{"org.freedesktop.DBus.Error.Spawn.FileInvalid",
                       "Cannot do system-bus activation with no user\n"};
    std::string err;
    auto argv = split_command_line(file.exec, &err);
    if (!argv) return Failure{error::invalid_args, err};
    ServiceProcess::Spec spec;
    spec.argv = std::move(*argv);
    spec.env = spawn_environment();
    if (settings_.servicehelper) spec.user = file.user;
    // The process may outlive this bus (a domain removes buses): the
    // callback checks that the bus is still there.
    std::weak_ptr<const int> alive = lifetime_;
    auto process = ServiceProcess::spawn(
        io_, spec,
        [this, alive, id = p.id, exec = file.exec](const ServiceExit& exit) {
            if (!alive.expired()) on_exit(id, exec, exit);
        },
        &err);
    if (!process) {
        spdlog::info("Failed to activate service {}: {}", p.name, err);
        return Failure{"org.freedesktop.DBus.Error.Spawn.ForkFailed", err};
    }
    p.process = std::move(process);
    return std::nullopt;
}

void Activation::on_exit(uint64_t pending_id, const std::string& exec, const ServiceExit& exit) {
    std::string name;
    for (auto& [n, p] : pending_)
        if (p.id == pending_id) name = n;
    if (name.empty() || !exit.failed()) return;  // started, or daemonized (exit 0)
    Failure f{exit.error_name(), exit.error_text(name)};
    spdlog::info("Activated service '{}' failed: {}", name, f.text);
    // Every start of the same program fails with it (dbus-daemon).
    std::vector<std::string> same;
    for (auto& [n, p] : pending_)
        if (n != name && p.exec == exec) same.push_back(n);
    for (const auto& n : same) fail(n, f);
    fail(name, f);
}

void Activation::fail(const std::string& name, const Failure& f) {
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    waiting_count_ -= p.waiting.size();
    if (p.timer) p.timer->cancel();
    for (const auto& w : p.waiting) {
        Connection* c = w.sender ? bus_.find(w.sender) : nullptr;
        if (!c) continue;
        if (w.auto_start) {
            bus_.send_error(*c, w.message->header, f.name, f.text);
        } else if (!w.no_reply) {
            wire::Header call;
            call.type = wire::MessageType::method_call;
            call.serial = w.call_serial;
            bus_.send_error(*c, call, f.name, f.text);
        }
    }
}

void Activation::name_acquired(std::string_view name) {
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    waiting_count_ -= p.waiting.size();
    if (p.timer) p.timer->cancel();
    spdlog::info("Successfully activated service '{}'", p.name);
    for (const auto& w : p.waiting) {
        Connection* owner = bus_.resolve(p.name);
        if (!owner) return;  // lost it again meanwhile
        if (w.sender == 0) {
            bus_.deliver_held(0, w.message, *owner);
            continue;
        }
        Connection* c = bus_.find(w.sender);
        if (!c) continue;  // the requester is gone
        if (w.auto_start) {
            bus_.deliver_held(w.sender, w.message, *owner);
        } else if (!w.no_reply) {
            wire::MessageBuilder b(wire::MessageType::method_return);
            b.reply_serial(w.call_serial).sender("org.freedesktop.DBus").destination(c->unique_name);
            b.body("u").put_u32(1);  // DBUS_START_REPLY_SUCCESS
            bus_.send_from_driver(b, bus_.next_driver_serial());
        }
    }
}

void Activation::systemd_failed(std::string_view unit, std::string_view error_name, std::string_view text) {
    spdlog::info("Activation via systemd failed for unit '{}': {}", unit, text);
    std::vector<std::string> names;
    for (const auto& [n, p] : pending_)
        if (!p.systemd_service.empty() && p.systemd_service == unit) names.push_back(n);
    for (const auto& n : names) fail(n, Failure{std::string(error_name), std::string(text)});
}

void Activation::update_environment(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const auto& [k, v] : vars) environment_[k] = v;
    // Even an empty update is passed on, as dbus-daemon does.
    if (!settings_.systemd) return;
    // systemd starts the services, so it must know too; no reply wanted.
    wire::MessageBuilder b(wire::MessageType::method_call);
    b.flags(wire::flag::no_reply_expected);
    b.path("/org/freedesktop/systemd1").interface("org.freedesktop.systemd1.Manager").member("SetEnvironment");
    Connection* systemd = bus_.resolve(systemd_name);
    b.sender("org.freedesktop.DBus").destination(systemd ? std::string_view(systemd->unique_name) : systemd_name);
    auto& w = b.body("as");
    auto t = w.begin_array(4);
    for (const auto& [k, v] : vars) w.put_string(k + "=" + v);
    w.end_array(t);
    if (auto f = send_to_systemd(b))
        spdlog::warn("could not pass the activation environment to systemd: {}", f->text);
}

}  // namespace kdbus::daemon
