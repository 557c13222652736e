// Package cdeliver drives a libbtcclient client from C only, for BenchmarkDelivery: the
// same deliveries as the Go module's, received by a C consumer (C callbacks, or a C thread
// polling with btcclient_poll_next) that counts them, so that Go and C are measured side by
// side in one process. The library itself is linked by the package that imports this one
// (github.com/btcclient/btcclient-go).
package cdeliver

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include
#include <stdlib.h>
#include "cdeliver.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Client is a C-driven client connected to one peer.
type Client struct{ b *C.cd_bench }

func errText(buf []C.char) string { return C.GoString(&buf[0]) }

// Open creates and starts a regtest client (poll: poll mode with a C polling thread;
// otherwise C callbacks), with v1Only the v1 transport only, connects it to addr and waits
// for the handshake.
func Open(poll, v1Only bool, addr string) (*Client, error) {
	transport := C.uint32_t(C.BTCCLIENT_TRANSPORT_V2_PREFERRED)
	if v1Only {
		transport = C.BTCCLIENT_TRANSPORT_V1_ONLY
	}
	p := C.int(0)
	if poll {
		p = 1
	}
	caddr := C.CString(addr)
	defer C.free(unsafe.Pointer(caddr))
	var buf [512]C.char
	b := C.cd_open(p, transport, caddr, &buf[0], C.size_t(len(buf)))
	if b == nil {
		return nil, errors.New(errText(buf[:]))
	}
	return &Client{b: b}, nil
}

// Warm asks for the headers after the regtest genesis and returns the hashes of the first
// two (blocks 1 and 2).
func (c *Client) Warm(timeout time.Duration) ([2][32]byte, error) {
	var first [2][32]C.uint8_t
	if C.cd_warm(c.b, &first[0], C.int(timeout.Milliseconds())) != 0 {
		return [2][32]byte{}, fmt.Errorf("no headers within %v", timeout)
	}
	return *(*[2][32]byte)(unsafe.Pointer(&first)), nil
}

// Run sends `sends` messages command/payload and waits until `events` headers, inv or block
// events arrived (at most timeout); it returns how many did.
func (c *Client) Run(command string, payload []byte, sends, events int, timeout time.Duration) (int, error) {
	ccmd := C.CString(command)
	defer C.free(unsafe.Pointer(ccmd))
	var p *C.uint8_t
	if len(payload) > 0 {
		p = (*C.uint8_t)(C.CBytes(payload))
		defer C.free(unsafe.Pointer(p))
	}
	var buf [512]C.char
	n := C.cd_run(c.b, ccmd, p, C.size_t(len(payload)), C.uint64_t(sends), C.uint64_t(events),
		C.int(timeout.Milliseconds()), &buf[0], C.size_t(len(buf)))
	if n < 0 {
		return 0, errors.New(errText(buf[:]))
	}
	return int(n), nil
}

// Close stops and frees the client.
func (c *Client) Close() {
	if c.b != nil {
		C.cd_close(c.b)
		c.b = nil
	}
}

// HeaderSize is sizeof(btcclient_header).
const HeaderSize = C.sizeof_btcclient_header
