// Name ownership over real sockets, with sd-bus clients: RequestName and
// ReleaseName replies and flags, queueing and handover, ListQueuedOwners,
// and the NameOwnerChanged / NameAcquired / NameLost signals in the order
// the reference dbus-daemon emits them.
#include "bus_fixture.hpp"
#include "sd_bus_peer.hpp"

namespace kdbusd::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// org.freedesktop.DBus.RequestName flags and replies (D-Bus specification).
constexpr uint32_t kAllowReplacement = 0x1;
constexpr uint32_t kReplaceExisting = 0x2;
constexpr uint32_t kDoNotQueue = 0x4;
constexpr uint32_t kPrimaryOwner = 1;
constexpr uint32_t kInQueue = 2;
constexpr uint32_t kExists = 3;
constexpr uint32_t kAlreadyOwner = 4;
// ReleaseName replies.
constexpr uint32_t kReleased = 1;
constexpr uint32_t kNonExistent = 2;
constexpr uint32_t kNotOwner = 3;

constexpr const char* kName = "com.example.Itest.Name";

class Names : public BusTest {
 protected:
  void SetUp() override {
    BusTest::SetUp();
    a_ = std::make_unique<SdBusPeer>(address());
    b_ = std::make_unique<SdBusPeer>(address());
    c_ = std::make_unique<SdBusPeer>(address());
    watcher_ = std::make_unique<SdBusPeer>(address());
    ASSERT_TRUE(watcher_->add_match("type='signal',sender='org.freedesktop.DBus',"
                                    "interface='org.freedesktop.DBus',member='NameOwnerChanged'")
                    .ok());
  }

  std::vector<std::string> queued_owners(const std::string& name) {
    return watcher_->call_driver("ListQueuedOwners", "s", name.c_str()).strings();
  }
  std::string owner_of(const std::string& name) {
    auto r = watcher_->call_driver("GetNameOwner", "s", name.c_str());
    return r.ok() ? r.str() : r.error_name;
  }
  // The watcher's NameOwnerChanged signals for name, up to the one that
  // satisfies last.
  std::vector<std::string> owner_changes_until(const std::string& name, const std::string& new_owner) {
    std::vector<std::string> out;
    auto seq = watcher_->take_until([&](const Received& r) {
      return r.member == "NameOwnerChanged" && r.args.size() == 3 && r.args[0] == name &&
             r.args[2] == new_owner;
    });
    for (const auto& r : seq)
      if (r.member == "NameOwnerChanged" && r.args.at(0) == name) out.push_back(r.brief());
    return out;
  }
  // Messages peer received about name (signals carrying it, and replies),
  // up to the first satisfying last.
  static std::vector<std::string> seen_about(SdBusPeer& peer, const std::string& name,
                                             const std::function<bool(const Received&)>& last) {
    std::vector<std::string> out;
    for (const auto& r : peer.take_until(last)) {
      bool about = r.type != SD_BUS_MESSAGE_SIGNAL || (!r.args.empty() && r.args[0] == name);
      if (about) out.push_back(r.brief());
    }
    return out;
  }

  std::unique_ptr<SdBusPeer> a_, b_, c_, watcher_;
};

TEST_F(Names, RequestNameFourReplies) {
  EXPECT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  EXPECT_EQ(a_->request_name(kName).u32(), kAlreadyOwner);
  EXPECT_EQ(b_->request_name(kName).u32(), kInQueue);
  EXPECT_EQ(c_->request_name(kName, kDoNotQueue).u32(), kExists);
  EXPECT_EQ(owner_of(kName), a_->unique_name());
  EXPECT_THAT(queued_owners(kName), ElementsAre(a_->unique_name(), b_->unique_name()));
}

TEST_F(Names, QueuedOwnerRequestingAgainStaysQueued) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  ASSERT_EQ(b_->request_name(kName).u32(), kInQueue);
  EXPECT_EQ(b_->request_name(kName).u32(), kInQueue);
  EXPECT_THAT(queued_owners(kName), ElementsAre(a_->unique_name(), b_->unique_name()));
}

TEST_F(Names, ReplaceExistingTakesNameWhenAllowed) {
  ASSERT_EQ(a_->request_name(kName, kAllowReplacement).u32(), kPrimaryOwner);
  EXPECT_EQ(b_->request_name(kName, kReplaceExisting).u32(), kPrimaryOwner);
  EXPECT_EQ(owner_of(kName), b_->unique_name());
  // The replaced owner did not ask for DO_NOT_QUEUE, so it waits in line.
  EXPECT_THAT(queued_owners(kName), ElementsAre(b_->unique_name(), a_->unique_name()));
  EXPECT_THAT(owner_changes_until(kName, b_->unique_name()),
              ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_->unique_name() + ")",
                          "NameOwnerChanged(" + std::string(kName) + "," + a_->unique_name() + "," +
                              b_->unique_name() + ")"));
  auto lost = a_->wait_for(is_name_signal("NameLost", kName));
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->args, std::vector<std::string>{kName});
  EXPECT_EQ(lost->destination, a_->unique_name());
  EXPECT_EQ(lost->sender, "org.freedesktop.DBus");
}

TEST_F(Names, ReplacedOwnerWithDoNotQueueLeavesQueue) {
  ASSERT_EQ(a_->request_name(kName, kAllowReplacement | kDoNotQueue).u32(), kPrimaryOwner);
  EXPECT_EQ(b_->request_name(kName, kReplaceExisting).u32(), kPrimaryOwner);
  EXPECT_THAT(queued_owners(kName), ElementsAre(b_->unique_name()));
}

TEST_F(Names, ReplaceExistingRefusedWithoutAllowReplacement) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  EXPECT_EQ(b_->request_name(kName, kReplaceExisting).u32(), kInQueue);
  EXPECT_EQ(c_->request_name(kName, kReplaceExisting | kDoNotQueue).u32(), kExists);
  EXPECT_EQ(owner_of(kName), a_->unique_name());
  EXPECT_THAT(queued_owners(kName), ElementsAre(a_->unique_name(), b_->unique_name()));
}

TEST_F(Names, ReleaseNameThreeReplies) {
  EXPECT_EQ(a_->release_name(kName).u32(), kNonExistent);
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  EXPECT_EQ(b_->release_name(kName).u32(), kNotOwner);
  EXPECT_EQ(a_->release_name(kName).u32(), kReleased);
  EXPECT_EQ(owner_of(kName), "org.freedesktop.DBus.Error.NameHasNoOwner");
  EXPECT_EQ(a_->release_name(kName).u32(), kNonExistent);
}

TEST_F(Names, ReleaseWhileQueuedLeavesQueue) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  ASSERT_EQ(b_->request_name(kName).u32(), kInQueue);
  EXPECT_EQ(b_->release_name(kName).u32(), kReleased);
  EXPECT_THAT(queued_owners(kName), ElementsAre(a_->unique_name()));
  // With nobody queued, releasing frees the name.
  ASSERT_EQ(a_->release_name(kName).u32(), kReleased);
  EXPECT_THAT(owner_changes_until(kName, ""),
              ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_->unique_name() + ")",
                          "NameOwnerChanged(" + std::string(kName) + "," + a_->unique_name() + ",)"));
}

TEST_F(Names, AcquireSignalsThenReplyInOrder) {
  ASSERT_TRUE(a_->add_match("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'").ok());
  uint64_t cookie = a_->send_call(kDriverName, kDriverPath, kDriverInterface, "RequestName", "su", kName, 0u);
  auto seq = seen_about(*a_, kName, [&](const Received& r) { return r.reply_cookie == cookie; });
  // dbus-daemon: the broadcast, then the unicast NameAcquired, then the reply.
  EXPECT_THAT(seq, ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_->unique_name() + ")",
                               "NameAcquired(" + std::string(kName) + ")", "return(1)"));
}

TEST_F(Names, HandoverOnReleaseInOrder) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  ASSERT_EQ(b_->request_name(kName).u32(), kInQueue);
  uint64_t cookie = a_->send_call(kDriverName, kDriverPath, kDriverInterface, "ReleaseName", "s", kName);
  auto a_seq = seen_about(*a_, kName, [&](const Received& r) { return r.reply_cookie == cookie; });
  // The previous owner learns of the loss before the reply to its release.
  EXPECT_THAT(a_seq, ElementsAre("NameAcquired(" + std::string(kName) + ")",
                                 "NameLost(" + std::string(kName) + ")", "return(1)"));
  auto b_seq = seen_about(*b_, kName, is_name_signal("NameAcquired", kName));
  EXPECT_THAT(b_seq, ElementsAre("NameAcquired(" + std::string(kName) + ")"));
  EXPECT_THAT(owner_changes_until(kName, b_->unique_name()),
              ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_->unique_name() + ")",
                          "NameOwnerChanged(" + std::string(kName) + "," + a_->unique_name() + "," +
                              b_->unique_name() + ")"));
  EXPECT_EQ(owner_of(kName), b_->unique_name());
  EXPECT_THAT(queued_owners(kName), ElementsAre(b_->unique_name()));
}

TEST_F(Names, HandoverOnDisconnectInOrder) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  ASSERT_EQ(b_->request_name(kName).u32(), kInQueue);
  ASSERT_EQ(c_->request_name(kName).u32(), kInQueue);
  std::string a_name = a_->unique_name();
  a_->disconnect();
  ASSERT_TRUE(b_->wait_for(is_name_signal("NameAcquired", kName)));
  // Watcher: the well-known name moves on first, then the unique name goes.
  std::vector<std::string> seq;
  for (const auto& r : watcher_->take_until([&](const Received& r) {
         return r.member == "NameOwnerChanged" && r.args.size() == 3 && r.args[0] == a_name && r.args[2].empty();
       })) {
    if (r.member == "NameOwnerChanged" && r.args.size() == 3 && (r.args[1] == a_name || r.args[2] == a_name))
      seq.push_back(r.brief());
  }
  EXPECT_THAT(seq, ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_name + ")",
                               "NameOwnerChanged(" + std::string(kName) + "," + a_name + "," + b_->unique_name() + ")",
                               "NameOwnerChanged(" + a_name + "," + a_name + ",)"));
  EXPECT_THAT(queued_owners(kName), ElementsAre(b_->unique_name(), c_->unique_name()));
}

TEST_F(Names, DisconnectOfLastOwnerFreesName) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  std::string a_name = a_->unique_name();
  a_->disconnect();
  EXPECT_THAT(owner_changes_until(kName, ""),
              ElementsAre("NameOwnerChanged(" + std::string(kName) + ",," + a_name + ")",
                          "NameOwnerChanged(" + std::string(kName) + "," + a_name + ",)"));
  EXPECT_FALSE(watcher_->call_driver("NameHasOwner", "s", kName).boolean());
}

TEST_F(Names, UniqueNameSignalsOnConnect) {
  SdBusPeer fresh(address());
  // Every connection is told its unique name; everyone watching sees it appear.
  auto acquired = fresh.wait_for(is_name_signal("NameAcquired", fresh.unique_name()));
  ASSERT_TRUE(acquired);
  EXPECT_EQ(acquired->destination, fresh.unique_name());
  EXPECT_THAT(owner_changes_until(fresh.unique_name(), fresh.unique_name()),
              ElementsAre("NameOwnerChanged(" + fresh.unique_name() + ",," + fresh.unique_name() + ")"));
}

TEST_F(Names, ListQueuedOwnersErrors) {
  auto r = a_->call_driver("ListQueuedOwners", "s", kName);
  EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.NameHasNoOwner");
  EXPECT_THAT(a_->call_driver("ListQueuedOwners", "s", kDriverName).strings(), ElementsAre(kDriverName));
  EXPECT_THAT(a_->call_driver("ListQueuedOwners", "s", b_->unique_name().c_str()).strings(),
              ElementsAre(b_->unique_name()));
}

TEST_F(Names, CannotOwnDriverOrUniqueOrInvalidNames) {
  auto driver = a_->request_name(kDriverName);
  EXPECT_EQ(driver.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_THAT(driver.error_message, HasSubstr("org.freedesktop.DBus"));
  EXPECT_EQ(a_->request_name(b_->unique_name()).error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(a_->request_name(a_->unique_name()).error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(a_->request_name("not..valid").error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(a_->request_name("nodots").error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(a_->release_name(kDriverName).error_name, "org.freedesktop.DBus.Error.InvalidArgs");
  EXPECT_EQ(a_->release_name(a_->unique_name()).error_name, "org.freedesktop.DBus.Error.InvalidArgs");
}

TEST_F(Names, ListNamesShowsOwnersNotQueue) {
  ASSERT_EQ(a_->request_name(kName).u32(), kPrimaryOwner);
  ASSERT_EQ(b_->request_name(kName).u32(), kInQueue);
  auto names = c_->call_driver("ListNames").strings();
  EXPECT_EQ(std::count(names.begin(), names.end(), kName), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), kDriverName), 1);
  for (auto* p : {a_.get(), b_.get(), c_.get(), watcher_.get()})
    EXPECT_EQ(std::count(names.begin(), names.end(), p->unique_name()), 1);
}

}  // namespace
}  // namespace kdbusd::itest
