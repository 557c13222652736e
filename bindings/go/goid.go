package btcclient

import "runtime"

// goroutineID returns the id of the calling goroutine, parsed from the header line of its
// stack trace ("goroutine 42 [running]:"). Go has no API for it; it is used only to tell
// whether Stop, Close, Start or WaitConnected is called from inside a poll-mode listener
// (about a microsecond, never on the event path).
func goroutineID() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	var id uint64
	for _, ch := range buf[len(prefix):n] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}
