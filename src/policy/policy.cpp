/* Policy and ConnectionPolicy: dbus-daemon 1.14 bus/policy.c precedence */
#include "policy/policy.hpp"

#include <algorithm>

namespace kdbus::policy {

const Rule* Policy::keep(Rule rule)
{
    storage_.push_back(std::make_unique<const Rule>(std::move(rule)));
    return storage_.back().get();
}

void Policy::append_default(Rule rule) { default_.push_back(keep(std::move(rule))); }
void Policy::append_mandatory(Rule rule) { mandatory_.push_back(keep(std::move(rule))); }
void Policy::append_user(uid_t uid, Rule rule) { by_user_[uid].push_back(keep(std::move(rule))); }
void Policy::append_group(gid_t gid, Rule rule) { by_group_[gid].push_back(keep(std::move(rule))); }

void Policy::append_console(bool at_console, Rule rule)
{
    (at_console ? console_true_ : console_false_).push_back(keep(std::move(rule)));
}

namespace {

/* dbus-daemon list_allows_user: user and group rules, last match wins. */
bool list_allows_user(bool allowed, const std::vector<const Rule*>& rules, uid_t uid,
                      std::span<const gid_t> groups)
{
    for (const Rule* rule : rules) {
        if (rule->kind == RuleKind::user) {
            if (rule->id && *rule->id != uid)
                continue;
        } else if (rule->kind == RuleKind::group) {
            if (rule->id && std::find(groups.begin(), groups.end(), *rule->id) == groups.end())
                continue;
        } else {
            continue;
        }
        allowed = rule->allow;
    }
    return allowed;
}

/* Whether decide() over `rules` allows every message: scanning as it does,
 * newest first, only <allow> rules come before one that matches every
 * message, to any peer, in every reply state, eavesdropping or not (see
 * matches_send() and matches_receive()). Whatever the message, the first
 * rule it matches then allows it. */
bool allows_everything(const std::vector<const Rule*>& rules)
{
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        const Rule& r = **it;
        if (!r.allow)
            return false;
        bool every = r.type == MessageType::invalid && !r.path && !r.interface && !r.member && !r.error_name &&
                     !r.name && r.broadcast == Tristate::any && r.min_fds == 0 && r.max_fds == Rule::kMaxFds &&
                     r.eavesdrop;  // covers eavesdropping and unrequested replies
        if (every)
            return true;
    }
    return false;  // a message no rule matches is denied
}

}  // namespace

bool Policy::allows_user(uid_t uid, std::span<const gid_t> groups, uid_t bus_uid) const
{
    bool allowed = uid == bus_uid;
    allowed = list_allows_user(allowed, default_, uid, groups);
    return list_allows_user(allowed, mandatory_, uid, groups);
}

ConnectionPolicy::ConnectionPolicy(std::shared_ptr<const Policy> policy, const Peer& peer)
    : policy_(std::move(policy))
{
    if (!policy_)
        return;
    add(policy_->default_);
    for (auto g = peer.gids.begin(); g != peer.gids.end(); ++g) {
        gid_t gid = *g;
        if (std::find(peer.gids.begin(), g, gid) != g)
            continue;  // a group listed twice applies once
        if (auto it = policy_->by_group_.find(gid); it != policy_->by_group_.end())
            add(it->second);
    }
    if (peer.uid) {
        if (auto it = policy_->by_user_.find(*peer.uid); it != policy_->by_user_.end())
            add(it->second);
        add(peer.at_console ? policy_->console_true_ : policy_->console_false_);
    }
    add(policy_->mandatory_);
    allows_every_send_ = allows_everything(send_);
    allows_every_receive_ = allows_everything(receive_);
}

void ConnectionPolicy::add(const std::vector<const Rule*>& rules)
{
    for (const Rule* rule : rules) {
        switch (rule->kind) {
        case RuleKind::send: send_.push_back(rule); break;
        case RuleKind::receive: receive_.push_back(rule); break;
        case RuleKind::own: own_.push_back(rule); break;
        case RuleKind::user:
        case RuleKind::group: break;  // only consulted at connect time
        }
    }
}

namespace {

/* Last match wins = first match scanning backwards. */
template <typename Match>
Decision decide(const std::vector<const Rule*>& rules, Match&& match)
{
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        if (match(**it))
            return Decision{(*it)->allow, *it};
    }
    return Decision{};
}

}  // namespace

Decision ConnectionPolicy::check_own(std::string_view name) const
{
    return decide(own_, [&](const Rule& r) { return matches_own(r, name); });
}

bool ConnectionPolicy::can_own(std::string_view name) const { return check_own(name).allowed; }

Decision ConnectionPolicy::check_send(const MessageFacts& m, const NameOwnership* receiver,
                                      bool requested_reply) const
{
    return decide(send_, [&](const Rule& r) { return matches_send(r, m, receiver, requested_reply); });
}

Decision ConnectionPolicy::check_receive(const MessageFacts& m, const NameOwnership* sender,
                                         bool requested_reply, bool eavesdropping) const
{
    return decide(receive_, [&](const Rule& r) {
        return matches_receive(r, m, sender, requested_reply, eavesdropping);
    });
}

}  // namespace kdbus::policy
