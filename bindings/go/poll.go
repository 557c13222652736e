package btcclient

/*
#include <stdlib.h>
#include <string.h>
#include <btcclient.h>
#include "bridge.h"

// One event, read through the accessors in C so that Go needs a single cgo call per batch.
// Every pointer is owned by `event` and valid until it is freed.
typedef struct {
	btcclient_event *event;
	uint32_t kind;
	const btcclient_peer_info *peer;
	const void *items;     // headers, inv, addrs or bytes
	size_t count;          // their number (bytes: the length)
	const char *text;      // MESSAGE: the command; PEER_DISCONNECTED: the reason text;
	                       // ATTEMPT_FAILED: the cause
	uint32_t reason;       // PEER_DISCONNECTED
	uint32_t failures;     // ATTEMPT_FAILED
	uint64_t retry_ms;     // ATTEMPT_FAILED
	uint32_t old_status;   // STATUS_CHANGED
	uint32_t new_status;   // STATUS_CHANGED
	uint8_t hash[32];      // BLOCK, TX
} go_event;

#define GO_BATCH 64

static void go_read_event(btcclient_event *ev, go_event *out) {
	memset(out, 0, sizeof *out);
	out->event = ev;
	out->kind = btcclient_event_get_kind(ev);
	out->peer = btcclient_event_peer_info(ev);
	switch (out->kind) {
	case BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED:
		btcclient_event_disconnect_reason(ev, &out->reason, &out->text);
		break;
	case BTCCLIENT_EVENT_KIND_HEADERS:
		btcclient_event_headers(ev, (const btcclient_header **)&out->items, &out->count);
		break;
	case BTCCLIENT_EVENT_KIND_INV:
		btcclient_event_inv(ev, (const btcclient_inv **)&out->items, &out->count);
		break;
	case BTCCLIENT_EVENT_KIND_ADDR:
		btcclient_event_addrs(ev, (const btcclient_addr **)&out->items, &out->count);
		break;
	case BTCCLIENT_EVENT_KIND_BLOCK:
	case BTCCLIENT_EVENT_KIND_TX:
		btcclient_event_bytes(ev, (const uint8_t **)&out->items, &out->count);
		btcclient_event_hash(ev, out->hash);
		break;
	case BTCCLIENT_EVENT_KIND_MESSAGE:
		btcclient_event_bytes(ev, (const uint8_t **)&out->items, &out->count);
		out->text = btcclient_event_command(ev);
		break;
	case BTCCLIENT_EVENT_KIND_ATTEMPT_FAILED:
		btcclient_event_attempt_failed(ev, &out->text, &out->failures, &out->retry_ms);
		break;
	case BTCCLIENT_EVENT_KIND_STATUS_CHANGED:
		btcclient_event_status_change(ev, &out->old_status, &out->new_status);
		break;
	default:
		// A kind this package does not know (a newer library): only kind and peer are read;
		// deliver skips it and the batch frees it like any other.
		break;
	}
}

// A batch of events and the error of the poll that took them. It lives in C memory, so that
// passing it to C costs no cgo pointer check.
typedef struct {
	size_t n;
	btcclient_error *err;
	go_event evs[GO_BATCH];
} go_batch;

static go_batch *go_batch_new(void) { return calloc(1, sizeof(go_batch)); }

// Frees the events of the batch (not the batch).
static void go_free_events(go_batch *b) {
	for (size_t i = 0; i < b->n; i++) {
		btcclient_event_free(b->evs[i].event);
		b->evs[i].event = NULL;
	}
	b->n = 0;
}

// Frees the events left in the queue of a stopped client (before it starts again).
static void go_drain(const btcclient_client *client) {
	btcclient_event *ev = NULL;
	while (btcclient_poll_next(client, 0, &ev, NULL) == BTCCLIENT_STATUS_OK) {
		btcclient_event_free(ev);
	}
}

// Frees the events of the previous batch, then waits up to `timeout_ms` for an event and
// takes up to GO_BATCH of those that are waiting. `b->n` receives their number, `b->err`
// the error of a failed poll (the caller frees it).
static btcclient_status go_poll(const btcclient_client *client, int timeout_ms, go_batch *b) {
	go_free_events(b);
	b->err = NULL;
	btcclient_event *ev = NULL;
	btcclient_status st = btcclient_poll_next(client, timeout_ms, &ev, &b->err);
	if (st != BTCCLIENT_STATUS_OK) return st;
	go_read_event(ev, &b->evs[0]);
	b->n = 1;
	while (b->n < GO_BATCH && btcclient_poll_next(client, 0, &ev, NULL) == BTCCLIENT_STATUS_OK) {
		go_read_event(ev, &b->evs[b->n]);
		b->n += 1;
	}
	return BTCCLIENT_STATUS_OK;
}
*/
import "C"

import (
	"log"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// dispatcher is the goroutine that takes a poll-mode client's events and calls the
// listeners. One runs per Start; it ends when the stopped client's queue is empty.
type dispatcher struct {
	c    *client
	done chan struct{}
	// abandoned is set when Stop gave up waiting for it (a listener did not return before
	// the deadline): it calls no further listener and ends as soon as it can.
	abandoned atomic.Bool
}

// drainQueue frees the events left in a stopped poll-mode client's queue.
func (c *client) drainQueue() { C.go_drain(c.ptr) }

func (c *client) startDispatcher() *dispatcher {
	d := &dispatcher{c: c, done: make(chan struct{})}
	started := make(chan struct{})
	go d.run(started)
	<-started
	return d
}

func (d *dispatcher) run(started chan<- struct{}) {
	c := d.c
	// The goroutine keeps its thread, which carries the client's token in a C thread-local
	// while it runs: a listener that calls Stop, Close, Start or WaitConnected runs on this
	// goroutine and so on this thread, and no other goroutine runs on a locked thread.
	runtime.LockOSThread()
	C.go_set_dispatcher(C.uintptr_t(c.token))
	close(started)
	defer close(d.done)
	defer runtime.UnlockOSThread()
	defer C.go_set_dispatcher(0)

	b := C.go_batch_new()
	if b == nil {
		panic("btcclient: out of memory")
	}
	defer C.free(unsafe.Pointer(b))
	evs := (*[C.GO_BATCH]C.go_event)(unsafe.Pointer(&b.evs))
	for !d.abandoned.Load() {
		if !c.acquire() {
			return // closed: Close frees the events left
		}
		st := C.go_poll(c.ptr, -1, b)
		c.release()
		if st == C.BTCCLIENT_STATUS_CLIENT_NOT_STARTED {
			if b.err != nil {
				C.btcclient_error_free(b.err)
			}
			return
		}
		if st != C.BTCCLIENT_STATUS_OK {
			log.Printf("btcclient: poll: %v", call(st, b.err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := 0; i < int(b.n) && !d.abandoned.Load(); i++ {
			c.deliver(&evs[i])
		}
	}
	// The events of the last batch (undelivered ones too, when abandoned). Only if Close
	// already freed the client (after a Stop that timed out on a listener that never
	// returned) are they left unfreed: C may not be called on a freed client.
	if b.n > 0 && c.acquire() {
		C.go_free_events(b)
		c.release()
	}
}

func (c *client) deliver(ev *C.go_event) {
	info := ev.peer
	if info == nil {
		return
	}
	switch ev.kind {
	case C.BTCCLIENT_EVENT_KIND_PEER_CONNECTED:
		c.onConnected(info)
	case C.BTCCLIENT_EVENT_KIND_PEER_DISCONNECTED:
		c.onDisconnected(info, ev.reason, ev.text)
	case C.BTCCLIENT_EVENT_KIND_HEADERS:
		c.onHeaders(info, (*C.btcclient_header)(ev.items), ev.count)
	case C.BTCCLIENT_EVENT_KIND_INV:
		c.onInv(info, (*C.btcclient_inv)(ev.items), ev.count)
	case C.BTCCLIENT_EVENT_KIND_ADDR:
		c.onAddr(info, (*C.btcclient_addr)(ev.items), ev.count)
	case C.BTCCLIENT_EVENT_KIND_BLOCK:
		c.onBlock(info, (*C.uint8_t)(ev.items), ev.count, &ev.hash[0])
	case C.BTCCLIENT_EVENT_KIND_TX:
		c.onTx(info, (*C.uint8_t)(ev.items), ev.count, &ev.hash[0])
	case C.BTCCLIENT_EVENT_KIND_MESSAGE:
		c.onMessage(info, ev.text, (*C.uint8_t)(ev.items), ev.count)
	case C.BTCCLIENT_EVENT_KIND_ATTEMPT_FAILED:
		c.onAttemptFailed(info, ev.text, ev.failures, ev.retry_ms)
	case C.BTCCLIENT_EVENT_KIND_STATUS_CHANGED:
		c.onStatusChanged(info, ev.old_status, ev.new_status)
	default:
		// Unknown kinds (a newer library) are skipped.
	}
}
