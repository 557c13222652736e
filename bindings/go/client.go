package btcclient

/*
#include <stdlib.h>
#include <btcclient.h>
#include "bridge.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// liveHandles counts the cgo handles of clients with callback delivery not yet released
// by the library (tests check that each is deleted exactly once).
var liveHandles atomic.Int64

// DefaultStopTimeout is how long Stop waits when its context has no deadline.
const DefaultStopTimeout = 30 * time.Second

// BtcClient is a Bitcoin P2P client: it manages outbound peers and delivers their messages
// to the MessageListeners. Its methods may be called from any goroutine, concurrently.
//
// A client is created stopped: call Start, then AddPeer. Stop disconnects every peer; the
// client can be started again. Close releases the library's client (a client that is no
// longer referenced and not running is released by a finalizer as well).
type BtcClient struct {
	c *client
}

type runState int

const (
	stateStopped runState = iota
	stateRunning
	stateStopping
)

// client is what the cgo handle and the peers refer to, so that the BtcClient itself can
// be finalized when the program drops it.
type client struct {
	ptr       *C.btcclient_client
	listeners MessageListeners
	delivery  Delivery
	handle    cgo.Handle // callback delivery: the user_data, deleted by user_data_free

	// Calls into the library count themselves in inflight; Close sets closed, waits for
	// inflight to drop to zero and then frees ptr. A call that finds closed set returns
	// ErrClientClosed instead of touching ptr.
	inflight atomic.Int64
	closed   atomic.Bool

	mu       sync.Mutex // state, self, disp, stopDone
	state    runState
	self     *BtcClient // keeps the BtcClient alive (no finalizer) while running
	disp     *dispatcher
	stopDone chan struct{} // stateStopping: closed when the stop has finished

	// token identifies the client's poll dispatcher thread (go_current_dispatcher).
	token uintptr
	// muted is set when a Stop returns before its stop finished: no listener is called
	// until the next Start.
	muted     atomic.Bool
	peerCache peerCache
}

// tokens numbers the clients for go_current_dispatcher (0 is none).
var tokens atomic.Uintptr

func (c *client) acquire() bool {
	c.inflight.Add(1)
	if c.closed.Load() {
		c.inflight.Add(-1)
		return false
	}
	return true
}

func (c *client) release() { c.inflight.Add(-1) }

// NewBtcClient creates a client with DefaultConfig changed by opts. The client is stopped:
// call Start. ErrInvalidConfig names a field that is out of range.
func NewBtcClient(opts ...Option) (*BtcClient, error) {
	cfg := DefaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ccfg, err := cfg.toC()
	if err != nil {
		return nil, err
	}
	defer freeConfigStrings(&ccfg)
	c := &client{delivery: cfg.Delivery, token: tokens.Add(1)}
	if cfg.Listeners != nil {
		c.listeners = *cfg.Listeners
	}
	var ptr *C.btcclient_client
	var cerr *C.btcclient_error
	var st C.btcclient_status
	if cfg.Delivery == DeliveryPoll {
		st = C.btcclient_client_new(&ccfg, nil, &ptr, &cerr)
	} else {
		c.handle = cgo.NewHandle(c)
		liveHandles.Add(1)
		st = C.go_client_new(&ccfg, C.uintptr_t(c.handle), c.listenerMask(), &ptr, &cerr)
	}
	if err := configError(call(st, cerr)); err != nil {
		if c.handle != 0 {
			c.handle.Delete() // the library did not take user_data
			liveHandles.Add(-1)
		}
		return nil, err
	}
	c.ptr = ptr
	b := &BtcClient{c: c}
	runtime.SetFinalizer(b, (*BtcClient).finalize)
	return b, nil
}

// finalize releases a client the program dropped (it is not running: a running client
// keeps itself alive).
func (b *BtcClient) finalize() {
	go func(c *client) { _ = c.close() }(b.c)
}

// Start starts the client: its health check and the delivery of events. Peers are added
// after it. A stopped client can be started again. ErrClientAlreadyStarted when it runs,
// also while the stop of a Stop that returned early (cancelled ctx, deadline) finishes, and
// from inside a listener.
func (b *BtcClient) Start() error {
	defer runtime.KeepAlive(b)
	c := b.c
	if c.insideListener() {
		return &Error{Status: statusAlreadyStarted, Message: "client already started (Start called from a listener)"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateRunning:
		return &Error{Status: statusAlreadyStarted, Message: "client already started"}
	case stateStopping:
		return &Error{Status: statusAlreadyStarted, Message: "client already started (a Stop is in progress)"}
	}
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	if c.delivery == DeliveryPoll {
		// Events a dispatcher that Stop gave up on left in the queue belong to the stopped
		// run: they are dropped.
		c.drainQueue()
	}
	var cerr *C.btcclient_error
	if err := call(C.btcclient_client_start(c.ptr, &cerr), cerr); err != nil {
		return err
	}
	c.peerCache.mu.Lock()
	c.peerCache.peers = nil // left over by a Stop that timed out
	c.peerCache.mu.Unlock()
	c.muted.Store(false)
	if c.delivery == DeliveryPoll {
		c.disp = c.startDispatcher()
	}
	c.state = stateRunning
	c.self = b
	return nil
}

// Stop stops the client: every peer is disconnected (a connected one gets
// OnPeerDisconnected with DisconnectStopped), every connection and task of the library
// ends. When Stop returns nil, no listener is running and none runs again until the next
// Start.
//
// Stop waits until the stop is finished, until ctx's deadline (DefaultStopTimeout when ctx
// has none) or until ctx is cancelled, whichever comes first. When it returns before the
// stop finished, the error matches ErrStopTimeout and, when ctx is done, ctx.Err() (with
// errors.Is: context.Canceled or context.DeadlineExceeded). Then:
//
//   - no listener starts after Stop returned (one that is running, because it did not
//     return in time, finishes on its own); the OnPeerDisconnected calls of the stop that
//     had not started are not made: the *Error's UndeliveredDisconnects counts them (the
//     message says "N disconnected events not delivered");
//   - the stop goes on in the background until it is finished or the deadline (the
//     context's, or DefaultStopTimeout from the call when it has none) has passed; until
//     then Start returns ErrClientAlreadyStarted and Close waits for it. The client is
//     stopped in any case: no peer is reconnected.
//
// ErrClientNotStarted when the client does not run, ErrCalledFromCallback from inside a
// listener of this client.
func (b *BtcClient) Stop(ctx context.Context) error {
	defer runtime.KeepAlive(b)
	return b.c.stop(ctx)
}

func (c *client) stop(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if c.insideListener() {
		return &Error{Status: statusCalledFromCallback, Message: "Stop cannot be called from inside a listener of this client"}
	}
	start := time.Now()
	timeout, ctxDeadline := DefaultStopTimeout, false
	if dl, ok := ctx.Deadline(); ok {
		timeout, ctxDeadline = time.Until(dl), true
		if timeout < 0 {
			timeout = 0
		}
	}

	c.mu.Lock()
	if c.state != stateRunning {
		c.mu.Unlock()
		return &Error{Status: statusClientNotStarted, Message: "client not started"}
	}
	c.state = stateStopping
	d := c.disp
	done := make(chan struct{})
	c.stopDone = done
	c.mu.Unlock()

	// The library's stop blocks (up to timeout) and cannot be interrupted: it runs on its
	// own goroutine, and Stop returns when it is finished or when ctx is done.
	result := make(chan error, 1)
	go func() {
		err := c.finishStop(d, timeout)
		if ctxDeadline && errors.Is(err, ErrStopTimeout) {
			if e, ok := err.(*Error); ok && e.also == nil {
				e.also = context.DeadlineExceeded
			}
		}
		result <- err
		close(done)
	}()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		undelivered := c.mute()
		if d != nil {
			d.abandoned.Store(true)
		}
		select {
		case err := <-result: // finished meanwhile
			if err == nil && undelivered == 0 {
				return nil
			}
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return stopTimeout(ctx.Err(), undelivered, "stop did not finish within "+roundMs(timeout)+
				" (context deadline exceeded; %s): a listener is still running")
		}
		return stopTimeout(ctx.Err(), undelivered, "stop cancelled after "+roundMs(time.Since(start))+
			" ("+ctx.Err().Error()+"; %s): it finishes in the background")
	}
}

// stopTimeout is Stop's ErrStopTimeout error; format has one %s, which says how many
// disconnected events were not delivered.
func stopTimeout(also error, undelivered int, format string) *Error {
	return &Error{Status: statusStopTimeout, also: also, UndeliveredDisconnects: undelivered,
		Message: fmt.Sprintf(format, strconv.Itoa(undelivered)+" disconnected events not delivered")}
}

// finishStop stops the library's client and waits for the poll dispatcher d (if any) to
// deliver what is left, both within timeout; then the client is stopped. It returns Stop's
// result.
func (c *client) finishStop(d *dispatcher, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var result error
	if c.acquire() {
		var cerr *C.btcclient_error
		st := C.btcclient_client_stop(c.ptr, C.uint64_t(toMillis(timeout)), &cerr)
		c.release()
		result = call(st, cerr)
	} else {
		result = ErrClientClosed
	}
	const timedOut = "stop did not finish within %s (%s): a listener is still running"
	if e, ok := result.(*Error); ok && e.Status == statusStopTimeout {
		// Callback delivery: the library calls no callback after its stop returned. Its
		// message counts the same peers as mute; it is said the Go way.
		result = stopTimeout(nil, c.mute(), fmt.Sprintf(timedOut, roundMs(timeout), "%s"))
	}
	if d != nil {
		// The library has stopped; the dispatcher delivers what is left in the queue (the
		// final disconnects) and ends.
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-d.done:
		case <-timer.C:
			d.abandoned.Store(true)
			result = stopTimeout(nil, c.mute(), fmt.Sprintf(timedOut, roundMs(timeout), "%s"))
		}
		timer.Stop()
	}
	c.mu.Lock()
	c.state = stateStopped
	c.disp = nil
	c.self = nil
	c.stopDone = nil
	c.mu.Unlock()
	return result
}

// roundMs formats a duration rounded to the millisecond ("100ms", "1.5s").
func roundMs(d time.Duration) string { return d.Round(time.Millisecond).String() }

// Close stops the client if it runs (DefaultStopTimeout) and releases it; later calls
// return ErrClientClosed. When a Stop returned before its stop finished, Close waits for
// that stop first. Close is idempotent. ErrCalledFromCallback from inside a listener.
func (b *BtcClient) Close() error {
	defer runtime.KeepAlive(b)
	if b.c.insideListener() {
		return &Error{Status: statusCalledFromCallback, Message: "Close cannot be called from inside a listener of this client"}
	}
	runtime.SetFinalizer(b, nil)
	return b.c.close()
}

func (c *client) close() error {
	c.mu.Lock()
	state, done := c.state, c.stopDone
	c.mu.Unlock()
	var err error
	switch state {
	case stateRunning:
		if e := c.stop(context.Background()); e != nil && !errors.Is(e, ErrClientNotStarted) {
			err = e
		}
	case stateStopping:
		// A Stop is under way, or returned early and goes on in the background: its
		// duration is bounded by its deadline.
		<-done
	}
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	for c.inflight.Load() != 0 {
		time.Sleep(time.Millisecond)
	}
	// Callback delivery: the library calls user_data_free here, which deletes the handle.
	if st := C.btcclient_client_free(c.ptr); st != C.BTCCLIENT_STATUS_OK && err == nil {
		err = call(st, nil)
	}
	return err
}

// insideListener reports whether the calling goroutine runs a listener of this client. In
// poll mode listeners run on the dispatcher goroutine, locked to a thread that carries the
// client's token. With callback delivery the library knows: a blocking call on the client
// (btcclient_client_wait_connected, here for peer id 0, which is never a peer's) returns
// BTCCLIENT_STATUS_CALLED_FROM_CALLBACK inside its callbacks, before anything else.
func (c *client) insideListener() bool {
	if c.delivery == DeliveryPoll {
		return C.go_current_dispatcher() == C.uintptr_t(c.token)
	}
	if !c.acquire() {
		return false
	}
	defer c.release()
	return C.btcclient_client_wait_connected(c.ptr, 0, 0, nil) == C.BTCCLIENT_STATUS_CALLED_FROM_CALLBACK
}

// AddPeer adds a peer by "host:port", "ipv4:port" or "[ipv6]:port" and returns at once: the
// client resolves, dials and handshakes in the background, and retries after failures
// (ReconnectDelay, with backoff), as in the original package.
//
// ctx governs only whether the peer is added: when ctx is already done, AddPeer adds nothing
// and returns ctx.Err(). Adding itself does not block (nothing to cancel), and the
// connection is not tied to ctx: cancelling ctx after AddPeer returned neither removes the
// peer nor stops its connection (use RemovePeer). To wait for the handshake with a bound,
// pass a ctx to WaitConnected. A nil ctx is allowed.
//
// Errors: ErrInvalidAddress, ErrInvalidArgument (a NUL byte), ErrClientNotStarted,
// ErrPeerAlreadyExists, ErrMaxPeersReached, ErrClientClosed, ctx.Err().
func (b *BtcClient) AddPeer(ctx context.Context, addr string) error {
	_, err := b.AddPeerID(ctx, addr)
	return err
}

// AddPeerID is AddPeer that also returns the peer's id (for WaitConnected and the Send
// methods).
func (b *BtcClient) AddPeerID(ctx context.Context, addr string) (uint64, error) {
	defer runtime.KeepAlive(b)
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	c := b.c
	if !c.acquire() {
		return 0, ErrClientClosed
	}
	defer c.release()
	s, err := cstring("address", addr)
	if err != nil {
		return 0, err
	}
	var id C.uint64_t
	var cerr *C.btcclient_error
	st := C.btcclient_client_add_peer(c.ptr, cptr(s), &id, &cerr)
	return uint64(id), call(st, cerr)
}

// WaitConnected waits until the peer finished its handshake, or until a connection attempt
// that ends after this call fails (a *PeerConnectionError naming the address and the cause;
// the peer stays managed and is retried), or until ctx is done (a *PeerConnectionError
// "not connected within the wait" at its deadline, ctx.Err() when cancelled). When the peer
// is removed or the client stops meanwhile, it returns at once with a *PeerConnectionError
// whose cause says so ("the peer was removed", "the client was stopped"). Errors:
// ErrPeerNotFound, ErrClientNotStarted, ErrCalledFromCallback inside a listener.
func (b *BtcClient) WaitConnected(ctx context.Context, peerID uint64) error {
	defer runtime.KeepAlive(b)
	c := b.c
	if ctx == nil {
		ctx = context.Background()
	}
	if c.insideListener() {
		return &Error{Status: statusCalledFromCallback, Message: "WaitConnected cannot be called from inside a listener of this client"}
	}
	for {
		slice := time.Second
		dl, hasDeadline := ctx.Deadline()
		if hasDeadline {
			slice = time.Until(dl)
			if slice < 0 {
				slice = 0
			}
		}
		if !c.acquire() {
			return ErrClientClosed
		}
		var cerr *C.btcclient_error
		st := C.btcclient_client_wait_connected(c.ptr, C.uint64_t(peerID), C.uint64_t(toMillis(slice)), &cerr)
		c.release()
		err := call(st, cerr)
		var pce *PeerConnectionError
		if errors.As(err, &pce) && pce.Addr == "" {
			pce.Addr = c.addrOf(peerID)
		}
		if err == nil || hasDeadline || !errors.As(err, &pce) || !isWaitTimeout(pce) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// isWaitTimeout tells whether a connection error only says that the wait ended.
func isWaitTimeout(e *PeerConnectionError) bool {
	return e.Err != nil && strings.Contains(e.Err.Error(), "within the wait")
}

func (c *client) addrOf(id uint64) string {
	for _, p := range c.peers() {
		if p.ID == id {
			return p.Addr
		}
	}
	return ""
}

// RemovePeer removes a peer by address: it is disconnected (OnPeerDisconnected with
// DisconnectRemoved if it was connected) and no longer retried. Errors: ErrPeerNotFound,
// ErrClientNotStarted.
func (b *BtcClient) RemovePeer(addr string) error {
	defer runtime.KeepAlive(b)
	c := b.c
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	s, err := cstring("address", addr)
	if err != nil {
		return err
	}
	var cerr *C.btcclient_error
	return call(C.btcclient_client_remove_peer(c.ptr, cptr(s), &cerr), cerr)
}

// RemovePeerByID removes a peer by id; see RemovePeer.
func (b *BtcClient) RemovePeerByID(peerID uint64) error {
	defer runtime.KeepAlive(b)
	return b.c.removePeerByID(peerID)
}

func (c *client) removePeerByID(peerID uint64) error {
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	var cerr *C.btcclient_error
	return call(C.btcclient_client_remove_peer_by_id(c.ptr, C.uint64_t(peerID), &cerr), cerr)
}

// PeerCount returns the number of managed peers, connected or not. It returns 0 when the
// client is not running and when it cannot count: after Close, or when the library fails
// (a bug); PeerCountErr tells these apart.
func (b *BtcClient) PeerCount() int {
	n, _ := b.PeerCountErr()
	return n
}

// PeerCountErr is PeerCount with its error: (0, nil) when the client is not running,
// ErrClientClosed after Close, ErrInternal when the library fails.
func (b *BtcClient) PeerCountErr() (int, error) {
	defer runtime.KeepAlive(b)
	c := b.c
	if !c.acquire() {
		return 0, ErrClientClosed
	}
	defer c.release()
	var n C.size_t
	if st := C.btcclient_client_peer_count(c.ptr, &n); st != C.BTCCLIENT_STATUS_OK {
		return 0, call(st, nil)
	}
	return int(n), nil
}

// Peers returns a snapshot of every managed peer, in id order (empty when the client is
// not running). It returns nil after Close and when the library fails (a bug; the failure
// is logged).
func (b *BtcClient) Peers() []PeerInfo {
	defer runtime.KeepAlive(b)
	return b.c.peers()
}

func (c *client) peers() []PeerInfo {
	if !c.acquire() {
		return nil
	}
	defer c.release()
	var list *C.btcclient_peer_list
	var cerr *C.btcclient_error
	if st := C.btcclient_client_peers(c.ptr, &list, &cerr); st != C.BTCCLIENT_STATUS_OK {
		log.Printf("btcclient: Peers: %v", call(st, cerr))
		return nil
	}
	defer C.btcclient_peer_list_free(list)
	n := int(C.btcclient_peer_list_len(list))
	out := make([]PeerInfo, 0, n)
	for i := 0; i < n; i++ {
		s := C.btcclient_peer_list_get(list, C.size_t(i))
		if s == nil {
			continue
		}
		p := PeerInfo{
			ID:              uint64(s.id),
			Addr:            C.GoString(s.addr),
			Status:          PeerStatus(s.status),
			FailureCount:    int(s.failure_count),
			Discovered:      bool(s.discovered),
			HasInfo:         bool(s.has_info),
			ProtocolVersion: uint32(s.protocol_version),
			Services:        uint64(s.services),
			UserAgent:       C.GoString(s.user_agent),
			StartHeight:     int32(s.start_height),
			Relay:           bool(s.relay),
			BytesIn:         uint64(s.bytes_in),
			BytesOut:        uint64(s.bytes_out),
			MessagesIn:      uint64(s.messages_in),
			MessagesOut:     uint64(s.messages_out),
			LastPingRTT:     -1,
		}
		if s.connected_since_ms != 0 {
			p.ConnectedSince = time.UnixMilli(int64(s.connected_since_ms))
		}
		if s.last_ping_rtt_us >= 0 {
			p.LastPingRTT = time.Duration(s.last_ping_rtt_us) * time.Microsecond
		}
		if s.last_error != nil {
			p.LastError = C.GoString(s.last_error)
		}
		switch s.transport {
		case C.BTCCLIENT_TRANSPORT_KIND_V1:
			p.Transport = "v1"
		case C.BTCCLIENT_TRANSPORT_KIND_V2:
			p.Transport = "v2"
		}
		if s.session_id != nil {
			p.SessionID = C.GoString(s.session_id)
		}
		out = append(out, p)
	}
	return out
}

// SendMessage sends a message to the peer at peerAddr: command (1 to 12 printable ASCII
// characters) and its serialized payload; the library adds the 24-byte header. It only
// queues the message. Errors: ErrClientNotStarted, ErrPeerNotFound, ErrPeerNotConnected,
// ErrQueueFull, ErrInvalidMessage.
func (b *BtcClient) SendMessage(peerAddr, command string, payload []byte) error {
	defer runtime.KeepAlive(b)
	c := b.c
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	a, err := cstring("address", peerAddr)
	if err != nil {
		return err
	}
	cmd, err := cstring("command", command)
	if err != nil {
		return err
	}
	var cerr *C.btcclient_error
	return call(C.btcclient_client_send(c.ptr, cptr(a), cptr(cmd), bytesPtr(payload), C.size_t(len(payload)), &cerr), cerr)
}

// SendMessageTo sends a message to the peer with id peerID; see SendMessage.
func (b *BtcClient) SendMessageTo(peerID uint64, command string, payload []byte) error {
	defer runtime.KeepAlive(b)
	return b.c.sendTo(peerID, command, payload)
}

// SendGetHeaders sends getheaders to the peer peerID: locator hashes newest first (at most
// 101; internal byte order, as in BlockHeader.Hash), stop the hash to stop at or the zero
// hash for as many as the peer sends (2000).
func (b *BtcClient) SendGetHeaders(peerID uint64, locator [][32]byte, stop [32]byte) error {
	defer runtime.KeepAlive(b)
	return b.c.sendGetHeaders(peerID, locator, stop)
}

// SendGetData sends getdata for inv (1 to 50000 entries) to the peer peerID; blocks arrive
// through OnBlock, transactions through OnTx.
func (b *BtcClient) SendGetData(peerID uint64, inv []InvVect) error {
	defer runtime.KeepAlive(b)
	return b.c.sendGetData(peerID, inv)
}

// SendGetAddr sends getaddr to the peer peerID.
func (b *BtcClient) SendGetAddr(peerID uint64) error {
	defer runtime.KeepAlive(b)
	return b.c.sendGetAddr(peerID)
}

func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

func (c *client) sendTo(peerID uint64, command string, payload []byte) error {
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	cmd, err := cstring("command", command)
	if err != nil {
		return err
	}
	var cerr *C.btcclient_error
	return call(C.btcclient_client_send_to(c.ptr, C.uint64_t(peerID), cptr(cmd), bytesPtr(payload), C.size_t(len(payload)), &cerr), cerr)
}

func (c *client) sendGetHeaders(peerID uint64, locator [][32]byte, stop [32]byte) error {
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	var loc *[32]C.uint8_t
	if len(locator) > 0 {
		loc = (*[32]C.uint8_t)(unsafe.Pointer(&locator[0]))
	}
	var cerr *C.btcclient_error
	st := C.btcclient_send_getheaders(c.ptr, C.uint64_t(peerID), loc, C.size_t(len(locator)),
		(*C.uint8_t)(unsafe.Pointer(&stop[0])), &cerr)
	return call(st, cerr)
}

func (c *client) sendGetData(peerID uint64, inv []InvVect) error {
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	items := make([]C.btcclient_inv, len(inv))
	for i, v := range inv {
		items[i]._type = C.uint32_t(v.Type)
		items[i].hash = *(*[32]C.uint8_t)(unsafe.Pointer(&v.Hash))
	}
	var p *C.btcclient_inv
	if len(items) > 0 {
		p = &items[0]
	}
	var cerr *C.btcclient_error
	return call(C.btcclient_send_getdata(c.ptr, C.uint64_t(peerID), p, C.size_t(len(items)), &cerr), cerr)
}

func (c *client) sendGetAddr(peerID uint64) error {
	if !c.acquire() {
		return ErrClientClosed
	}
	defer c.release()
	var cerr *C.btcclient_error
	return call(C.btcclient_send_getaddr(c.ptr, C.uint64_t(peerID), &cerr), cerr)
}
