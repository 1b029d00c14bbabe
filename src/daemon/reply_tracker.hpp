/* Reply Tracker: the method calls that await a reply (kdbus: reply slots) */
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kdbus::daemon {

/*
 * A reply may pass only if the call it answers was routed through the bus
 * and is still pending; each slot is used once (D-Bus specification; kdbus
 * EBADSLT). Slots are keyed by the caller's id and the call's serial, and
 * indexed by both parties, so a disconnect costs the slots of that
 * connection, not all of them.
 */
class ReplyTracker {
public:
    struct Slot {
        uint64_t caller = 0;
        uint32_t serial = 0;
        uint64_t callee = 0;
        uint64_t deadline_ms = 0;  // 0: none
    };

    void add(uint64_t caller, uint32_t serial, uint64_t callee, uint64_t deadline_ms) {
        Key k{caller, serial};
        if (auto it = slots_.find(k); it != slots_.end()) unindex(it->second);
        slots_[k] = Slot{caller, serial, callee, deadline_ms};
        by_connection_[caller].insert(k);
        by_connection_[callee].insert(k);
    }

    /* Consumes the slot that lets `callee` answer `caller`'s call `serial`. */
    bool take(uint64_t caller, uint32_t serial, uint64_t callee) {
        auto it = slots_.find(Key{caller, serial});
        if (it == slots_.end() || it->second.callee != callee) return false;
        unindex(it->second);
        slots_.erase(it);
        return true;
    }

    bool contains(uint64_t caller, uint32_t serial, uint64_t callee) const {
        auto it = slots_.find(Key{caller, serial});
        return it != slots_.end() && it->second.callee == callee;
    }

    /* Removes and returns every slot involving `id` (as caller or callee). */
    std::vector<Slot> remove_connection(uint64_t id) {
        std::vector<Slot> out;
        auto conn = by_connection_.find(id);
        if (conn == by_connection_.end()) return out;
        std::unordered_set<Key, KeyHash> keys = std::move(conn->second);
        by_connection_.erase(conn);
        for (const Key& k : keys) {
            auto it = slots_.find(k);
            if (it == slots_.end()) continue;
            out.push_back(it->second);
            unindex(it->second);
            slots_.erase(it);
        }
        return out;
    }

    /* Removes and returns the slots whose deadline is at or before `now_ms`. */
    std::vector<Slot> expire(uint64_t now_ms) {
        std::vector<Slot> out;
        for (const auto& [k, slot] : slots_)
            if (slot.deadline_ms != 0 && slot.deadline_ms <= now_ms) out.push_back(slot);
        for (const Slot& s : out) take(s.caller, s.serial, s.callee);
        return out;
    }

    /* The earliest deadline of any slot, or 0. */
    uint64_t earliest_deadline() const {
        uint64_t best = 0;
        for (const auto& [k, slot] : slots_)
            if (slot.deadline_ms != 0 && (best == 0 || slot.deadline_ms < best)) best = slot.deadline_ms;
        return best;
    }

    size_t size() const { return slots_.size(); }

private:
    struct Key {
        uint64_t caller;
        uint32_t serial;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const {
            return std::hash<uint64_t>()(k.caller * 0x9E3779B97F4A7C15ull ^ k.serial);
        }
    };

    void unindex(const Slot& s) {
        Key k{s.caller, s.serial};
        for (uint64_t party : {s.caller, s.callee}) {
            auto it = by_connection_.find(party);
            if (it == by_connection_.end()) continue;
            it->second.erase(k);
            if (it->second.empty()) by_connection_.erase(it);
        }
    }

    std::unordered_map<Key, Slot, KeyHash> slots_;
    std::unordered_map<uint64_t, std::unordered_set<Key, KeyHash>> by_connection_;
};

}  // namespace kdbus::daemon
