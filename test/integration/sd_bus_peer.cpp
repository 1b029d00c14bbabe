#include "sd_bus_peer.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace kdbusd::itest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kCallTimeoutUsec = 5'000'000;

std::string or_empty(const char* s) { return s ? s : ""; }

void check(int r, const char* what) {
  if (r < 0) throw std::runtime_error(std::string(what) + ": " + strerror(-r));
}

// Reads the leading basic-typed arguments as text, then rewinds.
std::vector<std::string> basic_args(sd_bus_message* m) {
  std::vector<std::string> out;
  while (true) {
    char type = 0;
    const char* contents = nullptr;
    if (sd_bus_message_peek_type(m, &type, &contents) <= 0) break;
    if (type == 's' || type == 'o' || type == 'g') {
      const char* s = nullptr;
      if (sd_bus_message_read_basic(m, type, &s) < 0) break;
      out.emplace_back(s);
    } else if (type == 'u' || type == 'i' || type == 'h') {
      uint32_t v = 0;
      if (sd_bus_message_read_basic(m, type, &v) < 0) break;
      out.push_back(std::to_string(v));
    } else if (type == 't' || type == 'x') {
      uint64_t v = 0;
      if (sd_bus_message_read_basic(m, type, &v) < 0) break;
      out.push_back(std::to_string(v));
    } else if (type == 'b') {
      int v = 0;
      if (sd_bus_message_read_basic(m, type, &v) < 0) break;
      out.push_back(v ? "true" : "false");
    } else {
      break;
    }
  }
  sd_bus_message_rewind(m, 1);
  return out;
}

}  // namespace

std::string Received::describe() const {
  static const char* const kTypes[] = {"invalid", "method_call", "method_return", "error", "signal"};
  std::string s = std::string(type < 5 ? kTypes[type] : "?") + " sender=" + sender +
                  " dest=" + destination + " path=" + path + " " + interface + "." + member +
                  (error_name.empty() ? "" : " error=" + error_name) + " args=[";
  for (const auto& a : args) s += a + ",";
  return s + "]";
}

std::string Received::brief() const {
  std::string joined;
  for (const auto& a : args) joined += (joined.empty() ? "" : ",") + a;
  switch (type) {
    case SD_BUS_MESSAGE_METHOD_RETURN: return "return(" + joined + ")";
    case SD_BUS_MESSAGE_METHOD_ERROR: return "error(" + error_name + ")";
    default: return member + "(" + joined + ")";
  }
}

std::vector<std::string> briefs(const std::vector<Received>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.brief());
  return out;
}

uint32_t CallResult::u32() const {
  if (!ok()) throw std::runtime_error("call failed: " + describe());
  uint32_t v = 0;
  check(sd_bus_message_read(reply.get(), "u", &v), "read u");
  sd_bus_message_rewind(reply.get(), 1);
  return v;
}

std::string CallResult::str() const {
  if (!ok()) throw std::runtime_error("call failed: " + describe());
  char type = 0;
  check(sd_bus_message_peek_type(reply.get(), &type, nullptr), "peek");
  const char* s = nullptr;
  check(sd_bus_message_read_basic(reply.get(), type, &s), "read string");
  sd_bus_message_rewind(reply.get(), 1);
  return s;
}

bool CallResult::boolean() const {
  if (!ok()) throw std::runtime_error("call failed: " + describe());
  int v = 0;
  check(sd_bus_message_read(reply.get(), "b", &v), "read b");
  sd_bus_message_rewind(reply.get(), 1);
  return v != 0;
}

std::vector<std::string> CallResult::strings() const {
  if (!ok()) throw std::runtime_error("call failed: " + describe());
  char** list = nullptr;
  check(sd_bus_message_read_strv(reply.get(), &list), "read strv");
  std::vector<std::string> out;
  for (char** p = list; p && *p; ++p) {
    out.emplace_back(*p);
    free(*p);
  }
  free(list);
  sd_bus_message_rewind(reply.get(), 1);
  return out;
}

SdBusPeer::SdBusPeer(const std::string& address, Options options) {
  check(sd_bus_new(&bus_), "sd_bus_new");
  check(sd_bus_set_address(bus_, address.c_str()), "sd_bus_set_address");
  check(sd_bus_set_bus_client(bus_, 1), "sd_bus_set_bus_client");
  check(sd_bus_negotiate_fds(bus_, options.negotiate_fds), "sd_bus_negotiate_fds");
  // Installed before start so that even NameAcquired for the unique name
  // is recorded.
  check(sd_bus_add_filter(bus_, nullptr, &SdBusPeer::on_message, this), "sd_bus_add_filter");
  check(sd_bus_start(bus_), "sd_bus_start");
  // sd_bus_start only sends Hello; wait (bounded: sd_bus_get_unique_name
  // would block for sd-bus's own 25 s) for its reply.
  auto deadline = Clock::now() + milliseconds(5000);
  while (sd_bus_is_ready(bus_) <= 0) {
    if (Clock::now() > deadline) throw std::runtime_error("no reply to Hello from the bus");
    pump(milliseconds(100));
  }
}

SdBusPeer::~SdBusPeer() { disconnect(); }

void SdBusPeer::disconnect() {
  if (bus_) {
    inbox_.clear();  // messages hold references to the bus
    sd_bus_flush_close_unref(bus_);
    bus_ = nullptr;
  }
}

std::string SdBusPeer::unique_name() const {
  const char* unique = nullptr;
  check(sd_bus_get_unique_name(bus_, &unique), "sd_bus_get_unique_name");
  return unique;
}

int SdBusPeer::on_message(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* self = static_cast<SdBusPeer*>(userdata);
  Received r;
  sd_bus_message_get_type(m, &r.type);
  sd_bus_message_get_cookie(m, &r.cookie);
  sd_bus_message_get_reply_cookie(m, &r.reply_cookie);
  r.sender = or_empty(sd_bus_message_get_sender(m));
  r.destination = or_empty(sd_bus_message_get_destination(m));
  r.path = or_empty(sd_bus_message_get_path(m));
  r.interface = or_empty(sd_bus_message_get_interface(m));
  r.member = or_empty(sd_bus_message_get_member(m));
  r.signature = or_empty(sd_bus_message_get_signature(m, 1));
  if (const sd_bus_error* e = sd_bus_message_get_error(m)) r.error_name = or_empty(e->name);
  r.args = basic_args(m);
  r.message.reset(sd_bus_message_ref(m));
  bool is_call = r.type == SD_BUS_MESSAGE_METHOD_CALL;
  self->inbox_.push_back(std::move(r));
  // Method calls are the test's to answer (or not): claim them so sd-bus does
  // not answer UnknownObject on the test's behalf.
  return is_call ? 1 : 0;
}

CallResult SdBusPeer::finish_call(MessagePtr msg, int build_result) {
  check(build_result, "building method call");
  return call_message(std::move(msg));
}

CallResult SdBusPeer::call_message(MessagePtr call) {
  CallResult result;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call(bus_, call.get(), kCallTimeoutUsec, &error, &reply);
  if (r < 0) {
    result.error_name = error.name ? error.name : "errno:" + std::string(strerror(-r));
    result.error_message = or_empty(error.message);
  }
  result.reply.reset(reply);
  sd_bus_error_free(&error);
  return result;
}

uint64_t SdBusPeer::send_message(MessagePtr msg, int build_result) {
  check(build_result, "building message");
  uint64_t cookie = 0;
  check(sd_bus_send(bus_, msg.get(), &cookie), "sd_bus_send");
  return cookie;
}

void SdBusPeer::reply_error(const Received& call, const char* name, const char* text) {
  sd_bus_message* m = nullptr;
  int r = sd_bus_message_new_method_errorf(call.message.get(), &m, name, "%s", text);
  send_message(MessagePtr(m), r);
}

CallResult SdBusPeer::request_name(const std::string& name, uint32_t flags) {
  return call_driver("RequestName", "su", name.c_str(), flags);
}
CallResult SdBusPeer::release_name(const std::string& name) {
  return call_driver("ReleaseName", "s", name.c_str());
}
CallResult SdBusPeer::add_match(const std::string& rule) {
  return call_driver("AddMatch", "s", rule.c_str());
}
CallResult SdBusPeer::remove_match(const std::string& rule) {
  return call_driver("RemoveMatch", "s", rule.c_str());
}

void SdBusPeer::pump(milliseconds timeout) {
  // Dispatch everything already queued; only then block.
  int r;
  bool any = false;
  while ((r = sd_bus_process(bus_, nullptr)) > 0) any = true;
  if (r < 0) throw std::runtime_error(std::string("sd_bus_process: ") + strerror(-r));
  if (any) return;
  sd_bus_wait(bus_, static_cast<uint64_t>(timeout.count()) * 1000);
  while ((r = sd_bus_process(bus_, nullptr)) > 0) {
  }
}

std::vector<Received> SdBusPeer::take_until(const std::function<bool(const Received&)>& pred,
                                            milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  size_t scanned = 0;
  while (true) {
    for (; scanned < inbox_.size(); ++scanned) {
      if (pred(inbox_[scanned])) {
        std::vector<Received> out;
        for (size_t i = 0; i <= scanned; ++i) {
          out.push_back(std::move(inbox_.front()));
          inbox_.pop_front();
        }
        return out;
      }
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pump(std::min(left, milliseconds(100)));
  }
  std::vector<Received> out;
  while (!inbox_.empty()) {
    out.push_back(std::move(inbox_.front()));
    inbox_.pop_front();
  }
  return out;
}

std::optional<Received> SdBusPeer::wait_for(const std::function<bool(const Received&)>& pred,
                                            milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (pred(*it)) {
        Received r = std::move(*it);
        inbox_.erase(it);
        return r;
      }
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pump(std::min(left, milliseconds(100)));
  }
}

std::optional<Received> SdBusPeer::wait_reply(uint64_t cookie, milliseconds timeout) {
  return wait_for(
      [cookie](const Received& r) {
        return (r.type == SD_BUS_MESSAGE_METHOD_RETURN || r.type == SD_BUS_MESSAGE_METHOD_ERROR) &&
               r.reply_cookie == cookie;
      },
      timeout);
}

std::function<bool(const Received&)> is_signal(std::string interface, std::string member) {
  return [interface = std::move(interface), member = std::move(member)](const Received& r) {
    return r.is_signal(interface, member);
  };
}

std::function<bool(const Received&)> is_method_call(std::string member) {
  return [member = std::move(member)](const Received& r) {
    return r.type == SD_BUS_MESSAGE_METHOD_CALL && r.member == member;
  };
}

std::function<bool(const Received&)> is_name_signal(std::string member, std::string name) {
  return [member = std::move(member), name = std::move(name)](const Received& r) {
    return r.is_signal(kDriverInterface, member) && r.sender == kDriverName && !r.args.empty() &&
           r.args[0] == name;
  };
}

uint32_t bus_stat(SdBusPeer& peer, const std::string& key) {
  CallResult r = peer.call(kDriverName, kDriverPath, "org.freedesktop.DBus.Debug.Stats", "GetStats");
  if (!r.ok()) throw std::runtime_error("GetStats: " + r.describe());
  sd_bus_message* m = r.reply.get();
  if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) throw std::runtime_error("GetStats: not a{sv}");
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* k = nullptr;
    sd_bus_message_read(m, "s", &k);
    if (k == key) {
      uint32_t v = 0;
      if (sd_bus_message_read(m, "v", "u", &v) < 0) throw std::runtime_error(key + " is not a u");
      return v;
    }
    sd_bus_message_skip(m, "v");
    sd_bus_message_exit_container(m);
  }
  throw std::runtime_error("GetStats has no " + key);
}

}  // namespace kdbusd::itest
