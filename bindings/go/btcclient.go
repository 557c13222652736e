// Package btcclient is a Bitcoin P2P client: it keeps a set of outbound peer connections
// alive (version/verack handshake, reconnection with backoff, health checks, peer discovery
// from addr and addrv2) and delivers the peers' messages to Go listener functions.
//
// It wraps libbtcclient, the C ABI of the Rust btcclient library, through cgo, and keeps the
// shape of the original Go package (btcclient on btcd): NewBtcClient with functional
// options over DefaultConfig, Start, Stop(ctx), AddPeer(ctx, addr), RemovePeer, PeerCount,
// MessageListeners, and the same sentinel errors. It uses no btcd types: headers, inventory
// vectors and addresses are plain Go structs of this package, and any other message is sent
// and received as its command and raw payload.
//
// # Events
//
// By default (DeliveryPoll) the library queues every event and one goroutine of this package
// takes them with btcclient_poll_next and calls the listeners, one at a time, in each peer's
// message order. Listener code therefore needs no locks, may call any method of the client
// (AddPeer, RemovePeer, PeerCount, Peers, the Send methods) and may not call Stop or Close
// (they return ErrCalledFromCallback). A panicking listener is recovered and logged; the
// dispatcher goes on. After Stop returns nil, no listener runs until the next Start and
// every OnPeerConnected had its OnPeerDisconnected; after it returned early (ctx cancelled,
// deadline), none starts, and the error counts the OnPeerDisconnected calls not made (see
// Stop). Besides the peers' messages, OnAttemptFailed reports each failed connection attempt
// and OnStatusChanged each status change of a peer.
//
// # Building
//
// The package compiles against include/btcclient.h and links libbtcclient.a of the
// repository it sits in, found through #cgo directives relative to this directory: build the
// library first, then use the module as any other (from another module: a require of
// github.com/btcclient/btcclient-go v0.0.0 and a replace directive pointing at this
// directory).
//
//	cargo build --release -p btcclient-ffi    # target/release/libbtcclient.a
//	go build ./...
//
// Build tags select another library: btcclient_debug links target/debug/libbtcclient.a
// (cargo build without --release); btcclient_nolib links none, and CGO_LDFLAGS names it
// (a library in another CARGO_TARGET_DIR).
package btcclient

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#include <stdlib.h>
#include <btcclient.h>
*/
import "C"

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unsafe"
)

// Version is the version of libbtcclient this package is linked with, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.btcclient_version())
}

// HashString formats a 32-byte hash (internal byte order, as delivered in headers,
// inventory vectors and blocks) the usual way: reversed, in hex, as Bitcoin Core and block
// explorers print it.
func HashString(h [32]byte) string {
	var r [32]byte
	for i := range h {
		r[i] = h[31-i]
	}
	return hex.EncodeToString(r[:])
}

// ParseHash parses a hash printed the usual way (64 hex digits, reversed) into internal
// byte order: the inverse of HashString.
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil {
		return h, err
	}
	if len(b) != 32 {
		return h, fmt.Errorf("btcclient: a hash has 64 hex digits, got %d", len(s))
	}
	for i := range h {
		h[i] = b[31-i]
	}
	return h, nil
}

// cstring returns s as a NUL-terminated byte slice in Go memory, which C may read during a
// call (it holds no Go pointers); it saves the malloc and free of C.CString. A string that
// contains a NUL byte is refused (ErrInvalidArgument naming what): C would read it only up
// to the NUL.
func cstring(what, s string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, nulError(what, s)
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b, nil
}

func nulError(what, s string) error {
	return &Error{Status: statusInvalidArgument,
		Message: fmt.Sprintf("%s %q contains a NUL byte", what, s)}
}

func cptr(b []byte) *C.char {
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// call turns the status and error detail of a C call into a Go error (nil on success) and
// releases the detail.
func call(status C.btcclient_status, cerr *C.btcclient_error) error {
	if status == C.BTCCLIENT_STATUS_OK {
		return nil
	}
	msg := ""
	if cerr != nil {
		msg = C.GoString(C.btcclient_error_message(cerr))
		C.btcclient_error_free(cerr)
	}
	if msg == "" {
		msg = C.GoString(C.btcclient_status_str(C.uint32_t(status)))
	}
	return newError(Status(status), msg)
}
