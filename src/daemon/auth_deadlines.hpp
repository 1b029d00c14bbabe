/* Auth Deadlines: one timer for every connection that has not said Hello yet */
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

namespace kdbus::daemon {

class Connection;

/*
 * auth_timeout (dbus-daemon): a connection that has not completed SASL and
 * Hello within the limit is closed. A timer per connection cost every
 * connect a timerfd_settime (the new timer was always the earliest) and,
 * when Hello cancelled it, an extra epoll_wait to run the cancelled
 * handler. Here the waiting connections form a list sorted by deadline,
 * and one timer waits for the earliest: adding and removing is O(1) and
 * touches no kernel object, and the timer is re-armed only when it fires.
 */
class AuthDeadlines {
public:
    using Clock = std::chrono::steady_clock;
    /* Lives in each Connection; unlinks itself when the connection dies. */
    struct Entry : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
        Connection* connection = nullptr;
        Clock::time_point deadline;
    };

    explicit AuthDeadlines(boost::asio::io_context& io);
    ~AuthDeadlines();
    AuthDeadlines(const AuthDeadlines&) = delete;
    AuthDeadlines& operator=(const AuthDeadlines&) = delete;

    /* The entry's connection is closed if still waiting at `deadline`. */
    void add(Entry& entry, Clock::time_point deadline);
    /* It authenticated (or closed): no deadline any more. Idempotent. */
    static void remove(Entry& entry);

private:
    void arm();
    void on_timer();

    using List = boost::intrusive::list<Entry, boost::intrusive::constant_time_size<false>>;
    List waiting_;  // by deadline, earliest first
    boost::asio::steady_timer timer_;
    bool armed_ = false;
    Clock::time_point armed_for_;
    /* Expires with this object; the timer's handler checks it. */
    std::shared_ptr<const int> lifetime_ = std::make_shared<const int>(0);
};

}  // namespace kdbus::daemon
