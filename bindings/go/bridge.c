// Shims between libbtcclient's callbacks and the exported Go functions (callbacks.go). The
// user_data of every callback is a runtime/cgo.Handle carried as an integer. Also the
// thread-local token of a poll-mode dispatcher thread (bridge.h).
#include "bridge.h"
#include "_cgo_export.h"

static __thread uintptr_t dispatcher_token;

void go_set_dispatcher(uintptr_t token) { dispatcher_token = token; }

uintptr_t go_current_dispatcher(void) { return dispatcher_token; }

static void on_connected(void *ud, uint64_t id, const btcclient_peer_info *peer) {
  (void)id;
  goOnPeerConnected((uintptr_t)ud, (btcclient_peer_info *)peer);
}

static void on_disconnected(void *ud, uint64_t id, const btcclient_peer_info *peer,
                            uint32_t reason, const char *text) {
  (void)id;
  goOnPeerDisconnected((uintptr_t)ud, (btcclient_peer_info *)peer, reason, (char *)text);
}

static void on_headers(void *ud, uint64_t id, const btcclient_peer_info *peer,
                       const btcclient_header *items, size_t n) {
  (void)id;
  goOnHeaders((uintptr_t)ud, (btcclient_peer_info *)peer, (btcclient_header *)items, n);
}

static void on_inv(void *ud, uint64_t id, const btcclient_peer_info *peer,
                   const btcclient_inv *items, size_t n) {
  (void)id;
  goOnInv((uintptr_t)ud, (btcclient_peer_info *)peer, (btcclient_inv *)items, n);
}

static void on_addr(void *ud, uint64_t id, const btcclient_peer_info *peer,
                    const btcclient_addr *items, size_t n) {
  (void)id;
  goOnAddr((uintptr_t)ud, (btcclient_peer_info *)peer, (btcclient_addr *)items, n);
}

static void on_block(void *ud, uint64_t id, const btcclient_peer_info *peer, const uint8_t *data,
                     size_t n, const uint8_t *hash) {
  (void)id;
  goOnBlock((uintptr_t)ud, (btcclient_peer_info *)peer, (uint8_t *)data, n, (uint8_t *)hash);
}

static void on_tx(void *ud, uint64_t id, const btcclient_peer_info *peer, const uint8_t *data,
                  size_t n, const uint8_t *txid) {
  (void)id;
  goOnTx((uintptr_t)ud, (btcclient_peer_info *)peer, (uint8_t *)data, n, (uint8_t *)txid);
}

static void on_message(void *ud, uint64_t id, const btcclient_peer_info *peer,
                       const char *command, const uint8_t *payload, size_t n) {
  (void)id;
  goOnMessage((uintptr_t)ud, (btcclient_peer_info *)peer, (char *)command, (uint8_t *)payload, n);
}

static void on_attempt_failed(void *ud, uint64_t id, const btcclient_peer_info *peer,
                              const char *cause, uint32_t failures, uint64_t retry_in_ms) {
  (void)id;
  goOnAttemptFailed((uintptr_t)ud, (btcclient_peer_info *)peer, (char *)cause, failures,
                    retry_in_ms);
}

static void on_status_changed(void *ud, uint64_t id, const btcclient_peer_info *peer,
                              uint32_t old_status, uint32_t new_status) {
  (void)id;
  goOnStatusChanged((uintptr_t)ud, (btcclient_peer_info *)peer, old_status, new_status);
}

static void user_data_free(void *ud) { goUserDataFree((uintptr_t)ud); }

btcclient_status go_client_new(const btcclient_config *config, uintptr_t handle, uint32_t mask,
                               btcclient_client **out, btcclient_error **err) {
  btcclient_listeners l;
  btcclient_listeners_init(&l, sizeof l);
  l.user_data = (void *)handle;
  l.user_data_free = user_data_free;
  l.on_peer_connected = on_connected;
  l.on_peer_disconnected = on_disconnected;
  if (mask & GO_ON_HEADERS) l.on_headers = on_headers;
  if (mask & GO_ON_INV) l.on_inv = on_inv;
  if (mask & GO_ON_ADDR) l.on_addr = on_addr;
  if (mask & GO_ON_BLOCK) l.on_block = on_block;
  if (mask & GO_ON_TX) l.on_tx = on_tx;
  if (mask & GO_ON_MESSAGE) l.on_message = on_message;
  if (mask & GO_ON_ATTEMPT_FAILED) l.on_attempt_failed = on_attempt_failed;
  if (mask & GO_ON_STATUS_CHANGED) l.on_status_changed = on_status_changed;
  return btcclient_client_new(config, &l, out, err);
}

static void log_shim(void *ud, uint32_t level, const char *target, const char *message) {
  goLog((uintptr_t)ud, level, (char *)target, (char *)message);
}

btcclient_status go_set_logger(uintptr_t handle, uint32_t level, int on) {
  return btcclient_set_logger(on ? log_shim : NULL, level, (void *)handle);
}
