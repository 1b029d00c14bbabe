#include "daemon/reply_tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

using kdbus::daemon::ReplyTracker;

TEST(ReplyTracker, ASlotPassesOnceAndOnlyForItsCallee) {
    ReplyTracker t;
    t.add(1, 10, 2, 0);
    EXPECT_FALSE(t.contains(1, 10, 3));
    EXPECT_FALSE(t.take(1, 10, 3)) << "a reply from someone else";
    EXPECT_TRUE(t.take(1, 10, 2));
    EXPECT_FALSE(t.take(1, 10, 2)) << "a second reply";
    EXPECT_EQ(t.size(), 0u);
}

TEST(ReplyTracker, DisconnectRemovesTheSlotsOfThatConnectionOnly) {
    ReplyTracker t;
    t.add(1, 10, 2, 0);  // 1 calls 2
    t.add(2, 11, 3, 0);  // 2 calls 3
    t.add(4, 12, 5, 0);  // unrelated
    auto gone = t.remove_connection(2);
    EXPECT_EQ(gone.size(), 2u);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_TRUE(t.contains(4, 12, 5));
    EXPECT_TRUE(t.remove_connection(2).empty());
    EXPECT_TRUE(t.remove_connection(1).empty()) << "its slot went with its callee";
    EXPECT_EQ(t.remove_connection(5).size(), 1u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(ReplyTracker, ExpiryReturnsDueSlotsAndKeepsTheIndexConsistent) {
    ReplyTracker t;
    t.add(1, 1, 2, 100);
    t.add(1, 2, 2, 300);
    t.add(1, 3, 2, 0);
    EXPECT_EQ(t.earliest_deadline(), 100u);
    auto due = t.expire(200);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].serial, 1u);
    EXPECT_EQ(t.earliest_deadline(), 300u);
    EXPECT_EQ(t.remove_connection(2).size(), 2u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(ReplyTracker, ATakenSlotDoesNotExpireAndAReusedSerialGetsItsOwnDeadline) {
    ReplyTracker t;
    t.add(1, 5, 2, 100);
    EXPECT_TRUE(t.take(1, 5, 2));
    t.add(1, 5, 2, 500);  // the caller's serial again, for a new call
    EXPECT_EQ(t.earliest_deadline(), 500u) << "the first call's deadline went with its slot";
    EXPECT_TRUE(t.expire(499).empty());
    auto due = t.expire(500);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].deadline_ms, 500u);
    EXPECT_EQ(t.earliest_deadline(), 0u);
}

TEST(ReplyTracker, ASerialReusedWhilePendingReplacesTheSlotAndItsDeadline) {
    ReplyTracker t;
    t.add(1, 5, 2, 100);
    t.add(1, 5, 3, 300);
    EXPECT_FALSE(t.contains(1, 5, 2));
    EXPECT_TRUE(t.expire(200).empty()) << "the replaced slot's deadline must not fire";
    ASSERT_EQ(t.expire(300).size(), 1u);
    EXPECT_TRUE(t.remove_connection(2).empty());
}

TEST(ReplyTracker, ExpiryReturnsDueSlotsEarliestFirst) {
    ReplyTracker t;
    const uint64_t deadlines[] = {70, 10, 50, 30, 90, 20};
    uint32_t serial = 1;
    for (uint64_t d : deadlines) t.add(7, serial++, 8, d);
    auto due = t.expire(55);
    ASSERT_EQ(due.size(), 4u);
    for (size_t i = 1; i < due.size(); ++i) EXPECT_LE(due[i - 1].deadline_ms, due[i].deadline_ms);
    EXPECT_EQ(due.back().deadline_ms, 50u);
    EXPECT_EQ(t.earliest_deadline(), 70u);
    EXPECT_EQ(t.size(), 2u);
}

TEST(ReplyTracker, ACallToItselfIsRemovedOnceOnDisconnect) {
    ReplyTracker t;
    t.add(3, 1, 3, 0);
    EXPECT_EQ(t.remove_connection(3).size(), 1u);
    EXPECT_EQ(t.size(), 0u);
}

// Calls answered at once, as in a round-trip benchmark: the lazily deleted
// index entries must stay bounded by the live slots, not grow with the calls.
TEST(ReplyTracker, StaleIndexEntriesStayBoundedUnderSteadyTraffic) {
    ReplyTracker t;
    for (uint32_t serial = 1; serial <= 100000; ++serial) {
        t.add(1, serial, 2, 1000 + serial);
        ASSERT_TRUE(t.take(1, serial, 2));
    }
    EXPECT_EQ(t.size(), 0u);
    EXPECT_LE(t.deadline_entries(), 200u);
    EXPECT_LE(t.connection_index_entries(), 400u);
    EXPECT_EQ(t.earliest_deadline(), 0u);
}

// Every operation against a plain model: a list of slots scanned each time.
TEST(ReplyTracker, AgreesWithAScanningModelUnderRandomOperations) {
    struct Model {
        std::vector<ReplyTracker::Slot> slots;
        auto at(uint64_t caller, uint32_t serial) {
            return std::find_if(slots.begin(), slots.end(),
                                [&](const auto& s) { return s.caller == caller && s.serial == serial; });
        }
    } model;
    auto sorted = [](std::vector<ReplyTracker::Slot> v) {
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
            return std::tie(a.caller, a.serial) < std::tie(b.caller, b.serial);
        });
        return v;
    };
    auto same = [&](const std::vector<ReplyTracker::Slot>& a, const std::vector<ReplyTracker::Slot>& b) {
        auto x = sorted(a), y = sorted(b);
        if (x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i)
            if (x[i].caller != y[i].caller || x[i].serial != y[i].serial || x[i].callee != y[i].callee ||
                x[i].deadline_ms != y[i].deadline_ms)
                return false;
        return true;
    };
    ReplyTracker t;
    std::mt19937_64 rng(7);
    uint64_t now = 0;
    for (int step = 0; step < 20000; ++step) {
        uint64_t a = rng() % 6 + 1, b = rng() % 6 + 1;
        uint32_t serial = uint32_t(rng() % 40 + 1);
        switch (rng() % 8) {
        case 0: case 1: case 2: {
            uint64_t deadline = rng() % 3 == 0 ? 0 : now + rng() % 50 + 1;
            t.add(a, serial, b, deadline);
            if (auto it = model.at(a, serial); it != model.slots.end()) model.slots.erase(it);
            model.slots.push_back({a, serial, b, deadline});
            break;
        }
        case 3: case 4: {
            auto it = model.at(a, serial);
            bool expected = it != model.slots.end() && it->callee == b;
            ASSERT_EQ(t.take(a, serial, b), expected) << "step " << step;
            if (expected) model.slots.erase(it);
            break;
        }
        case 5: {
            if (rng() % 10) break;  // disconnects are rarer
            std::vector<ReplyTracker::Slot> gone;
            std::erase_if(model.slots, [&](const auto& s) {
                if (s.caller != a && s.callee != a) return false;
                gone.push_back(s);
                return true;
            });
            ASSERT_TRUE(same(t.remove_connection(a), gone)) << "step " << step;
            break;
        }
        default: {
            now += rng() % 10;
            std::vector<ReplyTracker::Slot> due;
            std::erase_if(model.slots, [&](const auto& s) {
                if (s.deadline_ms == 0 || s.deadline_ms > now) return false;
                due.push_back(s);
                return true;
            });
            ASSERT_TRUE(same(t.expire(now), due)) << "step " << step;
        }
        }
        uint64_t earliest = 0;
        for (const auto& s : model.slots)
            if (s.deadline_ms && (earliest == 0 || s.deadline_ms < earliest)) earliest = s.deadline_ms;
        ASSERT_EQ(t.earliest_deadline(), earliest) << "step " << step;
        ASSERT_EQ(t.size(), model.slots.size()) << "step " << step;
    }
}
