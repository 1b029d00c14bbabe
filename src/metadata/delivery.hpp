/* Which metadata items a receiver gets from a sender: kdbus's final attach rule */
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "kdbus/attach_flags.hpp"
#include "metadata/namespace_view.hpp"

namespace kdbus::metadata {

/*
 * Delivered = recv ∩ (IMPLICIT ∪ send ∪ (PROC if the receiver could read
 * the sender's /proc itself)) — kdbus cc6a928 and 4baeaec (KDBUS.md,
 * "Attach flags"; §3 rule 4): the receiver opts in, the sender consents to
 * process items, and consent is moot for what the receiver could read
 * anyway. No bus setting can widen it. For a sender with faked
 * credentials pass send = 0 and proc_readable = false (rule 8).
 */
constexpr uint64_t delivered_mask(uint64_t recv, uint64_t send, bool proc_readable) {
    return recv & (attach::implicit | send | (proc_readable ? attach::proc : 0));
}

/* The same, asking the receiver's namespaces about /proc visibility only
 * when it can change the answer (it costs a syscall). */
inline uint64_t delivered_mask(uint64_t recv, uint64_t send, const NamespaceView& receiver, pid_t sender_pid) {
    const bool matters = (recv & attach::proc & ~send) != 0;
    return delivered_mask(recv, send, matters && receiver.proc_readable(sender_pid));
}

}  // namespace kdbus::metadata
