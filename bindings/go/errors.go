package btcclient

/*
#include <btcclient.h>
*/
import "C"

import (
	"errors"
	"strings"
)

// The sentinel errors. Every error of this package wraps one of them (or is a
// *PeerConnectionError, which wraps ErrPeerConnection): test with errors.Is. The message
// carries the library's detail (which peer, which config field and why).
var (
	// ErrClientAlreadyStarted: Start on a running client.
	ErrClientAlreadyStarted = errors.New("btcclient: client already started")
	// ErrClientNotStarted: Stop, AddPeer, RemovePeer or a send on a client that is not
	// running.
	ErrClientNotStarted = errors.New("btcclient: client not started")
	// ErrPeerAlreadyExists: AddPeer with an address that is already managed.
	ErrPeerAlreadyExists = errors.New("btcclient: peer already exists")
	// ErrPeerNotFound: no managed peer has this address or id.
	ErrPeerNotFound = errors.New("btcclient: peer not found")
	// ErrMaxPeersReached: AddPeer when MaxPeers peers are managed.
	ErrMaxPeersReached = errors.New("btcclient: maximum number of peers reached")
	// ErrStopTimeout: Stop did not finish before the context's deadline. The client is
	// stopped anyway, and no listener starts after Stop returned; the *Error's
	// UndeliveredDisconnects (and its message, "N disconnected events not delivered") says
	// how many connected peers get no OnPeerDisconnected.
	ErrStopTimeout = errors.New("btcclient: stop timed out")
	// ErrInvalidConfig: a Config field is out of range; the message names it.
	ErrInvalidConfig = errors.New("btcclient: invalid config")
	// ErrPeerConnection: connecting to a peer failed (dial or handshake). Returned as a
	// *PeerConnectionError by WaitConnected.
	ErrPeerConnection = errors.New("btcclient: peer connection failed")
	// ErrInvalidArgument: an argument out of range (a locator over 101 hashes, an empty
	// getdata), or a string with a NUL byte (an address, a command, a path for
	// ImportPeersDat; Config.UserAgent, DNSSeeds and AddressBookPath, which also match
	// ErrInvalidConfig): C strings end at a NUL, so such a string is refused rather than cut
	// short.
	ErrInvalidArgument = errors.New("btcclient: invalid argument")
	// ErrInvalidAddress: a peer address that is not host:port, ipv4:port or [ipv6]:port.
	ErrInvalidAddress = errors.New("btcclient: invalid peer address")
	// ErrInvalidMessage: a message that cannot be sent (a bad command name, a payload over
	// MaxMessageSize).
	ErrInvalidMessage = errors.New("btcclient: invalid message")
	// ErrQueueFull: the peer's send queue is full; try again later.
	ErrQueueFull = errors.New("btcclient: send queue full")
	// ErrPeerNotConnected: the peer is managed but has no connection at the moment.
	ErrPeerNotConnected = errors.New("btcclient: peer not connected")
	// ErrCalledFromCallback: Stop, Close or WaitConnected called from inside a listener of
	// the same client (it would wait for itself).
	ErrCalledFromCallback = errors.New("btcclient: called from inside a listener")
	// ErrClientClosed: a call on a client after Close.
	ErrClientClosed = errors.New("btcclient: client closed")
	// ErrPeersDat: ImportPeersDat could not import the file: unreadable, truncated, a bad
	// checksum, another network's, or a newer format than Bitcoin Core 29 reads (the
	// message names the problem and the path).
	ErrPeersDat = errors.New("btcclient: peers.dat not imported")
	// ErrInternal: the library could not create a thread, its runtime or a descriptor, or
	// panicked (a bug).
	ErrInternal = errors.New("btcclient: internal error")
)

// Status is the status code of a failed libbtcclient call (btcclient_status); its numbers
// never change.
type Status uint32

// String returns the library's text for s.
func (s Status) String() string {
	return C.GoString(C.btcclient_status_str(C.uint32_t(s)))
}

// Error is an error returned by libbtcclient: its status and the detail message. It wraps
// the sentinel of its status (errors.Is(err, ErrPeerNotFound)).
type Error struct {
	Status  Status
	Message string
	// UndeliveredDisconnects (ErrStopTimeout): the connected peers whose OnPeerConnected
	// was called and whose OnPeerDisconnected was not and will not be.
	UndeliveredDisconnects int

	// also is a second error e matches with errors.Is besides its status's sentinel: the
	// context's error of a Stop that was cancelled, ErrInvalidArgument for a config string
	// with a NUL byte.
	also error
}

func (e *Error) Error() string { return "btcclient: " + e.Message }

// Unwrap returns the sentinel error of e's status.
func (e *Error) Unwrap() error { return sentinel(e.Status) }

// Is reports whether target is the second error e carries (see Stop), if any; errors.Is
// then goes on with Unwrap.
func (e *Error) Is(target error) bool {
	return e.also != nil && errors.Is(e.also, target)
}

// PeerConnectionError is a failed connection to a peer: the dial or the version/verack
// handshake failed (refused, timed out, wrong network…). The peer stays managed and is
// retried. Use errors.As to get it; errors.Is(err, ErrPeerConnection) holds too.
type PeerConnectionError struct {
	Addr string
	Err  error
}

func (e *PeerConnectionError) Error() string {
	cause := "connection failed"
	var le *Error
	if errors.As(e.Err, &le) {
		cause = le.Message
	} else if e.Err != nil {
		cause = e.Err.Error()
	}
	return "btcclient: peer " + e.Addr + ": " + cause
}

// Unwrap returns the cause.
func (e *PeerConnectionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrPeerConnection.
func (e *PeerConnectionError) Is(target error) bool { return target == ErrPeerConnection }

func sentinel(s Status) error {
	switch s {
	case C.BTCCLIENT_STATUS_CLIENT_ALREADY_STARTED:
		return ErrClientAlreadyStarted
	case C.BTCCLIENT_STATUS_CLIENT_NOT_STARTED:
		return ErrClientNotStarted
	case C.BTCCLIENT_STATUS_PEER_ALREADY_EXISTS:
		return ErrPeerAlreadyExists
	case C.BTCCLIENT_STATUS_PEER_NOT_FOUND:
		return ErrPeerNotFound
	case C.BTCCLIENT_STATUS_MAX_PEERS_REACHED:
		return ErrMaxPeersReached
	case C.BTCCLIENT_STATUS_STOP_TIMEOUT:
		return ErrStopTimeout
	case C.BTCCLIENT_STATUS_INVALID_CONFIG:
		return ErrInvalidConfig
	case C.BTCCLIENT_STATUS_PEER_CONNECTION:
		return ErrPeerConnection
	case C.BTCCLIENT_STATUS_INVALID_ARGUMENT:
		return ErrInvalidArgument
	case C.BTCCLIENT_STATUS_INVALID_ADDRESS:
		return ErrInvalidAddress
	case C.BTCCLIENT_STATUS_INVALID_MESSAGE:
		return ErrInvalidMessage
	case C.BTCCLIENT_STATUS_QUEUE_FULL:
		return ErrQueueFull
	case C.BTCCLIENT_STATUS_PEER_NOT_CONNECTED:
		return ErrPeerNotConnected
	case C.BTCCLIENT_STATUS_CALLED_FROM_CALLBACK:
		return ErrCalledFromCallback
	case C.BTCCLIENT_STATUS_PEERS_DAT:
		return ErrPeersDat
	default:
		return ErrInternal
	}
}

// Status values used on the Go side.
const (
	statusOK                 = Status(C.BTCCLIENT_STATUS_OK)
	statusClientNotStarted   = Status(C.BTCCLIENT_STATUS_CLIENT_NOT_STARTED)
	statusAlreadyStarted     = Status(C.BTCCLIENT_STATUS_CLIENT_ALREADY_STARTED)
	statusStopTimeout        = Status(C.BTCCLIENT_STATUS_STOP_TIMEOUT)
	statusInvalidConfig      = Status(C.BTCCLIENT_STATUS_INVALID_CONFIG)
	statusInvalidArgument    = Status(C.BTCCLIENT_STATUS_INVALID_ARGUMENT)
	statusPeerConnection     = Status(C.BTCCLIENT_STATUS_PEER_CONNECTION)
	statusCalledFromCallback = Status(C.BTCCLIENT_STATUS_CALLED_FROM_CALLBACK)
	statusNoEvent            = Status(C.BTCCLIENT_STATUS_NO_EVENT)
	statusInternal           = Status(C.BTCCLIENT_STATUS_INTERNAL)
)

// newError builds the error of a status and its message; PEER_CONNECTION becomes a
// *PeerConnectionError (the library's message is "peer ADDR: CAUSE").
func newError(s Status, msg string) error {
	if s == statusPeerConnection {
		addr, cause := "", msg
		if rest := strings.TrimPrefix(msg, "peer "); rest != msg {
			if i := strings.Index(rest, ": "); i >= 0 {
				addr, cause = rest[:i], rest[i+2:]
			}
		}
		return &PeerConnectionError{Addr: addr, Err: &Error{Status: s, Message: cause}}
	}
	return &Error{Status: s, Message: msg}
}
