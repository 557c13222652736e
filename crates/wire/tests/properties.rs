//! Property tests: arbitrary bytes never panic the reader or the decoder, arbitrary frames
//! round-trip, and our decoder agrees with the `bitcoin` crate's on mutated real payloads.

mod common;

use bitcoin::consensus::deserialize;
use bitcoin::p2p::message::RawNetworkMessage;
use btcclient_wire::{decode_payload, Command, Frame, V1Codec, WireConfig, WireError};
use bytes::BytesMut;
use common::*;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Commands the decoder knows, plus a few it does not.
const COMMANDS: &[&str] = &[
    "version",
    "verack",
    "addr",
    "inv",
    "getdata",
    "notfound",
    "getblocks",
    "getheaders",
    "mempool",
    "tx",
    "block",
    "headers",
    "sendheaders",
    "getaddr",
    "ping",
    "pong",
    "merkleblock",
    "filterload",
    "filteradd",
    "filterclear",
    "getcfilters",
    "cfilter",
    "getcfheaders",
    "cfheaders",
    "getcfcheckpt",
    "cfcheckpt",
    "sendcmpct",
    "cmpctblock",
    "getblocktxn",
    "blocktxn",
    "alert",
    "reject",
    "feefilter",
    "wtxidrelay",
    "addrv2",
    "sendaddrv2",
    "",
    "x",
    "abcdefghijkl",
];

/// Feeds `bytes` to a codec in chunks of the given sizes (cycled), decoding every frame.
/// Returns the frames read before the first error or the end.
fn drive_codec(config: &WireConfig, bytes: &[u8], chunks: &[usize]) -> Vec<Frame> {
    let mut codec = V1Codec::new(config);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = chunks[i % chunks.len()].clamp(1, bytes.len() - pos);
        i += 1;
        buf.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let _ = frame.decode();
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
    }
    // At the end of the stream, as `FramedRead` does: `decode_eof` until it has nothing left.
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        let _ = frame.decode();
        frames.push(frame);
    }
    frames
}

/// Arbitrary bytes, or a stream that starts with valid-looking headers (right magic, known
/// command, small length, right checksum) followed by junk, so the fuzzing gets past the header.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let framed = proptest::collection::vec(
        (
            0..COMMANDS.len(),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
        ),
        0..6,
    )
    .prop_map(|frames| {
        let mut out = Vec::new();
        for (c, payload, corrupt) in frames {
            let mut frame = raw_frame(MAINNET, COMMANDS[c].as_bytes(), &payload);
            if corrupt && !frame.is_empty() {
                let at = payload.len() % frame.len();
                frame[at] ^= 0x55;
            }
            out.extend_from_slice(&frame);
        }
        out
    });
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), framed]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_codec(
        bytes in stream(),
        chunks in proptest::collection::vec(1usize..64, 1..8),
        small_limit in any::<bool>(),
    ) {
        let mut config = WireConfig::new(bitcoin::Network::Bitcoin);
        if small_limit {
            config = config.with_max_payload(100);
        }
        drive_codec(&config, &bytes, &chunks);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(
        bytes in stream(),
        cut in any::<prop::sample::Index>(),
    ) {
        let config = WireConfig::new(bitcoin::Network::Bitcoin);
        let rt = runtime();
        let cut = cut.index(bytes.len() + 1);
        let reader = ChunkedReader::split_at(bytes, &[cut]).with_pending();
        if let Ok(frames) = rt.block_on(read_all(reader, &config)) {
            for frame in frames {
                let _ = frame.decode();
            }
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic_the_decoder(
        c in 0..COMMANDS.len(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let command = Command::new(COMMANDS[c]).expect("command");
        let _ = decode_payload(command, &payload);
    }

    #[test]
    fn arbitrary_frames_round_trip(
        frames in proptest::collection::vec(
            ("[ -~]{1,12}", proptest::collection::vec(any::<u8>(), 0..3000)),
            1..6,
        ),
        chunk in 1usize..5000,
    ) {
        let config = WireConfig::custom([1, 2, 3, 4]);
        let frames: Vec<Frame> = frames
            .into_iter()
            .map(|(command, payload)| Frame::raw(&command, payload).expect("valid command"))
            .collect();
        let rt = runtime();
        let bytes = rt.block_on(write_all(&frames, &config));
        let got = rt
            .block_on(read_all(ChunkedReader::every(bytes.clone(), chunk), &config))
            .expect("read");
        prop_assert_eq!(&got, &frames);
        // The codec driven by hand agrees.
        prop_assert_eq!(&drive_codec(&config, &bytes, &[chunk]), &frames);
    }

    /// Real payloads, mutated (cut, flipped, grown): our decoder accepts exactly what the
    /// `bitcoin` crate accepts, except for lists over the protocol limits, and agrees on the
    /// result.
    #[test]
    fn decoder_agrees_with_the_bitcoin_crate(
        which in any::<prop::sample::Index>(),
        mutation in 0u8..4,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let messages = every_message();
        let message = &messages[which.index(messages.len())];
        let frame = Frame::from_message(message).expect("frame");
        let mut payload = frame.payload.to_vec();
        let at = at.index(payload.len() + 1);
        match mutation {
            0 => payload.truncate(at),
            1 if at < payload.len() => payload[at] ^= byte | 1,
            2 => payload.insert(at, byte),
            _ => payload.push(byte),
        }
        let ours = decode_payload(frame.command, &payload);
        let bytes = raw_frame(MAINNET, frame.command.as_str().as_bytes(), &payload);
        let theirs = deserialize::<RawNetworkMessage>(&bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b.payload()),
            (Err(WireError::TooManyEntries { .. }), _) => {}
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "ours {:?} vs theirs {:?}", ours, theirs),
        }
        // A decoded message re-encodes to a frame that decodes to the same message.
        if let Ok(decoded) = ours {
            let again = Frame::from_message(&decoded).expect("re-encode");
            prop_assert_eq!(again.decode().expect("re-decode"), decoded);
        }
    }
}
