// A bus client for the integration tests, on sd-bus: one connection to the
// bus under test that records every message it receives, in arrival order,
// so tests can assert what arrived and in which order. Waits are bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <systemd/sd-bus.h>
#include <vector>

namespace kdbusd::itest {

using std::chrono::milliseconds;

struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

inline constexpr const char* kDriverName = "org.freedesktop.DBus";
inline constexpr const char* kDriverPath = "/org/freedesktop/DBus";
inline constexpr const char* kDriverInterface = "org.freedesktop.DBus";

// One received message, summarised for assertions. args holds the leading
// basic-typed arguments as text (up to the first container).
struct Received {
  uint8_t type = 0;  // SD_BUS_MESSAGE_METHOD_CALL, ...
  uint64_t cookie = 0;
  uint64_t reply_cookie = 0;
  std::string sender, destination, path, interface, member, error_name, signature;
  std::vector<std::string> args;
  MessagePtr message;

  bool is_signal(const std::string& iface, const std::string& name) const {
    return type == SD_BUS_MESSAGE_SIGNAL && interface == iface && member == name;
  }
  std::string describe() const;
  // Compact form for order assertions: "Member(arg,arg)" for signals and
  // calls, "return(args)" and "error(Name)" for replies.
  std::string brief() const;
};

// brief() of each message.
std::vector<std::string> briefs(const std::vector<Received>& messages);

// Outcome of a method call: a reply, or an error name and text.
struct CallResult {
  MessagePtr reply;
  std::string error_name;
  std::string error_message;

  bool ok() const { return error_name.empty() && reply != nullptr; }
  std::string describe() const { return ok() ? "ok" : error_name + ": " + error_message; }
  // Reads the single basic argument of the reply (asserting its type).
  uint32_t u32() const;
  std::string str() const;
  bool boolean() const;
  std::vector<std::string> strings() const;  // reply of signature "as"
};

class SdBusPeer {
 public:
  struct Options {
    bool negotiate_fds = true;
  };

  // Connects, authenticates and calls Hello.
  explicit SdBusPeer(const std::string& address) : SdBusPeer(address, Options{}) {}
  SdBusPeer(const std::string& address, Options options);
  ~SdBusPeer();
  SdBusPeer(const SdBusPeer&) = delete;
  SdBusPeer& operator=(const SdBusPeer&) = delete;

  sd_bus* bus() const { return bus_; }
  std::string unique_name() const;

  // Blocking method call (5 s timeout). Messages that arrive meanwhile are
  // recorded in order.
  template <typename... Args>
  CallResult call(const char* destination, const char* path, const char* interface,
                  const char* member, const char* types = nullptr, Args... args) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &m, destination, path, interface, member);
    MessagePtr msg(m);
    if (r >= 0 && types) r = sd_bus_message_append(m, types, args...);
    return finish_call(std::move(msg), r);
  }
  template <typename... Args>
  CallResult call_driver(const char* member, const char* types = nullptr, Args... args) {
    return call(kDriverName, kDriverPath, kDriverInterface, member, types, args...);
  }
  CallResult call_message(MessagePtr call);

  // Sends a method call without waiting; its reply (or error) lands in the
  // inbox. Returns the call's cookie.
  template <typename... Args>
  uint64_t send_call(const char* destination, const char* path, const char* interface,
                     const char* member, const char* types = nullptr, Args... args) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_call(bus_, &m, destination, path, interface, member);
    MessagePtr msg(m);
    if (r >= 0 && types) r = sd_bus_message_append(m, types, args...);
    return send_message(std::move(msg), r);
  }
  uint64_t send_message(MessagePtr msg, int build_result = 0);

  // Broadcasts a signal (or unicasts it if destination is non-null).
  // Returns its cookie.
  template <typename... Args>
  uint64_t emit(const char* destination, const char* path, const char* interface, const char* member,
            const char* types = nullptr, Args... args) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_signal(bus_, &m, path, interface, member);
    MessagePtr msg(m);
    if (r >= 0 && destination) r = sd_bus_message_set_destination(m, destination);
    if (r >= 0 && types) r = sd_bus_message_append(m, types, args...);
    return send_message(std::move(msg), r);
  }

  // Replies to a recorded method call.
  template <typename... Args>
  void reply(const Received& call, const char* types = nullptr, Args... args) {
    sd_bus_message* m = nullptr;
    int r = sd_bus_message_new_method_return(call.message.get(), &m);
    MessagePtr msg(m);
    if (r >= 0 && types) r = sd_bus_message_append(m, types, args...);
    send_message(std::move(msg), r);
  }

  // Answers a recorded method call with an error.
  void reply_error(const Received& call, const char* name, const char* text);

  // Driver conveniences. Each returns the call's outcome.
  CallResult request_name(const std::string& name, uint32_t flags = 0);
  CallResult release_name(const std::string& name);
  CallResult add_match(const std::string& rule);
  CallResult remove_match(const std::string& rule);

  // Receiving. wait_for returns (and removes from the inbox) the first
  // message satisfying pred; take_until returns every message up to and
  // including that one — without it when the wait timed out.
  std::optional<Received> wait_for(const std::function<bool(const Received&)>& pred,
                                   milliseconds timeout = milliseconds(5000));
  std::vector<Received> take_until(const std::function<bool(const Received&)>& pred,
                                   milliseconds timeout = milliseconds(5000));
  std::optional<Received> wait_reply(uint64_t cookie, milliseconds timeout = milliseconds(5000));
  // Processes whatever is readable, waiting at most timeout for something.
  void pump(milliseconds timeout);
  std::deque<Received>& inbox() { return inbox_; }

  // Drops the connection now (as a crashing client would).
  void disconnect();

 private:
  CallResult finish_call(MessagePtr msg, int build_result);
  static int on_message(sd_bus_message* m, void* userdata, sd_bus_error* error);

  sd_bus* bus_ = nullptr;
  std::deque<Received> inbox_;
};

// Predicates for wait_for / take_until.
std::function<bool(const Received&)> is_signal(std::string interface, std::string member);
std::function<bool(const Received&)> is_method_call(std::string member);
// A driver signal (NameAcquired, NameLost) whose first argument is name.
std::function<bool(const Received&)> is_name_signal(std::string member, std::string name);

// One counter of the bus's Debug.Stats.GetStats (a u); throws if absent.
uint32_t bus_stat(SdBusPeer& peer, const std::string& key);

}  // namespace kdbusd::itest
