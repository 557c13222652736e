package btcclient

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDelivery measures the cost of getting one event from the library to a Go
// listener, with each delivery mode, against a simnet node: the benchmark sends b.N
// requests that each make the node answer with one small message (getheaders stopping at
// block 1: a headers message with 1 header; getblocks stopping at block 2: an inv with 1
// entry), or with a full headers message (2000 headers), and waits until the listener has
// seen b.N messages.
//
// ns/op is the wall time per event (the node runs in its own process, on the other core);
// cpu-ns/event is the CPU time of this process (the library's threads, the Go runtime, the
// listener and the sends) per event, from getrusage: the figure that decides.
//
//	make bench     (or: go test -run '^$' -bench Delivery -benchtime 20000x)
func BenchmarkDelivery(b *testing.B) {
	s := needSimnet(b)
	for _, kind := range []string{"headers1", "inv1", "headers2000"} {
		for _, d := range []Delivery{DeliveryPoll, DeliveryCallbacks} {
			kind, d := kind, d
			b.Run(kind+"/"+d.String(), func(b *testing.B) { benchDelivery(b, s.addrs[0], d, kind) })
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchDelivery(b *testing.B, addr string, d Delivery, kind string) {
	var count atomic.Int64
	var target atomic.Int64
	done := make(chan struct{}, 1)
	first := make(chan []BlockHeader, 1)
	var warm atomic.Bool
	seen := func() {
		if count.Add(1) == target.Load() {
			done <- struct{}{}
		}
	}
	c, err := NewBtcClient(
		WithNetwork(Regtest), WithDelivery(d), WithDiscovery(false),
		WithSendQueue(16<<20, 4096), WithEventQueueLen(1024),
		WithListeners(&MessageListeners{
			OnHeaders: func(p *Peer, h []BlockHeader) {
				if !warm.Load() {
					warm.Store(true)
					first <- h
					return
				}
				seen()
			},
			OnInv: func(p *Peer, inv []InvVect) { seen() },
		}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	id := connect(b, c, addr)
	genesis := regtestGenesis(b)
	if err := c.SendGetHeaders(id, [][32]byte{genesis}, [32]byte{}); err != nil {
		b.Fatal(err)
	}
	chain := recv(b, first, 10*time.Second, "the first headers")
	var send func() error
	switch kind {
	case "headers1":
		send = func() error { return c.SendGetHeaders(id, [][32]byte{genesis}, chain[0].Hash) }
	case "headers2000":
		send = func() error { return c.SendGetHeaders(id, [][32]byte{genesis}, [32]byte{}) }
	case "inv1":
		payload := getheadersPayload([][32]byte{genesis}, chain[1].Hash) // same layout as getblocks
		send = func() error { return c.SendMessageTo(id, "getblocks", payload) }
	}
	target.Store(int64(b.N))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for {
			err := send()
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d of %d events", count.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/event")
	if err := c.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
}
