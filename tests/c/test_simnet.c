/*
 * The C ABI against simulated Bitcoin nodes (the simnet binary, 127.0.0.1 only):
 *
 * 1. callbacks (serialized, then concurrent delivery): connect, handshake, headers sync
 *    over several getheaders rounds (btcclient_send_getheaders from inside the headers
 *    callback), getdata for a block, discovery (the peer count grows to every node with
 *    allow_local_addresses), raw sends by address and id, getaddr, a refused peer
 *    (BTCCLIENT_STATUS_PEER_CONNECTION), calls that are refused inside a callback, remove by
 *    address and by id, stop (each connected peer disconnected exactly once, no callback
 *    after stop returned), free (user_data_free exactly once);
 * 2. poll mode: the descriptor polls readable, btcclient_poll_next and every event
 *    accessor, a full queue that loses nothing, stop and drain, a restart whose first events
 *    are the new run's (the stopped run's untaken events are dropped);
 * 3. the address book file, transports, a SOCKS5 proxy (microsocks, started here), log levels.
 *
 * Needs BTCCLIENT_SIMNET (path of the simnet binary) and microsocks ($MICROSOCKS or the PATH).
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>

#define CHAIN_LENGTH 2100
#define NODES 3

static const uint8_t ZERO_HASH[32];

/* ---- shared state of the callback scenario ---- */

typedef struct state {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  btcclient_client *client;
  uint32_t delivery;
  int first_callback_seen;
  pthread_t callback_thread;
  int wrong_thread;
  int in_callback_checked;
  uint32_t cb_stop, cb_free, cb_wait, cb_count;
  int cb_err_ok;
  size_t cb_peers;
  int connected;
  int disconnected;
  int removed;
  int stopped_reason;
  int bad_peer_info;
  int sync_started;
  uint64_t sync_peer;
  size_t headers_total;
  int headers_rounds;
  int broken_chain;
  uint8_t tip[32];
  uint8_t block1[32];
  btcclient_header header1; /* block 1's header, as the headers callback gave it */
  int synced;
  int send_errors;
  int blocks;
  int block_ok;
  int addr_msgs;
  int bad_addr;
  int messages;
  int after_stop;
  int stopped;
  int user_data_frees;
  int attempt_failures;   /* attempt-failed callbacks for the refused peer */
  uint32_t last_failures; /* its `failures` argument, the latest */
  int bad_attempt;        /* an attempt-failed callback with a missing cause or no retry delay */
  int to_connected;       /* CONNECTING -> CONNECTED status changes */
  int bad_status;         /* a status change with an out-of-range or unchanged value */
  btcclient_event *kept_headers; /* a copy of the first headers message, kept past its callback */
} state;

static void st_lock(state *st) { pthread_mutex_lock(&st->lock); }
static void st_unlock(state *st) {
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
}

/* Waits (lock held) until `pred` holds or `seconds` pass. */
static int wait_for(state *st, int (*pred)(state *), double seconds) {
  double deadline = now_seconds() + seconds;
  while (!pred(st)) {
    struct timespec ts;
    double left = deadline - now_seconds();
    if (left <= 0) return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec += 1;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&st->cond, &st->lock, &ts);
  }
  return 1;
}

/* Common checks at the start of every callback. */
static void enter(state *st, uint64_t peer_id, const btcclient_peer_info *peer) {
  if (st->stopped) st->after_stop++;
  if (peer == NULL || peer->id != peer_id || peer->addr == NULL || peer->addr[0] == '\0' ||
      peer->user_agent == NULL) {
    st->bad_peer_info++;
  }
  if (st->delivery == BTCCLIENT_DELIVERY_SERIALIZED) {
    if (!st->first_callback_seen) {
      st->first_callback_seen = 1;
      st->callback_thread = pthread_self();
    } else if (!pthread_equal(st->callback_thread, pthread_self())) {
      st->wrong_thread++;
    }
  }
}

static void send_getheaders_from(state *st, uint64_t peer_id, const uint8_t hash[32]) {
  uint8_t locator[1][32];
  memcpy(locator[0], hash, 32);
  if (btcclient_send_getheaders(st->client, peer_id, (const uint8_t(*)[32])locator, 1, NULL,
                                NULL) != BTCCLIENT_STATUS_OK) {
    st->send_errors++;
  }
}

static void on_connected(void *ud, uint64_t peer_id, const btcclient_peer_info *peer) {
  state *st = (state *)ud;
  st_lock(st);
  enter(st, peer_id, peer);
  st->connected++;
  if (peer->protocol_version < 70001 || peer->user_agent[0] == '\0') st->bad_peer_info++;
  if (!st->in_callback_checked) {
    btcclient_error *err = NULL;
    st->in_callback_checked = 1;
    /* Refused inside a callback, without deadlock; allowed calls work. Checked by main. */
    st->cb_stop = btcclient_client_stop(st->client, 1000, &err);
    st->cb_err_ok = err != NULL && strstr(btcclient_error_message(err), "callback") != NULL;
    btcclient_error_free(err);
    st->cb_free = btcclient_client_free(st->client);
    st->cb_wait = btcclient_client_wait_connected(st->client, peer_id, 10, NULL);
    st->cb_count = btcclient_client_peer_count(st->client, &st->cb_peers);
  }
  if (!st->sync_started) {
    uint8_t genesis[32];
    st->sync_started = 1;
    st->sync_peer = peer_id;
    btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, genesis);
    memcpy(st->tip, genesis, 32);
    send_getheaders_from(st, peer_id, genesis);
  }
  st_unlock(st);
}

static void on_disconnected(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                            uint32_t reason, const char *text) {
  state *st = (state *)ud;
  st_lock(st);
  enter(st, peer_id, peer);
  st->disconnected++;
  if (reason == BTCCLIENT_DISCONNECT_REASON_REMOVED) st->removed++;
  if (reason == BTCCLIENT_DISCONNECT_REASON_STOPPED) st->stopped_reason++;
  if (text == NULL || text[0] == '\0') st->bad_peer_info++;
  st_unlock(st);
}

static void on_headers(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                       const btcclient_header *headers, size_t count) {
  state *st = (state *)ud;
  size_t i;
  st_lock(st);
  enter(st, peer_id, peer);
  if (peer_id == st->sync_peer && !st->synced) {
    for (i = 0; i < count; i++) {
      const uint8_t *prev = i == 0 ? st->tip : headers[i - 1].hash;
      if (memcmp(headers[i].prev_hash, prev, 32) != 0) st->broken_chain++;
    }
    if (st->headers_total == 0 && count > 0) {
      memcpy(st->block1, headers[0].hash, 32);
      st->header1 = headers[0];
      /* Keep the whole message past the callback: an owned copy. */
      if (st->kept_headers == NULL &&
          btcclient_event_copy_current(&st->kept_headers, NULL) != BTCCLIENT_STATUS_OK)
        st->kept_headers = NULL;
    }
    st->headers_total += count;
    st->headers_rounds++;
    if (count > 0) memcpy(st->tip, headers[count - 1].hash, 32);
    if (count == BTCCLIENT_MAX_HEADERS) {
      send_getheaders_from(st, peer_id, st->tip);
    } else {
      st->synced = 1;
    }
  }
  st_unlock(st);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The serialized block starts with its 80-byte header: it must be the header the `headers`
 * callback reported for the same hash, field by field. */
static int starts_with_header(const uint8_t *block, const btcclient_header *h) {
  return (int32_t)le32(block) == h->version && memcmp(block + 4, h->prev_hash, 32) == 0 &&
         memcmp(block + 36, h->merkle_root, 32) == 0 && le32(block + 68) == h->time &&
         le32(block + 72) == h->bits && le32(block + 76) == h->nonce;
}

static void on_block(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                     const uint8_t *block, size_t len, const uint8_t *hash) {
  state *st = (state *)ud;
  st_lock(st);
  enter(st, peer_id, peer);
  st->blocks++;
  if (len > 80 && block != NULL && memcmp(hash, st->block1, 32) == 0 &&
      starts_with_header(block, &st->header1))
    st->block_ok++;
  st_unlock(st);
}

static void on_addr(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                    const btcclient_addr *addrs, size_t count) {
  static const uint8_t LOOPBACK_MAPPED[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  state *st = (state *)ud;
  size_t i;
  st_lock(st);
  enter(st, peer_id, peer);
  st->addr_msgs++;
  if (count == 0) st->bad_addr++;
  for (i = 0; i < count; i++) {
    if (addrs[i].port == 0 || memcmp(addrs[i].addr, LOOPBACK_MAPPED, 16) != 0) st->bad_addr++;
  }
  st_unlock(st);
}

static void on_inv(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                   const btcclient_inv *items, size_t count) {
  state *st = (state *)ud;
  (void)items;
  (void)count;
  st_lock(st);
  enter(st, peer_id, peer);
  st_unlock(st);
}

static void on_tx(void *ud, uint64_t peer_id, const btcclient_peer_info *peer, const uint8_t *tx,
                  size_t len, const uint8_t *txid) {
  state *st = (state *)ud;
  (void)tx;
  (void)len;
  (void)txid;
  st_lock(st);
  enter(st, peer_id, peer);
  st_unlock(st);
}

static void on_message(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                       const char *command, const uint8_t *payload, size_t len) {
  state *st = (state *)ud;
  (void)payload;
  (void)len;
  st_lock(st);
  enter(st, peer_id, peer);
  if (command == NULL || command[0] == '\0') st->bad_peer_info++;
  st->messages++;
  st_unlock(st);
}

static void free_state(void *ud) {
  state *st = (state *)ud;
  st_lock(st);
  st->user_data_frees++;
  st_unlock(st);
}

static int is_synced(state *st) { return st->synced; }
static int has_block(state *st) { return st->block_ok > 0; }
static int one_removed(state *st) { return st->removed >= 1; }
static int two_removed(state *st) { return st->removed >= 2; }
static int all_connected(state *st) { return st->connected >= NODES; }

/* ---- logging ---- */

typedef struct log_count {
  pthread_mutex_t lock;
  int records;
} log_count;

static void on_attempt_failed(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                              const char *cause, uint32_t failures, uint64_t retry_in_ms) {
  state *st = (state *)ud;
  (void)peer_id;
  st_lock(st);
  if (cause == NULL || cause[0] == '\0' || retry_in_ms == 0 || failures == 0) st->bad_attempt++;
  if (peer != NULL && strcmp(peer->addr, "127.0.0.1:1") == 0) {
    st->attempt_failures++;
    st->last_failures = failures;
  }
  st_unlock(st);
}

static void on_status_changed(void *ud, uint64_t peer_id, const btcclient_peer_info *peer,
                              uint32_t old_status, uint32_t new_status) {
  state *st = (state *)ud;
  (void)peer_id;
  (void)peer;
  st_lock(st);
  if (old_status > BTCCLIENT_PEER_STATUS_UNHEALTHY || new_status > BTCCLIENT_PEER_STATUS_UNHEALTHY ||
      old_status == new_status) {
    st->bad_status++;
  }
  if (old_status == BTCCLIENT_PEER_STATUS_CONNECTING && new_status == BTCCLIENT_PEER_STATUS_CONNECTED) {
    st->to_connected++;
  }
  st_unlock(st);
}

static int attempt_failed_twice(state *st) { return st->attempt_failures >= 2; }

static void on_log(void *ud, uint32_t level, const char *target, const char *message) {
  log_count *lc = (log_count *)ud;
  pthread_mutex_lock(&lc->lock);
  if (level >= BTCCLIENT_LOG_LEVEL_ERROR && level <= BTCCLIENT_LOG_LEVEL_TRACE && target &&
      message) {
    lc->records++;
  }
  pthread_mutex_unlock(&lc->lock);
}

static btcclient_config sim_config(void) {
  btcclient_config c;
  btcclient_config_default(&c, sizeof c);
  c.network = BTCCLIENT_NETWORK_REGTEST;
  c.allow_local_addresses = true;
  c.reconnect_delay_ms = 200;
  c.backoff_max_ms = 1000;
  c.connection_timeout_ms = 2000;
  c.handshake_timeout_ms = 5000;
  c.health_check_interval_ms = 500;
  c.max_peers = 8;
  c.user_agent = "/btcclient-c-test:0.1/";
  return c;
}

static int connected_in_snapshot(btcclient_client *client) {
  btcclient_peer_list *list = NULL;
  int n = 0;
  size_t i;
  if (btcclient_client_peers(client, &list, NULL) != BTCCLIENT_STATUS_OK) return -1;
  for (i = 0; i < btcclient_peer_list_len(list); i++) {
    if (btcclient_peer_list_get(list, i)->status == BTCCLIENT_PEER_STATUS_CONNECTED) n++;
  }
  btcclient_peer_list_free(list);
  return n;
}

static int list_has_id(const btcclient_peer_list *list, uint64_t id) {
  size_t i;
  for (i = 0; i < btcclient_peer_list_len(list); i++) {
    if (btcclient_peer_list_get(list, i)->id == id) return 1;
  }
  return 0;
}

static void scenario_callbacks(const simnet *sim, uint32_t delivery) {
  state st;
  btcclient_config c = sim_config();
  btcclient_listeners l;
  btcclient_client *client = NULL;
  uint64_t id0 = 0, bad_id = 0;
  size_t count = 0;
  double t0;

  printf("-- callbacks, %s delivery\n",
         delivery == BTCCLIENT_DELIVERY_SERIALIZED ? "serialized" : "concurrent");
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.lock, NULL);
  pthread_cond_init(&st.cond, NULL);
  st.delivery = delivery;
  c.delivery = delivery;

  btcclient_listeners_init(&l, sizeof l);
  l.user_data = &st;
  l.user_data_free = free_state;
  l.on_peer_connected = on_connected;
  l.on_peer_disconnected = on_disconnected;
  l.on_headers = on_headers;
  l.on_inv = on_inv;
  l.on_addr = on_addr;
  l.on_block = on_block;
  l.on_tx = on_tx;
  l.on_message = on_message;
  l.on_attempt_failed = on_attempt_failed;
  l.on_status_changed = on_status_changed;

  CHECK_ERR(btcclient_client_new(&c, &l, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  st.client = client;
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &id0, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id0, 15000, &err), BTCCLIENT_STATUS_OK, NULL);

  /* Headers sync: BTCCLIENT_MAX_HEADERS (2000) + 100 headers, chained from genesis. */
  t0 = now_seconds();
  st_lock(&st);
  CHECK(wait_for(&st, is_synced, 60));
  CHECK(st.headers_total == CHAIN_LENGTH);
  CHECK(st.headers_rounds == 2);
  CHECK(st.broken_chain == 0);
  CHECK(st.sync_peer == id0);
  /* The copy made inside the first headers callback is still valid and complete. */
  CHECK(st.kept_headers != NULL);
  if (st.kept_headers != NULL) {
    size_t kept_count = 0;
    const btcclient_header *kept = NULL;
    CHECK_STATUS(btcclient_event_headers(st.kept_headers, &kept, &kept_count),
                 BTCCLIENT_STATUS_OK);
    CHECK(btcclient_event_get_kind(st.kept_headers) == BTCCLIENT_EVENT_KIND_HEADERS);
    CHECK(btcclient_event_peer_id(st.kept_headers) == id0);
    CHECK(kept != NULL && kept_count == BTCCLIENT_MAX_HEADERS);
    if (kept != NULL && kept_count > 0) CHECK(memcmp(kept[0].hash, st.block1, 32) == 0);
    btcclient_event_free(st.kept_headers);
    st.kept_headers = NULL;
  }
  st_unlock(&st);
  printf("   synced %d headers in %.2f s\n", CHAIN_LENGTH, now_seconds() - t0);

  /* getdata for block 1. */
  {
    btcclient_inv inv;
    inv.type = BTCCLIENT_INV_WITNESS_BLOCK;
    st_lock(&st);
    memcpy(inv.hash, st.block1, 32);
    st_unlock(&st);
    CHECK_ERR(btcclient_send_getdata(client, id0, &inv, 1, &err), BTCCLIENT_STATUS_OK, NULL);
    st_lock(&st);
    CHECK(wait_for(&st, has_block, 20));
    st_unlock(&st);
  }

  /* Discovery: the other nodes are learned from addr and dialled. */
  t0 = now_seconds();
  while (now_seconds() - t0 < 30) {
    CHECK_STATUS(btcclient_client_peer_count(client, &count), BTCCLIENT_STATUS_OK);
    if (count >= NODES && connected_in_snapshot(client) >= NODES) break;
    sleep_ms(50);
  }
  CHECK(count == NODES);
  CHECK(connected_in_snapshot(client) == NODES);
  st_lock(&st);
  CHECK(wait_for(&st, all_connected, 10));
  CHECK(st.addr_msgs >= 1);
  CHECK(st.bad_addr == 0);
  st_unlock(&st);
  printf("   discovered %d peers in %.2f s\n", (int)count, now_seconds() - t0);

  /* Snapshot of connected peers. */
  {
    btcclient_peer_list *list = NULL;
    size_t i;
    int discovered = 0;
    CHECK_ERR(btcclient_client_peers(client, &list, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK(btcclient_peer_list_len(list) == NODES);
    for (i = 0; i < btcclient_peer_list_len(list); i++) {
      const btcclient_peer_snapshot *p = btcclient_peer_list_get(list, i);
      CHECK(p->status == BTCCLIENT_PEER_STATUS_CONNECTED);
      CHECK(p->has_info && p->protocol_version >= 70001 && p->user_agent[0] != '\0');
      CHECK(p->start_height == CHAIN_LENGTH);
      CHECK(p->connected_since_ms > 0 && p->failure_count == 0);
      CHECK(p->bytes_in > 0 && p->bytes_out > 0 && p->messages_in > 0 && p->messages_out > 0);
      discovered += p->discovered;
      if (p->id == id0) CHECK(strcmp(p->addr, sim->addrs[0]) == 0 && !p->discovered);
    }
    CHECK(discovered == NODES - 1);
    btcclient_peer_list_free(list);
  }

  /* Raw sends by address and by id, an unknown command, getaddr. */
  {
    uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t hello[3] = {0xde, 0xad, 0x00};
    CHECK_ERR(btcclient_client_send(client, sim->addrs[0], "ping", nonce, 8, &err),
              BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_client_send_to(client, id0, "ping", nonce, 8, &err), BTCCLIENT_STATUS_OK,
              NULL);
    CHECK_ERR(btcclient_client_send_to(client, id0, "hello", hello, 3, &err), BTCCLIENT_STATUS_OK,
              NULL);
    CHECK_ERR(btcclient_client_send_to(client, id0, "sendheaders", NULL, 0, &err),
              BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_send_getaddr(client, id0, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_send_getheaders(client, id0, NULL, 0, ZERO_HASH, &err), BTCCLIENT_STATUS_OK,
              NULL);
  }

  /* A refused peer: the connection error names it. */
  CHECK_ERR(btcclient_client_add_peer(client, "127.0.0.1:1", &bad_id, &err), BTCCLIENT_STATUS_OK,
            NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, bad_id, 5000, &err),
            BTCCLIENT_STATUS_PEER_CONNECTION, "127.0.0.1:1");
  /* Each failed attempt is an event: the count goes up, a retry delay is announced. */
  st_lock(&st);
  CHECK(wait_for(&st, attempt_failed_twice, 30));
  CHECK(st.last_failures >= 2);
  st_unlock(&st);
  CHECK_ERR(btcclient_client_remove_peer_by_id(client, bad_id, &err), BTCCLIENT_STATUS_OK, NULL);

  /* Remove by address and by id: each gets its disconnect with REMOVED. */
  CHECK_ERR(btcclient_client_remove_peer(client, sim->addrs[0], &err), BTCCLIENT_STATUS_OK, NULL);
  st_lock(&st);
  CHECK(wait_for(&st, one_removed, 10));
  st_unlock(&st);
  /* A removed address is not rediscovered (the manager remembers it), and ids are never
   * reused. */
  {
    btcclient_peer_list *list = NULL;
    uint64_t removed_id = 0;
    CHECK_ERR(btcclient_client_peers(client, &list, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK(!list_has_id(list, id0));
    CHECK(btcclient_peer_list_len(list) == NODES - 1);
    if (btcclient_peer_list_len(list) > 0) {
      removed_id = btcclient_peer_list_get(list, 0)->id;
      CHECK_ERR(btcclient_client_remove_peer_by_id(client, removed_id, &err), BTCCLIENT_STATUS_OK,
                NULL);
    }
    btcclient_peer_list_free(list);
    list = NULL;
    CHECK_ERR(btcclient_client_peers(client, &list, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK(!list_has_id(list, removed_id));
    btcclient_peer_list_free(list);
  }
  st_lock(&st);
  CHECK(wait_for(&st, two_removed, 10));
  st_unlock(&st);

  /* Stop: the remaining peer is disconnected with STOPPED; then no callback runs. */
  CHECK_ERR(btcclient_client_stop(client, 10000, &err), BTCCLIENT_STATUS_OK, NULL);
  st_lock(&st);
  st.stopped = 1;
  CHECK(st.connected == NODES);
  CHECK(st.disconnected == st.connected);
  CHECK(st.removed == 2);
  CHECK(st.stopped_reason == 1);
  CHECK(st.bad_peer_info == 0);
  CHECK(st.send_errors == 0);
  CHECK(st.wrong_thread == 0);
  CHECK(st.in_callback_checked == 1);
  CHECK_STATUS(st.cb_stop, BTCCLIENT_STATUS_CALLED_FROM_CALLBACK);
  CHECK(st.cb_err_ok);
  CHECK_STATUS(st.cb_free, BTCCLIENT_STATUS_CALLED_FROM_CALLBACK);
  CHECK_STATUS(st.cb_wait, BTCCLIENT_STATUS_CALLED_FROM_CALLBACK);
  CHECK_STATUS(st.cb_count, BTCCLIENT_STATUS_OK);
  CHECK(st.cb_peers >= 1);
  CHECK(st.messages > 0); /* sendcmpct, feefilter, ... */
  CHECK(st.bad_attempt == 0);
  CHECK(st.bad_status == 0);
  CHECK(st.to_connected >= st.connected); /* every handshake was a CONNECTING -> CONNECTED */
  st_unlock(&st);
  CHECK_STATUS(btcclient_client_peer_count(client, &count), BTCCLIENT_STATUS_OK);
  CHECK(count == 0);
  sleep_ms(300);
  st_lock(&st);
  CHECK(st.after_stop == 0);
  CHECK(st.user_data_frees == 0);
  st_unlock(&st);

  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  CHECK(st.user_data_frees == 1);
  CHECK(st.after_stop == 0);
  pthread_cond_destroy(&st.cond);
  pthread_mutex_destroy(&st.lock);
}

/* ---- poll mode ---- */

static int fd_readable(int fd, int timeout_ms) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* Takes events until one of `kind` arrives (others are checked and freed). */
static btcclient_event *next_of_kind(btcclient_client *client, uint32_t kind, int *others) {
  double deadline = now_seconds() + 30;
  while (now_seconds() < deadline) {
    btcclient_event *ev = NULL;
    uint32_t s = btcclient_poll_next(client, 1000, &ev, NULL);
    if (s == BTCCLIENT_STATUS_NO_EVENT) continue;
    if (s != BTCCLIENT_STATUS_OK) return NULL;
    if (btcclient_event_get_kind(ev) == kind) return ev;
    if (btcclient_event_get_kind(ev) == BTCCLIENT_EVENT_KIND_MESSAGE) {
      const uint8_t *data = NULL;
      size_t len = 0;
      CHECK(btcclient_event_command(ev) != NULL);
      CHECK_STATUS(btcclient_event_bytes(ev, &data, &len), BTCCLIENT_STATUS_OK);
    }
    (*others)++;
    btcclient_event_free(ev);
  }
  return NULL;
}

static void scenario_poll(const simnet *sim) {
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  btcclient_event *ev;
  uint64_t id = 0;
  int fd = -1, others = 0;
  uint8_t genesis[32], block1[32];
  size_t n;

  printf("-- poll mode\n");
  c.poll_mode = true;
  c.discovery = false;
  c.event_queue_len = 4;
  btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, genesis);
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_STATUS(btcclient_poll_fd(client, &fd), BTCCLIENT_STATUS_OK);
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK(!fd_readable(fd, 0));
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[1], &id, &err), BTCCLIENT_STATUS_OK, NULL);

  /* The descriptor becomes readable with the first event: the peer is being dialled. */
  CHECK(fd_readable(fd, 15000));
  ev = NULL;
  CHECK_ERR(btcclient_poll_next(client, 0, &ev, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK(ev != NULL);
  if (ev != NULL) {
    uint32_t old_status = 99, new_status = 99, failures = 99;
    uint64_t retry = 99;
    CHECK(btcclient_event_get_kind(ev) == BTCCLIENT_EVENT_KIND_STATUS_CHANGED);
    CHECK_STATUS(btcclient_event_status_change(ev, &old_status, &new_status), BTCCLIENT_STATUS_OK);
    CHECK(old_status == BTCCLIENT_PEER_STATUS_DISCONNECTED);
    CHECK(new_status == BTCCLIENT_PEER_STATUS_CONNECTING);
    CHECK_STATUS(btcclient_event_status_change(ev, NULL, &new_status),
                 BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_attempt_failed(ev, NULL, &failures, &retry),
                 BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK(failures == 99 && retry == 99);
    btcclient_event_free(ev);
  }
  ev = next_of_kind(client, BTCCLIENT_EVENT_KIND_PEER_CONNECTED, &others);
  CHECK(ev != NULL);
  if (ev != NULL) {
    const btcclient_peer_info *info = btcclient_event_peer_info(ev);
    const btcclient_header *h = NULL;
    const btcclient_inv *inv = NULL;
    const btcclient_addr *addrs = NULL;
    const uint8_t *data = NULL;
    uint32_t reason = 99;
    uint8_t hash[32];
    CHECK(btcclient_event_get_kind(ev) == BTCCLIENT_EVENT_KIND_PEER_CONNECTED);
    CHECK(btcclient_event_peer_id(ev) == id);
    CHECK(info != NULL && info->id == id && strcmp(info->addr, sim->addrs[1]) == 0);
    CHECK(info != NULL && info->protocol_version >= 70001 && info->user_agent[0] != '\0');
    CHECK(info != NULL && info->start_height == CHAIN_LENGTH && !info->discovered);
    /* Accessors of other kinds refuse, without touching the out-parameters. */
    n = 77;
    CHECK_STATUS(btcclient_event_headers(ev, &h, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_inv(ev, &inv, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_addrs(ev, &addrs, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_bytes(ev, &data, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_hash(ev, hash), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_disconnect_reason(ev, &reason, NULL),
                 BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK(btcclient_event_command(ev) == NULL);
    CHECK(n == 77 && reason == 99 && h == NULL && data == NULL);
    /* NULL out-parameters. */
    CHECK_STATUS(btcclient_event_headers(ev, NULL, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_headers(ev, &h, NULL), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_bytes(ev, NULL, &n), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_hash(ev, NULL), BTCCLIENT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(btcclient_event_disconnect_reason(ev, NULL, NULL),
                 BTCCLIENT_STATUS_INVALID_ARGUMENT);
    btcclient_event_free(ev);
  }

  /* Headers through the queue. */
  {
    uint8_t locator[1][32];
    memcpy(locator[0], genesis, 32);
    CHECK_ERR(btcclient_send_getheaders(client, id, (const uint8_t(*)[32])locator, 1, NULL, &err),
              BTCCLIENT_STATUS_OK, NULL);
  }
  ev = next_of_kind(client, BTCCLIENT_EVENT_KIND_HEADERS, &others);
  CHECK(ev != NULL);
  memset(block1, 0, sizeof block1);
  if (ev != NULL) {
    const btcclient_header *h = NULL;
    n = 0;
    CHECK_STATUS(btcclient_event_headers(ev, &h, &n), BTCCLIENT_STATUS_OK);
    CHECK(n == BTCCLIENT_MAX_HEADERS && h != NULL);
    if (n > 1) {
      CHECK(memcmp(h[0].prev_hash, genesis, 32) == 0);
      CHECK(memcmp(h[1].prev_hash, h[0].hash, 32) == 0);
      CHECK(h[0].time > 0 && h[0].bits != 0);
      memcpy(block1, h[0].hash, 32);
    }
    btcclient_event_free(ev);
  }

  /* A block through the queue. */
  {
    btcclient_inv inv;
    inv.type = BTCCLIENT_INV_WITNESS_BLOCK;
    memcpy(inv.hash, block1, 32);
    CHECK_ERR(btcclient_send_getdata(client, id, &inv, 1, &err), BTCCLIENT_STATUS_OK, NULL);
  }
  ev = next_of_kind(client, BTCCLIENT_EVENT_KIND_BLOCK, &others);
  CHECK(ev != NULL);
  if (ev != NULL) {
    const uint8_t *data = NULL;
    uint8_t hash[32];
    n = 0;
    CHECK_STATUS(btcclient_event_bytes(ev, &data, &n), BTCCLIENT_STATUS_OK);
    CHECK(n > 80 && data != NULL);
    CHECK_STATUS(btcclient_event_hash(ev, hash), BTCCLIENT_STATUS_OK);
    CHECK(memcmp(hash, block1, 32) == 0);
    btcclient_event_free(ev);
  }

  /* A full queue (capacity 4) pauses the peer; nothing is lost. */
  {
    uint8_t locator[1][32];
    int i, headers_events = 0;
    memcpy(locator[0], genesis, 32);
    for (i = 0; i < 8; i++) {
      CHECK_ERR(btcclient_send_getheaders(client, id, (const uint8_t(*)[32])locator, 1, NULL, &err),
                BTCCLIENT_STATUS_OK, NULL);
    }
    sleep_ms(500); /* let the queue fill up */
    for (i = 0; i < 8; i++) {
      ev = next_of_kind(client, BTCCLIENT_EVENT_KIND_HEADERS, &others);
      if (ev == NULL) break;
      headers_events++;
      btcclient_event_free(ev);
    }
    CHECK(headers_events == 8);
  }

  /* A refused peer: its failed attempt is an event with a cause and a retry delay. */
  {
    uint64_t bad_id = 0;
    CHECK_ERR(btcclient_client_add_peer(client, "127.0.0.1:1", &bad_id, &err), BTCCLIENT_STATUS_OK,
              NULL);
    ev = next_of_kind(client, BTCCLIENT_EVENT_KIND_ATTEMPT_FAILED, &others);
    CHECK(ev != NULL);
    if (ev != NULL) {
      const char *cause = NULL;
      uint32_t failures = 0, old_status, new_status;
      uint64_t retry = 0;
      CHECK(btcclient_event_peer_id(ev) == bad_id);
      CHECK_STATUS(btcclient_event_attempt_failed(ev, &cause, &failures, &retry),
                   BTCCLIENT_STATUS_OK);
      CHECK(cause != NULL && strstr(cause, "refused") != NULL);
      CHECK(failures == 1 && retry > 0);
      CHECK_STATUS(btcclient_event_attempt_failed(ev, NULL, &failures, &retry), BTCCLIENT_STATUS_OK);
      CHECK_STATUS(btcclient_event_status_change(ev, &old_status, &new_status),
                   BTCCLIENT_STATUS_INVALID_ARGUMENT);
      btcclient_event_free(ev);
    }
    CHECK_ERR(btcclient_client_remove_peer_by_id(client, bad_id, &err), BTCCLIENT_STATUS_OK, NULL);
  }

  /* Stop while the peer is connected, then drain: the disconnect comes last. */
  CHECK_ERR(btcclient_client_stop(client, 10000, &err), BTCCLIENT_STATUS_OK, NULL);
  {
    int disconnects = 0;
    uint32_t s;
    for (;;) {
      ev = NULL;
      s = btcclient_poll_next(client, 0, &ev, NULL);
      if (s != BTCCLIENT_STATUS_OK) break;
      if (btcclient_event_get_kind(ev) == BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED) {
        uint32_t reason = 0;
        const char *text = NULL;
        CHECK_STATUS(btcclient_event_disconnect_reason(ev, &reason, &text), BTCCLIENT_STATUS_OK);
        CHECK(reason == BTCCLIENT_DISCONNECT_REASON_STOPPED);
        CHECK(text != NULL && strcmp(text, "client stopped") == 0);
        CHECK(btcclient_event_peer_id(ev) == id);
        disconnects++;
      }
      btcclient_event_free(ev);
    }
    CHECK_STATUS(s, BTCCLIENT_STATUS_CLIENT_NOT_STARTED);
    CHECK(disconnects == 1);
    CHECK(!fd_readable(fd, 0));
  }
  printf("   poll mode: %d other events seen\n", others);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
}

/* ---- poll mode: a restart starts with an empty queue ---- */

/* Connects, stops without taking a single event (the queue holds the run's status changes,
 * connected, messages and the final disconnected), starts again: nothing of the first run is
 * taken in the second. The first events of the second run are those of a peer added in it. */
static void scenario_poll_restart(const simnet *sim) {
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  btcclient_event *ev = NULL;
  uint64_t old_id = 0, new_id = 0;
  int fd = -1, taken = 0, stale = 0, connected = 0;
  double deadline;

  printf("-- poll mode, restarted with events of the stopped run not taken\n");
  c.poll_mode = true;
  c.discovery = false;
  c.event_queue_len = 64;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_STATUS(btcclient_poll_fd(client, &fd), BTCCLIENT_STATUS_OK);
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &old_id, &err), BTCCLIENT_STATUS_OK,
            NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, old_id, 15000, &err), BTCCLIENT_STATUS_OK,
            NULL);
  CHECK_ERR(btcclient_client_stop(client, 10000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK(fd_readable(fd, 0)); /* the first run's events wait, untaken */

  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK(!fd_readable(fd, 0));
  CHECK_ERR(btcclient_poll_next(client, 0, &ev, &err), BTCCLIENT_STATUS_NO_EVENT, NULL);
  if (ev != NULL) {
    printf("   stale event of kind %u from peer %llu\n", btcclient_event_get_kind(ev),
           (unsigned long long)btcclient_event_peer_id(ev));
    btcclient_event_free(ev);
    ev = NULL;
  }

  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &new_id, &err), BTCCLIENT_STATUS_OK,
            NULL);
  CHECK(new_id != old_id);
  deadline = now_seconds() + 15;
  while (!connected && now_seconds() < deadline) {
    uint32_t s = btcclient_poll_next(client, 500, &ev, NULL);
    uint32_t kind;
    if (s == BTCCLIENT_STATUS_NO_EVENT) continue;
    if (s != BTCCLIENT_STATUS_OK) break;
    kind = btcclient_event_get_kind(ev);
    if (btcclient_event_peer_id(ev) != new_id || kind == BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED) {
      stale++;
    }
    if (taken == 0) {
      /* The first event is the new peer's first: being dialled. */
      uint32_t old_status = 99, new_status = 99;
      CHECK(kind == BTCCLIENT_EVENT_KIND_STATUS_CHANGED);
      CHECK_STATUS(btcclient_event_status_change(ev, &old_status, &new_status),
                   BTCCLIENT_STATUS_OK);
      CHECK(old_status == BTCCLIENT_PEER_STATUS_DISCONNECTED &&
            new_status == BTCCLIENT_PEER_STATUS_CONNECTING);
    }
    if (kind == BTCCLIENT_EVENT_KIND_PEER_CONNECTED && btcclient_event_peer_id(ev) == new_id) {
      connected = 1;
    }
    taken++;
    btcclient_event_free(ev);
    ev = NULL;
  }
  CHECK(connected);
  CHECK(stale == 0);
  if (stale != 0) printf("   %d of %d events taken belong to the stopped run\n", stale, taken);
  CHECK_ERR(btcclient_client_stop(client, 10000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
}

/* ---- free of a poll-mode client whose full queue nobody reads ---- */

static void scenario_poll_free_unpolled(const simnet *sim) {
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  uint64_t id = 0;
  uint8_t locator[1][32];
  int i;
  double t0;

  printf("-- poll mode, freed with a full queue\n");
  c.poll_mode = true;
  c.discovery = false;
  c.event_queue_len = 1;
  btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, locator[0]);
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[2], &id, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
  for (i = 0; i < 4; i++) {
    CHECK_ERR(btcclient_send_getheaders(client, id, (const uint8_t(*)[32])locator, 1, NULL, &err),
              BTCCLIENT_STATUS_OK, NULL);
  }
  sleep_ms(300);
  t0 = now_seconds();
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  CHECK(now_seconds() - t0 < 5);
}

/* ---- a callback that outlives stop's timeout ---- */

typedef struct slow_state {
  pthread_mutex_t lock;
  int in_callback;
  int finished;
  int calls_after_free;
  int freed;
  int freed_while_running;
} slow_state;

static void slow_connected(void *ud, uint64_t peer_id, const btcclient_peer_info *peer) {
  slow_state *s = (slow_state *)ud;
  (void)peer_id;
  (void)peer;
  pthread_mutex_lock(&s->lock);
  if (s->freed) s->calls_after_free++;
  s->in_callback = 1;
  pthread_mutex_unlock(&s->lock);
  sleep_ms(1500);
  pthread_mutex_lock(&s->lock);
  s->in_callback = 0;
  s->finished++;
  pthread_mutex_unlock(&s->lock);
}

static void slow_free(void *ud) {
  slow_state *s = (slow_state *)ud;
  pthread_mutex_lock(&s->lock);
  s->freed++;
  if (s->in_callback) s->freed_while_running++;
  pthread_mutex_unlock(&s->lock);
}

static void scenario_stop_timeout(const simnet *sim) {
  btcclient_config c = sim_config();
  btcclient_listeners l;
  btcclient_client *client = NULL;
  slow_state s;
  double t0;
  int entered = 0;

  printf("-- stop timeout with a callback still running\n");
  memset(&s, 0, sizeof s);
  pthread_mutex_init(&s.lock, NULL);
  btcclient_listeners_init(&l, sizeof l);
  l.user_data = &s;
  l.user_data_free = slow_free;
  l.on_peer_connected = slow_connected;
  c.discovery = false;
  CHECK_ERR(btcclient_client_new(&c, &l, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], NULL, &err), BTCCLIENT_STATUS_OK, NULL);
  t0 = now_seconds();
  while (!entered && now_seconds() - t0 < 15) {
    pthread_mutex_lock(&s.lock);
    entered = s.in_callback;
    pthread_mutex_unlock(&s.lock);
    sleep_ms(10);
  }
  CHECK(entered);
  /* The peer's connected callback is still running: its disconnected event can never be
   * delivered once stop has returned, and the error says so. */
  CHECK_ERR(btcclient_client_stop(client, 100, &err), BTCCLIENT_STATUS_STOP_TIMEOUT,
            "(1 disconnected events not delivered)");
  /* free waits for the running callback, then releases user_data once. */
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  pthread_mutex_lock(&s.lock);
  CHECK(s.finished == 1);
  CHECK(s.freed == 1);
  CHECK(s.freed_while_running == 0);
  CHECK(s.calls_after_free == 0);
  pthread_mutex_unlock(&s.lock);
  pthread_mutex_destroy(&s.lock);
}

/* ---- address book persistence ---- */

/* A client that connected to a node remembers it: with address_book_path set, the next
 * client (a restart) starts with that node in its tried table. */
static void scenario_address_book_file(const simnet *sim) {
  char path[] = "/tmp/btcclient-book-XXXXXX";
  int fd = mkstemp(path);
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  btcclient_address_book *book = NULL;
  uint64_t id = 0;
  printf("-- address book file\n");
  if (fd < 0) {
    CHECK(fd >= 0);
    return;
  }
  close(fd);
  unlink(path); /* a missing file is an empty book */
  c.discovery = false;
  c.dns_seeds = "";
  c.address_book_path = path;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &id, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  CHECK(access(path, F_OK) == 0); /* saved at stop */

  client = NULL;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) return;
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_address_book(client, &book, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK(btcclient_address_book_tried_count(book) == 1);
  btcclient_address_book_free(book);
  CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  unlink(path);
}

/* ---- transports ---- */

/* The snapshot of the only peer of `client` with id `id`: its transport and session id. */
static void peer_transport(btcclient_client *client, uint64_t id, uint32_t *transport,
                           char *session_id, size_t len) {
  btcclient_peer_list *list = NULL;
  size_t i;
  *transport = 99;
  session_id[0] = '\0';
  CHECK_ERR(btcclient_client_peers(client, &list, &err), BTCCLIENT_STATUS_OK, NULL);
  for (i = 0; i < btcclient_peer_list_len(list); i++) {
    const btcclient_peer_snapshot *p = btcclient_peer_list_get(list, i);
    if (p->id != id) continue;
    *transport = p->transport;
    if (p->session_id != NULL) snprintf(session_id, len, "%s", p->session_id);
  }
  btcclient_peer_list_free(list);
}

/* BIP324 v2 with a v2 node (simnet, as Bitcoin Core 27+), v1 with a --v1-only node (after
 * the v2 attempt it hangs up on, which is not a failure), and BTCCLIENT_TRANSPORT_V2_ONLY
 * refusing that node with a clear message. */
static void scenario_transport(const simnet *sim) {
  simnet v1;
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  uint64_t id = 0, id1 = 0;
  uint32_t transport;
  char session_id[80];
  size_t i;
  printf("-- transports\n");
  if (simnet_start_with(&v1, 1, CHAIN_LENGTH, "--v1-only", NULL) != 0) {
    CHECK(0);
    simnet_stop(&v1);
    return;
  }
  c.discovery = false;
  c.dns_seeds = "";
  CHECK(c.transport == BTCCLIENT_TRANSPORT_V2_PREFERRED);
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) {
    simnet_stop(&v1);
    return;
  }
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &id, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
  peer_transport(client, id, &transport, session_id, sizeof session_id);
  CHECK(transport == BTCCLIENT_TRANSPORT_KIND_V2);
  CHECK(strlen(session_id) == 64);
  for (i = 0; i < strlen(session_id); i++) CHECK(strchr("0123456789abcdef", session_id[i]) != NULL);

  CHECK_ERR(btcclient_client_add_peer(client, v1.addrs[0], &id1, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id1, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
  peer_transport(client, id1, &transport, session_id, sizeof session_id);
  CHECK(transport == BTCCLIENT_TRANSPORT_KIND_V1);
  CHECK(session_id[0] == '\0');
  CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);

  client = NULL;
  c.transport = BTCCLIENT_TRANSPORT_V2_ONLY;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client != NULL) {
    CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_client_add_peer(client, v1.addrs[0], &id1, &err), BTCCLIENT_STATUS_OK,
              NULL);
    CHECK_ERR(btcclient_client_wait_connected(client, id1, 15000, &err),
              BTCCLIENT_STATUS_PEER_CONNECTION, "does not speak the v2 transport");
    CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  }

  client = NULL;
  c.transport = 3;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_INVALID_CONFIG,
            "transport: unknown value 3");
  simnet_stop(&v1);
}

/* ---- through a SOCKS5 proxy ---- */

/* With `proxy` set, microsocks (started here) carries the connection to a node; once the
 * proxy is gone, a new peer cannot be reached and the error names the proxy. */
static void scenario_proxy(const simnet *sim) {
  socks_proxy proxy;
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  uint64_t id = 0;
  printf("-- through a SOCKS5 proxy (microsocks)\n");
  if (socks_start(&proxy) != 0) {
    CHECK(!"microsocks started");
    socks_stop(&proxy);
    return;
  }
  c.discovery = false;
  c.dns_seeds = "";
  c.proxy = proxy.addr;
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client == NULL) {
    socks_stop(&proxy);
    return;
  }
  CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &id, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
  socks_stop(&proxy);
  CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[1], &id, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err),
            BTCCLIENT_STATUS_PEER_CONNECTION, proxy.addr);
  CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
  CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
}

/* ---- log levels ---- */

/* What one run logged: records per level, and whether the documented ones appeared. */
typedef struct level_log {
  pthread_mutex_t lock;
  int per_level[6];
  int dialling;  /* DEBUG: "dialling" */
  int handshake; /* DEBUG: "handshake complete" */
  int received;  /* TRACE: a "received" record naming the headers message */
  int sent;      /* TRACE: a "sending" record naming getheaders */
} level_log;

static void on_level_log(void *ud, uint32_t level, const char *target, const char *message) {
  level_log *ll = (level_log *)ud;
  (void)target;
  pthread_mutex_lock(&ll->lock);
  if (level < 6) ll->per_level[level]++;
  if (level == BTCCLIENT_LOG_LEVEL_DEBUG && strstr(message, "dialling")) ll->dialling++;
  if (level == BTCCLIENT_LOG_LEVEL_DEBUG && strstr(message, "handshake complete")) ll->handshake++;
  if (level == BTCCLIENT_LOG_LEVEL_TRACE && strstr(message, "received") &&
      strstr(message, "command=headers")) {
    ll->received++;
  }
  if (level == BTCCLIENT_LOG_LEVEL_TRACE && strstr(message, "sending") &&
      strstr(message, "command=getheaders")) {
    ll->sent++;
  }
  pthread_mutex_unlock(&ll->lock);
}

/* Connects, asks for headers, stops, with the logger at `level`. */
static void log_run(const simnet *sim, uint32_t level, level_log *ll) {
  btcclient_config c = sim_config();
  btcclient_client *client = NULL;
  uint64_t id = 0;
  uint8_t genesis[32];
  c.discovery = false;
  memset(ll, 0, sizeof *ll);
  pthread_mutex_init(&ll->lock, NULL);
  btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, genesis);
  CHECK_STATUS(btcclient_set_logger(on_level_log, level, ll), BTCCLIENT_STATUS_OK);
  CHECK_ERR(btcclient_client_new(&c, NULL, &client, &err), BTCCLIENT_STATUS_OK, NULL);
  if (client != NULL) {
    CHECK_ERR(btcclient_client_start(client, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_client_add_peer(client, sim->addrs[0], &id, &err), BTCCLIENT_STATUS_OK,
              NULL);
    CHECK_ERR(btcclient_client_wait_connected(client, id, 15000, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_ERR(btcclient_send_getheaders(client, id, (const uint8_t(*)[32])genesis, 1, NULL, &err),
              BTCCLIENT_STATUS_OK, NULL);
    sleep_ms(500);
    CHECK_ERR(btcclient_client_stop(client, 5000, &err), BTCCLIENT_STATUS_OK, NULL);
    CHECK_STATUS(btcclient_client_free(client), BTCCLIENT_STATUS_OK);
  }
  CHECK_STATUS(btcclient_set_logger(NULL, 0, NULL), BTCCLIENT_STATUS_OK);
  pthread_mutex_destroy(&ll->lock);
}

/* Each level carries what the header says: INFO the lifecycle, DEBUG also dials and
 * handshakes, TRACE also every message in and out; nothing above the chosen level. */
static void scenario_log_levels(const simnet *sim) {
  level_log ll;
  printf("-- log levels\n");
  log_run(sim, BTCCLIENT_LOG_LEVEL_INFO, &ll);
  CHECK(ll.per_level[BTCCLIENT_LOG_LEVEL_INFO] > 0);
  CHECK(ll.per_level[BTCCLIENT_LOG_LEVEL_DEBUG] == 0 && ll.per_level[BTCCLIENT_LOG_LEVEL_TRACE] == 0);
  log_run(sim, BTCCLIENT_LOG_LEVEL_DEBUG, &ll);
  CHECK(ll.dialling >= 1 && ll.handshake >= 1);
  CHECK(ll.per_level[BTCCLIENT_LOG_LEVEL_TRACE] == 0);
  log_run(sim, BTCCLIENT_LOG_LEVEL_TRACE, &ll);
  CHECK(ll.dialling >= 1 && ll.handshake >= 1);
  CHECK(ll.received >= 1 && ll.sent >= 1);
  CHECK(ll.per_level[BTCCLIENT_LOG_LEVEL_TRACE] > ll.per_level[BTCCLIENT_LOG_LEVEL_DEBUG]);
  printf("log records at TRACE: %d trace, %d debug, %d info\n",
         ll.per_level[BTCCLIENT_LOG_LEVEL_TRACE], ll.per_level[BTCCLIENT_LOG_LEVEL_DEBUG],
         ll.per_level[BTCCLIENT_LOG_LEVEL_INFO]);
}

int main(void) {
  simnet sim;
  log_count logs;
  pthread_mutex_init(&logs.lock, NULL);
  logs.records = 0;

  harness_watch("simnet_start");
  if (simnet_start(&sim, NODES, CHAIN_LENGTH) != 0) {
    g_failed++;
    simnet_stop(&sim);
    return harness_finish("test_simnet");
  }
  CHECK_STATUS(btcclient_set_logger(on_log, BTCCLIENT_LOG_LEVEL_INFO, &logs), BTCCLIENT_STATUS_OK);

  HARNESS_RUN(scenario_callbacks(&sim, BTCCLIENT_DELIVERY_SERIALIZED));
  HARNESS_RUN(scenario_callbacks(&sim, BTCCLIENT_DELIVERY_CONCURRENT));
  HARNESS_RUN(scenario_poll(&sim));
  HARNESS_RUN(scenario_poll_restart(&sim));
  HARNESS_RUN(scenario_poll_free_unpolled(&sim));
  HARNESS_RUN(scenario_stop_timeout(&sim));
  HARNESS_RUN(scenario_address_book_file(&sim));
  HARNESS_RUN(scenario_transport(&sim));
  HARNESS_RUN(scenario_proxy(&sim));

  CHECK_STATUS(btcclient_set_logger(NULL, 0, NULL), BTCCLIENT_STATUS_OK);
  pthread_mutex_lock(&logs.lock);
  CHECK(logs.records > 0);
  pthread_mutex_unlock(&logs.lock);
  HARNESS_RUN(scenario_log_levels(&sim));
  pthread_mutex_destroy(&logs.lock);

  simnet_stop(&sim);
  return harness_finish("test_simnet");
}
