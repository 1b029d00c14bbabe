#include "daemon/reply_tracker.hpp"

#include <gtest/gtest.h>

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
