//! The seed corpus of the `frame_reader` fuzz target (`crates/wire/fuzz/seeds/`): one file per
//! `NetworkMessage` variant plus a few streams. This test checks that every committed seed is
//! a valid input (frames that read and decode); run it with `BTCCLIENT_WRITE_FUZZ_SEEDS=1` to
//! (re)generate the files.
//!
//! Seed layout (see `fuzz/fuzz_targets/frame_reader.rs`): a flags byte, a chunk seed byte,
//! four magic bytes when flag bit 0 is set, then the byte stream.

mod common;

use std::path::PathBuf;

use btcclient_wire::{Frame, WireConfig};
use common::*;

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

/// Flags: chunks of up to 512 bytes (mode 2 in bits 3-4).
const CHUNKS_512: u8 = 2 << 3;
/// Flags: chunks of up to 8 bytes, Pending before each.
const CHUNKS_8_PENDING: u8 = (1 << 3) | 4;
/// Flags: magic from the input, header fix-up, everything at once.
const OWN_MAGIC_FIXUP_ALL: u8 = 1 | 2 | (3 << 3);

fn seeds() -> Vec<(String, Vec<u8>)> {
    let rt = runtime();
    let mainnet = WireConfig::new(bitcoin::Network::Bitcoin);
    let mut out = Vec::new();
    let messages = every_message();
    for (i, message) in messages.iter().enumerate() {
        let frame = Frame::from_message(message).expect("frame");
        let mut seed = vec![CHUNKS_512, i as u8];
        seed.extend(rt.block_on(write_all(&[frame], &mainnet)));
        out.push((
            format!("{:02}-{}", i, variant_name(message).to_lowercase()),
            seed,
        ));
    }
    // A handshake-like stream, cut finely, with Pending reads.
    let stream: Vec<Frame> = messages
        .iter()
        .filter(|m| {
            matches!(
                variant_name(m),
                "Version" | "Verack" | "SendHeaders" | "Ping" | "Inv" | "Headers" | "AddrV2"
            )
        })
        .map(|m| Frame::from_message(m).expect("frame"))
        .collect();
    let mut seed = vec![CHUNKS_8_PENDING, 7];
    seed.extend(rt.block_on(write_all(&stream, &mainnet)));
    out.push(("stream-handshake".to_owned(), seed));
    // Regtest magic taken from the input, with the header fix-up.
    let regtest = WireConfig::new(bitcoin::Network::Regtest);
    let mut seed = vec![OWN_MAGIC_FIXUP_ALL, 0];
    seed.extend_from_slice(&regtest.magic().to_bytes());
    seed.extend(rt.block_on(write_all(&stream[..3], &regtest)));
    out.push(("stream-regtest-fixup".to_owned(), seed));
    // A truncated frame and an unknown command.
    let mut seed = vec![CHUNKS_512, 1];
    seed.extend(raw_frame(MAINNET, b"mycmd", &[1, 2, 3]));
    seed.extend(&raw_frame(MAINNET, b"ping", &[0; 8])[..28]);
    out.push(("truncated".to_owned(), seed));
    out
}

#[test]
fn fuzz_seeds_are_valid() {
    let dir = seeds_dir();
    if std::env::var_os("BTCCLIENT_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).expect("create seeds dir");
        for (name, bytes) in seeds() {
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
    let rt = runtime();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("seeds dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read seed");
        let flags = bytes[0];
        let (magic, stream) = if flags & 1 != 0 {
            ([bytes[2], bytes[3], bytes[4], bytes[5]], &bytes[6..])
        } else {
            (MAINNET, &bytes[2..])
        };
        let config = WireConfig::custom(magic);
        let result = rt.block_on(read_all(stream, &config));
        if name == "truncated" {
            assert!(result.is_err(), "{name}");
            continue;
        }
        let frames = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!frames.is_empty(), "{name}");
        for frame in frames {
            frame.decode().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        count += 1;
    }
    assert!(
        count >= VARIANT_COUNT,
        "only {count} seeds in {}",
        dir.display()
    );
}
