//! Fuzzes one peer's handshake and session: a remote sending an arbitrary sequence of
//! well-framed messages with arbitrary payloads. Nothing it sends may panic or hang the client.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    btcclient_manager::fuzzing::peer_session(data);
});
