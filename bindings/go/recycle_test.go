package btcclient

import (
	"bytes"
	"runtime"
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
