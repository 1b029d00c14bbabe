// ReceiveQuota: kdbus's per-receiver shares, driven directly.
#include "daemon/receive_quota.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace kdbus::daemon {
namespace {

const UserLimits kernel_limits;
constexpr uid_t receiver_uid = 999;

// A 6,000-byte queue: 3,000 shared, so the first user may hold 1,000.
QuotaLimits limits() { return {6000, receiver_uid, &kernel_limits}; }
QuotaLimits unbounded_queue() { return {1 << 30, receiver_uid, &kernel_limits}; }

UserAccount account(uid_t uid, uint32_t endpoint_serial = 0) {
    UserAccount a;
    a.uid = uid;
    a.endpoint_serial = endpoint_serial;
    return a;
}

TEST(ReceiveQuota, AUserMayHoldAThirdOfTheSharedHalf) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    auto a = QuotaSender::user(alice);
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(q.admit(a, 100, 0, limits()), QuotaRefusal::none) << i;
        q.charge(a, 100, 0);
    }
    EXPECT_EQ(q.admit(a, 100, 0, limits()), QuotaRefusal::user_share);
    EXPECT_EQ(q.bytes_of(a), 1000u);
    EXPECT_EQ(alice.bytes, 1000u);
}

TEST(ReceiveQuota, TheShareShrinksAsOthersHoldMore) {
    ReceiveQuota q;
    UserAccount alice = account(1000), bob = account(1001), carol = account(1002);
    auto a = QuotaSender::user(alice), b = QuotaSender::user(bob), c = QuotaSender::user(carol);
    q.charge(a, 1000, 0);
    // Bob: (3000 − 1000 + own)/3 → his first message, then up to 666.
    size_t held = 0;
    while (q.admit(b, 100, 0, limits()) == QuotaRefusal::none) {
        q.charge(b, 100, 0);
        held += 100;
    }
    EXPECT_EQ(held, 600u);
    // Carol still gets a third of what is left.
    EXPECT_EQ(q.admit(c, 100, 0, limits()), QuotaRefusal::none);
}

TEST(ReceiveQuota, TheFirstMessageOfASenderFitsHoweverLarge) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    auto a = QuotaSender::user(alice);
    EXPECT_EQ(q.admit(a, 2500, 0, limits()), QuotaRefusal::none);
    q.charge(a, 2500, 0);
    EXPECT_EQ(q.admit(a, 1, 0, limits()), QuotaRefusal::user_share);
    q.release(a, 2500, 0);
    EXPECT_EQ(q.accounted_bytes(), 0u);
    EXPECT_EQ(q.admit(a, 2500, 0, limits()), QuotaRefusal::none);
}

TEST(ReceiveQuota, MessageAndFdCapsPerUser) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    auto a = QuotaSender::user(alice);
    QuotaLimits l = unbounded_queue();
    for (int i = 0; i < 256; ++i) q.charge(a, 1, i < 16 ? 1 : 0);
    EXPECT_EQ(q.admit(a, 1, 0, l), QuotaRefusal::user_messages);
    q.release(a, 1, 1);
    EXPECT_EQ(q.admit(a, 1, 1, l), QuotaRefusal::none);
    EXPECT_EQ(q.admit(a, 1, 2, l), QuotaRefusal::user_fds);
}

TEST(ReceiveQuota, TheMessageCapIsBetweenDifferentUsersOnly) {
    ReceiveQuota q;
    UserAccount self = account(receiver_uid), alice = account(1000);
    for (int i = 0; i < 256; ++i) {
        q.charge(QuotaSender::user(self), 1, 0);
        q.charge(QuotaSender::user(alice), 1, 0);
    }
    EXPECT_EQ(q.admit(QuotaSender::user(self), 1, 0, unbounded_queue()), QuotaRefusal::none);
    EXPECT_EQ(q.admit(QuotaSender::user(alice), 1, 0, unbounded_queue()), QuotaRefusal::user_messages);
    // A custom endpoint's anonymous user is another user, whatever uid owns it.
    UserAccount endpoint = account(receiver_uid, 1);
    for (int i = 0; i < 256; ++i) q.charge(QuotaSender::user(endpoint), 1, 0);
    EXPECT_EQ(q.admit(QuotaSender::user(endpoint), 1, 0, unbounded_queue()), QuotaRefusal::user_messages);
}

TEST(ReceiveQuota, AUidsOwnLimitsApply) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    alice.limits.queued_messages = 2;
    auto a = QuotaSender::user(alice);
    q.charge(a, 1, 0);
    q.charge(a, 1, 0);
    EXPECT_EQ(q.admit(a, 1, 0, unbounded_queue()), QuotaRefusal::user_messages);
}

TEST(ReceiveQuota, OneUidIsBoundAcrossReceivers) {
    ReceiveQuota r1, r2;
    UserAccount alice = account(1000);
    auto a = QuotaSender::user(alice);
    alice.limits.queued_bytes = 1000;
    QuotaLimits l = unbounded_queue();
    r1.charge(a, 900, 0);
    EXPECT_EQ(r2.admit(a, 200, 0, l), QuotaRefusal::user_total);
    EXPECT_EQ(r2.admit(a, 100, 0, l), QuotaRefusal::none);
    r1.release(a, 900, 0);
    // Nothing held anywhere: one message of any size.
    EXPECT_EQ(r2.admit(a, 5000, 0, l), QuotaRefusal::none);
}

TEST(ReceiveQuota, TheOwnersHalfIsOutsideEveryShare) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    q.charge(QuotaSender::owner(), 100000, 0);
    EXPECT_EQ(q.accounted_bytes(), 0u);
    EXPECT_EQ(q.admit(QuotaSender::owner(), 100000, 0, limits()), QuotaRefusal::none);
    EXPECT_EQ(q.admit(QuotaSender::user(alice), 100, 0, limits()), QuotaRefusal::none);
    // The bus's notifications have a share of their own, apart from users'.
    q.charge(QuotaSender::user(alice), 1000, 0);
    EXPECT_EQ(q.admit(QuotaSender::kernel(), 100, 0, limits()), QuotaRefusal::none);
    EXPECT_EQ(q.bytes_of(QuotaSender::kernel()), 0u);
}

TEST(ReceiveQuota, ARefusalEpisodeIsReportedOnceUntilTheShareEmpties) {
    ReceiveQuota q;
    UserAccount alice = account(1000);
    auto a = QuotaSender::user(alice);
    q.charge(a, 1000, 0);
    EXPECT_TRUE(q.begin_episode(a));
    EXPECT_FALSE(q.begin_episode(a));
    q.release(a, 1000, 0);
    EXPECT_TRUE(q.begin_episode(a));
    q.end_episodes();
    EXPECT_TRUE(q.begin_episode(a));
}

/* try_charge() decides as admit() and charges as charge(): two queues,
 * one driven each way, through shares that fill, refuse and empty again. */
TEST(ReceiveQuota, TryChargeIsAdmitThenCharge) {
    ReceiveQuota one_call, two_calls;
    UserAccount alice1 = account(1000), bob1 = account(1001), alice2 = account(1000), bob2 = account(1001);
    for (UserAccount* bob : {&bob1, &bob2}) bob->limits.queued_messages = 4;
    struct Step {
        bool alice;
        size_t bytes, fds;
        bool release;
    };
    std::vector<Step> steps;
    for (int i = 0; i < 40; ++i) steps.push_back({i % 3 != 0, size_t(50 + 37 * (i % 7)), size_t(i % 5 == 0), false});
    for (int i = 0; i < 12; ++i) steps.push_back({i % 2 == 0, size_t(50 + 37 * (i % 7)), 0, true});
    for (int i = 0; i < 20; ++i) steps.push_back({i % 4 != 0, size_t(300), 0, false});
    std::vector<std::pair<QuotaSender, std::pair<size_t, size_t>>> held1, held2;
    std::vector<QuotaRefusal> refusals;
    for (const auto& s : steps) {
        auto s1 = QuotaSender::user(s.alice ? alice1 : bob1);
        auto s2 = QuotaSender::user(s.alice ? alice2 : bob2);
        if (s.release) {
            ASSERT_EQ(held1.size(), held2.size());
            if (held1.empty()) continue;
            for (auto* held : {&held1, &held2}) {
                auto [sender, size] = held->front();
                held->erase(held->begin());
                (held == &held1 ? one_call : two_calls).release(sender, size.first, size.second);
            }
            continue;
        }
        QuotaRefusal r1 = one_call.try_charge(s1, s.bytes, s.fds, limits());
        QuotaRefusal r2 = two_calls.admit(s2, s.bytes, s.fds, limits());
        if (r2 == QuotaRefusal::none) two_calls.charge(s2, s.bytes, s.fds);
        ASSERT_EQ(r1, r2);
        refusals.push_back(r1);
        if (r1 == QuotaRefusal::none) {
            held1.push_back({s1, {s.bytes, s.fds}});
            held2.push_back({s2, {s.bytes, s.fds}});
        }
        EXPECT_EQ(one_call.accounted_bytes(), two_calls.accounted_bytes());
        EXPECT_EQ(one_call.bytes_of(s1), two_calls.bytes_of(s2));
        EXPECT_EQ(one_call.messages_of(s1), two_calls.messages_of(s2));
        EXPECT_EQ(alice1.bytes, alice2.bytes);
        EXPECT_EQ(bob1.fds, bob2.fds);
    }
    EXPECT_GT(one_call.accounted_bytes(), 0u);
    for (QuotaRefusal seen : {QuotaRefusal::user_share, QuotaRefusal::user_messages})
        EXPECT_TRUE(std::count(refusals.begin(), refusals.end(), seen)) << describe(seen);
}

}  // namespace
}  // namespace kdbus::daemon
