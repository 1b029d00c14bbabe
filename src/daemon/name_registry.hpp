/* Name Registry: well-known names, their primary owners and queues */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <string>
#include <string_view>
#include <vector>

namespace kdbus::daemon {

/* Owners are connection ids (the N of ":1.N"); 0 means "nobody". */
using OwnerId = uint64_t;

/* RequestName flags (D-Bus specification). */
namespace name_flag {
inline constexpr uint32_t allow_replacement = 0x1;
inline constexpr uint32_t replace_existing = 0x2;
inline constexpr uint32_t do_not_queue = 0x4;
}  // namespace name_flag

/* One change of a name's primary owner; the driver turns it into
 * NameOwnerChanged, NameLost and NameAcquired. */
struct NameChange {
    std::string name;
    OwnerId old_owner = 0;
    OwnerId new_owner = 0;

    bool operator==(const NameChange&) const = default;
};

enum class RequestNameResult : uint32_t {
    primary_owner = 1,
    in_queue = 2,
    exists = 3,
    already_owner = 4,
};

enum class ReleaseNameResult : uint32_t {
    released = 1,
    non_existent = 2,
    not_owner = 3,
};

/*
 * The registry never sends messages: every call that changes a primary
 * owner appends a NameChange record, in the order the changes happened.
 * Semantics follow the D-Bus specification and dbus-daemon
 * (bus/services.c), which kdbus also adopted (KDBUS.md, "Names").
 * Syntax and policy are checked by the caller.
 */
class NameRegistry {
public:
    RequestNameResult request(std::string_view name, OwnerId owner, uint32_t flags,
                              std::vector<NameChange>& changes);
    ReleaseNameResult release(std::string_view name, OwnerId owner,
                              std::vector<NameChange>& changes);
    /* Drops every primary ownership and queue entry of `owner` (disconnect). */
    void release_all(OwnerId owner, std::vector<NameChange>& changes);

    /* 0 if the name has no owner. */
    OwnerId primary_owner(std::string_view name) const;
    /* Primary owner first, then the queue in order; empty if unknown. */
    std::vector<OwnerId> owners(std::string_view name) const;
    /* Every name that has a primary owner. */
    std::vector<std::string> names() const;
    /* Names `owner` is primary owner of. */
    std::vector<std::string> names_owned_by(OwnerId owner) const;
    /* Whether `pred` holds for one of them; stops at the first. Without
     * allocating: the router asks this per message for endpoint and kdbus
     * policies. */
    template <typename Pred>
    bool any_owned_by(OwnerId owner, Pred&& pred) const {
        return any_owned_by(owner, &pred, [](void* p, std::string_view name) {
            return (*static_cast<std::remove_reference_t<Pred>*>(p))(name);
        });
    }
    /* Names `owner` owns or waits for (send_destination_prefix rules see
     * queued ownerships too, as dbus-daemon's services_owned). */
    std::vector<std::string> names_held_by(OwnerId owner) const;
    /* How many names `owner` owns or waits for (max_names_per_connection). */
    size_t count_for(OwnerId owner) const;
    bool is_owner_or_queued(std::string_view name, OwnerId owner) const;

    /* Told each time an owner gains (+1) or loses (−1) a name it owns or
     * waits for, whoever's call caused it (a replacement drops the old
     * owner; a release promotes the queue): the bus charges names to the
     * owner's user with it. */
    std::function<void(OwnerId, int)> on_holding_changed;

    NameRegistry();
    ~NameRegistry();
    NameRegistry(const NameRegistry&) = delete;
    NameRegistry& operator=(const NameRegistry&) = delete;

private:
    bool any_owned_by(OwnerId owner, void* context, bool (*pred)(void*, std::string_view)) const;

    struct Impl;  // see name_registry.cpp
    std::unique_ptr<Impl> impl_;
};

}  // namespace kdbus::daemon
