/* Reply Tracker: the method calls that await a reply (kdbus: reply slots) */
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace kdbus::daemon {

/*
 * A reply may pass only if the call it answers was routed through the bus
 * and is still pending; each slot is used once (D-Bus specification; kdbus
 * EBADSLT). Slots are keyed by the caller's id and the call's serial.
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
        slots_[key(caller, serial)] = Slot{caller, serial, callee, deadline_ms};
    }

    /* Consumes the slot that lets `callee` answer `caller`'s call `serial`. */
    bool take(uint64_t caller, uint32_t serial, uint64_t callee) {
        auto it = slots_.find(key(caller, serial));
        if (it == slots_.end() || it->second.callee != callee) return false;
        slots_.erase(it);
        return true;
    }

    bool contains(uint64_t caller, uint32_t serial, uint64_t callee) const {
        auto it = slots_.find(key(caller, serial));
        return it != slots_.end() && it->second.callee == callee;
    }

    /* Removes and returns every slot involving `id` (as caller or callee). */
    std::vector<Slot> remove_connection(uint64_t id) {
        std::vector<Slot> out;
        for (auto it = slots_.begin(); it != slots_.end();) {
            if (it->second.caller == id || it->second.callee == id) {
                out.push_back(it->second);
                it = slots_.erase(it);
            } else {
                ++it;
            }
        }
        return out;
    }

    /* Removes and returns the slots whose deadline is at or before `now_ms`. */
    std::vector<Slot> expire(uint64_t now_ms) {
        std::vector<Slot> out;
        for (auto it = slots_.begin(); it != slots_.end();) {
            if (it->second.deadline_ms != 0 && it->second.deadline_ms <= now_ms) {
                out.push_back(it->second);
                it = slots_.erase(it);
            } else {
                ++it;
            }
        }
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
    struct KeyHash {
        size_t operator()(const std::pair<uint64_t, uint32_t>& k) const {
            return std::hash<uint64_t>()(k.first * 0x9E3779B97F4A7C15ull ^ k.second);
        }
    };
    static std::pair<uint64_t, uint32_t> key(uint64_t caller, uint32_t serial) {
        return {caller, serial};
    }
    std::unordered_map<std::pair<uint64_t, uint32_t>, Slot, KeyHash> slots_;
};

}  // namespace kdbus::daemon
