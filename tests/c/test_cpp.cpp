// The C++ wrapper (include/btcclient.hpp), built with g++ and with clang++:
//
// 1. errors: each way a wrapper call turns a failed C call into btcclient::Error (the
//    constructor, Client::peers, the other methods) carries the library's full message and
//    status, and frees the error object (LeakSanitizer and valgrind see every leak).
//
// Needs BTCCLIENT_SIMNET (path of the simnet binary).
#include "harness.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "btcclient.hpp"

using namespace std::chrono_literals;

namespace {

bool contains(const std::string& haystack, const char* needle) {
  return harness_contains(haystack.c_str(), needle) != 0;
}

// Runs `f`, which must throw btcclient::Error with `status` and a what() containing `needle`.
template <typename F>
void check_throws(const char* file, int line, const char* expr, F&& f, uint32_t status,
                  const char* needle) {
  try {
    f();
    g_failed++;
    fprintf(stderr, "FAIL %s:%d: %s\n  did not throw\n", file, line, expr);
  } catch (const btcclient::Error& e) {
    if (e.status() == status && contains(e.what(), needle)) {
      g_passed++;
    } else {
      g_failed++;
      fprintf(stderr, "FAIL %s:%d: %s\n  threw %u (%s) \"%s\", expected %u (%s) containing \"%s\"\n",
              file, line, expr, e.status(), btcclient_status_str(e.status()), e.what(), status,
              btcclient_status_str(status), needle);
    }
  }
}

#define CHECK_THROWS(expr, status, needle) \
  check_throws(__FILE__, __LINE__, #expr, [&] { expr; }, (status), (needle))

void test_errors() {
  // The constructor (btcclient_client_new).
  CHECK_THROWS(btcclient::Client(btcclient::Config().max_peers(0)),
               BTCCLIENT_STATUS_INVALID_CONFIG, "invalid config: max_peers: must be at least 1");

  btcclient::Config config;
  config.network(BTCCLIENT_NETWORK_REGTEST).discovery(false).allow_local_addresses(true);
  btcclient::Client client(config);

  // The methods that go through one helper (here add_peer, remove_peer, stop).
  CHECK_THROWS(client.add_peer("127.0.0.1:1"), BTCCLIENT_STATUS_CLIENT_NOT_STARTED,
               "client not started");
  client.start();
  CHECK_THROWS(client.add_peer("999.1.1.1:8333"), BTCCLIENT_STATUS_INVALID_ADDRESS,
               "invalid peer address \"999.1.1.1:8333\"");
  CHECK_THROWS(client.remove_peer("127.0.0.1:9"), BTCCLIENT_STATUS_PEER_NOT_FOUND,
               "peer 127.0.0.1:9 not found");
  const uint64_t id = client.add_peer("127.0.0.1:1");
  CHECK(id != 0);
  CHECK_THROWS(client.add_peer("127.0.0.1:1"), BTCCLIENT_STATUS_PEER_ALREADY_EXISTS,
               "peer 127.0.0.1:1 already exists");
  CHECK(client.peers().size() == 1);
  client.stop();

  // Client::peers (btcclient_client_peers): a moved-from client has no handle.
  btcclient::Client other(std::move(client));
  CHECK_THROWS(client.peers(), BTCCLIENT_STATUS_INVALID_ARGUMENT, "client is NULL");
  CHECK(other.get() != nullptr);
}

}  // namespace

int main() {
  test_errors();
  return harness_finish("test_cpp");
}
