package btcclient

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// freeCount returns how many recycled buffers wait for reuse.
func (r *recycler) freeCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.free)
}

// Buffers a listener dropped are reused; one it keeps is never written again; at most
// recycleLimit bytes of buffers are recycled; every copy is exact (len = cap = n).
func TestPayloadBuffersRecycle(t *testing.T) {
	r := &recycler{}
	const n = 1_000_000
	src := bytes.Repeat([]byte{0xaa}, n)
	kept := r.bytes(unsafe.Pointer(&src[0]), n)
	if len(kept) != n || cap(kept) != n || !bytes.Equal(kept, src) {
		t.Fatalf("copy: len %d cap %d equal %v", len(kept), cap(kept), bytes.Equal(kept, src))
	}
	reused := 0
	for i := 0; i < 40; i++ {
		fill := bytes.Repeat([]byte{byte(i)}, n-i*100) // sizes within 1/8 of each other
		before := r.freeCount()
		b := r.bytes(unsafe.Pointer(&fill[0]), len(fill))
		if r.freeCount() < before {
			reused++
		}
		if len(b) != len(fill) || cap(b) != len(fill) || !bytes.Equal(b, fill) {
			t.Fatalf("copy %d: len %d cap %d", i, len(b), cap(b))
		}
		b = nil
		if i%4 == 3 {
			// Let the collector find the dropped buffers and run their finalizers.
			deadline := time.Now().Add(2 * time.Second)
			for r.freeCount() == 0 && time.Now().Before(deadline) {
				runtime.GC()
				time.Sleep(time.Millisecond)
			}
		}
		r.mu.Lock()
		tracked := r.tracked
		r.mu.Unlock()
		if tracked > recycleLimit+recycleLimit/recycleMin*8192 {
			t.Fatalf("%d bytes of recycled buffers, limit %d", tracked, recycleLimit)
		}
	}
	if reused == 0 {
		t.Fatal("no buffer was reused")
	}
	if !bytes.Equal(kept, src) {
		t.Fatal("a buffer still referenced was reused")
	}
	runtime.KeepAlive(kept)
	t.Logf("%d of 40 copies reused a dropped buffer", reused)
}

// A payload that differs from every free buffer by more than 1/8 gets a buffer of its own.
func TestPayloadBuffersSizeMatch(t *testing.T) {
	r := &recycler{}
	big := make([]byte, 2_000_000)
	b := r.bytes(unsafe.Pointer(&big[0]), len(big))
	b = nil
	_ = b
	deadline := time.Now().Add(2 * time.Second)
	for r.freeCount() == 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if r.freeCount() != 1 {
		t.Fatalf("%d free buffers, want 1", r.freeCount())
	}
	small := make([]byte, 300_000)
	s := r.bytes(unsafe.Pointer(&small[0]), len(small))
	if cap(s) != len(small) || r.freeCount() != 1 {
		t.Fatalf("a 300 kB payload took the 2 MB buffer (cap %d, %d free)", cap(s), r.freeCount())
	}
}

// Blocks of 1 MB from the feeder, through the library and each delivery mode: every block
// arrives intact, and the blocks a listener keeps stay intact while later blocks reuse the
// buffers of those it dropped.
func TestLargeBlocksRecycled(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 60 MB")
	}
	addr := feederAddr(t)
	want := bigBlock()
	for _, d := range []Delivery{DeliveryPoll, DeliveryCallbacks} {
		d := d
		t.Run(d.String(), func(t *testing.T) {
			var kept [][]byte // written by the listener only, read after the last block
			var bad atomic.Int32
			got := make(chan struct{}, 64)
			c, err := NewBtcClient(WithNetwork(Regtest), WithDelivery(d), WithDiscovery(false),
				WithTransport(TransportV1Only),
				WithListeners(&MessageListeners{OnBlock: func(p *Peer, block []byte, hash [32]byte) {
					if !bytes.Equal(block, want) {
						bad.Add(1)
					}
					if len(kept) < 5 {
						kept = append(kept, block)
					}
					got <- struct{}{}
				}}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			id := connect(t, c, addr)
			inv := make([]InvVect, 10)
			for i := range inv {
				inv[i].Type = InvTypeBlock
			}
			for round := 0; round < 3; round++ {
				if err := c.SendGetData(id, inv); err != nil {
					t.Fatal(err)
				}
				for i := range inv {
					recv(t, got, 20*time.Second, fmt.Sprintf("block %d of round %d", i, round))
				}
				runtime.GC() // the dropped blocks' finalizers free their buffers for reuse
			}
			if err := c.Stop(ctxTimeout(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			if n := bad.Load(); n != 0 {
				t.Fatalf("%d of 30 blocks differ from the block sent", n)
			}
			for i, b := range kept {
				if !bytes.Equal(b, want) {
					t.Fatalf("kept block %d was overwritten", i)
				}
			}
		})
	}
}
