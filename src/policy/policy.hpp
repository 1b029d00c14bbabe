/* Policy: the <policy> blocks of a configuration, and each connection's view
 * of them
 *
 *   auto policy = config.policy;                    // shared_ptr<const Policy>
 *   if (!policy->allows_user(uid, groups, getuid())) reject the connection;
 *   ConnectionPolicy cp(policy, Peer{uid, gids, at_console});
 *   cp.can_own("org.example.Foo");
 *   cp.check_send(facts, &receiver_names, requested_reply).allowed;
 *   cp.check_receive(facts, &sender_names, requested_reply, eavesdropping);
 *
 * Semantics are dbus-daemon 1.14's (bus/policy.c, dbus-daemon(1)): rules
 * apply in the order default context → group policies (the peer's groups)
 * → user policy → at_console → mandatory, each in file order, and the last
 * rule that matches decides; nothing matching means "deny". Send checks use
 * the sender's ConnectionPolicy, receive checks the receiver's. The broker
 * keeps dbus-daemon's exceptions outside the policy (Hello is always
 * allowed; messages the driver sends are only receive-checked). */
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "policy/rule.hpp"

namespace kdbus::policy {

/* The credentials a connection's policy depends on. */
struct Peer {
    std::optional<uid_t> uid;  // unset for anonymous connections
    std::vector<gid_t> gids;   // primary group first; order of group policies
    bool at_console = false;
};

/* A decision and the rule that made it (nullptr: no rule matched, so the
 * default "deny" applied). `rule` points into the Policy and lives as long
 * as it does (a ConnectionPolicy keeps its Policy alive). */
struct Decision {
    bool allowed = false;
    const Rule* rule = nullptr;
};

/* Every rule of a configuration, grouped by the <policy> they came from.
 * Immutable once loaded; ConnectionPolicy keeps it alive. */
class Policy {
public:
    /* Building (used by the configuration loader): rules are appended in
     * file order. */
    void append_default(Rule rule);
    void append_mandatory(Rule rule);
    void append_user(uid_t uid, Rule rule);
    void append_group(gid_t gid, Rule rule);
    void append_console(bool at_console, Rule rule);

    /* May a connection authenticated as `uid`, member of `groups`, connect?
     * dbus-daemon: the bus's own user may by default; then the user/group
     * rules of the default and the mandatory context decide, last match
     * wins (<allow user="*"/> opens the system bus to everyone). */
    bool allows_user(uid_t uid, std::span<const gid_t> groups, uid_t bus_uid) const;

    /* Whether any <policy group=...> exists: only then does the broker need
     * the peer's groups. */
    bool has_group_policies() const { return !by_group_.empty(); }
    /* Whether any <policy at_console=...> exists: only then does the
     * broker need to ask logind whether the peer has a seat. */
    bool has_console_policies() const { return !console_true_.empty() || !console_false_.empty(); }

    /* The rule lists, for inspection and tests. */
    const std::vector<const Rule*>& default_rules() const { return default_; }
    const std::vector<const Rule*>& mandatory_rules() const { return mandatory_; }
    size_t rule_count() const { return storage_.size(); }

private:
    friend class ConnectionPolicy;
    const Rule* keep(Rule rule);

    /* Rules live in a stable arena; the lists point into it. */
    std::vector<std::unique_ptr<const Rule>> storage_;
    std::vector<const Rule*> default_;
    std::vector<const Rule*> mandatory_;
    std::vector<const Rule*> console_true_;
    std::vector<const Rule*> console_false_;
    std::map<uid_t, std::vector<const Rule*>> by_user_;
    std::map<gid_t, std::vector<const Rule*>> by_group_;
};

/* The rules that apply to one connection, compiled once at Hello (or on
 * reload) in precedence order and split by kind, so each check scans only
 * the rules of its kind, newest first, and stops at the first match. */
class ConnectionPolicy {
public:
    ConnectionPolicy() = default;  // denies everything
    ConnectionPolicy(std::shared_ptr<const Policy> policy, const Peer& peer);

    /* RequestName: own / own_prefix rules. */
    bool can_own(std::string_view name) const;
    Decision check_own(std::string_view name) const;

    /* May this connection send `m` to `receiver`? `receiver` is the
     * connection `m` is about to be delivered to — for an eavesdropper or a
     * broadcast recipient, that one (dbus-daemon checks the sender's send
     * rules against each proposed recipient); nullptr for the driver, or
     * for a service being activated. `requested_reply`: `m` is the expected
     * reply to a call the receiver made. */
    Decision check_send(const MessageFacts& m, const NameOwnership* receiver,
                        bool requested_reply) const;

    /* May this connection receive `m` from `sender` (nullptr: from the
     * driver)? `eavesdropping`: it is not the addressed recipient of a
     * message that has a destination (dbus-daemon: addressed != proposed
     * recipient and the message has a destination); only <allow
     * eavesdrop="true"> rules then let it through. */
    Decision check_receive(const MessageFacts& m, const NameOwnership* sender,
                           bool requested_reply, bool eavesdropping) const;

    /* Whether check_send() / check_receive() allow every message, to any
     * peer, eavesdropping included: no rule that could deny is newer than
     * an <allow> that matches everything. The bus then skips the checks,
     * which would cost each message a scan of the rules. */
    bool allows_every_send() const { return allows_every_send_; }
    bool allows_every_receive() const { return allows_every_receive_; }

    const std::shared_ptr<const Policy>& policy() const { return policy_; }

private:
    void add(const std::vector<const Rule*>& rules);

    std::shared_ptr<const Policy> policy_;
    std::vector<const Rule*> send_;
    std::vector<const Rule*> receive_;
    std::vector<const Rule*> own_;
    bool allows_every_send_ = false;
    bool allows_every_receive_ = false;
};

}  // namespace kdbus::policy
