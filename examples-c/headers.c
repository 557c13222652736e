/*
 * headers: connects to one Bitcoin node and downloads its block headers, printing progress.
 *
 *   headers HOST:PORT [mainnet|testnet3|testnet4|signet|regtest] [-t SECONDS] [-v]
 *
 * Starts from the network's genesis block and asks for headers, BTCCLIENT_MAX_HEADERS
 * (2,000) at a time (getheaders sent from inside the headers callback, which the library
 * allows), until the peer has no more. Ctrl-C stops early. -v prints the library's log
 * (info level) to stderr.
 *
 * Build: make -C examples-c   (see crates/ffi/README.md for the flags)
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btcclient.h"

typedef struct sync_state {
  pthread_mutex_t lock;
  btcclient_client *client;
  uint64_t peer;
  uint8_t tip[32];
  unsigned long height;
  int done;
  int failed;
} sync_state;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static void request_from(sync_state *st, uint64_t peer_id) {
  btcclient_error *err = NULL;
  if (btcclient_send_getheaders(st->client, peer_id, (const uint8_t(*)[32])st->tip, 1, NULL,
                                &err) != BTCCLIENT_STATUS_OK) {
    fprintf(stderr, "getheaders: %s\n", btcclient_error_message(err));
    btcclient_error_free(err);
  }
}

/* `peer` and its strings are borrowed: valid only during the callback. */
static void on_connected(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer) {
  sync_state *st = (sync_state *)user_data;
  printf("connected to %s: %s, protocol %u, height %d\n", peer->addr, peer->user_agent,
         peer->protocol_version, peer->start_height);
  pthread_mutex_lock(&st->lock);
  st->peer = peer_id;
  request_from(st, peer_id); /* resumes from the last tip after a reconnect */
  pthread_mutex_unlock(&st->lock);
}

static void on_disconnected(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer,
                            uint32_t reason, const char *text) {
  (void)user_data;
  (void)peer_id;
  (void)reason;
  printf("disconnected from %s: %s\n", peer->addr, text);
}

/* `headers` is borrowed: copy what you keep (here only the last hash). */
/* Says why the peer cannot be reached (wrong network, refused, handshake timeout...) and
 * when the next attempt comes, instead of retrying silently. */
static void on_attempt_failed(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer,
                              const char *cause, uint32_t failures, uint64_t retry_in_ms) {
  (void)user_data;
  (void)peer_id;
  fprintf(stderr, "%s: attempt failed (%u in a row): %s; retrying in %.1f s\n", peer->addr,
          failures, cause, (double)retry_in_ms / 1000.0);
}

static void on_headers(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer,
                       const btcclient_header *headers, size_t count) {
  sync_state *st = (sync_state *)user_data;
  char hex[65];
  (void)peer;
  pthread_mutex_lock(&st->lock);
  if (count > 0) {
    if (memcmp(headers[0].prev_hash, st->tip, 32) != 0) {
      fprintf(stderr, "headers do not connect to our tip; ignoring\n");
      pthread_mutex_unlock(&st->lock);
      return;
    }
    memcpy(st->tip, headers[count - 1].hash, 32);
    st->height += count;
    btcclient_hash_to_hex(st->tip, hex);
    printf("height %lu  tip %s\n", st->height, hex);
    fflush(stdout);
  }
  if (count == BTCCLIENT_MAX_HEADERS) {
    request_from(st, peer_id);
  } else {
    st->done = 1;
  }
  pthread_mutex_unlock(&st->lock);
}

static void on_log(void *user_data, uint32_t level, const char *target, const char *message) {
  static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
  (void)user_data;
  fprintf(stderr, "[%s %s] %s\n", level <= 5 ? names[level] : "?", target, message);
}

static int parse_network(const char *name, uint32_t *out) {
  static const struct {
    const char *name;
    uint32_t value;
  } networks[] = {{"mainnet", BTCCLIENT_NETWORK_MAINNET}, {"testnet3", BTCCLIENT_NETWORK_TESTNET3},
                  {"testnet4", BTCCLIENT_NETWORK_TESTNET4}, {"signet", BTCCLIENT_NETWORK_SIGNET},
                  {"regtest", BTCCLIENT_NETWORK_REGTEST}};
  size_t i;
  for (i = 0; i < sizeof networks / sizeof networks[0]; i++) {
    if (strcmp(name, networks[i].name) == 0) {
      *out = networks[i].value;
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *addr = NULL;
  uint32_t network = BTCCLIENT_NETWORK_MAINNET;
  double seconds = 0;
  int verbose = 0, i, rc = 0;
  sync_state st;
  btcclient_config config;
  btcclient_listeners listeners;
  btcclient_error *err = NULL;
  struct timespec start, now;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = 1;
    } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
      seconds = atof(argv[++i]);
    } else if (addr == NULL && argv[i][0] != '-') {
      addr = argv[i];
    } else if (!parse_network(argv[i], &network)) {
      addr = NULL;
      break;
    }
  }
  if (addr == NULL) {
    fprintf(stderr,
            "usage: %s HOST:PORT [mainnet|testnet3|testnet4|signet|regtest] [-t SECONDS] [-v]\n",
            argv[0]);
    return 2;
  }

  printf("btcclient %s\n", btcclient_version());
  if (verbose) btcclient_set_logger(on_log, BTCCLIENT_LOG_LEVEL_INFO, NULL);

  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.lock, NULL);
  btcclient_genesis_hash(network, st.tip);

  btcclient_config_default(&config, sizeof config);
  config.network = network;
  config.discovery = false; /* this example talks to the one peer it was given */
  config.allow_local_addresses = true;
  config.handshake_timeout_ms = 15000;
  config.reconnect_delay_ms = 1000;

  btcclient_listeners_init(&listeners, sizeof listeners);
  listeners.user_data = &st;
  listeners.on_peer_connected = on_connected;
  listeners.on_peer_disconnected = on_disconnected;
  listeners.on_headers = on_headers;
  listeners.on_attempt_failed = on_attempt_failed;

  if (btcclient_client_new(&config, &listeners, &st.client, &err) != BTCCLIENT_STATUS_OK ||
      btcclient_client_start(st.client, &err) != BTCCLIENT_STATUS_OK ||
      btcclient_client_add_peer(st.client, addr, NULL, &err) != BTCCLIENT_STATUS_OK) {
    fprintf(stderr, "error: %s\n", btcclient_error_message(err));
    btcclient_error_free(err);
    btcclient_client_free(st.client);
    return 1;
  }

  signal(SIGINT, on_sigint);
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec pause = {0, 100 * 1000000L};
    int done;
    pthread_mutex_lock(&st.lock);
    done = st.done;
    pthread_mutex_unlock(&st.lock);
    if (done || interrupted) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (seconds > 0 && (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 >
                           seconds) {
      fprintf(stderr, "timed out after %.0f s\n", seconds);
      rc = 1;
      break;
    }
    nanosleep(&pause, NULL);
  }

  if (btcclient_client_stop(st.client, 5000, &err) != BTCCLIENT_STATUS_OK) {
    fprintf(stderr, "stop: %s\n", btcclient_error_message(err));
    btcclient_error_free(err);
  }
  /* After stop, no callback runs: the state can be read without the lock. */
  if (st.done) printf("synced: %lu headers\n", st.height);
  btcclient_client_free(st.client);
  if (verbose) btcclient_set_logger(NULL, 0, NULL);
  pthread_mutex_destroy(&st.lock);
  return st.done ? rc : 1;
}
