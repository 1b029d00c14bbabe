#include "daemon/auth_deadlines.hpp"

#include "daemon/connection.hpp"

namespace kdbus::daemon {

AuthDeadlines::AuthDeadlines(boost::asio::io_context& io) : timer_(io) {}

AuthDeadlines::~AuthDeadlines() { waiting_.clear(); }

void AuthDeadlines::add(Entry& entry, Clock::time_point deadline) {
    remove(entry);
    entry.deadline = deadline;
    // Connections arrive in deadline order unless a reload shortened
    // auth_timeout meanwhile: then walk back past the later ones.
    auto pos = waiting_.end();
    while (pos != waiting_.begin() && std::prev(pos)->deadline > deadline) --pos;
    waiting_.insert(pos, entry);
    arm();
}

void AuthDeadlines::remove(Entry& entry) {
    if (entry.is_linked()) entry.unlink();
}

void AuthDeadlines::arm() {
    if (waiting_.empty()) return;  // an armed timer finds nothing and stops
    Clock::time_point when = waiting_.front().deadline;
    if (armed_ && armed_for_ <= when) return;  // fires early, then re-arms
    armed_ = true;
    armed_for_ = when;
    // Replacing the expiry aborts an earlier wait; its handler sees the
    // error and leaves armed_ to this one.
    timer_.expires_at(when);
    // A handler already queued when its owner goes (a bus is removed in
    // the same turn of the loop as the timer fires) still runs: it must
    // not touch what is gone.
    timer_.async_wait([this, alive = std::weak_ptr<const int>(lifetime_)](const boost::system::error_code& ec) {
        if (ec || alive.expired()) return;
        armed_ = false;
        on_timer();
    });
}

void AuthDeadlines::on_timer() {
    Clock::time_point now = Clock::now();
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
        Entry& e = waiting_.front();
        waiting_.pop_front();
        e.connection->close("authentication timed out");
    }
    arm();
}

}  // namespace kdbus::daemon
