/* Name Registry: well-known names, their primary owners and queues */
#include "daemon/name_registry.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <unordered_map>

namespace kdbus::daemon {

namespace {

/* Lets the maps be searched with a string_view without building a string. */
struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace

/*
 * Layout: one Entry per name that has at least one owner, holding the
 * primary owner at owners[0] and the queue behind it (queues are short, so
 * a vector beats a deque). Each owner keeps its memberships keyed by a
 * sequence number taken when it joined, so release_all walks them in the
 * order they were acquired and every lookup is O(log names of that owner).
 */
struct NameRegistry::Impl {
    struct Owner {
        OwnerId id;
        bool allow_replacement;
        bool do_not_queue;
        uint64_t seq;  // key in the owner's membership map
    };
    struct Entry {
        std::string name;
        std::vector<Owner> owners;  // [0] is the primary owner

        std::vector<Owner>::iterator find(OwnerId id) {
            return std::find_if(owners.begin(), owners.end(),
                                [id](const Owner& o) { return o.id == id; });
        }
    };

    std::unordered_map<std::string, Entry, NameHash, std::equal_to<>> names;
    std::unordered_map<OwnerId, std::map<uint64_t, Entry*>> memberships;
    uint64_t next_seq = 1;
    const std::function<void(OwnerId, int)>& on_holding_changed;

    explicit Impl(const std::function<void(OwnerId, int)>& observer) : on_holding_changed(observer) {}

    Entry* lookup(std::string_view name) {
        auto it = names.find(name);
        return it == names.end() ? nullptr : &it->second;
    }
    const Entry* lookup(std::string_view name) const {
        auto it = names.find(name);
        return it == names.end() ? nullptr : &it->second;
    }

    static void set_flags(Owner& o, uint32_t flags) {
        o.allow_replacement = (flags & name_flag::allow_replacement) != 0;
        o.do_not_queue = (flags & name_flag::do_not_queue) != 0;
    }

    Owner make_owner(Entry& e, OwnerId id, uint32_t flags) {
        Owner o{id, false, false, next_seq++};
        set_flags(o, flags);
        memberships[id].emplace(o.seq, &e);
        if (on_holding_changed) on_holding_changed(id, +1);
        return o;
    }

    void unlink(OwnerId id, uint64_t seq) {
        auto it = memberships.find(id);
        if (it == memberships.end())
            return;
        if (it->second.erase(seq) && on_holding_changed) on_holding_changed(id, -1);
        if (it->second.empty())
            memberships.erase(it);
    }

    /* Removes owners[index] from the name. If it was the primary owner the
     * next in the queue takes over, or the name disappears; either way a
     * NameChange records it. May erase `e`. */
    void remove_owner(Entry& e, size_t index, std::vector<NameChange>& changes) {
        const Owner gone = e.owners[index];
        e.owners.erase(e.owners.begin() + static_cast<ptrdiff_t>(index));
        if (index == 0) {
            OwnerId next = e.owners.empty() ? 0 : e.owners.front().id;
            changes.push_back({e.name, gone.id, next});
        }
        if (e.owners.empty())
            names.erase(names.find(std::string_view(e.name)));  // `e` is gone from here on
        unlink(gone.id, gone.seq);
    }
};

NameRegistry::NameRegistry() : impl_(std::make_unique<Impl>(on_holding_changed)) {}
NameRegistry::~NameRegistry() = default;

/*
 * dbus-daemon bus_registry_acquire_service() and bus_service_add_owner(),
 * case by case. One detail the specification leaves open is pinned to
 * dbus-daemon: a caller that asks with REPLACE_EXISTING but cannot replace
 * is queued at the head of the queue (right behind the primary owner), and
 * an already queued caller asking with REPLACE_EXISTING moves there too.
 */
RequestNameResult NameRegistry::request(std::string_view name, OwnerId owner, uint32_t flags,
                                        std::vector<NameChange>& changes) {
    Impl& d = *impl_;
    Impl::Entry* e = d.lookup(name);
    if (e == nullptr) {
        auto [it, inserted] = d.names.try_emplace(std::string(name));
        e = &it->second;
        e->name = it->first;
        e->owners.push_back(d.make_owner(*e, owner, flags));
        changes.push_back({e->name, 0, owner});
        return RequestNameResult::primary_owner;
    }

    Impl::Owner& primary = e->owners.front();
    if (primary.id == owner) {
        Impl::set_flags(primary, flags);
        return RequestNameResult::already_owner;
    }

    const bool do_not_queue = flags & name_flag::do_not_queue;
    const bool replace = (flags & name_flag::replace_existing) && primary.allow_replacement;
    auto mine = e->find(owner);

    if (!replace && do_not_queue) {
        // "Since we can't be queued if we are already in the queue, remove us."
        if (mine != e->owners.end())
            d.remove_owner(*e, static_cast<size_t>(mine - e->owners.begin()), changes);
        return RequestNameResult::exists;
    }

    // Queue the caller, or move it: REPLACE_EXISTING puts it right behind
    // the primary owner (dbus-daemon), otherwise it keeps its place.
    const bool to_head = flags & name_flag::replace_existing;
    if (mine == e->owners.end()) {
        Impl::Owner me = d.make_owner(*e, owner, flags);
        e->owners.insert(to_head ? e->owners.begin() + 1 : e->owners.end(), me);
    } else {
        Impl::set_flags(*mine, flags);
        if (to_head)
            std::rotate(e->owners.begin() + 1, mine, mine + 1);
    }
    if (!replace)
        return RequestNameResult::in_queue;

    // Replace the primary owner: the caller is now second. The old owner
    // either swaps places with it (back into the queue, at its head) or,
    // with DO_NOT_QUEUE, loses the name entirely.
    const OwnerId old = e->owners.front().id;
    if (e->owners.front().do_not_queue) {
        d.remove_owner(*e, 0, changes);  // records old → caller
    } else {
        std::swap(e->owners[0], e->owners[1]);
        changes.push_back({e->name, old, owner});
    }
    return RequestNameResult::primary_owner;
}

/* dbus-daemon bus_registry_release_service() / bus_service_remove_owner(). */
ReleaseNameResult NameRegistry::release(std::string_view name, OwnerId owner,
                                        std::vector<NameChange>& changes) {
    Impl& d = *impl_;
    Impl::Entry* e = d.lookup(name);
    if (e == nullptr)
        return ReleaseNameResult::non_existent;
    auto mine = e->find(owner);
    if (mine == e->owners.end())
        return ReleaseNameResult::not_owner;
    d.remove_owner(*e, static_cast<size_t>(mine - e->owners.begin()), changes);
    return ReleaseNameResult::released;
}

void NameRegistry::release_all(OwnerId owner, std::vector<NameChange>& changes) {
    Impl& d = *impl_;
    auto it = d.memberships.find(owner);
    if (it == d.memberships.end())
        return;
    // Detach the membership map first so removals do not edit what we walk.
    std::map<uint64_t, Impl::Entry*> mine = std::move(it->second);
    d.memberships.erase(it);
    for (auto& [seq, e] : mine) {
        auto pos = e->find(owner);
        const size_t index = static_cast<size_t>(pos - e->owners.begin());
        d.remove_owner(*e, index, changes);  // unlink() finds nothing left: fine
    }
    if (on_holding_changed) on_holding_changed(owner, -static_cast<int>(mine.size()));
}

OwnerId NameRegistry::primary_owner(std::string_view name) const {
    const Impl::Entry* e = impl_->lookup(name);
    return e == nullptr ? 0 : e->owners.front().id;
}

std::vector<OwnerId> NameRegistry::owners(std::string_view name) const {
    std::vector<OwnerId> out;
    if (const Impl::Entry* e = impl_->lookup(name)) {
        out.reserve(e->owners.size());
        for (const auto& o : e->owners)
            out.push_back(o.id);
    }
    return out;
}

std::vector<std::string> NameRegistry::names() const {
    std::vector<std::string> out;
    out.reserve(impl_->names.size());
    for (const auto& [name, entry] : impl_->names)
        out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> NameRegistry::names_owned_by(OwnerId owner) const {
    std::vector<std::string> out;
    auto it = impl_->memberships.find(owner);
    if (it == impl_->memberships.end())
        return out;
    for (const auto& [seq, e] : it->second)
        if (e->owners.front().id == owner)
            out.push_back(e->name);
    return out;
}

std::vector<std::string> NameRegistry::names_held_by(OwnerId owner) const {
    std::vector<std::string> out;
    auto it = impl_->memberships.find(owner);
    if (it == impl_->memberships.end()) return out;
    for (const auto& [seq, e] : it->second) out.push_back(e->name);
    return out;
}

bool NameRegistry::any_owned_by(OwnerId owner, void* context, bool (*pred)(void*, std::string_view)) const {
    auto it = impl_->memberships.find(owner);
    if (it == impl_->memberships.end()) return false;
    for (const auto& [seq, e] : it->second)
        if (e->owners.front().id == owner && pred(context, e->name)) return true;
    return false;
}

size_t NameRegistry::count_for(OwnerId owner) const {
    auto it = impl_->memberships.find(owner);
    return it == impl_->memberships.end() ? 0 : it->second.size();
}

bool NameRegistry::is_owner_or_queued(std::string_view name, OwnerId owner) const {
    const Impl::Entry* e = impl_->lookup(name);
    if (e == nullptr)
        return false;
    return std::any_of(e->owners.begin(), e->owners.end(),
                       [owner](const Impl::Owner& o) { return o.id == owner; });
}

}  // namespace kdbus::daemon
