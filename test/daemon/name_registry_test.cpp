/* Name Registry: RequestName / ReleaseName outcomes, queues and handover */
#include "daemon/name_registry.hpp"

#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <utility>

namespace kdbus::daemon {

void PrintTo(const NameChange& c, std::ostream* os) {
    *os << "{" << c.name << ", " << c.old_owner << " -> " << c.new_owner << "}";
}

namespace {

using R = RequestNameResult;
using Rel = ReleaseNameResult;
namespace f = name_flag;

constexpr std::string_view name = "org.example.Name";

class NameRegistryTest : public ::testing::Test {
protected:
    R request(OwnerId owner, uint32_t flags, std::string_view n = name) {
        return reg.request(n, owner, flags, changes);
    }
    Rel release(OwnerId owner, std::string_view n = name) {
        return reg.release(n, owner, changes);
    }
    /* The changes recorded since the last call. */
    std::vector<NameChange> take() {
        return std::exchange(changes, {});
    }

    NameRegistry reg;
    std::vector<NameChange> changes;
};

TEST_F(NameRegistryTest, UnownedNameMakesCallerPrimary) {
    EXPECT_EQ(request(1, 0), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 0, 1}}));
    EXPECT_EQ(reg.primary_owner(name), 1u);
    EXPECT_EQ(reg.owners(name), std::vector<OwnerId>{1});
    EXPECT_EQ(reg.count_for(1), 1u);
}

TEST_F(NameRegistryTest, PrimaryAskingAgainIsAlreadyOwnerAndUpdatesFlags) {
    ASSERT_EQ(request(1, 0), R::primary_owner);
    take();
    // Now it allows replacement: a REPLACE_EXISTING caller must win.
    EXPECT_EQ(request(1, f::allow_replacement), R::already_owner);
    EXPECT_TRUE(take().empty());
    EXPECT_EQ(request(2, f::replace_existing), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 2}}));
}

TEST_F(NameRegistryTest, AlreadyOwnerCanWithdrawAllowReplacement) {
    ASSERT_EQ(request(1, f::allow_replacement), R::primary_owner);
    EXPECT_EQ(request(1, 0), R::already_owner);
    EXPECT_EQ(request(2, f::replace_existing | f::do_not_queue), R::exists);
    EXPECT_EQ(reg.primary_owner(name), 1u);
}

TEST_F(NameRegistryTest, OthersQueueInOrder) {
    ASSERT_EQ(request(1, 0), R::primary_owner);
    EXPECT_EQ(request(2, 0), R::in_queue);
    EXPECT_EQ(request(3, 0), R::in_queue);
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 2, 3}));
    EXPECT_EQ(take().size(), 1u);  // only the first acquisition
    EXPECT_TRUE(reg.is_owner_or_queued(name, 3));
    EXPECT_EQ(reg.count_for(3), 1u);
    EXPECT_TRUE(reg.names_owned_by(3).empty());
}

TEST_F(NameRegistryTest, QueuedCallerAskingAgainKeepsItsPlace) {
    request(1, 0);
    request(2, 0);
    request(3, 0);
    EXPECT_EQ(request(2, 0), R::in_queue);
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 2, 3}));
    EXPECT_EQ(request(2, f::allow_replacement), R::in_queue);
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 2, 3}));
}

TEST_F(NameRegistryTest, DoNotQueueGivesExists) {
    request(1, 0);
    take();
    EXPECT_EQ(request(2, f::do_not_queue), R::exists);
    EXPECT_EQ(reg.owners(name), std::vector<OwnerId>{1});
    EXPECT_FALSE(reg.is_owner_or_queued(name, 2));
    EXPECT_EQ(reg.count_for(2), 0u);
    EXPECT_TRUE(take().empty());
}

TEST_F(NameRegistryTest, DoNotQueueRemovesAnEarlierQueueEntry) {
    request(1, 0);
    request(2, 0);
    request(3, 0);
    EXPECT_EQ(request(2, f::do_not_queue), R::exists);
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 3}));
    EXPECT_EQ(reg.count_for(2), 0u);
}

TEST_F(NameRegistryTest, ReplaceExistingWithoutPermissionQueuesAtHead) {
    // dbus-daemon bus_service_add_owner(): REPLACE_EXISTING goes right
    // behind the primary owner even when it cannot replace it.
    request(1, 0);
    request(2, 0);
    EXPECT_EQ(request(3, f::replace_existing), R::in_queue);
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 3, 2}));
    EXPECT_EQ(request(2, f::replace_existing), R::in_queue);  // an old entry moves up too
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{1, 2, 3}));
}

TEST_F(NameRegistryTest, ReplaceExistingWithoutPermissionAndDoNotQueueIsExists) {
    request(1, 0);
    EXPECT_EQ(request(2, f::replace_existing | f::do_not_queue), R::exists);
    EXPECT_EQ(reg.owners(name), std::vector<OwnerId>{1});
}

TEST_F(NameRegistryTest, ReplacementRequeuesOldOwnerAtHead) {
    request(1, f::allow_replacement);
    request(2, 0);
    take();
    EXPECT_EQ(request(3, f::replace_existing), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 3}}));
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{3, 1, 2}));
    EXPECT_EQ(reg.names_owned_by(3), std::vector<std::string>{std::string(name)});
    EXPECT_TRUE(reg.names_owned_by(1).empty());
    EXPECT_EQ(reg.count_for(1), 1u);
}

TEST_F(NameRegistryTest, ReplacementDropsOldOwnerThatWouldNotQueue) {
    request(1, f::allow_replacement | f::do_not_queue);
    request(2, 0);
    take();
    EXPECT_EQ(request(3, f::replace_existing | f::do_not_queue), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 3}}));
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{3, 2}));
    EXPECT_FALSE(reg.is_owner_or_queued(name, 1));
    EXPECT_EQ(reg.count_for(1), 0u);
}

TEST_F(NameRegistryTest, QueuedCallerCanReplace) {
    request(1, f::allow_replacement);
    request(2, 0);
    request(3, 0);
    take();
    EXPECT_EQ(request(3, f::replace_existing), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 3}}));
    EXPECT_EQ(reg.owners(name), (std::vector<OwnerId>{3, 1, 2}));
    EXPECT_EQ(reg.count_for(3), 1u);
}

TEST_F(NameRegistryTest, ReleaseOutcomes) {
    EXPECT_EQ(release(1), Rel::non_existent);
    request(1, 0);
    EXPECT_EQ(release(2), Rel::not_owner);
    request(2, 0);
    take();
    // A queued owner leaves silently.
    EXPECT_EQ(release(2), Rel::released);
    EXPECT_TRUE(take().empty());
    EXPECT_EQ(reg.owners(name), std::vector<OwnerId>{1});
    EXPECT_EQ(release(2), Rel::not_owner);
    // The last owner leaving removes the name.
    EXPECT_EQ(release(1), Rel::released);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 0}}));
    EXPECT_EQ(reg.primary_owner(name), 0u);
    EXPECT_TRUE(reg.owners(name).empty());
    EXPECT_TRUE(reg.names().empty());
    EXPECT_EQ(release(1), Rel::non_existent);
    EXPECT_EQ(reg.count_for(1), 0u);
}

TEST_F(NameRegistryTest, ReleaseHandsOverToTheQueueInOrder) {
    request(1, 0);
    request(2, 0);
    request(3, 0);
    take();
    EXPECT_EQ(release(1), Rel::released);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 1, 2}}));
    EXPECT_EQ(release(2), Rel::released);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 2, 3}}));
    EXPECT_EQ(reg.owners(name), std::vector<OwnerId>{3});
}

TEST_F(NameRegistryTest, ReleaseAllInAcquisitionOrder) {
    request(1, 0, "org.example.B");
    request(1, 0, "org.example.A");
    request(2, 0, "org.example.A");  // 2 waits for A
    request(2, 0, "org.example.C");
    request(1, 0, "org.example.C");  // 1 waits for C
    request(1, 0, "org.example.D");
    request(3, 0, "org.example.D");
    take();
    EXPECT_EQ(reg.count_for(1), 4u);
    EXPECT_EQ(reg.names_owned_by(1),
              (std::vector<std::string>{"org.example.B", "org.example.A", "org.example.D"}));

    reg.release_all(1, changes);
    EXPECT_EQ(take(), (std::vector<NameChange>{{"org.example.B", 1, 0},
                                               {"org.example.A", 1, 2},
                                               {"org.example.D", 1, 3}}));
    EXPECT_EQ(reg.count_for(1), 0u);
    EXPECT_EQ(reg.owners("org.example.C"), std::vector<OwnerId>{2});
    EXPECT_EQ(reg.names(),
              (std::vector<std::string>{"org.example.A", "org.example.C", "org.example.D"}));

    reg.release_all(1, changes);  // nothing left: no changes
    EXPECT_TRUE(take().empty());
}

TEST_F(NameRegistryTest, NameCanBeAcquiredAgainAfterItDisappears) {
    request(1, 0);
    release(1);
    take();
    EXPECT_EQ(request(2, 0), R::primary_owner);
    EXPECT_EQ(take(), (std::vector<NameChange>{{std::string(name), 0, 2}}));
}

/* The bus charges names to their owners' users from on_holding_changed:
 * after any sequence of calls, what it was told must equal count_for. */
TEST_F(NameRegistryTest, HoldingChangesAddUpToWhatEachOwnerHolds) {
    std::map<OwnerId, int> told;
    reg.on_holding_changed = [&told](OwnerId id, int delta) { told[id] += delta; };
    auto agrees = [&] {
        for (OwnerId id : {1, 2, 3})
            if (told[id] != static_cast<int>(reg.count_for(id))) return false;
        return true;
    };
    request(1, f::allow_replacement);
    request(2, 0);                                          // queued
    request(3, f::do_not_queue);                            // refused: nothing held
    EXPECT_TRUE(agrees());
    request(3, f::replace_existing | f::do_not_queue);      // replaces 1, who is requeued
    request(1, 0, "org.example.Other");
    EXPECT_TRUE(agrees());
    request(2, f::do_not_queue);                            // leaves the queue
    EXPECT_TRUE(agrees());
    release(3);                                             // 1 takes over
    EXPECT_TRUE(agrees());
    reg.release_all(1, changes);
    EXPECT_TRUE(agrees());
    EXPECT_EQ(told[1], 0);
}

}  // namespace
}  // namespace kdbus::daemon
