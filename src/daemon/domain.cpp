#include "daemon/domain.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <variant>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "daemon/bus_config.hpp"
#include "daemon/connection.hpp"
#include "daemon/control_options.hpp"
#include "daemon/domain_names.hpp"
#include "policy/limits_json.hpp"
#include "daemon/domain_privilege.hpp"
#include "daemon/errors.hpp"
#include "daemon/listen_address.hpp"
#include "policy/config.hpp"
#include "wire/address.hpp"

extern char** environ;

namespace kdbus::daemon {

namespace {

constexpr const char* control_interface = "org.kdbusd.Control1";
constexpr const char* control_path = "/org/kdbusd/Control1";

/* A bus made without a policy admits whoever can open its socket (the
 * socket's mode is the access control, as kdbus's MAKE_ACCESS_*), and
 * lets them talk and own freely, like a session bus. */
constexpr const char* open_policy = R"(<busconfig>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>)";

mode_t socket_mode(const std::string& access) {
    if (access == "world") return 0666;
    if (access == "group") return 0660;
    return 0600;
}

mode_t dir_mode(const std::string& access) {
    if (access == "world") return 0755;
    if (access == "group") return 0750;
    return 0700;
}

bool is_json(const std::string& text) {
    size_t at = text.find_first_not_of(" \t\r\n");
    return at != std::string::npos && text[at] == '{';
}

/* A bus's settings from its policy text: dbus-daemon XML, or kdbusd JSON
 * for kdbus's own rules (kdbus_bus_policy.hpp) with dbus-daemon's default
 * limits. Throws with the reason. */
BusSettings settings_for(const std::string& name, const std::string& policy_text, uid_t owner) {
    policy::LoadOptions lo;
    lo.require_listen = false;
    bool json = is_json(policy_text);
    policy::Config c = policy::load_config_string(policy_text.empty() || json ? open_policy : policy_text,
                                                  "(policy of bus " + name + ")", lo);
    // A JSON policy carries its bus's limits itself (limits_json.hpp).
    std::string rules = json ? policy::take_json_limits(policy_text, c.limits) : std::string();
    BusSettings s = settings_from_config(c);
    s.type = name;
    if (json) {
        s.policy = nullptr;
        s.kdbus_policy = KdbusBusPolicy{policy::EndpointPolicy::from_json(rules), owner};
    }
    return s;
}

}  // namespace

Domain::Domain(boost::asio::io_context& io, Options options) : io_(io), options_(std::move(options)) {}

Domain::~Domain() = default;

void Domain::start() {
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) throw std::runtime_error("cannot create " + options_.dir + ": " + ec.message());
    ::chmod(options_.dir.c_str(), 0755);

    BusSettings control_settings;
    control_settings.type = "control";
    control_ = std::make_unique<Bus>(io_, control_settings);
    control_path_ = options_.dir + "/control";
    // kdbus: control is mode 0666; anyone may make a bus with their own uid.
    UniqueFd fd = listen_unix(control_path_);
    ::chmod(control_path_.c_str(), 0666);
    control_->add_listener(std::move(fd));
    control_address_ = wire::format_address(wire::Address{"unix", {{"path", control_path_}}});
    control_->on_disconnect = [this](Connection& c) { on_control_disconnect(c); };
    install_control_methods();

    if (!options_.config_json.empty()) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(options_.config_json);
        } catch (const std::exception& e) {
            throw std::runtime_error(options_.config_name + ": " + e.what());
        }
        for (const auto& b : j.value("buses", nlohmann::json::array())) {
            std::string name = b.value("name", "");
            std::string access = b.value("access", "owner");
            std::string policy_name = b.value("policy", "");
            std::string uid_text = name.substr(0, name.find('-'));
            uid_t owner = static_cast<uid_t>(std::strtoul(uid_text.c_str(), nullptr, 10));
            if (owner != ::geteuid() && ::geteuid() != 0) {
                spdlog::info("not creating bus {}: it belongs to uid {}", name, owner);
                continue;
            }
            std::string policy_text;
            if (policy_name == "system") policy_text = embedded_system_conf;
            else if (policy_name == "session") policy_text = embedded_session_conf;
            std::string address;
            std::string err = create_bus(name, owner, access, policy_text, true, 0, &address);
            if (!err.empty()) throw std::runtime_error(options_.config_name + ": bus " + name + ": " + err);
        }
    }
}

void Domain::shutdown() {
    std::vector<std::string> names;
    for (const auto& [name, e] : buses_) names.push_back(name);
    for (const auto& n : names) remove_bus(n);
    for (const auto& child : children_) ::kill(child.pid, SIGTERM);
    if (control_) {
        control_->shutdown();
        ::unlink(control_path_.c_str());
        boost::asio::post(io_, [b = std::shared_ptr<Bus>(std::move(control_))] {});
    }
}

std::string Domain::reload() {
    for (auto& [name, e] : buses_) {
        try {
            e.bus->set_settings(settings_for(name, e.policy_text, e.owner));
        } catch (const std::exception& ex) {
            return std::string("Unable to reload the policy of bus ") + name + ": " + ex.what();
        }
    }
    return {};
}

bool Domain::privileged(const Connection& c) const {
    // KDBUS.md "Privilege": CAP_IPC_OWNER in the domain's user namespace,
    // decided once per connection from the process that connected. The
    // domain's namespace is this process's, so one decider serves it.
    static DomainPrivilege privilege;
    return privilege.of(c);
}

std::string Domain::create_bus(const std::string& name, uid_t owner, const std::string& access,
                               const std::string& policy_text, bool persist, uint64_t creator,
                               std::string* address) {
    if (std::string err = check_domain_object_name(name, owner); !err.empty()) return err;
    if (access != "owner" && access != "group" && access != "world")
        return "access must be \"owner\", \"group\" or \"world\"";
    if (buses_.count(name)) return "a bus named \"" + name + "\" exists already";
    BusSettings settings;
    try {
        settings = settings_for(name, policy_text, owner);
    } catch (const std::exception& e) {
        return e.what();
    }

    BusEntry e;
    e.name = name;
    e.owner = owner;
    e.access = access;
    e.policy_text = policy_text;
    e.persist = persist;
    e.creator = persist ? 0 : creator;
    e.dir = options_.dir + "/" + name;
    e.socket_path = e.dir + "/bus";
    if (::mkdir(e.dir.c_str(), dir_mode(access)) < 0 && errno != EEXIST)
        return "cannot create " + e.dir + ": " + std::strerror(errno);
    try {
        UniqueFd fd = listen_unix(e.socket_path);
        ::chmod(e.socket_path.c_str(), socket_mode(access));
        if (::geteuid() == 0) {
            // The bus belongs to its owner (kdbus: the creator's uid).
            (void)!::chown(e.dir.c_str(), owner, static_cast<gid_t>(-1));
            (void)!::chown(e.socket_path.c_str(), owner, static_cast<gid_t>(-1));
        }
        e.bus = std::make_unique<Bus>(io_, std::move(settings));
        e.bus->add_listener(std::move(fd));
    } catch (const std::exception& ex) {
        ::rmdir(e.dir.c_str());
        return ex.what();
    }
    e.address = wire::format_address(wire::Address{"unix", {{"path", e.socket_path}}});
    if (address) *address = e.address;
    spdlog::info("bus {} created (owner uid {}, access {}) at {}", name, owner, access, e.address);
    buses_.emplace(name, std::move(e));
    return {};
}

void Domain::remove_bus(const std::string& name) {
    auto it = buses_.find(name);
    if (it == buses_.end()) return;
    BusEntry e = std::move(it->second);
    buses_.erase(it);
    e.bus->shutdown();
    // Removing a bus removes its endpoints (kdbus: they live in its dir).
    for (const auto& [ep_name, ep] : e.endpoints) ::unlink(ep->socket_path.c_str());
    ::unlink(e.socket_path.c_str());
    ::rmdir(e.dir.c_str());
    // Handlers of the bus's closed connections may still be queued on the
    // loop; the bus goes away after them.
    boost::asio::post(io_, [b = std::shared_ptr<Bus>(std::move(e.bus))] {});
    spdlog::info("bus {} removed", name);
}

void Domain::on_control_disconnect(Connection& c) {
    // kdbus: a bus lives while its owner's handle is open, unless persistent.
    std::vector<std::string> doomed;
    for (const auto& [name, e] : buses_)
        if (e.creator != 0 && e.creator == c.id) doomed.push_back(name);
    for (const auto& n : doomed) remove_bus(n);
}

/* org.kdbusd.Control1 */

void Domain::install_control_methods() {
    auto add = [this](const char* member, const char* sig,
                      void (Domain::*fn)(Connection&, const wire::Header&, wire::Reader&, Reply&)) {
        control_->driver().extensions.push_back(Driver::ExtensionMethod{
            control_interface, member, sig, control_path,
            [this, fn](Connection& c, const wire::Header& h, wire::Reader& r, Reply& reply) {
                (this->*fn)(c, h, r, reply);
            }});
    };
    add("CreateBus", "sa{sv}", &Domain::control_create_bus);
    add("RemoveBus", "s", &Domain::control_remove_bus);
    add("ListBuses", "", &Domain::control_list_buses);
    add("GetStats", "s", &Domain::control_get_stats);
    add("Reload", "", &Domain::control_reload);
    add("ListDomains", "", &Domain::control_list_domains);
    add("CreateDomain", "us", &Domain::control_create_domain);
    add("CreateEndpoint", "ssa{sv}", &Domain::control_create_endpoint);
    add("UpdateEndpointPolicy", "ssa{sv}", &Domain::control_update_endpoint_policy);
    add("RemoveEndpoint", "ss", &Domain::control_remove_endpoint);
    add("ListEndpoints", "s", &Domain::control_list_endpoints);
}

void Domain::control_create_bus(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    OptionMap opts;
    if (!args.read_string(name) || !read_options(args, opts)) {
        r.fail(error::invalid_args, "CreateBus: malformed options");
        return;
    }
    const bool* persist = option<bool>(opts, "persist");
    const std::string* access = option<std::string>(opts, "access");
    const std::string* policy_text = option<std::string>(opts, "policy");
    // kdbus: at most 16 buses per user and domain (KDBUS_USER_MAX_BUSES).
    constexpr size_t max_buses_per_user = 16;
    size_t owned = 0;
    for (const auto& [n, e] : buses_)
        if (e.owner == c.credentials().uid) ++owned;
    if (owned >= max_buses_per_user && !privileged(c)) {
        r.fail(error::limits_exceeded, "CreateBus: uid " + std::to_string(c.credentials().uid) +
                                           " already has " + std::to_string(owned) + " buses in this domain");
        return;
    }
    std::string address;
    std::string err = create_bus(std::string(name), c.credentials().uid, access ? *access : "owner",
                                 policy_text ? *policy_text : "", persist && *persist, c.id, &address);
    if (!err.empty()) {
        bool exists = err.find("exists already") != std::string::npos;
        r.fail(exists ? error::failed : error::invalid_args, "CreateBus: " + err);
        return;
    }
    r.body("s").put_string(address);
}

void Domain::control_remove_bus(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    auto it = buses_.find(std::string(name));
    if (it == buses_.end()) {
        r.fail(error::service_unknown, "RemoveBus: no bus named \"" + std::string(name) + "\"");
        return;
    }
    if (it->second.owner != c.credentials().uid && !privileged(c)) {
        r.fail(error::access_denied, "RemoveBus: bus \"" + std::string(name) + "\" belongs to uid " +
                                         std::to_string(it->second.owner));
        return;
    }
    remove_bus(std::string(name));
}

void Domain::control_list_buses(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    auto& w = r.body("a(ssuu)");
    auto t = w.begin_array(8);
    for (const auto& [name, e] : buses_) {
        w.begin_struct();
        w.put_string(name);
        w.put_string(e.address);
        w.put_u32(e.owner);
        w.put_u32(static_cast<uint32_t>(e.bus->connections().size()));
    }
    w.end_array(t);
}

void Domain::control_get_stats(Connection&, const wire::Header&, wire::Reader& args, Reply& r) {
    std::string_view name;
    args.read_string(name);
    std::vector<const BusEntry*> selected;
    for (const auto& [n, e] : buses_)
        if (name.empty() || n == name) selected.push_back(&e);
    if (!name.empty() && selected.empty()) {
        r.fail(error::service_unknown, "GetStats: no bus named \"" + std::string(name) + "\"");
        return;
    }
    uint64_t connections = 0, names = 0, matches = 0, routed = 0, dropped = 0, broadcasts = 0;
    uint64_t quota_refusals = 0, quota_drops = 0, user_limit_refusals = 0;
    for (const BusEntry* e : selected) {
        connections += e->bus->connections().size();
        names += e->bus->names().names().size();
        matches += e->bus->matches().total();
        routed += e->bus->stats().messages_routed;
        dropped += e->bus->stats().deliveries_dropped;
        quota_refusals += e->bus->stats().quota_refusals;
        quota_drops += e->bus->stats().quota_drops;
        user_limit_refusals += e->bus->stats().user_limit_refusals;
        broadcasts += e->bus->stats().broadcasts;
    }
    auto& w = r.body("a{sv}");
    auto t = w.begin_array(8);
    auto put = [&w](const char* key, uint64_t v) {
        w.begin_struct();
        w.put_string(key);
        w.begin_variant("t");
        w.put_u64(v);
    };
    put("Buses", selected.size());
    put("Connections", connections);
    put("BusNames", names);
    put("MatchRules", matches);
    put("MessagesRouted", routed);
    put("Broadcasts", broadcasts);
    put("DeliveriesDropped", dropped);
    put("QuotaRefusals", quota_refusals);
    put("QuotaDrops", quota_drops);
    put("UserLimitRefusals", user_limit_refusals);
    w.end_array(t);
}

void Domain::control_reload(Connection& c, const wire::Header&, wire::Reader&, Reply& r) {
    if (!privileged(c)) {
        r.fail(error::access_denied, "Reload: only the domain's owner may reload it");
        return;
    }
    if (std::string err = reload(); !err.empty()) r.fail(error::failed, err);
}

void Domain::control_list_domains(Connection&, const wire::Header&, wire::Reader&, Reply& r) {
    auto& w = r.body("a(sus)");
    auto t = w.begin_array(8);
    for (const auto& child : children_) {
        w.begin_struct();
        w.put_string(child.dir);
        w.put_u32(static_cast<uint32_t>(child.pid));
        w.put_string(std::to_string(child.target));
    }
    w.end_array(t);
}

/*
 * kdbusctl domain create --target PID: a new kdbusd in the user, pid and
 * mount namespaces of PID, for a container manager. The daemon's binary is
 * opened before entering the namespaces (it need not exist inside them)
 * and run with fexecve.
 */
void Domain::control_create_domain(Connection& c, const wire::Header&, wire::Reader& args, Reply& r) {
    uint32_t target = 0;
    std::string_view dir;
    args.read_u32(target);
    args.read_string(dir);
    if (!privileged(c)) {
        r.fail(error::access_denied, "CreateDomain: only the domain's owner may start domains in other namespaces");
        return;
    }
    if (dir.empty() || dir[0] != '/') {
        r.fail(error::invalid_args, "CreateDomain: the directory must be an absolute path");
        return;
    }
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(target), 0));
    if (pidfd < 0) {
        r.fail(error::invalid_args, "CreateDomain: no process " + std::to_string(target));
        return;
    }
    int exe = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    int status_pipe[2];
    if (exe < 0 || ::pipe2(status_pipe, O_CLOEXEC) < 0) {
        ::close(pidfd);
        if (exe >= 0) ::close(exe);
        r.fail(error::failed, "CreateDomain: cannot prepare the new daemon");
        return;
    }
    std::string dir_s(dir);
    pid_t child = ::fork();
    if (child == 0) {
        // Enter the target's namespaces; the pid namespace applies to our
        // children, so fork once more and exec there. The pipe carries the
        // new daemon's pid, or -errno.
        ::setsid();
        int result;
        if (::setns(pidfd, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) {
            result = -errno;
        } else {
            pid_t grandchild = ::fork();
            if (grandchild == 0) {
                const char* argv[] = {"kdbusd", "--domain", dir_s.c_str(), nullptr};
                ::fexecve(exe, const_cast<char* const*>(argv), environ);
                ::_exit(127);
            }
            result = grandchild > 0 ? grandchild : -errno;
        }
        (void)!::write(status_pipe[1], &result, sizeof(result));
        ::_exit(0);
    }
    ::close(status_pipe[1]);
    ::close(pidfd);
    ::close(exe);
    int result = -ECHILD;
    if (child > 0) {
        ::waitpid(child, nullptr, 0);  // the intermediate child exits at once
        ssize_t n;
        do n = ::read(status_pipe[0], &result, sizeof(result));
        while (n < 0 && errno == EINTR);
        if (n != sizeof(result)) result = -ECHILD;
    }
    ::close(status_pipe[0]);
    if (result <= 0) {
        r.fail(error::failed, "CreateDomain: cannot start a daemon in the namespaces of " +
                                  std::to_string(target) + ": " + std::strerror(-result));
        return;
    }
    child = result;
    children_.push_back(ChildDomain{dir_s, child, static_cast<pid_t>(target)});
    r.body("s").put_string(dir_s);
}


}  // namespace kdbus::daemon
