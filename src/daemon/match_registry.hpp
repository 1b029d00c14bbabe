/* Match Registry: every connection's match rules, indexed for broadcast */
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/match_rule.hpp"

namespace kdbus::daemon {

using MatchOwner = uint64_t;  // connection id

/*
 * Holds the rules of all connections. Lookup cost grows with the rules
 * that could match a message, not with all rules: rules are indexed by
 * their most selective key (member, interface, path, sender), and only
 * rules without any of those are scanned for every message.
 */
class MatchRegistry {
public:
    MatchRegistry();
    ~MatchRegistry();
    MatchRegistry(const MatchRegistry&) = delete;
    MatchRegistry& operator=(const MatchRegistry&) = delete;

    /* Adding an equal rule twice keeps two references (RemoveMatch drops one). */
    void add(MatchOwner owner, const MatchRule& rule);
    /* false: the owner has no such rule (MatchRuleNotFound). */
    bool remove(MatchOwner owner, const MatchRule& rule);
    void remove_all(MatchOwner owner);
    size_t count(MatchOwner owner) const;
    /* Textual rules of one owner (Debug.Stats.GetAllMatchRules). */
    std::vector<std::string> rules_of(MatchOwner owner) const;
    size_t total() const;

    /*
     * Appends each owner with at least one matching rule, once, to `out`.
     * With eavesdrop_only, only rules with eavesdrop=true count (for
     * messages that have a destination other than the rule's owner).
     */
    void collect(const MatchInput& in, bool eavesdrop_only, std::vector<MatchOwner>& out) const;
    /* Whether one of `owner`'s rules (eavesdrop or not) matches `in`: a
     * second look, with another idea of who owns which name, for the few
     * receivers that need one (custom endpoints). */
    bool owner_matches(MatchOwner owner, const MatchInput& in) const;

    /* Rules evaluated by collect() since construction: lets tests (and
     * stats) check that the index keeps non-candidates out. */
    uint64_t candidates_evaluated() const;

private:
    struct Impl;  // see match_registry.cpp
    std::unique_ptr<Impl> impl_;
};

}  // namespace kdbus::daemon
