package btcclient

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/btcclient/btcclient-go/internal/cdeliver"
)

// BenchmarkDelivery measures the cost of getting one event from the library to a Go
// listener, in each delivery mode of this package, beside the same deliveries to a C
// consumer in the same process (internal/cdeliver: a C thread polling with
// btcclient_poll_next, or C callbacks, that reads each event's data pointer and counts it).
//
// Kinds of event:
//   - headers1: b.N getheaders from genesis stopping at block 1, each answered by a simnet
//     node with a headers message of 1 header;
//   - inv1: b.N getblocks stopping at block 2, each answered with an inv of 1 entry;
//   - headers2000: b.N getheaders without a stop hash, each answered with 2,000 headers;
//   - block1m: one getdata of b.N entries, answered by the block feeder (feeder_test.go, a
//     process of its own, v1 transport) with b.N blocks of about 1 MB written back to back.
//
// Modes: poll (DeliveryPoll, the default), callbacks (DeliveryCallbacks), c-poll and
// c-callbacks (the C consumer). The simnet nodes speak v2 (BIP324) unless
// BTCCLIENT_BENCH_TRANSPORT=v1.
//
// ns/op is the wall time per event from the first request to the last event (the node runs
// in its own process); cpu-ns/event is the CPU time of this process (the library's threads,
// the Go runtime, the consumer, the sends) per event, from getrusage.
//
//	make bench     (rounds of go test -bench, then medians and ratios to C)
func BenchmarkDelivery(b *testing.B) {
	s := needSimnet(b)
	v1 := os.Getenv("BTCCLIENT_BENCH_TRANSPORT") == "v1"
	for _, kind := range []string{"headers1", "inv1", "headers2000", "block1m"} {
		for _, mode := range []string{"poll", "callbacks", "c-poll", "c-callbacks"} {
			kind, mode := kind, mode
			b.Run(kind+"/"+mode, func(b *testing.B) {
				addr, v1Only := s.addrs[0], v1
				if kind == "block1m" {
					addr, v1Only = feederAddr(b), true
				}
				switch mode {
				case "poll":
					benchGo(b, addr, DeliveryPoll, v1Only, kind)
				case "callbacks":
					benchGo(b, addr, DeliveryCallbacks, v1Only, kind)
				case "c-poll":
					benchC(b, addr, true, v1Only, kind)
				case "c-callbacks":
					benchC(b, addr, false, v1Only, kind)
				}
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// blockSize is the size of the feeder's block.
var blockSize = len(bigBlock())

// getdataPayload serializes a getdata of n MSG_BLOCK entries for the zero hash (the feeder
// answers every entry with its block).
func getdataPayload(n int) []byte {
	p := appendVarInt(nil, uint64(n))
	for i := 0; i < n; i++ {
		p = append(p, byte(InvTypeBlock), 0, 0, 0)
		p = append(p, make([]byte, 32)...)
	}
	return p
}

func benchGo(b *testing.B, addr string, d Delivery, v1Only bool, kind string) {
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
	transport := TransportV2Preferred
	if v1Only {
		transport = TransportV1Only
	}
	c, err := NewBtcClient(
		WithNetwork(Regtest), WithDelivery(d), WithDiscovery(false), WithTransport(transport),
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
			OnBlock: func(p *Peer, block []byte, hash [32]byte) {
				if !warm.Load() {
					warm.Store(true)
					first <- nil
					return
				}
				seen()
			},
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
	if kind == "block1m" {
		if b.N > 50000 {
			b.Fatal("block1m takes at most 50000 events (-benchtime 50000x)")
		}
		b.SetBytes(int64(blockSize))
		if err := c.SendMessageTo(id, "getdata", getdataPayload(1)); err != nil {
			b.Fatal(err)
		}
	} else if err := c.SendGetHeaders(id, [][32]byte{genesis}, [32]byte{}); err != nil {
		b.Fatal(err)
	}
	chain := recv(b, first, 10*time.Second, "the first event")
	var send func() error
	sends := b.N
	switch kind {
	case "headers1":
		send = func() error { return c.SendGetHeaders(id, [][32]byte{genesis}, chain[0].Hash) }
	case "headers2000":
		send = func() error { return c.SendGetHeaders(id, [][32]byte{genesis}, [32]byte{}) }
	case "inv1":
		payload := getheadersPayload([][32]byte{genesis}, chain[1].Hash) // same layout as getblocks
		send = func() error { return c.SendMessageTo(id, "getblocks", payload) }
	case "block1m":
		inv := make([]InvVect, b.N)
		for i := range inv {
			inv[i].Type = InvTypeBlock
		}
		send = func() error { return c.SendGetData(id, inv) }
		sends = 1
	}
	target.Store(int64(b.N))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < sends; i++ {
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

func benchC(b *testing.B, addr string, poll, v1Only bool, kind string) {
	c, err := cdeliver.Open(poll, v1Only, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	genesis := regtestGenesis(b)
	var command string
	var payload []byte
	sends := b.N
	if kind == "block1m" {
		if b.N > 50000 {
			b.Fatal("block1m takes at most 50000 events (-benchtime 50000x)")
		}
		b.SetBytes(int64(blockSize))
		if n, err := c.Run("getdata", getdataPayload(1), 1, 1, 10*time.Second); err != nil || n != 1 {
			b.Fatalf("the first block: %d, %v", n, err)
		}
		command, payload, sends = "getdata", getdataPayload(b.N), 1
	} else {
		chain, err := c.Warm(10 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		switch kind {
		case "headers1":
			command, payload = "getheaders", getheadersPayload([][32]byte{genesis}, chain[0])
		case "headers2000":
			command, payload = "getheaders", getheadersPayload([][32]byte{genesis}, [32]byte{})
		case "inv1":
			command, payload = "getblocks", getheadersPayload([][32]byte{genesis}, chain[1])
		}
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	n, err := c.Run(command, payload, sends, b.N, 2*time.Minute)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n != b.N {
		b.Fatalf("%d of %d events", n, b.N)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/event")
}

// BenchmarkConvertHeaders measures the Go side of a 2,000-header message alone: the copy of
// the library's C array into a new []BlockHeader (allocation and GC included).
func BenchmarkConvertHeaders(b *testing.B) {
	const n = 2000
	src := make([]byte, n*cdeliver.HeaderSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if h := convertHeaders(unsafe.Pointer(&src[0]), n); len(h) != n {
			b.Fatal(len(h))
		}
	}
}
