package btcclient

/*
#include <btcclient.h>
*/
import "C"

import (
	"log"
	"net"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"
)

// This file turns the library's borrowed C data into Go values (copies) and calls the
// listeners. Both delivery paths use it: the poll dispatcher (poll.go) and the exported
// callbacks (callbacks.go).

// peerCache keeps one *Peer per connection, from its connected event to its disconnected
// event, so listeners see the same pointer for a connection.
type peerCache struct {
	mu    sync.Mutex
	peers map[uint64]*Peer
}

func (c *client) newPeer(info *C.btcclient_peer_info) *Peer {
	return &Peer{
		ID:              uint64(info.id),
		Addr:            C.GoString(info.addr),
		ProtocolVersion: uint32(info.protocol_version),
		Services:        uint64(info.services),
		UserAgent:       C.GoString(info.user_agent),
		StartHeight:     int32(info.start_height),
		Relay:           bool(info.relay),
		Discovered:      bool(info.discovered),
		c:               c,
	}
}

// peer returns the *Peer of the connection an event is about.
func (c *client) peer(info *C.btcclient_peer_info) *Peer {
	id := uint64(info.id)
	c.peerCache.mu.Lock()
	p := c.peerCache.peers[id]
	c.peerCache.mu.Unlock()
	if p == nil {
		p = c.newPeer(info)
	}
	return p
}

// protect runs a listener, recovering and logging a panic so that the dispatcher goes on.
// It calls nothing after a Stop returned before its stop finished (until the next Start).
func (c *client) protect(name string, p *Peer, f func()) {
	if c.muted.Load() {
		return
	}
	c.run(name, p, f)
}

// run calls a listener, recovering and logging a panic.
func (c *client) run(name string, p *Peer, f func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Printf("btcclient: listener %s panicked (%v): %v\n%s", name, p, r, debug.Stack())
		}
	}()
	f()
}

// mute makes the listeners silent until the next Start (a Stop returned, or is returning,
// before its stop finished). It returns the number of connected peers whose
// OnPeerDisconnected was not called and now will not be: the peers onConnected recorded
// and onDisconnected did not take, both deciding under peerCache.mu.
func (c *client) mute() int {
	c.peerCache.mu.Lock()
	defer c.peerCache.mu.Unlock()
	c.muted.Store(true)
	return len(c.peerCache.peers)
}

func (c *client) onConnected(info *C.btcclient_peer_info) {
	p := c.newPeer(info)
	c.peerCache.mu.Lock()
	if c.muted.Load() {
		c.peerCache.mu.Unlock()
		return
	}
	if c.peerCache.peers == nil {
		c.peerCache.peers = make(map[uint64]*Peer)
	}
	c.peerCache.peers[p.ID] = p
	c.peerCache.mu.Unlock()
	if f := c.listeners.OnPeerConnected; f != nil {
		c.run("OnPeerConnected", p, func() { f(p) })
	}
}

func (c *client) onDisconnected(info *C.btcclient_peer_info, code C.uint32_t, text *C.char) {
	id := uint64(info.id)
	c.peerCache.mu.Lock()
	if c.muted.Load() {
		// Not delivered: the peer stays counted by mute.
		c.peerCache.mu.Unlock()
		return
	}
	p := c.peerCache.peers[id]
	delete(c.peerCache.peers, id)
	c.peerCache.mu.Unlock()
	if p == nil {
		p = c.newPeer(info)
	}
	if f := c.listeners.OnPeerDisconnected; f != nil {
		r := DisconnectReason{Code: DisconnectCode(code), Text: C.GoString(text)}
		c.run("OnPeerDisconnected", p, func() { f(p, r) })
	}
}

func (c *client) onAttemptFailed(info *C.btcclient_peer_info, cause *C.char, failures C.uint32_t, retryMs C.uint64_t) {
	f := c.listeners.OnAttemptFailed
	if f == nil {
		return
	}
	a := AttemptFailure{Cause: C.GoString(cause), Failures: uint32(failures), RetryIn: millis(retryMs)}
	p := c.peer(info)
	c.protect("OnAttemptFailed", p, func() { f(p, a) })
}

func (c *client) onStatusChanged(info *C.btcclient_peer_info, old, new C.uint32_t) {
	f := c.listeners.OnStatusChanged
	if f == nil {
		return
	}
	p := c.peer(info)
	c.protect("OnStatusChanged", p, func() { f(p, PeerStatus(old), PeerStatus(new)) })
}

func hash32(p *C.uint8_t) (h [32]byte) {
	if p != nil {
		h = *(*[32]byte)(unsafe.Pointer(p))
	}
	return h
}

func (c *client) onHeaders(info *C.btcclient_peer_info, items *C.btcclient_header, n C.size_t) {
	f := c.listeners.OnHeaders
	if f == nil {
		return
	}
	headers := convertHeaders(unsafe.Pointer(items), int(n))
	p := c.peer(info)
	c.protect("OnHeaders", p, func() { f(p, headers) })
}

// convertHeaders copies the n C headers at items into a new slice, writing each field in
// place.
func convertHeaders(items unsafe.Pointer, n int) []BlockHeader {
	headers := make([]BlockHeader, n)
	if n == 0 {
		return headers
	}
	src := unsafe.Slice((*C.btcclient_header)(items), n)
	for i := range src {
		h, d := &src[i], &headers[i]
		d.Version = int32(h.version)
		d.PrevBlock = *(*[32]byte)(unsafe.Pointer(&h.prev_hash))
		d.MerkleRoot = *(*[32]byte)(unsafe.Pointer(&h.merkle_root))
		d.Timestamp = time.Unix(int64(h.time), 0)
		d.Bits = uint32(h.bits)
		d.Nonce = uint32(h.nonce)
		d.Hash = *(*[32]byte)(unsafe.Pointer(&h.hash))
	}
	return headers
}

func (c *client) onInv(info *C.btcclient_peer_info, items *C.btcclient_inv, n C.size_t) {
	f := c.listeners.OnInv
	if f == nil {
		return
	}
	inv := make([]InvVect, int(n))
	if n > 0 {
		for i, v := range unsafe.Slice(items, int(n)) {
			inv[i] = InvVect{Type: InvType(v._type), Hash: *(*[32]byte)(unsafe.Pointer(&v.hash))}
		}
	}
	p := c.peer(info)
	c.protect("OnInv", p, func() { f(p, inv) })
}

func (c *client) onAddr(info *C.btcclient_peer_info, items *C.btcclient_addr, n C.size_t) {
	f := c.listeners.OnAddr
	if f == nil {
		return
	}
	addrs := make([]NetAddress, int(n))
	if n > 0 {
		ips := make([]byte, 16*int(n))
		for i, a := range unsafe.Slice(items, int(n)) {
			ip := net.IP(ips[16*i : 16*i+16 : 16*i+16])
			copy(ip, (*[16]byte)(unsafe.Pointer(&a.addr))[:])
			addrs[i] = NetAddress{
				Timestamp: time.Unix(int64(a.time), 0),
				Services:  uint64(a.services),
				IP:        ip,
				Port:      uint16(a.port),
			}
		}
	}
	p := c.peer(info)
	c.protect("OnAddr", p, func() { f(p, addrs) })
}

func goBytes(data *C.uint8_t, n C.size_t) []byte {
	if n == 0 || data == nil {
		return []byte{}
	}
	if n >= recycleMin {
		return payloadBuffers.bytes(unsafe.Pointer(data), int(n))
	}
	return C.GoBytes(unsafe.Pointer(data), C.int(n))
}

func (c *client) onBlock(info *C.btcclient_peer_info, data *C.uint8_t, n C.size_t, hash *C.uint8_t) {
	f := c.listeners.OnBlock
	if f == nil {
		return
	}
	block, h := goBytes(data, n), hash32(hash)
	p := c.peer(info)
	c.protect("OnBlock", p, func() { f(p, block, h) })
}

func (c *client) onTx(info *C.btcclient_peer_info, data *C.uint8_t, n C.size_t, txid *C.uint8_t) {
	f := c.listeners.OnTx
	if f == nil {
		return
	}
	tx, h := goBytes(data, n), hash32(txid)
	p := c.peer(info)
	c.protect("OnTx", p, func() { f(p, tx, h) })
}

func (c *client) onMessage(info *C.btcclient_peer_info, command *C.char, data *C.uint8_t, n C.size_t) {
	f := c.listeners.OnMessage
	if f == nil {
		return
	}
	cmd, payload := C.GoString(command), goBytes(data, n)
	p := c.peer(info)
	c.protect("OnMessage", p, func() { f(p, cmd, payload) })
}
