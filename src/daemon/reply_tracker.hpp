/* Reply Tracker: the method calls that await a reply (kdbus: reply slots) */
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace kdbus::daemon {

/*
 * A reply may pass only if the call it answers was routed through the bus
 * and is still pending; each slot is used once (D-Bus specification; kdbus
 * EBADSLT). Slots are keyed by the caller's id and the call's serial.
 *
 * Every routed method call adds a slot and its reply takes it, so this is
 * on the hot path and allocates nothing in a steady state: the maps are
 * open-addressing tables, and the two secondary indexes below are vectors
 * whose entries are deleted lazily (an entry names a slot by key and
 * generation, and is stale once that slot is gone), compacted when more
 * than half of them are stale:
 *  - per connection, the slots it is a party to, so that a disconnect costs
 *    its own slots, not a scan of all;
 *  - a min-heap of deadlines, so that a timer costs the slots that are due
 *    (plus stale entries it meets), not a scan of all.
 * A connection's index lives until remove_connection() for it.
 */
class ReplyTracker {
public:
    struct Slot {
        uint64_t caller = 0;
        uint32_t serial = 0;
        uint64_t callee = 0;
        uint64_t deadline_ms = 0;  // 0: none
    };

    /* A later call with the same serial replaces a pending one. */
    void add(uint64_t caller, uint32_t serial, uint64_t callee, uint64_t deadline_ms) {
        Key k{caller, serial};
        if (auto it = slots_.find(k); it != slots_.end()) forget(it);
        uint64_t generation = next_generation_++;
        slots_.emplace(k, Entry{Slot{caller, serial, callee, deadline_ms}, generation});
        Ref ref{k, generation};
        index(caller, ref);
        index(callee, ref);
        if (deadline_ms != 0) {
            ++timed_;
            deadlines_.push_back(Deadline{deadline_ms, ref});
            std::push_heap(deadlines_.begin(), deadlines_.end(), Deadline::later);
            if (deadlines_.size() > 2 * timed_ + compaction_slack) compact_deadlines();
        }
    }

    /* Consumes the slot that lets `callee` answer `caller`'s call `serial`. */
    bool take(uint64_t caller, uint32_t serial, uint64_t callee) {
        auto it = slots_.find(Key{caller, serial});
        if (it == slots_.end() || it->second.slot.callee != callee) return false;
        forget(it);
        return true;
    }

    bool contains(uint64_t caller, uint32_t serial, uint64_t callee) const {
        auto it = slots_.find(Key{caller, serial});
        return it != slots_.end() && it->second.slot.callee == callee;
    }

    /* Removes and returns every slot involving `id` (as caller or callee). */
    std::vector<Slot> remove_connection(uint64_t id) {
        std::vector<Slot> out;
        auto party = parties_.find(id);
        if (party == parties_.end()) return out;
        std::vector<Ref> refs = std::move(party->second.refs);
        parties_.erase(party);
        for (const Ref& ref : refs) {
            auto it = find(ref);
            if (it == slots_.end()) continue;  // stale, or listed twice (a call to itself)
            out.push_back(it->second.slot);
            forget(it);
        }
        return out;
    }

    /* Removes and returns the slots whose deadline is at or before `now_ms`,
     * earliest first. */
    std::vector<Slot> expire(uint64_t now_ms) {
        std::vector<Slot> out;
        while (!deadlines_.empty() && deadlines_.front().at_ms <= now_ms) {
            Ref ref = deadlines_.front().ref;
            pop_deadline();
            if (auto it = find(ref); it != slots_.end()) {
                out.push_back(it->second.slot);
                forget(it);
            }
        }
        return out;
    }

    /* The earliest deadline of any slot, or 0. */
    uint64_t earliest_deadline() {
        while (!deadlines_.empty() && find(deadlines_.front().ref) == slots_.end()) pop_deadline();
        return deadlines_.empty() ? 0 : deadlines_.front().at_ms;
    }

    size_t size() const { return slots_.size(); }

    /* Index entries held, stale ones included: lets tests check that lazy
     * deletion stays bounded by the live slots. */
    size_t deadline_entries() const { return deadlines_.size(); }
    size_t connection_index_entries() const {
        size_t n = 0;
        for (const auto& [id, party] : parties_) n += party.refs.size();
        return n;
    }

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
    struct Entry {
        Slot slot;
        uint64_t generation;  // tells this slot from an earlier one with the same key
    };
    /* Names one slot in an index; stale once that slot is taken or replaced. */
    struct Ref {
        Key key;
        uint64_t generation;
    };
    struct Party {
        std::vector<Ref> refs;
        size_t live = 0;  // refs that still name a slot
    };
    struct Deadline {
        uint64_t at_ms;
        Ref ref;
        /* std::push_heap builds a max-heap; ordering by "later" puts the
         * earliest deadline at the front. */
        static bool later(const Deadline& a, const Deadline& b) { return a.at_ms > b.at_ms; }
    };
    using SlotMap = boost::unordered_flat_map<Key, Entry, KeyHash>;

    /* Stale entries tolerated beyond the live ones before a compaction, so
     * that small tables are not compacted on every call. */
    static constexpr size_t compaction_slack = 64;

    SlotMap::iterator find(const Ref& ref) {
        auto it = slots_.find(ref.key);
        return it != slots_.end() && it->second.generation == ref.generation ? it : slots_.end();
    }

    void index(uint64_t id, const Ref& ref) {
        Party& p = parties_[id];
        p.refs.push_back(ref);
        ++p.live;
        if (p.refs.size() > 2 * p.live + compaction_slack)
            std::erase_if(p.refs, [this](const Ref& r) { return find(r) == slots_.end(); });
    }

    void unindex(uint64_t id) {
        if (auto p = parties_.find(id); p != parties_.end()) --p->second.live;
    }

    /* Drops a slot; its index entries become stale. */
    void forget(SlotMap::iterator it) {
        const Slot& s = it->second.slot;
        unindex(s.caller);
        unindex(s.callee);
        if (s.deadline_ms != 0) --timed_;
        slots_.erase(it);
    }

    void pop_deadline() {
        std::pop_heap(deadlines_.begin(), deadlines_.end(), Deadline::later);
        deadlines_.pop_back();
    }

    void compact_deadlines() {
        std::erase_if(deadlines_, [this](const Deadline& d) { return find(d.ref) == slots_.end(); });
        std::make_heap(deadlines_.begin(), deadlines_.end(), Deadline::later);
    }

    SlotMap slots_;
    boost::unordered_flat_map<uint64_t, Party> parties_;
    std::vector<Deadline> deadlines_;  // min-heap on at_ms
    size_t timed_ = 0;                 // live slots with a deadline
    uint64_t next_generation_ = 1;
};

}  // namespace kdbus::daemon
