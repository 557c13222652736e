//go:build btcclient_nolib

package btcclient

// With the btcclient_nolib build tag the #cgo directives link no libbtcclient: CGO_LDFLAGS
// names it (e.g. $CARGO_TARGET_DIR/release/libbtcclient.a).

/*
#cgo LDFLAGS: -lpthread -ldl -lm
*/
import "C"

const linkedLibrary = ""
