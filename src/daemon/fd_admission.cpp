#include "daemon/fd_admission.hpp"

#include <unistd.h>

#include "daemon/errors.hpp"
#include "kdbus/interface.hpp"

namespace kdbus::daemon {

namespace {

constexpr size_t none = static_cast<size_t>(-1);

metadata::FdCensus census_with(std::span<const UniqueFd> fds, pid_t daemon_pid) {
    metadata::FdCensus census;
    for (size_t i = 0; i < fds.size(); ++i) census.add(metadata::classify_fd(fds[i].get(), daemon_pid), i);
    return census;
}

}  // namespace

std::optional<FdPolicy> parse_fd_policy(std::string_view text) {
    if (text == interface::fd_policy_any) return FdPolicy::any;
    if (text == interface::fd_policy_sealed_memfd_only) return FdPolicy::sealed_memfd_only;
    return std::nullopt;
}

std::string_view fd_policy_name(FdPolicy policy) {
    return policy == FdPolicy::any ? interface::fd_policy_any : interface::fd_policy_sealed_memfd_only;
}

size_t max_fds_in_flight_per_user(const BusLimits& limits) { return 4 * limits.max_incoming_unix_fds; }

metadata::FdCensus fd_census(std::span<const UniqueFd> fds) { return census_with(fds, ::getpid()); }

InFlightFds::~InFlightFds() {
    if (!table) return;
    auto it = table->find(uid);
    if (it == table->end()) return;
    it->second.plain -= census.counted_as_fds();
    it->second.sealed_memfds -= census.sealed_memfds;
    if (it->second.plain == 0 && it->second.sealed_memfds == 0) table->erase(it);
}

FdAdmission::FdAdmission() : daemon_pid_(::getpid()), in_flight_(std::make_shared<FdsInFlightTable>()) {}

std::optional<FdRefusal> FdAdmission::admit(BusMessage& m, uid_t sender_uid, const BusLimits& limits) {
    if (m.fds.empty() || m.in_flight_fds) return std::nullopt;
    metadata::FdCensus census = census_with(m.fds, daemon_pid_);
    if (census.first_bus_socket != none) {
        // kdbus refused its own handles as fds (test-fd.c: EOPNOTSUPP): a
        // bus connection travelling inside the bus could keep the bus busy
        // with itself, and the receiver would hold the sender's identity.
        return FdRefusal{error::not_supported,
                         "File descriptor " + std::to_string(census.first_bus_socket) +
                             " of the message is a socket of this bus (a bus connection or listener); "
                             "kdbusd does not pass its own sockets through the bus"};
    }
    if (census.sealed_memfds > max_memfds_per_message)
        return FdRefusal{error::limits_exceeded, "The message carries " + std::to_string(census.sealed_memfds) +
                                                     " sealed memfds; at most " +
                                                     std::to_string(max_memfds_per_message) +
                                                     " are allowed per message (kdbus)"};
    if (census.counted_as_fds() > limits.max_message_unix_fds)
        return FdRefusal{error::limits_exceeded, "The message carries " + std::to_string(census.counted_as_fds()) +
                                                     " file descriptors; at most " +
                                                     std::to_string(limits.max_message_unix_fds) +
                                                     " are allowed per message (max_message_unix_fds)"};
    const size_t cap = max_fds_in_flight_per_user(limits);
    FdsInFlight now = in_flight(sender_uid);
    if (now.plain + census.counted_as_fds() > cap || now.sealed_memfds + census.sealed_memfds > cap)
        return FdRefusal{error::limits_exceeded,
                         "The bus already holds " + std::to_string(now.plain) + " file descriptors and " +
                             std::to_string(now.sealed_memfds) + " sealed memfds sent by uid " +
                             std::to_string(sender_uid) + " and not yet received; at most " + std::to_string(cap) +
                             " of each may be in flight per user"};
    auto& counts = (*in_flight_)[sender_uid];
    counts.plain += census.counted_as_fds();
    counts.sealed_memfds += census.sealed_memfds;
    auto charge = std::make_shared<InFlightFds>();
    charge->census = census;
    charge->uid = sender_uid;
    charge->table = in_flight_;
    m.in_flight_fds = std::move(charge);
    return std::nullopt;
}

std::optional<FdRefusal> FdAdmission::refusal_for(const BusMessage& m, uint64_t id, std::string_view name) const {
    if (m.fds.empty() || policies_.empty() || policy(id) == FdPolicy::any) return std::nullopt;
    metadata::FdCensus census = m.in_flight_fds ? m.in_flight_fds->census : census_with(m.fds, daemon_pid_);
    if (census.first_not_sealed == none) return std::nullopt;
    auto kind = metadata::classify_fd(m.fds[census.first_not_sealed].get(), daemon_pid_);
    return FdRefusal{error::access_denied,
                     std::string(name) + " accepts only sealed memfds (org.kdbusd.Bus1.SetFdPolicy \"" +
                         std::string(fd_policy_name(FdPolicy::sealed_memfd_only)) + "\"); file descriptor " +
                         std::to_string(census.first_not_sealed) + " of the message is " +
                         std::string(metadata::fd_kind_name(kind))};
}

void FdAdmission::set_policy(uint64_t id, FdPolicy policy) {
    if (policy == FdPolicy::any)
        policies_.erase(id);
    else
        policies_[id] = policy;
}

FdPolicy FdAdmission::policy(uint64_t id) const {
    auto it = policies_.find(id);
    return it == policies_.end() ? FdPolicy::any : it->second;
}

FdsInFlight FdAdmission::in_flight(uid_t uid) const {
    auto it = in_flight_->find(uid);
    return it == in_flight_->end() ? FdsInFlight{} : it->second;
}

}  // namespace kdbus::daemon
