// C side of the callback delivery (DeliveryCallbacks, DeliveryConcurrent) and of the logger:
// shims that pass the library's callbacks to the exported Go functions of callbacks.go.
#ifndef BTCCLIENT_GO_BRIDGE_H
#define BTCCLIENT_GO_BRIDGE_H

#include <stdint.h>
#include <btcclient.h>

// Which callbacks go_client_new sets (bits of `mask`).
#define GO_ON_HEADERS 1u
#define GO_ON_INV 2u
#define GO_ON_ADDR 4u
#define GO_ON_BLOCK 8u
#define GO_ON_TX 16u
#define GO_ON_MESSAGE 32u
#define GO_ON_ATTEMPT_FAILED 64u
#define GO_ON_STATUS_CHANGED 128u

// btcclient_client_new with listeners that call the Go bridge; `handle` (a cgo.Handle) is
// the user_data, deleted through user_data_free by btcclient_client_free.
btcclient_status go_client_new(const btcclient_config *config, uintptr_t handle, uint32_t mask,
                               btcclient_client **out, btcclient_error **err);

// The token of the poll-mode client whose dispatcher goroutine is locked to this thread (0:
// none). The dispatcher sets it after runtime.LockOSThread and clears it before unlocking, so
// only that goroutine ever reads its own token here.
void go_set_dispatcher(uintptr_t token);
uintptr_t go_current_dispatcher(void);

// btcclient_set_logger with the Go log bridge (`on` = 0: logging off).
btcclient_status go_set_logger(uintptr_t handle, uint32_t level, int on);

#endif
