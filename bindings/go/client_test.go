package btcclient

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const coreUserAgent = "/Satoshi:29.2.0/"

var deliveries = []Delivery{DeliveryPoll, DeliveryCallbacks, DeliveryConcurrent}

// eachDelivery runs f as a subtest per delivery mode.
func eachDelivery(t *testing.T, f func(t *testing.T, d Delivery)) {
	for _, d := range deliveries {
		d := d
		t.Run(d.String(), func(t *testing.T) { f(t, d) })
	}
}

func newTestClient(t testing.TB, d Delivery, l *MessageListeners, opts ...Option) *BtcClient {
	t.Helper()
	base := []Option{
		WithNetwork(Regtest),
		WithDelivery(d),
		WithListeners(l),
		WithHandshakeTimeout(5 * time.Second),
		WithConnectionTimeout(2 * time.Second),
		WithReconnectDelay(200 * time.Millisecond),
		WithDiscovery(false),
		WithUserAgent("/btcclient-go-test:0.1/"),
	}
	c, err := NewBtcClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewBtcClient: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		panic("unreachable")
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// connect adds addr and waits for its handshake; it returns the peer id.
func connect(t testing.TB, c *BtcClient, addr string) uint64 {
	t.Helper()
	id, err := c.AddPeerID(context.Background(), addr)
	if err != nil {
		t.Fatalf("AddPeer(%s): %v", addr, err)
	}
	if err := c.WaitConnected(ctxTimeout(t, 10*time.Second), id); err != nil {
		t.Fatalf("WaitConnected(%s): %v", addr, err)
	}
	return id
}

func regtestGenesis(t testing.TB) [32]byte {
	t.Helper()
	g, err := Regtest.GenesisHash()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// getheadersPayload serializes a getheaders message by hand (for SendMessage).
func getheadersPayload(locator [][32]byte, stop [32]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 70016)
	b = append(b, byte(len(locator)))
	for _, h := range locator {
		b = append(b, h[:]...)
	}
	return append(b, stop[:]...)
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHashAndNetwork(t *testing.T) {
	g := regtestGenesis(t)
	const want = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	if got := HashString(g); got != want {
		t.Fatalf("regtest genesis = %s, want %s", got, want)
	}
	back, err := ParseHash(want)
	if err != nil || back != g {
		t.Fatalf("ParseHash round trip: %x, %v", back, err)
	}
	if _, err := CustomNetwork([4]byte{1, 2, 3, 4}).GenesisHash(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("custom network genesis: %v, want ErrInvalidArgument", err)
	}
	if n, err := ParseNetwork("testnet4"); err != nil || n != Testnet4 || n.DefaultPort() != 48333 {
		t.Fatalf("ParseNetwork(testnet4) = %v, %v", n, err)
	}
	if Version() == "" {
		t.Fatal("empty library version")
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Network != Mainnet || c.MaxPeers != 30 || c.MaxFailureCount != 10 ||
		c.HealthCheckInterval != 30*time.Second || c.ReconnectDelay != 5*time.Second ||
		c.ConnectionTimeout != 10*time.Second || c.StableAfter != time.Minute || !c.Discovery ||
		c.Delivery != DeliveryPoll || c.Transport != TransportV2Preferred ||
		c.Listeners == nil {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

// An invalid config is named the Go way: the Config field (and its option), never the C
// field, also when the library found it.
func TestInvalidConfig(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
	}{
		{"MaxPeers (WithMaxPeers)", WithMaxPeers(0)},
		{"MaxPeers (WithMaxPeers)", WithMaxPeers(-1)},
		{"MaxPeers (WithMaxPeers)", WithMaxPeers(100_001)},
		{"MaxFailureCount (WithMaxFailureCount)", WithMaxFailureCount(0)},
		{"ReconnectDelay (WithReconnectDelay)", WithReconnectDelay(-time.Second)},
		{"HealthCheckInterval (WithHealthCheckInterval)", WithHealthCheckInterval(0)},
		{"PongTimeout (WithPongTimeout)", WithPongTimeout(25 * time.Hour)},
		{"StableAfter (WithStableAfter)", WithStableAfter(-time.Second)},
		{"StableAfter (WithStableAfter)", WithStableAfter(25 * time.Hour)},
		{"BackoffMax (WithBackoffMax)", WithBackoffMax(time.Second)},
		{"MaxMessageSize (WithMaxMessageSize)", WithMaxMessageSize(10)},
		{"SendQueueBytes (WithSendQueue)", WithSendQueue(1000, 1)},
		{"SendQueueLen (WithSendQueue)", WithSendQueue(16<<20, 0)},
		{"EventQueueLen (WithEventQueueLen)", WithEventQueueLen(0)},
		{"UserAgent (WithUserAgent)", WithUserAgent("bad\x01agent")},
		{"Delivery (WithDelivery)", WithDelivery(Delivery(42))},
		{"Network (WithNetwork)", WithNetwork(CustomNetwork([4]byte{}))},
	}
	cName := regexp.MustCompile(`[a-z]+_[a-z_]+|\bbackoff\b`)
	for _, tc := range cases {
		configRefused(t, tc.name, []Option{tc.opt}, cName.MatchString)
	}
}

// configRefused checks that a client with opts is refused with ErrInvalidConfig, in a message
// that names the Go option `name` ("invalid config: NAME: …") and no C field (cField tells
// whether a message names one). It returns the error, or nil when it was not ErrInvalidConfig.
func configRefused(t *testing.T, name string, opts []Option, cField func(msg string) bool) error {
	t.Helper()
	c, err := NewBtcClient(opts...)
	if !errors.Is(err, ErrInvalidConfig) {
		if c != nil {
			c.Close()
		}
		t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, "invalid config: "+name+": ") || cField(msg) {
		t.Errorf("%s: %q should name %q and no C field", name, msg, name)
	}
	t.Logf("%s", msg)
	return err
}

func TestHandshake(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		connected := make(chan *Peer, 1)
		disconnected := make(chan *Peer, 1)
		var reason DisconnectReason
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) { connected <- p },
			OnPeerDisconnected: func(p *Peer, r DisconnectReason) {
				reason = r
				disconnected <- p
			},
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(context.Background(), s.addrs[0]); err != nil {
			t.Fatal(err)
		}
		p := recv(t, connected, 10*time.Second, "OnPeerConnected")
		if p.UserAgent != coreUserAgent || p.Addr != s.addrs[0] || p.ProtocolVersion < 70016 ||
			p.ID == 0 || p.Discovered || p.StartHeight != simChainLength {
			t.Fatalf("peer = %+v", p)
		}
		if n := c.PeerCount(); n != 1 {
			t.Fatalf("PeerCount = %d", n)
		}
		peers := c.Peers()
		if len(peers) != 1 || peers[0].Status != PeerConnected || peers[0].UserAgent != coreUserAgent ||
			peers[0].ID != p.ID || peers[0].ConnectedSince.IsZero() {
			t.Fatalf("Peers() = %+v", peers)
		}
		if err := c.RemovePeer(s.addrs[0]); err != nil {
			t.Fatal(err)
		}
		q := recv(t, disconnected, 5*time.Second, "OnPeerDisconnected")
		if q != p || reason.Code != DisconnectRemoved {
			t.Fatalf("disconnected %p (%v), want the connected %p; reason %+v", q, q, p, reason)
		}
		if n := c.PeerCount(); n != 0 {
			t.Fatalf("PeerCount after RemovePeer = %d", n)
		}
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestHeadersSync(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		genesis := regtestGenesis(t)
		var chain []BlockHeader
		done := make(chan error, 1)
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) {
				if err := p.SendGetHeaders([][32]byte{genesis}, [32]byte{}); err != nil {
					done <- err
				}
			},
			OnHeaders: func(p *Peer, headers []BlockHeader) {
				for _, h := range headers {
					prev := genesis
					if len(chain) > 0 {
						prev = chain[len(chain)-1].Hash
					}
					if h.PrevBlock != prev {
						done <- errors.New("headers do not link")
						return
					}
					chain = append(chain, h)
				}
				switch {
				case len(chain) == simChainLength:
					done <- nil
				case len(headers) == 2000:
					last := chain[len(chain)-1].Hash
					if err := p.SendGetHeaders([][32]byte{last}, [32]byte{}); err != nil {
						done <- err
					}
				default:
					done <- errors.New("short headers message before the tip")
				}
			},
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		connect(t, c, s.addrs[1])
		if err := recv(t, done, 20*time.Second, "the headers sync"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d headers in %v", d, len(chain), time.Since(start))
		if chain[0].Timestamp.IsZero() || chain[0].Bits == 0 {
			t.Fatalf("first header %+v", chain[0])
		}
	})
}

func TestDiscovery(t *testing.T) {
	s := needSimnet(t)
	c := newTestClient(t, DeliveryPoll, &MessageListeners{},
		WithDiscovery(true), WithAllowLocalAddresses(true), WithMaxPeers(simNodes))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPeer(context.Background(), s.addrs[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "discovered peers", func() bool { return c.PeerCount() >= 3 })
	discovered := 0
	for _, p := range c.Peers() {
		if p.Discovered {
			discovered++
		}
	}
	if discovered == 0 {
		t.Fatalf("no discovered peer in %+v", c.Peers())
	}
	t.Logf("%d peers, %d discovered", c.PeerCount(), discovered)
}

func TestSentinelErrors(t *testing.T) {
	s := needSimnet(t)
	is := func(t *testing.T, what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: err = %v, want %v", what, err, want)
		}
		t.Logf("%s: %v", what, err)
	}
	c := newTestClient(t, DeliveryPoll, &MessageListeners{}, WithMaxPeers(2),
		WithSendQueue(4_000_024, 1))
	is(t, "AddPeer before Start", c.AddPeer(context.Background(), s.addrs[0]), ErrClientNotStarted)
	is(t, "Stop before Start", c.Stop(context.Background()), ErrClientNotStarted)
	is(t, "SendMessageTo before Start", c.SendMessageTo(1, "ping", nil), ErrClientNotStarted)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	is(t, "Start twice", c.Start(), ErrClientAlreadyStarted)
	is(t, "AddPeer bad address", c.AddPeer(context.Background(), "not an address"), ErrInvalidAddress)
	is(t, "AddPeer no port", c.AddPeer(context.Background(), "127.0.0.1"), ErrInvalidAddress)
	id := connect(t, c, s.addrs[2])
	is(t, "AddPeer twice", c.AddPeer(context.Background(), s.addrs[2]), ErrPeerAlreadyExists)
	refused := closedAddr(t)
	refusedID, err := c.AddPeerID(context.Background(), refused)
	if err != nil {
		t.Fatal(err)
	}
	is(t, "AddPeer over MaxPeers", c.AddPeer(context.Background(), s.addrs[3]), ErrMaxPeersReached)
	is(t, "RemovePeer unknown", c.RemovePeer("127.0.0.1:1"), ErrPeerNotFound)
	is(t, "SendMessage unknown", c.SendMessage("127.0.0.1:1", "ping", nil), ErrPeerNotFound)
	is(t, "SendMessageTo not connected", c.SendMessageTo(refusedID, "ping", make([]byte, 8)), ErrPeerNotConnected)
	is(t, "SendMessage bad command", c.SendMessageTo(id, "waytoolongcommand", nil), ErrInvalidMessage)
	is(t, "SendMessage too big", c.SendMessageTo(id, "junk", make([]byte, 4_000_001)), ErrInvalidMessage)
	is(t, "SendGetHeaders long locator", c.SendGetHeaders(id, make([][32]byte, 102), [32]byte{}), ErrInvalidArgument)
	is(t, "SendGetData empty", c.SendGetData(id, nil), ErrInvalidArgument)

	// WaitConnected on a peer that refuses: a *PeerConnectionError naming it.
	err = c.WaitConnected(ctxTimeout(t, 5*time.Second), refusedID)
	var pce *PeerConnectionError
	if !errors.As(err, &pce) || pce.Addr != refused || !errors.Is(err, ErrPeerConnection) {
		t.Fatalf("WaitConnected(refused) = %#v, want *PeerConnectionError for %s", err, refused)
	}
	t.Logf("WaitConnected refused: %v", err)
	is(t, "WaitConnected unknown", c.WaitConnected(context.Background(), 9999), ErrPeerNotFound)

	// A full send queue (one message, 1 MB payloads).
	var full error
	big := make([]byte, 1_000_000)
	for i := 0; i < 200 && full == nil; i++ {
		full = c.SendMessageTo(id, "junk", big)
	}
	is(t, "SendMessage queue", full, ErrQueueFull)

	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	is(t, "Stop twice", c.Stop(context.Background()), ErrClientNotStarted)
	is(t, "RemovePeer stopped", c.RemovePeer(s.addrs[2]), ErrClientNotStarted)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	is(t, "Start after Close", c.Start(), ErrClientClosed)
	is(t, "AddPeer after Close", c.AddPeer(context.Background(), s.addrs[0]), ErrClientClosed)
	if c.PeerCount() != 0 || c.Peers() != nil {
		t.Fatal("PeerCount/Peers after Close")
	}
}

// A listener calls back into the client: AddPeer, PeerCount, Peers and sends, from
// OnPeerConnected and OnHeaders, without deadlock.
func TestListenerCallsClient(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		genesis := regtestGenesis(t)
		var c *BtcClient
		type result struct {
			count   int
			peers   int
			addErr  error
			sendErr error
		}
		results := make(chan result, 4)
		headers := make(chan int, 4)
		c = newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) {
				r := result{}
				if p.Addr == s.addrs[0] {
					r.addErr = c.AddPeer(context.Background(), s.addrs[1])
				}
				r.count = c.PeerCount()
				r.peers = len(c.Peers())
				// A raw message built by hand, sent by address.
				r.sendErr = c.SendMessage(p.Addr, "getheaders", getheadersPayload([][32]byte{genesis}, [32]byte{}))
				results <- r
			},
			OnHeaders: func(p *Peer, h []BlockHeader) { headers <- len(h) },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(context.Background(), s.addrs[0]); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			r := recv(t, results, 10*time.Second, "OnPeerConnected")
			if r.addErr != nil || r.sendErr != nil || r.count != 2 || r.peers != 2 {
				t.Fatalf("listener %d: %+v", i, r)
			}
		}
		for i := 0; i < 2; i++ {
			if n := recv(t, headers, 10*time.Second, "headers"); n != 2000 {
				t.Fatalf("headers message of %d", n)
			}
		}
	})
}

// Stop, Close and WaitConnected from inside a listener return ErrCalledFromCallback.
func TestStopFromListener(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		var c *BtcClient
		errs := make(chan [4]error, 1)
		c = newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) {
				errs <- [4]error{
					c.Stop(ctxTimeout(t, time.Second)),
					c.Close(),
					c.WaitConnected(context.Background(), p.ID),
					c.Start(),
				}
			},
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(context.Background(), s.addrs[0]); err != nil {
			t.Fatal(err)
		}
		got := recv(t, errs, 10*time.Second, "OnPeerConnected")
		if !errors.Is(got[3], ErrClientAlreadyStarted) {
			t.Fatalf("Start from a listener: %v, want ErrClientAlreadyStarted", got[3])
		}
		for i, err := range got[:3] {
			if !errors.Is(err, ErrCalledFromCallback) {
				t.Fatalf("call %d from a listener: %v, want ErrCalledFromCallback", i, err)
			}
		}
		t.Logf("Stop from a listener: %v", got[0])
		// The client still runs and stops normally from outside.
		if n := c.PeerCount(); n != 1 {
			t.Fatalf("PeerCount = %d", n)
		}
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Stop with peers connected: every connected peer gets exactly one OnPeerDisconnected
// (DisconnectStopped), and no listener runs after Stop returned.
func TestStopNoListenerAfter(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		var stopped atomic.Bool
		var late atomic.Int32
		var mu sync.Mutex
		connected := map[*Peer]bool{}
		disconnected := map[*Peer]DisconnectReason{}
		check := func() {
			if stopped.Load() {
				late.Add(1)
			}
		}
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) {
				check()
				mu.Lock()
				connected[p] = true
				mu.Unlock()
			},
			OnPeerDisconnected: func(p *Peer, r DisconnectReason) {
				check()
				time.Sleep(20 * time.Millisecond) // listeners still running while Stop waits
				mu.Lock()
				disconnected[p] = r
				mu.Unlock()
			},
			OnHeaders: func(*Peer, []BlockHeader) { check() },
			OnMessage: func(*Peer, string, []byte) { check() },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		genesis := regtestGenesis(t)
		for _, a := range s.addrs[:3] {
			id := connect(t, c, a)
			_ = c.SendGetHeaders(id, [][32]byte{genesis}, [32]byte{})
		}
		// The library sets a peer Connected (WaitConnected returns) before it queues the
		// connected event; a stop in between drops both that event and the disconnected one.
		// The pairing is what this test checks, for three peers: wait for their events.
		waitFor(t, 5*time.Second, "three OnPeerConnected", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(connected) == 3
		})
		if err := c.Stop(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		stopped.Store(true)
		mu.Lock()
		if len(connected) != 3 || len(disconnected) != 3 {
			t.Fatalf("%d connected, %d disconnected", len(connected), len(disconnected))
		}
		for p, r := range disconnected {
			if !connected[p] || r.Code != DisconnectStopped {
				t.Fatalf("disconnect of %v: %+v", p, r)
			}
		}
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		if n := late.Load(); n != 0 {
			t.Fatalf("%d listener calls after Stop returned", n)
		}
		if c.PeerCount() != 0 {
			t.Fatal("peers after Stop")
		}
		// The client starts again.
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		stopped.Store(false)
		connect(t, c, s.addrs[0])
	})
}

// Stop honours the context's deadline: a listener that does not return makes Stop return
// ErrStopTimeout in time, and no other listener starts after it.
func TestStopDeadline(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		release := make(chan struct{})
		var calls, afterStop atomic.Int32
		var stopped atomic.Bool
		c := newTestClient(t, d, &MessageListeners{
			OnPeerDisconnected: func(p *Peer, r DisconnectReason) {
				if stopped.Load() {
					afterStop.Add(1)
				}
				if calls.Add(1) == 1 {
					<-release
				}
			},
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, s.addrs[4])
		connect(t, c, s.addrs[5])
		start := time.Now()
		err := c.Stop(ctxTimeout(t, 300*time.Millisecond))
		stopped.Store(true)
		elapsed := time.Since(start)
		if !errors.Is(err, ErrStopTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop = %v, want ErrStopTimeout and context.DeadlineExceeded", err)
		}
		if elapsed > 2*time.Second {
			t.Fatalf("Stop took %v with a 300ms deadline", elapsed)
		}
		if regexp.MustCompile(`\d\.\d+m?s`).MatchString(err.Error()) {
			t.Fatalf("Stop error %q: durations are rounded to the millisecond", err)
		}
		t.Logf("Stop after %v: %v", elapsed, err)
		close(release)
		time.Sleep(200 * time.Millisecond)
		if n := afterStop.Load(); n != 0 {
			t.Fatalf("%d listeners started after Stop returned", n)
		}
		if c.PeerCount() != 0 {
			t.Fatal("peers after Stop")
		}
	})
}

// WaitConnected on a peer that is removed, or whose client stops, meanwhile returns at once
// with an error that says so, not at its deadline.
func TestWaitConnectedEndsWhenRemovedOrStopped(t *testing.T) {
	// Accepts connections (the kernel does) and never answers: the handshake waits.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	for _, how := range []string{"removed", "stopped"} {
		c := newTestClient(t, DeliveryPoll, &MessageListeners{})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id, err := c.AddPeerID(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.WaitConnected(ctxTimeout(t, 10*time.Second), id) }()
		time.Sleep(200 * time.Millisecond)
		if how == "removed" {
			err = c.RemovePeer(addr)
		} else {
			err = c.Stop(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
		err = recv(t, done, 3*time.Second, "WaitConnected to return")
		var pce *PeerConnectionError
		if !errors.As(err, &pce) || !strings.Contains(err.Error(), "the peer was "+how) &&
			!strings.Contains(err.Error(), "the client was "+how) {
			t.Fatalf("%s: WaitConnected = %v, want a *PeerConnectionError saying so", how, err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Fatalf("%s: WaitConnected returned after %v", how, elapsed)
		}
	}
}

// A panicking listener is recovered; delivery goes on.
func TestPanickingListener(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		headers := make(chan int, 1)
		c := newTestClient(t, d, &MessageListeners{
			OnPeerConnected: func(p *Peer) { panic("listener bug (expected by the test)") },
			OnHeaders:       func(p *Peer, h []BlockHeader) { headers <- len(h) },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id := connect(t, c, s.addrs[3])
		if err := c.SendGetHeaders(id, [][32]byte{regtestGenesis(t)}, [32]byte{}); err != nil {
			t.Fatal(err)
		}
		if n := recv(t, headers, 10*time.Second, "headers after a panic"); n != 2000 {
			t.Fatalf("%d headers", n)
		}
	})
}

// getdata for a block: OnBlock gets its bytes and hash.
func TestGetDataBlock(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		headers := make(chan []BlockHeader, 1)
		type blk struct {
			data []byte
			hash [32]byte
		}
		blocks := make(chan blk, 1)
		c := newTestClient(t, d, &MessageListeners{
			OnHeaders: func(p *Peer, h []BlockHeader) { headers <- h },
			OnBlock:   func(p *Peer, b []byte, h [32]byte) { blocks <- blk{b, h} },
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id := connect(t, c, s.addrs[2])
		if err := c.SendGetHeaders(id, [][32]byte{regtestGenesis(t)}, [32]byte{}); err != nil {
			t.Fatal(err)
		}
		h := recv(t, headers, 10*time.Second, "headers")
		if err := c.SendGetData(id, []InvVect{{Type: InvTypeWitnessBlock, Hash: h[9].Hash}}); err != nil {
			t.Fatal(err)
		}
		b := recv(t, blocks, 10*time.Second, "block")
		if b.hash != h[9].Hash || len(b.data) < 80 {
			t.Fatalf("block %s of %d bytes, want %s", HashString(b.hash), len(b.data), HashString(h[9].Hash))
		}
	})
}

func TestLogger(t *testing.T) {
	s := needSimnet(t)
	var n atomic.Int32
	if err := SetLogger(LogDebug, func(l LogLevel, target, msg string) { n.Add(1) }); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := SetLogger(LogOff, nil); err != nil {
			t.Fatal(err)
		}
	}()
	c := newTestClient(t, DeliveryPoll, &MessageListeners{})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	connect(t, c, s.addrs[0])
	if n.Load() == 0 {
		t.Fatal("no log record")
	}
}

// A client the program drops is released by its finalizer: the library calls
// user_data_free, which deletes the cgo handle exactly once. A running client is not
// released while it runs.
func TestFinalizerAndHandles(t *testing.T) {
	before := liveHandles.Load()
	for i := 0; i < 5; i++ {
		c, err := NewBtcClient(WithNetwork(Regtest), WithDelivery(DeliveryCallbacks),
			WithListeners(&MessageListeners{OnHeaders: func(*Peer, []BlockHeader) {}}))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			if err := c.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Close is idempotent, and a failed NewBtcClient releases its handle at once.
	c, err := NewBtcClient(WithDelivery(DeliveryCallbacks))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil || c.Close() != nil {
		t.Fatal("Close twice", err)
	}
	if _, err := NewBtcClient(WithDelivery(DeliveryCallbacks), WithMaxPeers(0)); err == nil {
		t.Fatal("no error")
	}
	waitFor(t, 10*time.Second, "finalizers", func() bool {
		runtime.GC()
		return liveHandles.Load() == before
	})
}

// A listener reaches its client through Peer.Client, which does not keep the client alive:
// 100 clients whose listener calls the client, each started, connected, stopped and dropped
// without Close, are all finalized, and leave no handle, goroutine or descriptor behind.
func TestListenerClientDoesNotKeepItAlive(t *testing.T) {
	s := needSimnet(t)
	openFDs := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(entries)
	}
	settle := func() {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	settle()
	handles, goroutines, fds := liveHandles.Load(), runtime.NumGoroutine(), openFDs()
	for i := 0; i < 100; i++ {
		counted := make(chan int, 1)
		c, err := NewBtcClient(WithNetwork(Regtest), WithDiscovery(false),
			WithDelivery(deliveries[i%len(deliveries)]),
			WithListeners(&MessageListeners{OnPeerConnected: func(p *Peer) {
				counted <- p.Client().PeerCount()
			}}))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, s.addrs[i%len(s.addrs)])
		if n := recv(t, counted, 10*time.Second, "OnPeerConnected"); n != 1 {
			t.Fatalf("PeerCount through Peer.Client = %d, want 1", n)
		}
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "every dropped client finalized", func() bool {
		settle()
		return liveHandles.Load() == handles
	})
	waitFor(t, 10*time.Second, "goroutines and descriptors back to their baseline", func() bool {
		settle()
		return runtime.NumGoroutine() <= goroutines && openFDs() <= fds
	})
}

// A string with a NUL byte is refused with ErrInvalidArgument, never cut at the NUL and
// passed on.
func TestNulInStrings(t *testing.T) {
	c := newTestClient(t, DeliveryPoll, &MessageListeners{})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		what string
		err  error
	}{
		{"AddPeer", c.AddPeer(context.Background(), "127.0.0.1:1\x00junk")},
		{"RemovePeer", c.RemovePeer("127.0.0.1:1\x00junk")},
		{"SendMessage addr", c.SendMessage("127.0.0.1:1\x00junk", "ping", nil)},
		{"SendMessage command", c.SendMessage("127.0.0.1:1", "ping\x00junk", nil)},
		{"SendMessageTo command", c.SendMessageTo(1, "pi\x00ng", nil)},
		{"Peer.SendMessage command", (&Peer{ID: 1, c: c.c}).SendMessage("pi\x00ng", nil)},
	}
	for _, tc := range calls {
		if !errors.Is(tc.err, ErrInvalidArgument) {
			t.Errorf("%s with a NUL: %v, want ErrInvalidArgument", tc.what, tc.err)
		}
	}
	if n := c.PeerCount(); n != 0 {
		t.Fatalf("PeerCount = %d after AddPeer with a NUL (the address was cut)", n)
	}
	_, err := NewBtcClient(WithUserAgent("/ua:1\x00junk/"))
	if !errors.Is(err, ErrInvalidArgument) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("WithUserAgent with a NUL: %v, want ErrInvalidArgument and ErrInvalidConfig", err)
	}
	t.Logf("user agent: %v", err)
}

// Stop returns as soon as its context is cancelled, in every mode, even while a listener
// blocks: the error matches both ctx.Err() and ErrStopTimeout. No listener starts after
// that; the stop finishes in the background, and then the client starts again.
func TestStopCancel(t *testing.T) {
	s := needSimnet(t)
	eachDelivery(t, func(t *testing.T, d Delivery) {
		release := make(chan struct{})
		var calls, afterStop atomic.Int32
		var stopped atomic.Bool
		c := newTestClient(t, d, &MessageListeners{
			OnPeerDisconnected: func(p *Peer, r DisconnectReason) {
				if stopped.Load() {
					afterStop.Add(1)
				}
				if calls.Add(1) == 1 {
					select {
					case <-release:
					case <-time.After(3 * time.Second):
					}
				}
			},
		})
		defer close(release)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		connect(t, c, s.addrs[4])
		connect(t, c, s.addrs[5])
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var cancelled atomic.Int64
		time.AfterFunc(100*time.Millisecond, func() {
			cancelled.Store(time.Now().UnixNano())
			cancel()
		})
		err := c.Stop(ctx)
		returned := time.Now()
		stopped.Store(true)
		at := cancelled.Load()
		if at == 0 {
			t.Fatalf("Stop returned %v before the cancellation", err)
		}
		late := returned.Sub(time.Unix(0, at))
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrStopTimeout) || !errors.Is(err, ctx.Err()) {
			t.Fatalf("Stop = %v, want an error matching context.Canceled and ErrStopTimeout", err)
		}
		if late > 50*time.Millisecond {
			t.Fatalf("Stop returned %v after the cancellation", late)
		}
		t.Logf("Stop returned %v after the cancellation: %v", late.Round(time.Millisecond), err)
		if err := c.Start(); !errors.Is(err, ErrClientAlreadyStarted) {
			t.Fatalf("Start while the stop finishes: %v, want ErrClientAlreadyStarted", err)
		}
		release <- struct{}{}
		time.Sleep(200 * time.Millisecond)
		if n := afterStop.Load(); n != 0 {
			t.Fatalf("%d listeners started after Stop returned", n)
		}
		// Events of the stopped run that were not delivered are not delivered after a
		// restart either.
		waitFor(t, 5*time.Second, "Start after the background stop", func() bool { return c.Start() == nil })
		time.Sleep(200 * time.Millisecond)
		if n := afterStop.Load(); n != 0 {
			t.Fatalf("%d listeners of the stopped run called after the restart", n)
		}
		connect(t, c, s.addrs[4])
	})
}

// PeerCount returns 0 when the client does not run or is closed; PeerCountErr tells which.
func TestPeerCountErr(t *testing.T) {
	c := newTestClient(t, DeliveryPoll, &MessageListeners{})
	if n, err := c.PeerCountErr(); n != 0 || err != nil {
		t.Fatalf("PeerCountErr before Start = %d, %v; want 0, nil", n, err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPeer(context.Background(), closedAddr(t)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.PeerCountErr(); n != 1 || err != nil || c.PeerCount() != 1 {
		t.Fatalf("PeerCountErr = %d, %v; PeerCount = %d; want 1", n, err, c.PeerCount())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.PeerCountErr(); n != 0 || !errors.Is(err, ErrClientClosed) || c.PeerCount() != 0 {
		t.Fatalf("PeerCountErr after Close = %d, %v; want 0, ErrClientClosed", n, err)
	}
}

// AddPeer's context governs whether the peer is added, not its connection: a done context
// adds nothing and returns ctx.Err(); cancelling it after AddPeer returned changes nothing.
func TestAddPeerContext(t *testing.T) {
	c := newTestClient(t, DeliveryPoll, &MessageListeners{})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.AddPeer(cancelled, closedAddr(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("AddPeer with a cancelled context: %v, want context.Canceled", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.AddPeerID(expired, closedAddr(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AddPeerID with an expired context: %v, want context.DeadlineExceeded", err)
	}
	if n := c.PeerCount(); n != 0 {
		t.Fatalf("PeerCount = %d after AddPeer with done contexts", n)
	}
	ctx, cancel3 := context.WithCancel(context.Background())
	if err := c.AddPeer(ctx, closedAddr(t)); err != nil {
		t.Fatal(err)
	}
	cancel3()
	time.Sleep(50 * time.Millisecond)
	if n := c.PeerCount(); n != 1 {
		t.Fatalf("PeerCount = %d after cancelling AddPeer's context, want 1 (the peer stays)", n)
	}
	if err := c.AddPeer(nil, closedAddr(t)); err != nil { // a nil ctx is allowed
		t.Fatalf("AddPeer(nil ctx): %v", err)
	}
}
