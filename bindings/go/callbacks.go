package btcclient

// The exported functions the library calls (through the shims of bridge.c) with callback
// delivery, and the logger's. This file's preamble may only declare (cgo's rule for files
// with //export).

/*
#include <btcclient.h>
#include "bridge.h"
*/
import "C"

import (
	"log"
	"runtime/cgo"
)

// listenerMask says which typed callbacks the library must call. A typed message whose
// listener is nil is still taken when OnMessage is set, so that OnMessage gets the same
// "other" messages as with DeliveryPoll.
func (c *client) listenerMask() C.uint32_t {
	l := &c.listeners
	all := l.OnMessage != nil
	var m C.uint32_t
	if all || l.OnHeaders != nil {
		m |= C.GO_ON_HEADERS
	}
	if all || l.OnInv != nil {
		m |= C.GO_ON_INV
	}
	if all || l.OnAddr != nil {
		m |= C.GO_ON_ADDR
	}
	if all || l.OnBlock != nil {
		m |= C.GO_ON_BLOCK
	}
	if all || l.OnTx != nil {
		m |= C.GO_ON_TX
	}
	if all {
		m |= C.GO_ON_MESSAGE
	}
	if l.OnAttemptFailed != nil {
		m |= C.GO_ON_ATTEMPT_FAILED
	}
	if l.OnStatusChanged != nil {
		m |= C.GO_ON_STATUS_CHANGED
	}
	return m
}

// bridgeClient returns the client of a handle, nil if the handle is not one (never, unless
// the library is broken).
func bridgeClient(h C.uintptr_t) *client {
	c, _ := cgo.Handle(h).Value().(*client)
	return c
}

// bridgeRecover keeps a panic of the bridge itself from unwinding into the library.
func bridgeRecover(name string) {
	if r := recover(); r != nil {
		log.Printf("btcclient: %s: panic in the callback bridge: %v", name, r)
	}
}

//export goOnPeerConnected
func goOnPeerConnected(h C.uintptr_t, info *C.btcclient_peer_info) {
	defer bridgeRecover("goOnPeerConnected")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onConnected(info)
	}
}

//export goOnPeerDisconnected
func goOnPeerDisconnected(h C.uintptr_t, info *C.btcclient_peer_info, reason C.uint32_t, text *C.char) {
	defer bridgeRecover("goOnPeerDisconnected")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onDisconnected(info, reason, text)
	}
}

//export goOnHeaders
func goOnHeaders(h C.uintptr_t, info *C.btcclient_peer_info, items *C.btcclient_header, n C.size_t) {
	defer bridgeRecover("goOnHeaders")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onHeaders(info, items, n)
	}
}

//export goOnInv
func goOnInv(h C.uintptr_t, info *C.btcclient_peer_info, items *C.btcclient_inv, n C.size_t) {
	defer bridgeRecover("goOnInv")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onInv(info, items, n)
	}
}

//export goOnAddr
func goOnAddr(h C.uintptr_t, info *C.btcclient_peer_info, items *C.btcclient_addr, n C.size_t) {
	defer bridgeRecover("goOnAddr")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onAddr(info, items, n)
	}
}

//export goOnBlock
func goOnBlock(h C.uintptr_t, info *C.btcclient_peer_info, data *C.uint8_t, n C.size_t, hash *C.uint8_t) {
	defer bridgeRecover("goOnBlock")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onBlock(info, data, n, hash)
	}
}

//export goOnTx
func goOnTx(h C.uintptr_t, info *C.btcclient_peer_info, data *C.uint8_t, n C.size_t, txid *C.uint8_t) {
	defer bridgeRecover("goOnTx")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onTx(info, data, n, txid)
	}
}

//export goOnMessage
func goOnMessage(h C.uintptr_t, info *C.btcclient_peer_info, command *C.char, data *C.uint8_t, n C.size_t) {
	defer bridgeRecover("goOnMessage")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onMessage(info, command, data, n)
	}
}

//export goOnAttemptFailed
func goOnAttemptFailed(h C.uintptr_t, info *C.btcclient_peer_info, cause *C.char, failures C.uint32_t, retryMs C.uint64_t) {
	defer bridgeRecover("goOnAttemptFailed")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onAttemptFailed(info, cause, failures, retryMs)
	}
}

//export goOnStatusChanged
func goOnStatusChanged(h C.uintptr_t, info *C.btcclient_peer_info, old, new C.uint32_t) {
	defer bridgeRecover("goOnStatusChanged")
	if c := bridgeClient(h); c != nil && info != nil {
		c.onStatusChanged(info, old, new)
	}
}

// goUserDataFree is called exactly once, by btcclient_client_free after the last callback.
//
//export goUserDataFree
func goUserDataFree(h C.uintptr_t) {
	defer bridgeRecover("goUserDataFree")
	cgo.Handle(h).Delete()
	liveHandles.Add(-1)
}

//export goLog
func goLog(h C.uintptr_t, level C.uint32_t, target, message *C.char) {
	defer bridgeRecover("goLog")
	if f, ok := cgo.Handle(h).Value().(LogFunc); ok && f != nil {
		f(LogLevel(level), C.GoString(target), C.GoString(message))
	}
}
