package btcclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A refused peer: OnAttemptFailed with 1, then 2 failures in a row, a cause and a delay
// before the next attempt; its status goes Connecting -> Disconnected.
func TestAttemptFailed(t *testing.T) {
	needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		type failure struct {
			p *Peer
			f AttemptFailure
		}
		failures := make(chan failure, 16)
		var mu sync.Mutex
		var statuses []string
		c := newTestClient(t, d, &MessageListeners{
			OnAttemptFailed: func(p *Peer, f AttemptFailure) {
				select {
				case failures <- failure{p, f}:
				default:
				}
			},
			OnStatusChanged: func(p *Peer, old, new PeerStatus) {
				mu.Lock()
				statuses = append(statuses, old.String()+">"+new.String())
				mu.Unlock()
			},
		}, WithMaxFailureCount(100))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		const addr = "127.0.0.1:1"
		id, err := c.AddPeerID(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		for want := uint32(1); want <= 2; want++ {
			got := recv(t, failures, 10*time.Second, "OnAttemptFailed")
			if got.p.ID != id || got.p.Addr != addr || got.f.Failures != want ||
				got.f.RetryIn <= 0 || got.f.Cause == "" {
				t.Fatalf("failure %d: %v %+v", want, got.p, got.f)
			}
			t.Logf("%v: %v", got.p, got.f)
		}
		if err := c.Stop(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(strings.Join(statuses, " "), "connecting>disconnected") {
			t.Fatalf("status changes %v, want connecting>disconnected", statuses)
		}
	})
}

// A connected peer: OnStatusChanged Connecting -> Connected after OnPeerConnected, with the
// connection's *Peer.
func TestStatusChanged(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		type change struct {
			p        *Peer
			old, new PeerStatus
		}
		changes := make(chan change, 16)
		connected := make(chan *Peer, 1)
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) { connected <- p },
			OnStatusChanged: func(p *Peer, old, new PeerStatus) { changes <- change{p, old, new} },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id := connect(t, c, s.addrs[1])
		p := recv(t, connected, 5*time.Second, "OnPeerConnected")
		var seen []change
		for {
			ch := recv(t, changes, 5*time.Second, "OnStatusChanged connecting -> connected")
			seen = append(seen, ch)
			if ch.p.ID != id {
				t.Fatalf("status change of %v, want peer #%d", ch.p, id)
			}
			if ch.new == PeerConnected {
				if ch.old != PeerConnecting || ch.p != p {
					t.Fatalf("changes %+v; the connected peer is %p", seen, p)
				}
				break
			}
		}
		if err := c.Stop(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// A connection that ends before StableAfter is a failed attempt: OnPeerDisconnected, then
// OnAttemptFailed; the failures go on counting across such connections.
func TestStableAfter(t *testing.T) {
	needSimnet(t)
	s, err := startSimnet(1, 10, "--reset-after-ms", "150")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	eachDelivery(t, func(t *testing.T, d Delivery) {
		var mu sync.Mutex
		var events []string
		failures := make(chan AttemptFailure, 16)
		c := newTestClient(t, d, &MessageListeners{
			OnPeerDisconnected: func(*Peer, DisconnectReason) {
				mu.Lock()
				events = append(events, "disconnected")
				mu.Unlock()
			},
			OnAttemptFailed: func(p *Peer, f AttemptFailure) {
				mu.Lock()
				events = append(events, "failed")
				mu.Unlock()
				select {
				case failures <- f:
				default:
				}
			},
		}, WithStableAfter(10*time.Second), WithReconnectDelay(50*time.Millisecond),
			WithMaxFailureCount(100))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(context.Background(), s.addrs[0]); err != nil {
			t.Fatal(err)
		}
		for want := uint32(1); want <= 2; want++ {
			f := recv(t, failures, 10*time.Second, "OnAttemptFailed after an unstable connection")
			if f.Failures != want {
				t.Fatalf("failure %+v, want %d in a row", f, want)
			}
		}
		if err := c.Stop(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) < 2 || events[0] != "disconnected" || events[1] != "failed" {
			t.Fatalf("events %v, want disconnected before failed", events)
		}
	})
}

// A Stop that times out while OnPeerConnected blocks: ErrStopTimeout says that the peer's
// disconnected event is not delivered (UndeliveredDisconnects 1), and no listener starts
// after Stop returned.
func TestStopTimeoutUndelivered(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		var stopped atomic.Bool
		var late atomic.Int32
		check := func() {
			if stopped.Load() {
				late.Add(1)
			}
		}
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(*Peer) {
				check()
				entered <- struct{}{}
				<-release
			},
			OnPeerDisconnected: func(*Peer, DisconnectReason) { check() },
			OnStatusChanged:    func(*Peer, PeerStatus, PeerStatus) { check() },
			OnAttemptFailed:    func(*Peer, AttemptFailure) { check() },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(context.Background(), s.addrs[2]); err != nil {
			t.Fatal(err)
		}
		recv(t, entered, 10*time.Second, "OnPeerConnected")
		err := c.Stop(ctxTimeout(t, 300*time.Millisecond))
		stopped.Store(true)
		var e *Error
		if !errors.Is(err, ErrStopTimeout) || !errors.As(err, &e) {
			close(release)
			t.Fatalf("Stop = %v, want ErrStopTimeout", err)
		}
		t.Logf("Stop: %v", err)
		close(release)
		if e.UndeliveredDisconnects != 1 || !strings.Contains(err.Error(), "1 disconnected events not delivered") {
			t.Fatalf("Stop = %v (UndeliveredDisconnects %d), want 1 disconnected event not delivered",
				err, e.UndeliveredDisconnects)
		}
		time.Sleep(300 * time.Millisecond)
		if n := late.Load(); n != 0 {
			t.Fatalf("%d listener calls after Stop returned", n)
		}
	})
}
