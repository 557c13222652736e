package btcclient

/*
#include <btcclient.h>
*/
import "C"

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// MessageListeners are the functions a client calls for peer events and messages. Every
// field is optional (nil: the event is not wanted).
//
// Listeners run one at a time (DeliveryPoll, DeliveryCallbacks), each peer's in the order
// its messages arrived; while one runs, delivery waits (the peers' reading pauses, nothing
// is lost). A listener may call AddPeer, RemovePeer, PeerCount, Peers and the Send methods
// of the client (or of the Peer it got); Stop, Close and WaitConnected return
// ErrCalledFromCallback. Every argument is the listener's own copy: it may be kept. A
// panicking listener is recovered and logged.
type MessageListeners struct {
	// OnPeerConnected: a peer finished the version/verack handshake.
	OnPeerConnected func(p *Peer)
	// OnPeerDisconnected: a connected peer was disconnected (exactly once after each
	// OnPeerConnected, also on RemovePeer and Stop).
	OnPeerDisconnected func(p *Peer, reason DisconnectReason)
	// OnHeaders: a headers message (at most 2000 headers; none means the peer has no more).
	OnHeaders func(p *Peer, headers []BlockHeader)
	// OnInv: an inv message.
	OnInv func(p *Peer, inv []InvVect)
	// OnBlock: a block message: the serialized block and its hash.
	OnBlock func(p *Peer, block []byte, hash [32]byte)
	// OnTx: a tx message: the serialized transaction and its txid.
	OnTx func(p *Peer, tx []byte, txid [32]byte)
	// OnAddr: an addr or addrv2 message (its IPv4 and IPv6 entries). Discovery itself is
	// automatic.
	OnAddr func(p *Peer, addrs []NetAddress)
	// OnMessage: any other message (not version, verack, ping, pong, sendaddrv2,
	// wtxidrelay, headers, inv, block, tx, addr, addrv2): its command and raw payload.
	OnMessage func(p *Peer, command string, payload []byte)
	// OnAttemptFailed: a connection attempt failed (the dial or the handshake failed), or a
	// connection ended before it was stable (Config.StableAfter; OnPeerDisconnected came
	// first). f says why, how many failures in a row and when the next attempt is.
	OnAttemptFailed func(p *Peer, f AttemptFailure)
	// OnStatusChanged: a managed peer's status changed from old to new (Connecting,
	// Connected, Disconnected, Unhealthy). For a connection it comes after OnPeerConnected
	// and after OnPeerDisconnected.
	OnStatusChanged func(p *Peer, old, new PeerStatus)
}

// AttemptFailure describes a failed connection attempt (OnAttemptFailed).
type AttemptFailure struct {
	// Cause is the library's description of the failure.
	Cause string
	// Failures is the number of failures in a row, this one included; the peer becomes
	// Unhealthy when it reaches MaxFailureCount.
	Failures uint32
	// RetryIn is the delay before the next attempt.
	RetryIn time.Duration
}

func (f AttemptFailure) String() string {
	return fmt.Sprintf("%s (failure %d, retry in %v)", f.Cause, f.Failures, f.RetryIn)
}

// Peer is a connected peer as a listener sees it: what its handshake told, and methods to
// send to it. The same *Peer is passed to every listener call of one connection (from
// OnPeerConnected to OnPeerDisconnected), so it can be used as a map key; a reconnection
// gets a new one. OnAttemptFailed and OnStatusChanged outside a connection get a *Peer of
// their own (ID, Addr and Discovered set; the handshake fields those of the last handshake,
// zero before the first): ID names the peer across connections.
type Peer struct {
	// ID is the peer's stable id, unique within the client, never reused.
	ID uint64
	// Addr is the address as managed: "1.2.3.4:8333", "[2001:db8::1]:8333" or "host:port".
	Addr string
	// ProtocolVersion is the negotiated protocol version.
	ProtocolVersion uint32
	// Services are the service bits the peer advertises.
	Services uint64
	// UserAgent is the peer's user agent, e.g. "/Satoshi:29.2.0/".
	UserAgent string
	// StartHeight is the peer's best height when it connected.
	StartHeight int32
	// Relay is the peer's relay flag.
	Relay bool
	// Discovered tells whether the peer was learned through discovery rather than added.
	Discovered bool

	c *client
}

func (p *Peer) String() string { return fmt.Sprintf("peer #%d %s", p.ID, p.Addr) }

// SendMessage sends a message to the peer: command (1 to 12 printable ASCII characters) and
// its serialized payload; the library adds the 24-byte header. It only queues the message
// (ErrQueueFull when the peer's send queue is full).
func (p *Peer) SendMessage(command string, payload []byte) error {
	return p.c.sendTo(p.ID, command, payload)
}

// SendGetHeaders sends getheaders: locator hashes newest first (at most 101), stop the hash
// to stop at or the zero hash for as many as the peer sends (2000).
func (p *Peer) SendGetHeaders(locator [][32]byte, stop [32]byte) error {
	return p.c.sendGetHeaders(p.ID, locator, stop)
}

// SendGetData sends getdata for inv (1 to 50000 entries); blocks arrive through OnBlock,
// transactions through OnTx.
func (p *Peer) SendGetData(inv []InvVect) error { return p.c.sendGetData(p.ID, inv) }

// SendGetAddr sends getaddr.
func (p *Peer) SendGetAddr() error { return p.c.sendGetAddr(p.ID) }

// Disconnect removes the peer from the client (it is not reconnected).
func (p *Peer) Disconnect() error { return p.c.removePeerByID(p.ID) }

// Client returns the client that manages the peer, for a listener that needs it (to add or
// remove peers, count them, send by address). It does not keep the client alive: the running
// library holds the listeners, so a listener that captures the *BtcClient from NewBtcClient
// keeps that client reachable for ever, and only Close frees it; one that uses p.Client()
// leaves a dropped client to its finalizer. Close, Stop and WaitConnected through it from a
// listener return ErrCalledFromCallback, as through any other *BtcClient.
func (p *Peer) Client() *BtcClient { return &BtcClient{c: p.c} }

// MaxHeadersPerMessage is the most headers one headers message carries (Bitcoin Core's
// MAX_HEADERS_RESULTS): a message with fewer means the peer has no more after them.
const MaxHeadersPerMessage = C.BTCCLIENT_MAX_HEADERS

// BlockHeader is one header of a headers message. Hashes are in internal byte order (as on
// the wire); HashString prints them the usual way.
type BlockHeader struct {
	Version    int32
	PrevBlock  [32]byte
	MerkleRoot [32]byte
	Timestamp  time.Time
	Bits       uint32
	Nonce      uint32
	// Hash is this header's block hash, computed by the library.
	Hash [32]byte
}

// BlockHash returns the header's block hash.
func (h *BlockHeader) BlockHash() [32]byte { return h.Hash }

// InvType is the type of an inventory vector.
type InvType uint32

// Inventory vector types.
const (
	InvTypeError         InvType = C.BTCCLIENT_INV_ERROR
	InvTypeTx            InvType = C.BTCCLIENT_INV_TX
	InvTypeBlock         InvType = C.BTCCLIENT_INV_BLOCK
	InvTypeFilteredBlock InvType = C.BTCCLIENT_INV_FILTERED_BLOCK
	InvTypeCmpctBlock    InvType = C.BTCCLIENT_INV_CMPCT_BLOCK
	InvTypeWTx           InvType = C.BTCCLIENT_INV_WTX
	InvTypeWitnessTx     InvType = C.BTCCLIENT_INV_WITNESS_TX
	InvTypeWitnessBlock  InvType = C.BTCCLIENT_INV_WITNESS_BLOCK
)

func (t InvType) String() string {
	switch t {
	case InvTypeError:
		return "ERROR"
	case InvTypeTx:
		return "MSG_TX"
	case InvTypeBlock:
		return "MSG_BLOCK"
	case InvTypeFilteredBlock:
		return "MSG_FILTERED_BLOCK"
	case InvTypeCmpctBlock:
		return "MSG_CMPCT_BLOCK"
	case InvTypeWTx:
		return "MSG_WTX"
	case InvTypeWitnessTx:
		return "MSG_WITNESS_TX"
	case InvTypeWitnessBlock:
		return "MSG_WITNESS_BLOCK"
	}
	return fmt.Sprintf("InvType(%#x)", uint32(t))
}

// InvVect is one entry of an inv or getdata message.
type InvVect struct {
	Type InvType
	Hash [32]byte
}

// NetAddress is one entry of an addr or addrv2 message.
type NetAddress struct {
	// Timestamp is when the node was last seen.
	Timestamp time.Time
	// Services are the service bits the node advertises.
	Services uint64
	// IP is the node's address (16 bytes; IPv4 as IPv4-mapped IPv6).
	IP   net.IP
	Port uint16
}

// String returns "ip:port" ("[ip]:port" for IPv6), the form AddPeer takes.
func (a NetAddress) String() string {
	return net.JoinHostPort(a.IP.String(), strconv.Itoa(int(a.Port)))
}

// DisconnectCode says why a connected peer was disconnected.
type DisconnectCode uint32

// Disconnect codes.
const (
	DisconnectOther             DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_OTHER
	DisconnectRemoved           DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_REMOVED
	DisconnectStopped           DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_STOPPED
	DisconnectRemoteClosed      DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_REMOTE_CLOSED
	DisconnectPingTimeout       DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_PING_TIMEOUT
	DisconnectWriteTimeout      DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_WRITE_TIMEOUT
	DisconnectProtocolViolation DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_PROTOCOL_VIOLATION
	DisconnectIO                DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_IO
	DisconnectUnhealthy         DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_UNHEALTHY
	// DisconnectEvicted: a discovered peer removed to make room for one added with AddPeer.
	DisconnectEvicted DisconnectCode = C.BTCCLIENT_DISCONNECT_REASON_EVICTED
)

// DisconnectReason is why a peer was disconnected: a code and the library's description.
type DisconnectReason struct {
	Code DisconnectCode
	Text string
}

func (r DisconnectReason) String() string { return r.Text }

// PeerStatus is a managed peer's state.
type PeerStatus uint32

// Peer states: Disconnected -> Connecting -> Connected -> Disconnected; Unhealthy after
// MaxFailureCount consecutive failures.
const (
	PeerDisconnected PeerStatus = C.BTCCLIENT_PEER_STATUS_DISCONNECTED
	PeerConnecting   PeerStatus = C.BTCCLIENT_PEER_STATUS_CONNECTING
	PeerConnected    PeerStatus = C.BTCCLIENT_PEER_STATUS_CONNECTED
	PeerUnhealthy    PeerStatus = C.BTCCLIENT_PEER_STATUS_UNHEALTHY
)

func (s PeerStatus) String() string {
	switch s {
	case PeerDisconnected:
		return "disconnected"
	case PeerConnecting:
		return "connecting"
	case PeerConnected:
		return "connected"
	case PeerUnhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("PeerStatus(%d)", uint32(s))
}

// PeerInfo is a snapshot of one managed peer (Peers).
type PeerInfo struct {
	ID           uint64
	Addr         string
	Status       PeerStatus
	FailureCount int
	Discovered   bool
	// HasInfo tells whether the peer completed a handshake at least once (the next five
	// fields are zero until then).
	HasInfo         bool
	ProtocolVersion uint32
	Services        uint64
	UserAgent       string
	StartHeight     int32
	Relay           bool
	// ConnectedSince is when the current connection's handshake finished (zero when not
	// connected).
	ConnectedSince time.Time
	BytesIn        uint64
	BytesOut       uint64
	MessagesIn     uint64
	MessagesOut    uint64
	// LastPingRTT is the round trip of the last answered ping; -1 when none was answered.
	LastPingRTT time.Duration
	// LastError is the last connection failure or disconnect reason ("" when none).
	LastError string
	// Transport is the transport of the current (or last) connection: "v1", "v2", or ""
	// before the first handshake.
	Transport string
	// SessionID is the BIP324 session id of the current (or last) v2 connection, 64 hex
	// digits as Bitcoin Core's getpeerinfo shows it ("" on v1).
	SessionID string
}
