package btcclient

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// The library writes to sockets that the peer has reset, on its own (non-Go) threads. Go
// keeps SIGPIPE fatal when it arrives on a non-Go thread, so a write that raised it would end
// this test process (as it ended a C host with exit 141 before the library sent with
// MSG_NOSIGNAL). The client, in the default delivery mode, sends large raw messages to
// nodes that stop reading after the handshake and reset the connection 150 ms later, from
// OnPeerConnected and from a loop, until 6 handshakes: the process must survive.
func TestSigpipeSurvives(t *testing.T) {
	if sim == nil {
		needSimnet(t)
	}
	s, err := startSimnet(2, 10, "--reset-after-ms", "150")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	payload := make([]byte, 500_000)
	var connected, disconnected, sent atomic.Int32
	var last atomic.Uint64
	c := newTestClient(t, DeliveryPoll, &MessageListeners{
		OnPeerConnected: func(p *Peer) {
			for i := 0; i < 8; i++ {
				if p.SendMessage("btcctest", payload) == nil {
					sent.Add(1)
				}
			}
			last.Store(p.ID)
			connected.Add(1)
		},
		OnPeerDisconnected: func(*Peer, DisconnectReason) { disconnected.Add(1) },
	}, WithAllowLocalAddresses(true), WithReconnectDelay(20*time.Millisecond), WithBackoffMax(0),
		WithMaxFailureCount(1000), WithHandshakeTimeout(2*time.Second), WithWriteTimeout(2*time.Second))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for _, a := range s.addrs {
		if err := c.AddPeer(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	const handshakes = 6
	deadline := time.Now().Add(60 * time.Second)
	for connected.Load() < handshakes {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes in 60s, want %d", connected.Load(), handshakes)
		}
		if id := last.Load(); id != 0 {
			if c.SendMessageTo(id, "btcctest", payload) == nil {
				sent.Add(1)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := c.Stop(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Still here: no SIGPIPE ended the process.
	t.Logf("%d handshakes, %d disconnections, %d large messages queued", connected.Load(),
		disconnected.Load(), sent.Load())
	if sent.Load() == 0 || disconnected.Load() != connected.Load() {
		t.Fatalf("%d sent, %d connected, %d disconnected", sent.Load(), connected.Load(), disconnected.Load())
	}
}
