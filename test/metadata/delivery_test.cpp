#include <gtest/gtest.h>

#include "kdbus/attach_flags.hpp"
#include "metadata/delivery.hpp"

namespace kdbus::metadata {
namespace {

TEST(AttachFlags, BitsAreKdbusValues) {
    EXPECT_EQ(attach::timestamp, 1u);
    EXPECT_EQ(attach::cmdline, 1u << 8);
    EXPECT_EQ(attach::conn_description, 1u << 13);
    EXPECT_EQ(attach::all, 0x3fffu);
    EXPECT_EQ(attach::implicit, 0x201fu);
    EXPECT_EQ(attach::proc, 0x1fe0u);
}

TEST(DeliveredMask, NothingWithoutRecv) {
    EXPECT_EQ(delivered_mask(0, attach::all, true), 0u);
}

TEST(DeliveredMask, ImplicitItemsNeedOnlyRecv) {
    EXPECT_EQ(delivered_mask(attach::creds | attach::pids, 0, false), attach::creds | attach::pids);
    EXPECT_EQ(delivered_mask(attach::all, 0, false), attach::implicit);
}

TEST(DeliveredMask, ProcItemsNeedConsentOrVisibility) {
    const uint64_t recv = attach::exe | attach::cmdline | attach::creds;
    EXPECT_EQ(delivered_mask(recv, 0, false), attach::creds);
    EXPECT_EQ(delivered_mask(recv, attach::exe, false), attach::creds | attach::exe);
    EXPECT_EQ(delivered_mask(recv, 0, true), recv);
}

TEST(DeliveredMask, SenderCannotPushWhatWasNotAskedFor) {
    EXPECT_EQ(delivered_mask(attach::timestamp, attach::all, true), attach::timestamp);
}

TEST(DeliveredMask, FromTheReceiversView) {
    /* The daemon sees every process of its own pid namespace, unhidden.
     * (Hidden and invisible senders: namespace_view_test.cpp.) */
    const NamespaceView self = NamespaceView::daemon();
    EXPECT_EQ(delivered_mask(attach::all, 0, self, ::getpid()), attach::all);
    EXPECT_EQ(delivered_mask(attach::implicit, 0, self, ::getpid()), attach::implicit);
}

}  // namespace
}  // namespace kdbus::metadata
