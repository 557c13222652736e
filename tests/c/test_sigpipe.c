/*
 * A C host keeps SIGPIPE at its default disposition (which ends the process) and sends to
 * peers that finish the handshake, stop reading and reset the connection 150 ms later
 * (simnet --reset-after-ms 150). The library's writes to those dead sockets must fail
 * quietly: the process survives, the peers are redialled, and the host's signal
 * disposition is left as it was.
 *
 * Needs BTCCLIENT_SIMNET (path of the simnet binary).
 */
#include "harness.h"

#include <pthread.h>

#define PAYLOAD_LEN (500 * 1000)
/* Runs until this many handshakes (each followed by a reset under our writes), or the
 * deadline (valgrind is slow). */
#define HANDSHAKES 6
#define DEADLINE_S 60

static uint8_t g_payload[PAYLOAD_LEN];

typedef struct state {
  pthread_mutex_t lock;
  btcclient_client *client;
  int connected;
  int disconnected;
  uint64_t last_peer;
  int sends_ok;
} state;

/* Queues several large messages the moment a peer connects, so that the writer is still
 * writing when the peer's close arrives. */
static void on_connected(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer) {
  state *st = user_data;
  int i, ok = 0;
  (void)peer;
  for (i = 0; i < 8; i++) {
    if (btcclient_client_send_to(st->client, peer_id, "btcctest", g_payload, PAYLOAD_LEN, NULL) ==
        BTCCLIENT_STATUS_OK) {
      ok++;
    }
  }
  pthread_mutex_lock(&st->lock);
  st->connected++;
  st->last_peer = peer_id;
  st->sends_ok += ok;
  pthread_mutex_unlock(&st->lock);
}

static void on_disconnected(void *user_data, uint64_t peer_id, const btcclient_peer_info *peer,
                            uint32_t reason, const char *text) {
  state *st = user_data;
  (void)peer_id;
  (void)peer;
  (void)reason;
  (void)text;
  pthread_mutex_lock(&st->lock);
  st->disconnected++;
  pthread_mutex_unlock(&st->lock);
}

int main(void) {
  simnet sim;
  state st;
  btcclient_config config;
  btcclient_listeners listeners;
  struct sigaction before, after;
  double end;
  int i;

  /* One scenario, watched as a whole. */
  harness_watch("test_sigpipe's reset peers scenario");
  /* What a C program has unless it says otherwise: SIGPIPE ends the process. */
  signal(SIGPIPE, SIG_DFL);
  sigaction(SIGPIPE, NULL, &before);

  if (simnet_start_with(&sim, 2, 10, "--reset-after-ms", "150") != 0) {
    fprintf(stderr, "cannot start simnet\n");
    return 1;
  }
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.lock, NULL);

  CHECK_STATUS(btcclient_config_default(&config, sizeof config), BTCCLIENT_STATUS_OK);
  config.network = BTCCLIENT_NETWORK_REGTEST;
  config.allow_local_addresses = true;
  config.discovery = false;
  config.reconnect_delay_ms = 20;
  config.backoff_max_ms = 0;
  config.max_failure_count = 1000;
  config.handshake_timeout_ms = 2000;
  config.write_timeout_ms = 2000;
  CHECK_STATUS(btcclient_listeners_init(&listeners, sizeof listeners), BTCCLIENT_STATUS_OK);

  listeners.user_data = &st;
  listeners.on_peer_connected = on_connected;
  listeners.on_peer_disconnected = on_disconnected;
  CHECK_ERR(btcclient_client_new(&config, &listeners, &st.client, &err), BTCCLIENT_STATUS_OK,
            NULL);
  if (st.client == NULL) {
    simnet_stop(&sim);
    return harness_finish("test_sigpipe");
  }
  CHECK_ERR(btcclient_client_start(st.client, &err), BTCCLIENT_STATUS_OK, NULL);
  for (i = 0; i < sim.nodes; i++) {
    CHECK_ERR(btcclient_client_add_peer(st.client, sim.addrs[i], NULL, &err),
              BTCCLIENT_STATUS_OK, NULL);
  }

  /* Meanwhile the main thread keeps sending to the latest peer that connected. */
  end = now_seconds() + DEADLINE_S;
  while (now_seconds() < end) {
    uint64_t peer;
    int connected;
    pthread_mutex_lock(&st.lock);
    peer = st.last_peer;
    connected = st.connected;
    pthread_mutex_unlock(&st.lock);
    if (connected >= HANDSHAKES) break;
    if (peer != 0) {
      btcclient_client_send_to(st.client, peer, "btcctest", g_payload, PAYLOAD_LEN, NULL);
    }
    sleep_ms(2);
  }

  CHECK_ERR(btcclient_client_stop(st.client, 30000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(st.client), BTCCLIENT_STATUS_OK);
  simnet_stop(&sim);

  /* Still here: no SIGPIPE ended the process. The peers came and went many times, and the
   * writes that met a closed socket were among them. */
  printf("test_sigpipe: %d handshakes, %d disconnections, %d large messages queued\n",
         st.connected, st.disconnected, st.sends_ok);
  CHECK(st.connected >= HANDSHAKES);
  CHECK(st.disconnected == st.connected);
  CHECK(st.sends_ok > 0);
  /* The library left the host's disposition alone. */
  sigaction(SIGPIPE, NULL, &after);
  CHECK(after.sa_handler == SIG_DFL && before.sa_handler == SIG_DFL);
  pthread_mutex_destroy(&st.lock);
  return harness_finish("test_sigpipe");
}
