package btcclient

import (
	"runtime"
	"sync"
	"unsafe"
)

// Large payloads (blocks, in practice) are copied into a bounded set of buffers that are
// recycled once the listener has dropped them: each of these buffers carries a finalizer,
// which the garbage collector runs when nothing references the buffer any more, and which
// puts the buffer back for a later payload instead of letting it be freed. The listener's
// slice stays its own for as long as it keeps any reference to it (the finalizer cannot
// run before). Payloads that find no free buffer while recycleLimit bytes of buffers are
// out get a plain allocation, freed by the collector as usual.
//
// Without it every 1 MB block is a fresh 1 MB allocation: in a program whose live heap is
// small, a GC cycle every few blocks and fresh pages faulted in for each copy.

const (
	// recycleMin: payloads from this size on may use recycled buffers.
	recycleMin = 256 << 10
	// recycleLimit: the recycled buffers hold at most about this many bytes (waiting for
	// reuse or held by listeners; each may exceed its payload by the allocator's rounding).
	recycleLimit = 8 << 20
)

type recycled struct {
	base *byte
	cap  int
}

type recycler struct {
	mu      sync.Mutex
	free    []recycled
	tracked int // bytes of all recycled buffers, free or out
}

var payloadBuffers recycler

// bytes returns a copy of the n bytes at data in a buffer of its own (len = cap = n).
func (r *recycler) bytes(data unsafe.Pointer, n int) []byte {
	src := unsafe.Slice((*byte)(data), n)
	var buf []byte
	track := false
	r.mu.Lock()
	best := -1
	for i, b := range r.free {
		// A buffer at most 1/8 larger than the payload: no large waste while kept.
		if b.cap >= n && b.cap-n <= n/8 && (best < 0 || b.cap < r.free[best].cap) {
			best = i
		}
	}
	if best >= 0 {
		b := r.free[best]
		last := len(r.free) - 1
		r.free[best] = r.free[last]
		r.free[last] = recycled{}
		r.free = r.free[:last]
		buf = unsafe.Slice(b.base, b.cap)
	} else if r.tracked+n <= recycleLimit {
		r.tracked += n // reserved; corrected to the capacity below
		track = true
	}
	r.mu.Unlock()
	if buf == nil {
		// append allocates without clearing what it copies (make would clear it all).
		buf = append([]byte(nil), src...)
		if !track {
			return buf[:n:n]
		}
		r.mu.Lock()
		r.tracked += cap(buf) - n
		r.mu.Unlock()
	} else {
		copy(buf, src)
	}
	c := cap(buf)
	runtime.SetFinalizer(&buf[0], func(p *byte) { r.put(p, c) })
	return buf[:n:n]
}

// put is the finalizer of a recycled buffer that nothing references any more: it waits in
// free for the next payload of about its size.
func (r *recycler) put(base *byte, c int) {
	r.mu.Lock()
	r.free = append(r.free, recycled{base: base, cap: c})
	r.mu.Unlock()
}
