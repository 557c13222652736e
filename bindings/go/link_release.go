//go:build !btcclient_debug && !btcclient_nolib

package btcclient

// The library of the checkout, release build (cargo build --release -p btcclient-ffi). The
// btcclient_debug tag links target/debug instead; btcclient_nolib links none, for a library
// elsewhere named in CGO_LDFLAGS (another CARGO_TARGET_DIR).

/*
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libbtcclient.a -lpthread -ldl -lm
*/
import "C"

// linkedLibrary names the build of libbtcclient the #cgo directives link ("" when
// CGO_LDFLAGS names it).
const linkedLibrary = "release"
