// btcclient.hpp: a header-only C++17 wrapper over the btcclient C ABI (btcclient.h).
//
// - Objects own their handles (Client, Event): released by their destructors, movable, not
//   copyable.
// - Failures throw btcclient::Error (the status and the library's message). Every Client
//   method also has a noexcept form taking a btcclient::Status& last, which reports the
//   failure there instead (Client::peers(Status&) and Client::address_book(Status&) throw
//   only std::bad_alloc).
// - Listeners are std::function members. Inside a listener call the client through the
//   Status& forms: a failure there (e.g. BTCCLIENT_STATUS_PEER_ALREADY_EXISTS, or
//   BTCCLIENT_STATUS_CALLED_FROM_CALLBACK from stop and wait_connected) is a value to act on.
//   An exception that escapes a listener (its own, or an Error from a throwing method) cannot
//   cross the C ABI: the wrapper catches it, the rest of that listener call is skipped, and it
//   goes to Listeners::on_exception if set, else it is dropped; the client keeps running and
//   delivering either way.
// - Everything a listener receives by pointer, Span or string_view is borrowed: valid only
//   during the call. PeerInfo is a copy.
//
// Link as for C: -lbtcclient -lpthread -ldl -lm (see crates/ffi/README.md).
#ifndef BTCCLIENT_HPP
#define BTCCLIENT_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "btcclient.h"

namespace btcclient {

/// A 32-byte hash in internal byte order (as on the wire).
using Hash = std::array<uint8_t, 32>;

/// A failed call: its status and message.
class Error : public std::runtime_error {
 public:
  Error(uint32_t status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  /// The btcclient_status value.
  uint32_t status() const noexcept { return status_; }

 private:
  uint32_t status_;
};

namespace detail {

struct ErrorFree {
  void operator()(btcclient_error* e) const noexcept { btcclient_error_free(e); }
};

}  // namespace detail

/// The outcome of a call through a non-throwing overload (the methods taking a `Status&`):
/// OK, or a btcclient_status and the library's message. Owns the btcclient_error it carries;
/// movable, not copyable. Each call through an overload overwrites it (a success resets it
/// to OK).
class Status {
 public:
  /// OK.
  Status() noexcept = default;
  /// Takes ownership of `err` (may be NULL; freed by this object).
  Status(uint32_t code, btcclient_error* err) noexcept : code_(code), err_(err) {}

  bool ok() const noexcept { return code_ == BTCCLIENT_STATUS_OK; }
  /// The btcclient_status value.
  uint32_t code() const noexcept { return code_; }
  /// "" when OK; otherwise the library's message (the status text when the call gave none).
  /// Valid while this object lives and is not assigned.
  const char* message() const noexcept {
    if (ok()) return "";
    const char* m = err_ ? btcclient_error_message(err_.get()) : nullptr;
    return m != nullptr && m[0] != '\0' ? m : btcclient_status_str(code_);
  }
  /// Throws Error (this status and message) unless OK.
  void throw_if_error() const {
    if (!ok()) throw Error(code_, message());
  }

 private:
  uint32_t code_ = BTCCLIENT_STATUS_OK;
  std::unique_ptr<btcclient_error, detail::ErrorFree> err_;
};

namespace detail {

/// A string argument with a NUL byte would reach C cut short (another address, command or
/// file): such a call is BTCCLIENT_STATUS_INVALID_ARGUMENT instead. Sets `status` and returns
/// true when `s` has one.
inline bool has_nul(const std::string& s, Status& status) noexcept {
  if (s.find('\0') == std::string::npos) return false;
  status = Status(BTCCLIENT_STATUS_INVALID_ARGUMENT, nullptr);
  return true;
}

/// Throws Error for a failed status, taking (and freeing) the error object. Call it with the
/// status already in a variable: `check(f(&err), err)` may read `err` before f writes it (C++
/// leaves the order of argument evaluation unspecified).
inline void check(btcclient_status status, btcclient_error* err) {
  Status(status, err).throw_if_error();
}

inline std::string str(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

/// A duration as the C ABI's milliseconds; negative durations become 0.
inline uint64_t ms(std::chrono::milliseconds d) {
  return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count());
}

}  // namespace detail

/// A borrowed array (valid during the listener call or while its owner lives).
template <typename T>
struct Span {
  const T* data = nullptr;
  size_t size = 0;
  const T* begin() const noexcept { return data; }
  const T* end() const noexcept { return data + size; }
  const T& operator[](size_t i) const noexcept { return data[i]; }
  bool empty() const noexcept { return size == 0; }
  /// An owned copy.
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }
};

/// What is known about a peer (a copy of btcclient_peer_info).
struct PeerInfo {
  uint64_t id = 0;
  std::string addr;
  uint32_t protocol_version = 0;
  uint64_t services = 0;
  std::string user_agent;
  int32_t start_height = 0;
  bool relay = false;
  bool discovered = false;

  static PeerInfo from(const btcclient_peer_info* p) {
    PeerInfo info;
    if (p == nullptr) return info;
    info.id = p->id;
    info.addr = detail::str(p->addr);
    info.protocol_version = p->protocol_version;
    info.services = p->services;
    info.user_agent = detail::str(p->user_agent);
    info.start_height = p->start_height;
    info.relay = p->relay;
    info.discovered = p->discovered;
    return info;
  }
};

/// One peer of Client::peers() (a copy of btcclient_peer_snapshot).
struct PeerSnapshot {
  uint64_t id = 0;
  std::string addr;
  uint32_t status = BTCCLIENT_PEER_STATUS_DISCONNECTED;
  uint32_t failure_count = 0;
  bool discovered = false;
  bool has_info = false;
  uint32_t protocol_version = 0;
  uint64_t services = 0;
  std::string user_agent;
  int32_t start_height = 0;
  bool relay = false;
  uint64_t connected_since_ms = 0;
  uint64_t bytes_in = 0, bytes_out = 0, messages_in = 0, messages_out = 0;
  int64_t last_ping_rtt_us = -1;
  std::optional<std::string> last_error;
};

/// The library version.
inline std::string version() { return btcclient_version(); }

/// The text of a status value.
inline std::string status_str(uint32_t status) { return btcclient_status_str(status); }

/// The genesis block hash of a public network (a btcclient_network value).
inline Hash genesis_hash(uint32_t network) {
  Hash h{};
  detail::check(btcclient_genesis_hash(network, h.data()), nullptr);
  return h;
}

/// A hash as the usual reversed hex string.
inline std::string hash_to_hex(const uint8_t* hash) {
  char hex[65];
  detail::check(btcclient_hash_to_hex(hash, hex), nullptr);
  return std::string(hex, 64);
}

inline std::string hash_to_hex(const Hash& hash) { return hash_to_hex(hash.data()); }

/// A btcclient_config with defaults and chainable setters. Keeps its strings (user agent, DNS
/// seeds, address book path, proxies): raw() points at them, valid while this object lives and is not
/// changed (Client's constructor copies them).
class Config {
 public:
  Config() { detail::check(btcclient_config_default(&raw_, sizeof raw_), nullptr); }

  Config& network(uint32_t n) { raw_.network = n; return *this; }
  Config& custom_magic(std::array<uint8_t, 4> m) {
    raw_.network = BTCCLIENT_NETWORK_CUSTOM;
    for (size_t i = 0; i < 4; i++) raw_.custom_magic[i] = m[i];
    return *this;
  }
  Config& max_peers(size_t n) { raw_.max_peers = n; return *this; }
  Config& max_failure_count(uint32_t n) { raw_.max_failure_count = n; return *this; }
  Config& health_check_interval(std::chrono::milliseconds d) { raw_.health_check_interval_ms = ms(d); return *this; }
  Config& reconnect_delay(std::chrono::milliseconds d) { raw_.reconnect_delay_ms = ms(d); return *this; }
  /// 0 selects a fixed reconnect delay.
  Config& backoff_max(std::chrono::milliseconds d) { raw_.backoff_max_ms = ms(d); return *this; }
  Config& connection_timeout(std::chrono::milliseconds d) { raw_.connection_timeout_ms = ms(d); return *this; }
  Config& handshake_timeout(std::chrono::milliseconds d) { raw_.handshake_timeout_ms = ms(d); return *this; }
  Config& ping_interval(std::chrono::milliseconds d) { raw_.ping_interval_ms = ms(d); return *this; }
  Config& pong_timeout(std::chrono::milliseconds d) { raw_.pong_timeout_ms = ms(d); return *this; }
  Config& write_timeout(std::chrono::milliseconds d) { raw_.write_timeout_ms = ms(d); return *this; }
  /// How long a connection must stay up after its handshake to count as stable (only then
  /// do the failure streak and backoff reset; 0: at once; at most 24 h). Default 60 s.
  Config& stable_after(std::chrono::milliseconds d) { raw_.stable_after_ms = ms(d); return *this; }
  /// Throws Error (BTCCLIENT_STATUS_INVALID_CONFIG) for a user agent with a NUL byte (the C
  /// string would end there).
  Config& user_agent(std::string ua) {
    if (ua.find('\0') != std::string::npos) {
      throw Error(BTCCLIENT_STATUS_INVALID_CONFIG,
                  "invalid config: user_agent: contains a NUL byte");
    }
    user_agent_ = std::move(ua);
    return *this;
  }
  Config& services(uint64_t s) { raw_.services = s; return *this; }
  Config& relay(bool on) { raw_.relay = on; return *this; }
  Config& allow_local_addresses(bool on) { raw_.allow_local_addresses = on; return *this; }
  Config& discovery(bool on) { raw_.discovery = on; return *this; }
  Config& max_message_size(size_t n) { raw_.max_message_size = n; return *this; }
  Config& send_queue_bytes(size_t n) { raw_.send_queue_bytes = n; return *this; }
  Config& send_queue_len(size_t n) { raw_.send_queue_len = n; return *this; }
  Config& event_queue_len(size_t n) { raw_.event_queue_len = n; return *this; }
  Config& delivery(uint32_t d) { raw_.delivery = d; return *this; }
  Config& poll_mode(bool on) { raw_.poll_mode = on; return *this; }
  /// Discovered peers to keep connected, drawn from the address book, at most one per network
  /// group (at most max_peers). 0 (the default) fills up to max_peers; Bitcoin Core keeps 8.
  Config& target_outbound(size_t n) { raw_.target_outbound = n; return *this; }
  /// The DNS seeds asked when the address book is short; an empty vector asks none. Throws
  /// Error (BTCCLIENT_STATUS_INVALID_CONFIG) for a seed that is empty or contains a comma or
  /// a NUL byte (the C ABI takes one comma-separated string).
  Config& dns_seeds(const std::vector<std::string>& seeds) {
    std::string joined;
    for (const std::string& seed : seeds) {
      if (seed.find_first_not_of(" \t\r\n") == std::string::npos ||
          seed.find(',') != std::string::npos || seed.find('\0') != std::string::npos) {
        throw Error(BTCCLIENT_STATUS_INVALID_CONFIG,
                    "invalid config: dns_seeds: seed \"" + seed +
                        "\" is empty or contains a comma or a NUL byte");
      }
      if (!joined.empty()) joined += ',';
      joined += seed;
    }
    dns_seeds_ = std::move(joined);
    return *this;
  }
  /// Asks the network's DNS seeds (Bitcoin Core's list; none on regtest): the default.
  Config& default_dns_seeds() { dns_seeds_.reset(); return *this; }
  /// The file the address book is loaded from at start and saved to periodically and at stop;
  /// "" (the default) keeps it in memory only. Throws Error (BTCCLIENT_STATUS_INVALID_CONFIG)
  /// for a path with a NUL byte.
  Config& address_book_path(std::string path) {
    if (path.find('\0') != std::string::npos) {
      throw Error(BTCCLIENT_STATUS_INVALID_CONFIG,
                  "invalid config: address_book_path contains a NUL byte");
    }
    if (path.empty()) {
      address_book_path_.reset();
    } else {
      address_book_path_ = std::move(path);
    }
    return *this;
  }

  /// A SOCKS5 proxy for every connection, "HOST:PORT" ("127.0.0.1:9050"); "" (the default)
  /// connects directly. Host names are resolved by the proxy, DNS seeds are asked through
  /// it, and onion addresses go through it unless onion_proxy() is set. Checked by Client's
  /// constructor; throws Error (BTCCLIENT_STATUS_INVALID_CONFIG) here for a NUL byte.
  Config& proxy(std::string addr) {
    proxy_ = text(std::move(addr), "proxy");
    return *this;
  }
  /// Credentials for proxy() (1 to 255 bytes each); both "" (the default): fresh random
  /// ones for every connection, offered beside "no authentication".
  Config& proxy_auth(std::string username, std::string password) {
    proxy_username_ = text(std::move(username), "proxy_username");
    proxy_password_ = text(std::move(password), "proxy_password");
    return *this;
  }
  /// A SOCKS5 proxy for Tor onion addresses only ("127.0.0.1:9050"); "" (the default) uses
  /// proxy(); with neither, onion addresses are refused.
  Config& onion_proxy(std::string addr) {
    onion_proxy_ = text(std::move(addr), "onion_proxy");
    return *this;
  }
  /// Credentials for onion_proxy(), as proxy_auth() for proxy().
  Config& onion_proxy_auth(std::string username, std::string password) {
    onion_proxy_username_ = text(std::move(username), "onion_proxy_username");
    onion_proxy_password_ = text(std::move(password), "onion_proxy_password");
    return *this;
  }

  /// The C struct (pointing at this object's strings).
  btcclient_config raw() const {
    btcclient_config c = raw_;
    auto str = [](const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; };
    c.user_agent = str(user_agent_);
    c.dns_seeds = str(dns_seeds_);
    c.address_book_path = str(address_book_path_);
    c.proxy = str(proxy_);
    c.proxy_username = str(proxy_username_);
    c.proxy_password = str(proxy_password_);
    c.onion_proxy = str(onion_proxy_);
    c.onion_proxy_username = str(onion_proxy_username_);
    c.onion_proxy_password = str(onion_proxy_password_);
    return c;
  }

 private:
  static uint64_t ms(std::chrono::milliseconds d) { return detail::ms(d); }
  /// nullopt for "", else the string; throws for a NUL byte (the C string would end there).
  static std::optional<std::string> text(std::string s, const char* field) {
    if (s.find('\0') != std::string::npos) {
      throw Error(BTCCLIENT_STATUS_INVALID_CONFIG,
                  std::string("invalid config: ") + field + " contains a NUL byte");
    }
    if (s.empty()) return std::nullopt;
    return s;
  }
  btcclient_config raw_{};
  std::optional<std::string> user_agent_;
  std::optional<std::string> dns_seeds_;          // nullopt: NULL, the network's seeds
  std::optional<std::string> address_book_path_;  // nullopt: NULL, in memory only
  std::optional<std::string> proxy_, proxy_username_, proxy_password_;  // nullopt: NULL
  std::optional<std::string> onion_proxy_, onion_proxy_username_, onion_proxy_password_;
};

/// One network group of an address book snapshot.
struct AddressGroup {
  /// "1.2.0.0/16", "2001:db8::/32", "onion/3".
  std::string group;
  size_t new_count = 0;
  size_t tried_count = 0;
};

/// A snapshot of a client's address book (Client::address_book()).
struct AddressBook {
  /// Addresses in the "new" table (heard of, not yet connected to).
  size_t new_count = 0;
  /// Addresses in the "tried" table (connected to at least once).
  size_t tried_count = 0;
  std::vector<AddressGroup> groups;
};

/// Listener callbacks. Unset members are not called (and their messages not decoded). By
/// default they run one at a time on one dispatcher thread. Borrowed arguments are valid only
/// during the call. Call the client from them through the Client methods that take a
/// Status& (noexcept). An exception escaping a listener is caught by the wrapper and passed
/// to on_exception (or dropped when it is unset); it never reaches the C library.
struct Listeners {
  std::function<void(const PeerInfo& peer)> on_peer_connected;
  /// `reason` is a btcclient_disconnect_reason value.
  std::function<void(const PeerInfo& peer, uint32_t reason, std::string_view text)>
      on_peer_disconnected;
  std::function<void(const PeerInfo& peer, Span<btcclient_header> headers)> on_headers;
  std::function<void(const PeerInfo& peer, Span<btcclient_inv> items)> on_inv;
  std::function<void(const PeerInfo& peer, Span<btcclient_addr> addrs)> on_addr;
  std::function<void(const PeerInfo& peer, Span<uint8_t> block, const Hash& hash)> on_block;
  std::function<void(const PeerInfo& peer, Span<uint8_t> tx, const Hash& txid)> on_tx;
  std::function<void(const PeerInfo& peer, std::string_view command, Span<uint8_t> payload)>
      on_message;
  /// A connection attempt failed (dial, handshake, or a connection that ended before it was
  /// stable): its cause, the failures in a row (this one included) and the delay before the
  /// next attempt.
  std::function<void(const PeerInfo& peer, std::string_view cause, uint32_t failures,
                     std::chrono::milliseconds retry_in)>
      on_attempt_failed;
  /// A peer's status changed; both are btcclient_peer_status values.
  std::function<void(const PeerInfo& peer, uint32_t old_status, uint32_t new_status)>
      on_status_changed;
  /// Receives an exception that escaped one of the listeners above, with that listener's name
  /// ("on_peer_connected", …), on the thread that ran it, right after it. Unset: such an
  /// exception is dropped. An exception escaping on_exception itself is dropped.
  std::function<void(std::string_view listener, std::exception_ptr error)> on_exception;
};

namespace detail {

inline Listeners& self(void* ud) { return *static_cast<Listeners*>(ud); }

inline Hash hash_of(const uint8_t* p) {
  Hash h{};
  for (size_t i = 0; i < 32; i++) h[i] = p[i];
  return h;
}

/// Runs `f` (a listener call); an exception escaping it goes to on_exception or is dropped,
/// since none may unwind into the C library.
template <typename F>
inline void guarded(void* ud, const char* listener, F&& f) noexcept {
  Listeners& l = self(ud);
  try {
    f(l);
  } catch (...) {
    if (l.on_exception) {
      try {
        l.on_exception(listener, std::current_exception());
      } catch (...) {
      }
    }
  }
}

// The trampolines the C library calls (C and C++ function pointer types are the same with
// GCC, Clang and MSVC). noexcept, and no exception leaves them (guarded).
inline void tramp_connected(void* ud, uint64_t, const btcclient_peer_info* peer) noexcept {
  guarded(ud, "on_peer_connected", [&](Listeners& l) { l.on_peer_connected(PeerInfo::from(peer)); });
}
inline void tramp_disconnected(void* ud, uint64_t, const btcclient_peer_info* peer, uint32_t reason,
                               const char* text) noexcept {
  guarded(ud, "on_peer_disconnected", [&](Listeners& l) {
    l.on_peer_disconnected(PeerInfo::from(peer), reason, text != nullptr ? text : "");
  });
}
inline void tramp_headers(void* ud, uint64_t, const btcclient_peer_info* peer,
                          const btcclient_header* headers, size_t count) noexcept {
  guarded(ud, "on_headers", [&](Listeners& l) {
    l.on_headers(PeerInfo::from(peer), Span<btcclient_header>{headers, count});
  });
}
inline void tramp_inv(void* ud, uint64_t, const btcclient_peer_info* peer, const btcclient_inv* items,
                      size_t count) noexcept {
  guarded(ud, "on_inv", [&](Listeners& l) {
    l.on_inv(PeerInfo::from(peer), Span<btcclient_inv>{items, count});
  });
}
inline void tramp_addr(void* ud, uint64_t, const btcclient_peer_info* peer, const btcclient_addr* addrs,
                       size_t count) noexcept {
  guarded(ud, "on_addr", [&](Listeners& l) {
    l.on_addr(PeerInfo::from(peer), Span<btcclient_addr>{addrs, count});
  });
}
inline void tramp_block(void* ud, uint64_t, const btcclient_peer_info* peer, const uint8_t* block,
                        size_t len, const uint8_t* hash) noexcept {
  guarded(ud, "on_block", [&](Listeners& l) {
    l.on_block(PeerInfo::from(peer), Span<uint8_t>{block, len}, hash_of(hash));
  });
}
inline void tramp_tx(void* ud, uint64_t, const btcclient_peer_info* peer, const uint8_t* tx, size_t len,
                     const uint8_t* txid) noexcept {
  guarded(ud, "on_tx", [&](Listeners& l) {
    l.on_tx(PeerInfo::from(peer), Span<uint8_t>{tx, len}, hash_of(txid));
  });
}
inline void tramp_message(void* ud, uint64_t, const btcclient_peer_info* peer, const char* command,
                          const uint8_t* payload, size_t len) noexcept {
  guarded(ud, "on_message", [&](Listeners& l) {
    l.on_message(PeerInfo::from(peer), command != nullptr ? command : "",
                 Span<uint8_t>{payload, len});
  });
}
inline void tramp_attempt_failed(void* ud, uint64_t, const btcclient_peer_info* peer,
                                 const char* cause, uint32_t failures,
                                 uint64_t retry_in_ms) noexcept {
  guarded(ud, "on_attempt_failed", [&](Listeners& l) {
    l.on_attempt_failed(PeerInfo::from(peer), cause != nullptr ? cause : "", failures,
                        std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(retry_in_ms)));
  });
}
inline void tramp_status_changed(void* ud, uint64_t, const btcclient_peer_info* peer,
                                 uint32_t old_status, uint32_t new_status) noexcept {
  guarded(ud, "on_status_changed", [&](Listeners& l) {
    l.on_status_changed(PeerInfo::from(peer), old_status, new_status);
  });
}
inline void tramp_free(void* ud) noexcept { delete static_cast<Listeners*>(ud); }

}  // namespace detail

/// An event taken from a poll-mode client's queue; owns the btcclient_event.
class Event {
 public:
  explicit Event(btcclient_event* raw) noexcept : raw_(raw) {}

  /// A btcclient_event_kind value.
  uint32_t kind() const noexcept { return btcclient_event_get_kind(raw_.get()); }
  uint64_t peer_id() const noexcept { return btcclient_event_peer_id(raw_.get()); }
  PeerInfo peer() const { return PeerInfo::from(btcclient_event_peer_info(raw_.get())); }

  /// The headers of a HEADERS event (borrowed from this event).
  Span<btcclient_header> headers() const {
    Span<btcclient_header> s;
    detail::check(btcclient_event_headers(raw_.get(), &s.data, &s.size), nullptr);
    return s;
  }
  Span<btcclient_inv> inv() const {
    Span<btcclient_inv> s;
    detail::check(btcclient_event_inv(raw_.get(), &s.data, &s.size), nullptr);
    return s;
  }
  Span<btcclient_addr> addrs() const {
    Span<btcclient_addr> s;
    detail::check(btcclient_event_addrs(raw_.get(), &s.data, &s.size), nullptr);
    return s;
  }
  /// The bytes of a BLOCK, TX or MESSAGE event (borrowed from this event).
  Span<uint8_t> bytes() const {
    Span<uint8_t> s;
    detail::check(btcclient_event_bytes(raw_.get(), &s.data, &s.size), nullptr);
    return s;
  }
  /// The block hash of a BLOCK event or the txid of a TX event.
  Hash hash() const {
    Hash h{};
    detail::check(btcclient_event_hash(raw_.get(), h.data()), nullptr);
    return h;
  }
  /// The command of a MESSAGE event ("" for other kinds).
  std::string command() const { return detail::str(btcclient_event_command(raw_.get())); }
  /// The reason (a btcclient_disconnect_reason value) and text of a PEER_DISCONNECTED event.
  std::pair<uint32_t, std::string> disconnect_reason() const {
    uint32_t reason = 0;
    const char* text = nullptr;
    detail::check(btcclient_event_disconnect_reason(raw_.get(), &reason, &text), nullptr);
    return {reason, detail::str(text)};
  }
  /// The detail of an ATTEMPT_FAILED event.
  struct AttemptFailure {
    std::string cause;
    uint32_t failures = 0;
    std::chrono::milliseconds retry_in{0};
  };
  AttemptFailure attempt_failed() const {
    AttemptFailure f;
    const char* cause = nullptr;
    uint64_t retry_ms = 0;
    detail::check(btcclient_event_attempt_failed(raw_.get(), &cause, &f.failures, &retry_ms), nullptr);
    f.cause = detail::str(cause);
    f.retry_in = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(retry_ms));
    return f;
  }
  /// The old and new status (btcclient_peer_status values) of a STATUS_CHANGED event.
  std::pair<uint32_t, uint32_t> status_change() const {
    uint32_t old_status = 0, new_status = 0;
    detail::check(btcclient_event_status_change(raw_.get(), &old_status, &new_status), nullptr);
    return {old_status, new_status};
  }
  btcclient_event* get() const noexcept { return raw_.get(); }

 private:
  struct Free {
    void operator()(btcclient_event* e) const noexcept { btcclient_event_free(e); }
  };
  std::unique_ptr<btcclient_event, Free> raw_;
};

/// A client; owns the btcclient_client (freed, and stopped if running, by the destructor).
class Client {
 public:
  /// Creates a client (stopped). Throws Error (e.g. BTCCLIENT_STATUS_INVALID_CONFIG).
  explicit Client(const Config& config, Listeners listeners = {}) {
    btcclient_config c = config.raw();
    auto owned = std::make_unique<Listeners>(std::move(listeners));
    btcclient_listeners l;
    detail::check(btcclient_listeners_init(&l, sizeof l), nullptr);
    l.user_data = owned.get();
    l.user_data_free = detail::tramp_free;
    if (owned->on_peer_connected) l.on_peer_connected = detail::tramp_connected;
    if (owned->on_peer_disconnected) l.on_peer_disconnected = detail::tramp_disconnected;
    if (owned->on_headers) l.on_headers = detail::tramp_headers;
    if (owned->on_inv) l.on_inv = detail::tramp_inv;
    if (owned->on_addr) l.on_addr = detail::tramp_addr;
    if (owned->on_block) l.on_block = detail::tramp_block;
    if (owned->on_tx) l.on_tx = detail::tramp_tx;
    if (owned->on_message) l.on_message = detail::tramp_message;
    if (owned->on_attempt_failed) l.on_attempt_failed = detail::tramp_attempt_failed;
    if (owned->on_status_changed) l.on_status_changed = detail::tramp_status_changed;
    btcclient_error* err = nullptr;
    btcclient_client* raw = nullptr;
    const btcclient_status status = btcclient_client_new(&c, &l, &raw, &err);
    detail::check(status, err);
    owned.release();  // the client owns it now and deletes it through user_data_free
    raw_ = raw;
  }

  ~Client() {
    if (raw_ != nullptr) btcclient_client_free(raw_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&& other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
  Client& operator=(Client&& other) noexcept {
    if (this != &other) {
      if (raw_ != nullptr) btcclient_client_free(raw_);
      raw_ = std::exchange(other.raw_, nullptr);
    }
    return *this;
  }

  // Each method has two forms. The first throws Error. The second takes a Status& last, is
  // noexcept (peers, address_book: throw only std::bad_alloc) and reports a failure in that
  // Status, leaving a result at its zero value (0, -1, empty, std::nullopt). Use the Status&
  // forms inside listeners (see Listeners).

  void start() {
    Status status;
    start(status);
    status.throw_if_error();
  }
  void start(Status& status) noexcept {
    status = call([&](btcclient_error** e) { return btcclient_client_start(raw_, e); });
  }

  /// Stops the client; no listener runs after it returns. Inside a listener:
  /// BTCCLIENT_STATUS_CALLED_FROM_CALLBACK.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    Status status;
    stop(timeout, status);
    status.throw_if_error();
  }
  void stop(Status& status) noexcept { stop(std::chrono::seconds(10), status); }
  void stop(std::chrono::milliseconds timeout, Status& status) noexcept {
    const uint64_t t = detail::ms(timeout);
    status = call([&](btcclient_error** e) { return btcclient_client_stop(raw_, t, e); });
  }

  /// Adds a peer ("host:port", "1.2.3.4:8333", "[::1]:8333"); returns its id.
  uint64_t add_peer(const std::string& addr) {
    Status status;
    const uint64_t id = add_peer(addr, status);
    status.throw_if_error();
    return id;
  }
  uint64_t add_peer(const std::string& addr, Status& status) noexcept {
    uint64_t id = 0;
    if (detail::has_nul(addr, status)) return 0;
    status = call([&](btcclient_error** e) {
      return btcclient_client_add_peer(raw_, addr.c_str(), &id, e);
    });
    return id;
  }

  void remove_peer(const std::string& addr) {
    Status status;
    remove_peer(addr, status);
    status.throw_if_error();
  }
  void remove_peer(const std::string& addr, Status& status) noexcept {
    if (detail::has_nul(addr, status)) return;
    status = call([&](btcclient_error** e) {
      return btcclient_client_remove_peer(raw_, addr.c_str(), e);
    });
  }

  void remove_peer(uint64_t id) {
    Status status;
    remove_peer(id, status);
    status.throw_if_error();
  }
  void remove_peer(uint64_t id, Status& status) noexcept {
    status = call([&](btcclient_error** e) { return btcclient_client_remove_peer_by_id(raw_, id, e); });
  }

  size_t peer_count() const {
    Status status;
    const size_t n = peer_count(status);
    status.throw_if_error();
    return n;
  }
  size_t peer_count(Status& status) const noexcept {
    size_t n = 0;
    status = Status(btcclient_client_peer_count(raw_, &n), nullptr);
    return n;
  }

  /// Waits until the peer is connected; fails with BTCCLIENT_STATUS_PEER_CONNECTION, … (inside
  /// a listener: BTCCLIENT_STATUS_CALLED_FROM_CALLBACK).
  void wait_connected(uint64_t id, std::chrono::milliseconds timeout) {
    Status status;
    wait_connected(id, timeout, status);
    status.throw_if_error();
  }
  void wait_connected(uint64_t id, std::chrono::milliseconds timeout, Status& status) noexcept {
    const uint64_t t = detail::ms(timeout);
    status = call([&](btcclient_error** e) { return btcclient_client_wait_connected(raw_, id, t, e); });
  }

  std::vector<PeerSnapshot> peers() const {
    Status status;
    std::vector<PeerSnapshot> out = peers(status);
    status.throw_if_error();
    return out;
  }
  /// Throws only std::bad_alloc.
  std::vector<PeerSnapshot> peers(Status& status) const {
    btcclient_peer_list* raw_list = nullptr;
    status = call([&](btcclient_error** e) { return btcclient_client_peers(raw_, &raw_list, e); });
    std::vector<PeerSnapshot> out;
    if (!status.ok()) return out;
    struct ListFree {
      void operator()(btcclient_peer_list* l) const noexcept { btcclient_peer_list_free(l); }
    };
    std::unique_ptr<btcclient_peer_list, ListFree> list(raw_list);
    const size_t n = btcclient_peer_list_len(list.get());
    out.reserve(n);
    for (size_t i = 0; i < n; i++) {
      const btcclient_peer_snapshot* p = btcclient_peer_list_get(list.get(), i);
      PeerSnapshot s;
      s.id = p->id;
      s.addr = detail::str(p->addr);
      s.status = p->status;
      s.failure_count = p->failure_count;
      s.discovered = p->discovered;
      s.has_info = p->has_info;
      s.protocol_version = p->protocol_version;
      s.services = p->services;
      s.user_agent = detail::str(p->user_agent);
      s.start_height = p->start_height;
      s.relay = p->relay;
      s.connected_since_ms = p->connected_since_ms;
      s.bytes_in = p->bytes_in;
      s.bytes_out = p->bytes_out;
      s.messages_in = p->messages_in;
      s.messages_out = p->messages_out;
      s.last_ping_rtt_us = p->last_ping_rtt_us;
      if (p->last_error != nullptr) s.last_error = std::string(p->last_error);
      out.push_back(std::move(s));
    }
    return out;
  }

  /// A snapshot of the address book (also before start and after stop).
  AddressBook address_book() const {
    Status status;
    AddressBook book = address_book(status);
    status.throw_if_error();
    return book;
  }
  /// Throws only std::bad_alloc.
  AddressBook address_book(Status& status) const {
    btcclient_address_book* raw_book = nullptr;
    status = call([&](btcclient_error** e) { return btcclient_client_address_book(raw_, &raw_book, e); });
    AddressBook out;
    if (!status.ok()) return out;
    struct BookFree {
      void operator()(btcclient_address_book* b) const noexcept { btcclient_address_book_free(b); }
    };
    std::unique_ptr<btcclient_address_book, BookFree> book(raw_book);
    out.new_count = btcclient_address_book_new_count(book.get());
    out.tried_count = btcclient_address_book_tried_count(book.get());
    const size_t n = btcclient_address_book_group_count(book.get());
    out.groups.reserve(n);
    for (size_t i = 0; i < n; i++) {
      AddressGroup g;
      const char* name = nullptr;
      status = Status(btcclient_address_book_group(book.get(), i, &name, &g.new_count, &g.tried_count),
                      nullptr);
      if (!status.ok()) return AddressBook();
      g.group = detail::str(name);
      out.groups.push_back(std::move(g));
    }
    return out;
  }

  /// Imports a Bitcoin Core peers.dat into the address book (also before start); returns how
  /// many addresses were added. Fails with BTCCLIENT_STATUS_PEERS_DAT (unreadable, truncated,
  /// bad checksum, another network's, a newer format; the message names the problem and the
  /// path) or BTCCLIENT_STATUS_INVALID_ARGUMENT (a path with a NUL byte or not UTF-8).
  size_t import_peers_dat(const std::string& path) {
    Status status;
    const size_t added = import_peers_dat(path, status);
    status.throw_if_error();
    return added;
  }
  size_t import_peers_dat(const std::string& path, Status& status) noexcept {
    size_t added = 0;
    if (detail::has_nul(path, status)) return 0;  // c_str() would name another file
    status = call([&](btcclient_error** e) {
      return btcclient_client_import_peers_dat(raw_, path.c_str(), &added, e);
    });
    return status.ok() ? added : 0;
  }

  /// Sends command + payload to the peer at `addr`.
  void send(const std::string& addr, const std::string& command, const std::vector<uint8_t>& payload) {
    Status status;
    send(addr, command, payload, status);
    status.throw_if_error();
  }
  void send(const std::string& addr, const std::string& command,
            const std::vector<uint8_t>& payload, Status& status) noexcept {
    if (detail::has_nul(addr, status) || detail::has_nul(command, status)) return;
    status = call([&](btcclient_error** e) {
      return btcclient_client_send(raw_, addr.c_str(), command.c_str(), payload.data(),
                                   payload.size(), e);
    });
  }

  /// Sends command + payload to the peer with id `id`.
  void send(uint64_t id, const std::string& command, const std::vector<uint8_t>& payload) {
    Status status;
    send(id, command, payload, status);
    status.throw_if_error();
  }
  void send(uint64_t id, const std::string& command, const std::vector<uint8_t>& payload,
            Status& status) noexcept {
    if (detail::has_nul(command, status)) return;
    status = call([&](btcclient_error** e) {
      return btcclient_client_send_to(raw_, id, command.c_str(), payload.data(), payload.size(), e);
    });
  }

  void send_getheaders(uint64_t id, const std::vector<Hash>& locator,
                       const Hash* stop = nullptr) {
    Status status;
    send_getheaders(id, locator, stop, status);
    status.throw_if_error();
  }
  void send_getheaders(uint64_t id, const std::vector<Hash>& locator, Status& status) noexcept {
    send_getheaders(id, locator, nullptr, status);
  }
  void send_getheaders(uint64_t id, const std::vector<Hash>& locator, const Hash* stop,
                       Status& status) noexcept {
    static_assert(sizeof(Hash) == 32, "Hash is 32 plain bytes");
    const auto* loc = reinterpret_cast<const uint8_t(*)[32]>(locator.data());
    status = call([&](btcclient_error** e) {
      return btcclient_send_getheaders(raw_, id, locator.empty() ? nullptr : loc, locator.size(),
                                       stop != nullptr ? stop->data() : nullptr, e);
    });
  }

  void send_getdata(uint64_t id, const std::vector<btcclient_inv>& items) {
    Status status;
    send_getdata(id, items, status);
    status.throw_if_error();
  }
  void send_getdata(uint64_t id, const std::vector<btcclient_inv>& items, Status& status) noexcept {
    status = call([&](btcclient_error** e) {
      return btcclient_send_getdata(raw_, id, items.data(), items.size(), e);
    });
  }

  void send_getaddr(uint64_t id) {
    Status status;
    send_getaddr(id, status);
    status.throw_if_error();
  }
  void send_getaddr(uint64_t id, Status& status) noexcept {
    status = call([&](btcclient_error** e) { return btcclient_send_getaddr(raw_, id, e); });
  }

  /// Poll mode: the next event within `timeout` (negative: no limit). std::nullopt when none
  /// came in time, or when the client is stopped and its queue is empty (neither is a failure).
  std::optional<Event> poll(std::chrono::milliseconds timeout) {
    Status status;
    std::optional<Event> event = poll(timeout, status);
    status.throw_if_error();
    return event;
  }
  std::optional<Event> poll(std::chrono::milliseconds timeout, Status& status) noexcept {
    btcclient_event* ev = nullptr;
    const long long t = timeout.count();
    const int ms = t < 0 ? -1 : (t > 2147483647LL ? 2147483647 : static_cast<int>(t));
    status = call([&](btcclient_error** e) { return btcclient_poll_next(raw_, ms, &ev, e); });
    if (status.code() == BTCCLIENT_STATUS_NO_EVENT ||
        status.code() == BTCCLIENT_STATUS_CLIENT_NOT_STARTED) {
      status = Status();
      return std::nullopt;
    }
    if (!status.ok()) return std::nullopt;
    return Event(ev);
  }

  /// Poll mode: the descriptor that is readable while events wait (owned by the client).
  int poll_fd() const {
    Status status;
    const int fd = poll_fd(status);
    status.throw_if_error();
    return fd;
  }
  int poll_fd(Status& status) const noexcept {
    int fd = -1;
    status = Status(btcclient_poll_fd(raw_, &fd), nullptr);
    return status.ok() ? fd : -1;
  }

  btcclient_client* get() const noexcept { return raw_; }

 private:
  template <typename F>
  static Status call(F&& f) noexcept {
    btcclient_error* err = nullptr;
    const btcclient_status status = f(&err);  // before err is read
    return Status(status, err);
  }

  btcclient_client* raw_ = nullptr;
};

/// Sends the library's log records at `level` (a btcclient_log_level) and above to `fn`
/// (from any thread; it must be thread-safe and must not call into the library). An exception
/// escaping `fn` is dropped (it cannot cross the C ABI). An empty `fn` turns logging off.
inline void set_logger(std::function<void(uint32_t level, std::string_view target,
                                          std::string_view message)> fn,
                       uint32_t level) {
  using Fn = std::function<void(uint32_t, std::string_view, std::string_view)>;
  struct Holder {
    static void call(void* ud, uint32_t lvl, const char* target, const char* message) noexcept {
      try {
        (*static_cast<Fn*>(ud))(lvl, target != nullptr ? target : "",
                                message != nullptr ? message : "");
      } catch (...) {
      }
    }
  };
  static std::mutex lock;
  static std::unique_ptr<Fn> current;
  std::lock_guard<std::mutex> guard(lock);
  std::unique_ptr<Fn> next = fn ? std::make_unique<Fn>(std::move(fn)) : nullptr;
  detail::check(btcclient_set_logger(next ? &Holder::call : nullptr, level, next.get()), nullptr);
  current = std::move(next);  // the previous function is no longer called: release it
}

}  // namespace btcclient

#endif  // BTCCLIENT_HPP
