#include "daemon/receive_quota.hpp"

#include <algorithm>

namespace kdbus::daemon {

namespace {

/* Above every uid: the bus's own notifications. */
constexpr uint64_t kernel_key = uint64_t(1) << 32;

}  // namespace

const char* describe(QuotaRefusal refusal) {
    switch (refusal) {
        case QuotaRefusal::none:
            return "nothing";
        case QuotaRefusal::queue_full:
            return "the receiver's incoming queue is full";
        case QuotaRefusal::queue_fds:
            return "the receiver's incoming queue holds the maximum number of file descriptors";
        case QuotaRefusal::user_share:
            return "the sender's user holds its share of the receiver's queue";
        case QuotaRefusal::user_messages:
            return "the sender's user has the maximum number of messages queued for it";
        case QuotaRefusal::user_fds:
            return "the sender's user has the maximum number of file descriptors queued for it";
        case QuotaRefusal::user_total:
            return "the sender's user has the maximum number of bytes queued on the bus";
    }
    return "?";
}

uint64_t ReceiveQuota::key_of(const QuotaSender& sender) {
    if (sender.kind != QuotaSender::Kind::user) return kernel_key;
    if (sender.account->endpoint_serial) return kernel_key + sender.account->endpoint_serial;
    return uint64_t(sender.account->uid);
}

ReceiveQuota::Share* ReceiveQuota::find(uint64_t key) {
    for (auto& s : shares_)
        if (s.key == key) return &s;
    return nullptr;
}

const ReceiveQuota::Share* ReceiveQuota::find(uint64_t key) const {
    return const_cast<ReceiveQuota*>(this)->find(key);
}

ReceiveQuota::Share& ReceiveQuota::get(uint64_t key) {
    for (auto& s : shares_)
        if (s.key == key) return s;
    shares_.push_back(Share{key});
    return shares_.back();
}

QuotaRefusal ReceiveQuota::admit(const QuotaSender& sender, size_t bytes, size_t fds,
                                 const QuotaLimits& limits) const {
    if (sender.kind == QuotaSender::Kind::owner) return QuotaRefusal::none;
    return refusal(find(key_of(sender)), sender, bytes, fds, limits);
}

QuotaRefusal ReceiveQuota::refusal(const Share* own, const QuotaSender& sender, size_t bytes, size_t fds,
                                   const QuotaLimits& limits) const {
    size_t own_bytes = own ? own->bytes : 0;
    size_t own_messages = own ? own->messages : 0;
    size_t own_fds = own ? own->fds : 0;

    size_t shared_half = limits.queue_bytes / 2;
    if (accounted_ > shared_half) return QuotaRefusal::queue_full;
    if (own_messages > 0) {
        size_t share = (shared_half - accounted_ + own_bytes) / 3;
        if (share < own_bytes || share - own_bytes < bytes) return QuotaRefusal::user_share;
    }
    const bool is_user = sender.kind == QuotaSender::Kind::user;
    const UserLimits& per_user = is_user ? sender.account->limits : *limits.kernel;
    const bool same_uid = is_user && !sender.account->endpoint_serial && sender.account->uid == limits.receiver_uid;
    if (!same_uid && own_messages >= per_user.queued_messages) return QuotaRefusal::user_messages;
    if (own_fds + fds > per_user.queued_unix_fds) return QuotaRefusal::user_fds;
    if (is_user) {
        const UserAccount& a = *sender.account;
        if (a.bytes > 0 && a.bytes + bytes > per_user.queued_bytes) return QuotaRefusal::user_total;
    }
    return QuotaRefusal::none;
}

void ReceiveQuota::charge(const QuotaSender& sender, size_t bytes, size_t fds) {
    if (sender.kind == QuotaSender::Kind::owner) return;
    add(get(key_of(sender)), sender, bytes, fds);
}

QuotaRefusal ReceiveQuota::try_charge(const QuotaSender& sender, size_t bytes, size_t fds,
                                      const QuotaLimits& limits) {
    if (sender.kind == QuotaSender::Kind::owner) return QuotaRefusal::none;
    uint64_t key = key_of(sender);
    Share* own = find(key);
    if (auto why = refusal(own, sender, bytes, fds, limits); why != QuotaRefusal::none) return why;
    add(own ? *own : shares_.emplace_back(Share{key}), sender, bytes, fds);
    return QuotaRefusal::none;
}

void ReceiveQuota::add(Share& s, const QuotaSender& sender, size_t bytes, size_t fds) {
    s.bytes += bytes;
    s.messages += 1;
    s.fds += fds;
    accounted_ += bytes;
    if (sender.kind == QuotaSender::Kind::user) {
        sender.account->bytes += bytes;
        sender.account->fds += fds;
    }
}

void ReceiveQuota::release(const QuotaSender& sender, size_t bytes, size_t fds) {
    if (sender.kind == QuotaSender::Kind::owner) return;
    Share* it = find(key_of(sender));
    if (!it) return;  // never charged: nothing to give back
    it->bytes -= bytes;
    it->messages -= 1;
    it->fds -= fds;
    accounted_ -= bytes;
    if (sender.kind == QuotaSender::Kind::user) {
        sender.account->bytes -= bytes;
        sender.account->fds -= fds;
    }
    if (it->messages == 0) {  // forgotten when empty: the vector stays as short as the senders
        *it = shares_.back();
        shares_.pop_back();
    }
}

bool ReceiveQuota::begin_episode(const QuotaSender& sender) {
    if (sender.kind == QuotaSender::Kind::owner) return false;
    Share& s = get(key_of(sender));
    if (s.refusing) return false;
    s.refusing = true;
    return true;
}

void ReceiveQuota::end_episodes() {
    shares_.erase(std::remove_if(shares_.begin(), shares_.end(), [](const Share& s) { return s.messages == 0; }),
                  shares_.end());
    for (auto& s : shares_) s.refusing = false;
}

size_t ReceiveQuota::bytes_of(const QuotaSender& sender) const {
    if (sender.kind == QuotaSender::Kind::owner) return 0;
    const Share* s = find(key_of(sender));
    return s ? s->bytes : 0;
}

size_t ReceiveQuota::messages_of(const QuotaSender& sender) const {
    if (sender.kind == QuotaSender::Kind::owner) return 0;
    const Share* s = find(key_of(sender));
    return s ? s->messages : 0;
}

}  // namespace kdbus::daemon
