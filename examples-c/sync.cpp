// sync: the headers example in C++ with btcclient.hpp, in either delivery style.
//
//   sync HOST:PORT [mainnet|testnet3|testnet4|signet|regtest] [--poll] [-t SECONDS]
//
// Default: listeners as lambdas (called on the library's dispatcher thread). They call the
//          client through the methods taking a btcclient::Status&, which report a failure
//          instead of throwing (an exception cannot leave a listener).
// --poll:  poll mode; the program's own loop waits on the client's descriptor with poll(2)
//          and takes events with Client::poll.
// Prints progress, then a snapshot of the peers.
#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <mutex>
#include <string>

#include "btcclient.hpp"

using namespace std::chrono_literals;

namespace {

uint32_t parse_network(const std::string& name) {
  if (name == "mainnet") return BTCCLIENT_NETWORK_MAINNET;
  if (name == "testnet3") return BTCCLIENT_NETWORK_TESTNET3;
  if (name == "testnet4") return BTCCLIENT_NETWORK_TESTNET4;
  if (name == "signet") return BTCCLIENT_NETWORK_SIGNET;
  if (name == "regtest") return BTCCLIENT_NETWORK_REGTEST;
  throw std::invalid_argument("unknown network " + name);
}

// Sync progress shared by the listeners and main.
struct Progress {
  std::mutex lock;
  std::condition_variable changed;
  btcclient::Hash tip{};
  unsigned long height = 0;
  bool done = false;
};

// Applies one headers message; returns true when more should be asked for.
bool apply(Progress& p, btcclient::Span<btcclient_header> headers) {
  std::lock_guard<std::mutex> g(p.lock);
  if (!headers.empty() && std::memcmp(headers[0].prev_hash, p.tip.data(), 32) == 0) {
    std::memcpy(p.tip.data(), headers[headers.size - 1].hash, 32);
    p.height += headers.size;
    std::cout << "height " << p.height << "  tip " << btcclient::hash_to_hex(p.tip) << "\n";
  }
  if (headers.size < BTCCLIENT_MAX_HEADERS) p.done = true;
  p.changed.notify_all();
  return !p.done;
}

btcclient::Hash tip_of(Progress& p) {
  std::lock_guard<std::mutex> g(p.lock);
  return p.tip;
}

void print_peers(const btcclient::Client& client) {
  for (const auto& peer : client.peers()) {
    std::cout << "peer #" << peer.id << " " << peer.addr << " status " << peer.status
              << " ua " << peer.user_agent << " in " << peer.bytes_in << " B / "
              << peer.messages_in << " msgs, out " << peer.bytes_out << " B\n";
  }
}

int run_callbacks(btcclient::Config config, const std::string& addr, Progress& progress,
                  std::chrono::seconds limit) {
  btcclient::Client* self = nullptr;  // set before start; used by the listeners
  // Asks the peer for the headers after our tip. Inside a listener: the Status& form.
  auto ask = [&](const btcclient::PeerInfo& peer) {
    btcclient::Status status;
    self->send_getheaders(peer.id, {tip_of(progress)}, status);
    if (!status.ok()) {
      std::cerr << "getheaders to " << peer.addr << " failed ("
                << btcclient::status_str(status.code()) << "): " << status.message() << "\n";
    }
  };
  btcclient::Listeners listeners;
  listeners.on_peer_connected = [&](const btcclient::PeerInfo& peer) {
    std::cout << "connected to " << peer.addr << " (" << peer.user_agent << ", height "
              << peer.start_height << ")\n";
    ask(peer);
  };
  listeners.on_headers = [&](const btcclient::PeerInfo& peer,
                             btcclient::Span<btcclient_header> headers) {
    if (apply(progress, headers)) ask(peer);
  };
  listeners.on_peer_disconnected = [](const btcclient::PeerInfo& peer, uint32_t,
                                      std::string_view why) {
    std::cout << "disconnected from " << peer.addr << ": " << why << "\n";
  };
  listeners.on_attempt_failed = [](const btcclient::PeerInfo& peer, std::string_view cause,
                                   uint32_t failures, std::chrono::milliseconds retry_in) {
    std::cout << "attempt to " << peer.addr << " failed: " << cause << " (" << failures
              << " in a row, retry in " << retry_in.count() << " ms)\n";
  };
  // Anything else a listener throws (std::bad_alloc, a bug) is reported here, not lost.
  listeners.on_exception = [](std::string_view listener, std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cerr << listener << " threw: " << e.what() << "\n";
    } catch (...) {
      std::cerr << listener << " threw\n";
    }
  };

  btcclient::Client client(config, std::move(listeners));
  self = &client;
  client.start();
  client.add_peer(addr);
  std::unique_lock<std::mutex> g(progress.lock);
  progress.changed.wait_for(g, limit, [&] { return progress.done; });
  g.unlock();
  print_peers(client);
  client.stop();
  return progress.done ? 0 : 1;
}

int run_poll(btcclient::Config config, const std::string& addr, Progress& progress,
             std::chrono::seconds limit) {
  btcclient::Client client(config.poll_mode(true));
  client.start();
  client.add_peer(addr);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd pfd{client.poll_fd(), POLLIN, 0};
  while (!progress.done && std::chrono::steady_clock::now() < deadline) {
    if (::poll(&pfd, 1, 200) <= 0) continue;  // the program's own event loop
    while (auto event = client.poll(0ms)) {
      switch (event->kind()) {
        case BTCCLIENT_EVENT_KIND_PEER_CONNECTED:
          std::cout << "connected to " << event->peer().addr << "\n";
          client.send_getheaders(event->peer_id(), {tip_of(progress)});
          break;
        case BTCCLIENT_EVENT_KIND_HEADERS:
          if (apply(progress, event->headers())) {
            client.send_getheaders(event->peer_id(), {tip_of(progress)});
          }
          break;
        case BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED:
          std::cout << "disconnected: " << event->disconnect_reason().second << "\n";
          break;
        case BTCCLIENT_EVENT_KIND_ATTEMPT_FAILED: {
          const btcclient::Event::AttemptFailure f = event->attempt_failed();
          std::cout << "attempt to " << event->peer().addr << " failed: " << f.cause << " ("
                    << f.failures << " in a row, retry in " << f.retry_in.count() << " ms)\n";
          break;
        }
        default:
          break;  // inv, addr, status changes, other messages, kinds of a newer library
      }
    }
  }
  print_peers(client);
  client.stop();
  while (client.poll(0ms)) {
  }  // drain what stop produced
  return progress.done ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr;
  uint32_t network = BTCCLIENT_NETWORK_MAINNET;
  bool use_poll = false;
  std::chrono::seconds limit(3600);
  try {
    for (int i = 1; i < argc; i++) {
      std::string a = argv[i];
      if (a == "--poll") {
        use_poll = true;
      } else if (a == "-t" && i + 1 < argc) {
        limit = std::chrono::seconds(std::atoi(argv[++i]));
      } else if (addr.empty() && a[0] != '-') {
        addr = a;
      } else {
        network = parse_network(a);
      }
    }
    if (addr.empty()) {
      std::cerr << "usage: " << argv[0]
                << " HOST:PORT [mainnet|testnet3|testnet4|signet|regtest] [--poll] [-t SECONDS]\n";
      return 2;
    }
    std::cout << "btcclient " << btcclient::version() << (use_poll ? " (poll mode)" : "") << "\n";
    Progress progress;
    progress.tip = btcclient::genesis_hash(network);
    btcclient::Config config;
    config.network(network).discovery(false).allow_local_addresses(true).user_agent(
        "/btcclient-sync-example:0.1/");
    const int rc = use_poll ? run_poll(config, addr, progress, limit)
                            : run_callbacks(config, addr, progress, limit);
    if (rc == 0) std::cout << "synced: " << progress.height << " headers\n";
    return rc;
  } catch (const btcclient::Error& e) {
    std::cerr << "error (" << btcclient::status_str(e.status()) << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
