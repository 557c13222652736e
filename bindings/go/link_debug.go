//go:build btcclient_debug && !btcclient_nolib

package btcclient

// The library of the checkout, debug build (cargo build -p btcclient-ffi): selected by the
// btcclient_debug build tag.

/*
#cgo LDFLAGS: ${SRCDIR}/../../target/debug/libbtcclient.a -lpthread -ldl -lm
*/
import "C"

const linkedLibrary = "debug"
