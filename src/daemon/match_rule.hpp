/* Match rules: parsing and evaluation (D-Bus specification, "Match Rules") */
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/message.hpp"

namespace kdbus::daemon {

struct ArgCondition {
    enum class Kind : uint8_t { string, path, arg0_namespace };
    uint8_t index = 0;  // 0..63
    Kind kind = Kind::string;
    std::string value;

    bool operator==(const ArgCondition&) const = default;
};

struct MatchRule {
    std::optional<wire::MessageType> type;
    std::string sender;  // unique or well-known
    std::string interface;
    std::string member;
    std::string path;
    std::string path_namespace;
    std::string destination;
    std::vector<ArgCondition> args;  // sorted by index, one per index
    bool eavesdrop = false;

    /* dbus-daemon's DBUS_MAXIMUM_MATCH_RULE_LENGTH: parse() refuses longer
     * text. A canonical form can be longer than the text it came from
     * (escaping a quote takes four bytes, '\'', where \' took two). */
    static constexpr size_t max_text_length = 1024;

    /* Parses the textual form, with quoting and escaping as the
     * specification gives it; validates every value (names, paths, arg
     * indexes, no duplicate keys). nullopt + *error on failure (the driver
     * answers MatchRuleInvalid with that text). */
    static std::optional<MatchRule> parse(std::string_view text, std::string* error);

    /* A canonical textual form: equal rules give equal strings. */
    std::string to_string() const;

    bool operator==(const MatchRule&) const = default;
};

/*
 * What a rule is evaluated against. `owns(name, unique)` answers whether the
 * connection with unique name `unique` is the primary owner of well-known
 * `name` now (a sender= rule on a well-known name follows ownership).
 */
struct MatchInput {
    const wire::Header& header;
    std::span<const uint8_t> body;
    std::string_view sender;  // the stamped unique name (or org.freedesktop.DBus)
    const std::function<bool(std::string_view name, std::string_view unique)>* owns = nullptr;
    /* The unique name of the connection the message is addressed to, if it
     * has one: destination= matches when that connection owns the rule's
     * name (dbus-daemon bus/signals.c), so a rule on a well-known name also
     * sees messages sent to the owner's unique name, and the other way round. */
    std::string_view addressed = {};
};

/* Body arguments read lazily, once per message, shared by all rules. */
class MessageArgs {
public:
    explicit MessageArgs(const MatchInput& in)
        : in_(in), reader_(in.body, in.header.endian, 0) {}
    /* The string value of argument `index` if it is an `s` (or, with
     * allow_path, an `o`); nullopt otherwise. */
    std::optional<std::string_view> string_arg(unsigned index, bool allow_path);

private:
    /* The specification's limit on argN keys: arg0..arg63. */
    static constexpr unsigned max_args = 64;

    void parse(unsigned upto);

    const MatchInput& in_;
    wire::Reader reader_;
    struct Arg {
        char type;
        std::string_view value;  // set for `s` and `o` only
    };
    std::array<Arg, max_args> args_;  // no allocation per message
    unsigned parsed_ = 0;             // args_[0, parsed_) are read
    size_t signature_pos_ = 0;        // where the next arg's type starts
    bool done_ = false;               // body exhausted, malformed, or 64 read
};

/* Evaluates every key of `rule` except eavesdrop. */
bool rule_matches(const MatchRule& rule, const MatchInput& in, MessageArgs& args);

}  // namespace kdbus::daemon
