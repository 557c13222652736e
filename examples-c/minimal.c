/* The smallest useful program: connect to one peer, ask for headers, print how many came.
 * Usage: minimal HOST:PORT (a regtest node, for example one printed by the simnet command). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "btcclient.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t received; /* written by the callback thread, read by main: under `lock` */

static size_t headers_received(void) {
  size_t n;
  pthread_mutex_lock(&lock);
  n = received;
  pthread_mutex_unlock(&lock);
  return n;
}

static void on_headers(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                       const btcclient_header *headers, size_t count) {
  (void)ud; (void)peer_id; (void)headers;
  printf("%zu headers from %s\n", count, peer->addr); /* borrowed: valid during the call */
  pthread_mutex_lock(&lock);
  received += count;
  pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
  btcclient_config config;
  btcclient_listeners listeners;
  btcclient_client *client = NULL;
  btcclient_error *err = NULL;
  uint64_t id;
  uint8_t genesis[32];
  int i;

  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT (a regtest node)\n", argv[0]);
    return 2;
  }
  btcclient_config_default(&config, sizeof config);
  config.network = BTCCLIENT_NETWORK_REGTEST;
  btcclient_listeners_init(&listeners, sizeof listeners);
  listeners.on_headers = on_headers;
  if (btcclient_client_new(&config, &listeners, &client, &err) != BTCCLIENT_STATUS_OK ||
      btcclient_client_start(client, &err) != BTCCLIENT_STATUS_OK ||
      btcclient_client_add_peer(client, argv[1], &id, &err) != BTCCLIENT_STATUS_OK ||
      btcclient_client_wait_connected(client, id, 10000, &err) != BTCCLIENT_STATUS_OK) {
    fprintf(stderr, "%s\n", btcclient_error_message(err));
    btcclient_error_free(err);
    btcclient_client_free(client);
    return 1;
  }
  btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, genesis);
  btcclient_send_getheaders(client, id, (const uint8_t (*)[32])genesis, 1, NULL, NULL);
  for (i = 0; i < 100 && headers_received() == 0; i++) {
    struct timespec tenth = {0, 100000000L};
    nanosleep(&tenth, NULL); /* up to 10 s for the first headers */
  }
  btcclient_client_stop(client, 5000, NULL);
  btcclient_client_free(client);
  return headers_received() > 0 ? 0 : 1;
}
