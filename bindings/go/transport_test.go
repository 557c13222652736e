package btcclient

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The transport policy as a Go program sees it: the shared simnet answers BIP324 v2 (as
// Bitcoin Core 27+ does), a second one runs with --v1-only.
func TestTransportPolicy(t *testing.T) {
	s := needSimnet(t)
	v1, err := startSimnet(1, 10, "--v1-only")
	if err != nil {
		t.Fatal(err)
	}
	defer v1.close()

	t.Run("v2 node", func(t *testing.T) {
		c := newTestClient(t, DeliveryPoll, &MessageListeners{})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, s.addrs[0])
		p := c.Peers()[0]
		if p.Transport != "v2" || len(p.SessionID) != 64 || strings.Trim(p.SessionID, "0123456789abcdef") != "" {
			t.Fatalf("peer = %+v, want transport v2 and a 64-digit hex session id", p)
		}
	})

	t.Run("v1-only node: fallback, not a failure", func(t *testing.T) {
		var failures atomic.Int32
		c := newTestClient(t, DeliveryPoll, &MessageListeners{
			OnAttemptFailed: func(*Peer, AttemptFailure) { failures.Add(1) },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, v1.addrs[0])
		p := c.Peers()[0]
		if p.Transport != "v1" || p.SessionID != "" || p.FailureCount != 0 {
			t.Fatalf("peer = %+v, want v1, no session id, no failure", p)
		}
		if n := failures.Load(); n != 0 {
			t.Fatalf("%d failed attempts reported", n)
		}
	})

	t.Run("v2 only against a v1-only node", func(t *testing.T) {
		c := newTestClient(t, DeliveryPoll, &MessageListeners{}, WithTransport(TransportV2Only))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id, err := c.AddPeerID(context.Background(), v1.addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		err = c.WaitConnected(ctxTimeout(t, 10*time.Second), id)
		var pce *PeerConnectionError
		if !errors.As(err, &pce) || !strings.Contains(err.Error(), "does not speak the v2 transport") {
			t.Fatalf("WaitConnected = %v, want a PeerConnectionError saying the peer does not speak v2", err)
		}
	})

	t.Run("v1 only against a v2 node", func(t *testing.T) {
		c := newTestClient(t, DeliveryPoll, &MessageListeners{}, WithTransport(TransportV1Only))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, s.addrs[0])
		if p := c.Peers()[0]; p.Transport != "v1" || p.SessionID != "" {
			t.Fatalf("peer = %+v, want v1", p)
		}
	})

	t.Run("bad value", func(t *testing.T) {
		_, err := NewBtcClient(WithNetwork(Regtest), WithTransport(Transport(7)))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Transport (WithTransport)") {
			t.Fatalf("NewBtcClient = %v, want ErrInvalidConfig naming Transport (WithTransport)", err)
		}
	})
}
