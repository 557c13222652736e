// See cdeliver.h. The consumer does what a C program that only counts would do: it reads
// each event's data pointer and length through the ABI (no copy) and counts it.
#define _POSIX_C_SOURCE 200809L
#include "cdeliver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cd_bench {
  btcclient_client *client;
  uint64_t peer;
  int poll;
  int thread_started;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t count;  // headers, inv and block events (under mu)
  uint64_t target; // cd_run waits until count reaches it (under mu)
  uint64_t bytes;  // sum of the lengths read (keeps the reads from being optimized away)
  int have_first;  // cd_warm: the first headers message arrived (under mu)
  uint8_t first[2][32];
};

static void seen(cd_bench *b, const btcclient_header *headers, size_t n) {
  pthread_mutex_lock(&b->mu);
  if (headers != NULL && !b->have_first && n >= 2) {
    memcpy(b->first[0], headers[0].hash, 32);
    memcpy(b->first[1], headers[1].hash, 32);
    b->have_first = 1;
    pthread_cond_broadcast(&b->cv);
  } else if (++b->count == b->target) {
    pthread_cond_broadcast(&b->cv);
  }
  pthread_mutex_unlock(&b->mu);
}

// Callback delivery.

static void on_headers(void *ud, uint64_t id, const btcclient_peer_info *peer,
                       const btcclient_header *items, size_t n) {
  (void)id;
  (void)peer;
  cd_bench *b = ud;
  b->bytes += n;
  seen(b, items, n);
}

static void on_inv(void *ud, uint64_t id, const btcclient_peer_info *peer,
                   const btcclient_inv *items, size_t n) {
  (void)id;
  (void)peer;
  (void)items;
  cd_bench *b = ud;
  b->bytes += n;
  seen(b, NULL, 0);
}

static void on_block(void *ud, uint64_t id, const btcclient_peer_info *peer, const uint8_t *data,
                     size_t n, const uint8_t *hash) {
  (void)id;
  (void)peer;
  (void)data;
  (void)hash;
  cd_bench *b = ud;
  b->bytes += n;
  seen(b, NULL, 0);
}

// Poll delivery: one thread takes the events until the stopped client's queue is empty.

static void *poller(void *arg) {
  cd_bench *b = arg;
  for (;;) {
    btcclient_event *ev = NULL;
    btcclient_status st = btcclient_poll_next(b->client, -1, &ev, NULL);
    if (st == BTCCLIENT_STATUS_CLIENT_NOT_STARTED) break;
    if (st != BTCCLIENT_STATUS_OK) continue;
    (void)btcclient_event_peer_info(ev);
    switch (btcclient_event_get_kind(ev)) {
    case BTCCLIENT_EVENT_KIND_HEADERS: {
      const btcclient_header *items = NULL;
      size_t n = 0;
      btcclient_event_headers(ev, &items, &n);
      b->bytes += n;
      seen(b, items, n);
      break;
    }
    case BTCCLIENT_EVENT_KIND_INV: {
      const btcclient_inv *items = NULL;
      size_t n = 0;
      btcclient_event_inv(ev, &items, &n);
      b->bytes += n;
      seen(b, NULL, 0);
      break;
    }
    case BTCCLIENT_EVENT_KIND_BLOCK: {
      const uint8_t *data = NULL;
      size_t n = 0;
      uint8_t hash[32];
      btcclient_event_bytes(ev, &data, &n);
      btcclient_event_hash(ev, hash);
      b->bytes += n;
      seen(b, NULL, 0);
      break;
    }
    default:
      break;
    }
    btcclient_event_free(ev);
  }
  return NULL;
}

static void set_err(char *err, size_t errlen, const char *what, btcclient_error *e) {
  snprintf(err, errlen, "%s: %s", what, e ? btcclient_error_message(e) : "failed");
  btcclient_error_free(e);
}

cd_bench *cd_open(int poll, uint32_t transport, const char *addr, char *err, size_t errlen) {
  cd_bench *b = calloc(1, sizeof *b);
  if (b == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  b->poll = poll;

  btcclient_config config;
  btcclient_config_default(&config, sizeof config);
  config.network = BTCCLIENT_NETWORK_REGTEST;
  config.discovery = false;
  config.send_queue_bytes = 16u << 20;
  config.send_queue_len = 4096;
  config.event_queue_len = 1024;
  config.transport = transport;
  config.poll_mode = poll != 0;
  btcclient_listeners l;
  btcclient_listeners_init(&l, sizeof l);
  if (!poll) {
    l.user_data = b;
    l.on_headers = on_headers;
    l.on_inv = on_inv;
    l.on_block = on_block;
  }
  btcclient_error *e = NULL;
  if (btcclient_client_new(&config, &l, &b->client, &e) != BTCCLIENT_STATUS_OK) {
    set_err(err, errlen, "btcclient_client_new", e);
    cd_close(b);
    return NULL;
  }
  if (btcclient_client_start(b->client, &e) != BTCCLIENT_STATUS_OK) {
    set_err(err, errlen, "btcclient_client_start", e);
    cd_close(b);
    return NULL;
  }
  if (poll) {
    if (pthread_create(&b->thread, NULL, poller, b) != 0) {
      snprintf(err, errlen, "pthread_create failed");
      cd_close(b);
      return NULL;
    }
    b->thread_started = 1;
  }
  if (btcclient_client_add_peer(b->client, addr, &b->peer, &e) != BTCCLIENT_STATUS_OK) {
    set_err(err, errlen, "btcclient_client_add_peer", e);
    cd_close(b);
    return NULL;
  }
  if (btcclient_client_wait_connected(b->client, b->peer, 10000, &e) != BTCCLIENT_STATUS_OK) {
    set_err(err, errlen, "btcclient_client_wait_connected", e);
    cd_close(b);
    return NULL;
  }
  return b;
}

static struct timespec deadline_in(int ms) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

int cd_warm(cd_bench *b, uint8_t first[2][32], int timeout_ms) {
  uint8_t genesis[32];
  btcclient_genesis_hash(BTCCLIENT_NETWORK_REGTEST, genesis);
  if (btcclient_send_getheaders(b->client, b->peer, (const uint8_t(*)[32])genesis, 1, NULL,
                                NULL) != BTCCLIENT_STATUS_OK) {
    return -1;
  }
  struct timespec deadline = deadline_in(timeout_ms);
  pthread_mutex_lock(&b->mu);
  while (!b->have_first) {
    if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT) break;
  }
  int ok = b->have_first;
  if (ok) memcpy(first, b->first, sizeof b->first);
  pthread_mutex_unlock(&b->mu);
  return ok ? 0 : -1;
}

int64_t cd_run(cd_bench *b, const char *command, const uint8_t *payload, size_t len,
               uint64_t sends, uint64_t events, int timeout_ms, char *err, size_t errlen) {
  pthread_mutex_lock(&b->mu);
  b->count = 0;
  b->target = events;
  pthread_mutex_unlock(&b->mu);
  for (uint64_t i = 0; i < sends; i++) {
    for (;;) {
      btcclient_error *e = NULL;
      btcclient_status st =
          btcclient_client_send_to(b->client, b->peer, command, payload, len, &e);
      if (st == BTCCLIENT_STATUS_OK) break;
      if (st != BTCCLIENT_STATUS_QUEUE_FULL) {
        set_err(err, errlen, "btcclient_client_send_to", e);
        return -1;
      }
      btcclient_error_free(e);
      struct timespec pause = {0, 50000L};
      nanosleep(&pause, NULL);
    }
  }
  struct timespec deadline = deadline_in(timeout_ms);
  pthread_mutex_lock(&b->mu);
  while (b->count < events) {
    if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT) break;
  }
  int64_t n = (int64_t)b->count;
  pthread_mutex_unlock(&b->mu);
  return n;
}

void cd_close(cd_bench *b) {
  if (b == NULL) return;
  if (b->client != NULL) {
    btcclient_client_stop(b->client, 5000, NULL);
  }
  if (b->thread_started) {
    pthread_join(b->thread, NULL);
  }
  btcclient_client_free(b->client);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  free(b);
}
