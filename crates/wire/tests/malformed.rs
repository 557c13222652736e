//! Every kind of malformed input is reported as its own `WireError` variant.

mod common;

use std::time::Duration;

use bitcoin::consensus::serialize;
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::ServiceFlags;
use bitcoin::VarInt;
use btcclient_wire::{
    Frame, FrameReader, FrameWriter, NetworkMessage, V1Codec, WireConfig, WireError,
    DEFAULT_MAX_PAYLOAD, MAX_ADDR_ENTRIES, MAX_HEADERS_ENTRIES, MAX_INV_ENTRIES,
};
use bytes::BytesMut;
use common::*;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Decoder;

fn mainnet() -> WireConfig {
    WireConfig::new(bitcoin::Network::Bitcoin)
}

/// Reads the first frame of `bytes` (then EOF) on mainnet.
async fn first(bytes: &[u8]) -> Result<Option<Frame>, WireError> {
    first_with(bytes, &mainnet()).await
}

async fn first_with(bytes: &[u8], config: &WireConfig) -> Result<Option<Frame>, WireError> {
    FrameReader::new(bytes, config).read_frame().await
}

/// Reads and decodes the single frame `command` + `payload` (with a valid header).
async fn decode_one(command: &str, payload: &[u8]) -> Result<NetworkMessage, WireError> {
    let bytes = raw_frame(MAINNET, command.as_bytes(), payload);
    let frame = first(&bytes).await?.expect("a frame");
    frame.decode()
}

/// Sends only `header` over a pipe that stays open, so the payload never arrives, and returns
/// what the reader reports. A reader that waited for the payload would time out here.
async fn header_only(header: Vec<u8>, config: &WireConfig) -> WireError {
    let (mut tx, rx) = tokio::io::duplex(64);
    tx.write_all(&header).await.expect("write header");
    let mut reader = FrameReader::new(rx, config);
    let result = tokio::time::timeout(Duration::from_secs(10), reader.read_frame())
        .await
        .expect("the reader must decide from the header alone");
    drop(tx);
    let err = result.expect_err("an error");
    // Nothing like the announced length was allocated.
    assert!(
        reader.buffer_capacity() <= 64 * 1024,
        "{}",
        reader.buffer_capacity()
    );
    err
}

#[tokio::test]
async fn wrong_magic() {
    let testnet = [0x0b, 0x11, 0x09, 0x07];
    let bytes = raw_frame(testnet, b"verack", &[]);
    match first(&bytes).await {
        Err(WireError::WrongMagic { expected, got }) => {
            assert_eq!(expected, MAINNET);
            assert_eq!(got, testnet);
        }
        other => panic!("expected WrongMagic, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_magic_is_reported_from_the_header_alone() {
    let err = header_only(
        header([1, 2, 3, 4], b"block", 1_000_000, [0; 4]),
        &mainnet(),
    )
    .await;
    assert!(matches!(err, WireError::WrongMagic { .. }), "{err:?}");
}

#[tokio::test]
async fn command_not_ascii() {
    for command in [&b"ver\xffack"[..], b"ping\x01", b"\x80", b"tab\tbed"] {
        let bytes = raw_frame(MAINNET, command, &[]);
        match first(&bytes).await {
            Err(WireError::BadCommand { raw }) => assert_eq!(&raw[..command.len()], command),
            other => panic!("{command:?}: expected BadCommand, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn command_not_nul_padded() {
    // A non-NUL byte after the first NUL.
    for command in [&b"ver\0ack"[..], b"ping\0\0\0\0\0\0\0x", b"\0ping"] {
        let bytes = raw_frame(MAINNET, command, &[]);
        match first(&bytes).await {
            Err(WireError::BadCommand { raw }) => assert_eq!(&raw[..command.len()], command),
            other => panic!("{command:?}: expected BadCommand, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn twelve_character_command_without_nul_is_fine() {
    let bytes = raw_frame(MAINNET, b"abcdefghijkl", &[7]);
    let frame = first(&bytes).await.expect("read").expect("a frame");
    assert_eq!(frame.command, "abcdefghijkl");
}

#[tokio::test]
async fn length_over_default_limit_from_header_alone() {
    let len = DEFAULT_MAX_PAYLOAD as u32 + 1;
    let err = header_only(header(MAINNET, b"block", len, [0; 4]), &mainnet()).await;
    match err {
        WireError::PayloadTooLarge { command, len, max } => {
            assert_eq!(command, "block");
            assert_eq!(len, 4_000_001);
            assert_eq!(max, 4_000_000);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    let err = header_only(header(MAINNET, b"block", u32::MAX, [0; 4]), &mainnet()).await;
    assert!(
        matches!(err, WireError::PayloadTooLarge { len, .. } if len == u64::from(u32::MAX)),
        "{err:?}"
    );
}

#[tokio::test]
async fn length_over_custom_limit_from_header_alone() {
    let config = mainnet().with_max_payload(1_000);
    let err = header_only(header(MAINNET, b"tx", 1_001, [0; 4]), &config).await;
    match err {
        WireError::PayloadTooLarge { command, len, max } => {
            assert_eq!(command, "tx");
            assert_eq!(len, 1_001);
            assert_eq!(max, 1_000);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
}

#[test]
fn length_at_the_limit_waits_for_the_payload() {
    // The codec, given only the 24 header bytes, asks for more instead of failing.
    for (config, len) in [
        (mainnet(), DEFAULT_MAX_PAYLOAD),
        (mainnet().with_max_payload(1_000), 1_000),
    ] {
        let mut codec = V1Codec::new(&config);
        let mut buf = BytesMut::from(&header(MAINNET, b"tx", len as u32, [0; 4])[..]);
        assert!(codec.decode(&mut buf).expect("no error").is_none());
    }
}

#[tokio::test]
async fn payload_at_custom_limit_is_read() {
    let config = mainnet().with_max_payload(1_000);
    let bytes = raw_frame(MAINNET, b"blob", &[9; 1_000]);
    let frame = first_with(&bytes, &config)
        .await
        .expect("read")
        .expect("frame");
    assert_eq!(frame.payload.len(), 1_000);
}

#[tokio::test]
async fn checksum_mismatch() {
    let payload = 42u64.to_le_bytes();
    let good = sha256d_checksum(&payload);
    let bad = [good[0] ^ 1, good[1], good[2], good[3]];
    let mut bytes = header(MAINNET, b"ping", 8, bad);
    bytes.extend_from_slice(&payload);
    match first(&bytes).await {
        Err(WireError::ChecksumMismatch {
            command,
            expected,
            computed,
        }) => {
            assert_eq!(command, "ping");
            assert_eq!(expected, bad);
            assert_eq!(computed, good);
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn payload_that_does_not_decode() {
    let cases: [(&str, &[u8]); 6] = [
        ("ping", &[1, 2, 3, 4]),                // 4 of 8 bytes
        ("version", &[0x80, 0x11, 0x01, 0x00]), // cut after the protocol version
        ("tx", &[0xff; 10]),
        ("block", &[0; 50]), // a cut block header
        ("headers", &[0x01, 0x00]),
        ("feefilter", &(-1i64).to_le_bytes()),
    ];
    for (command, payload) in cases {
        match decode_one(command, payload).await {
            Err(WireError::Decode { command: c, .. }) => assert_eq!(c, command),
            other => panic!("{command}: expected Decode, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn headers_with_transactions_do_not_decode() {
    let mut payload = serialize(&VarInt(1));
    payload.extend_from_slice(&serialize(&block_header(1)));
    payload.push(1); // a non-zero transaction count
    match decode_one("headers", &payload).await {
        Err(WireError::Decode { command, .. }) => assert_eq!(command, "headers"),
        other => panic!("expected Decode, got {other:?}"),
    }
}

fn expect_trailing(result: Result<NetworkMessage, WireError>, command: &str, extra: usize) {
    match result {
        Err(WireError::TrailingBytes {
            command: c,
            extra: e,
        }) => {
            assert_eq!(c, command);
            assert_eq!(e, extra, "{command}");
        }
        other => panic!("{command}: expected TrailingBytes, got {other:?}"),
    }
}

#[tokio::test]
async fn trailing_bytes() {
    let mut ping = 7u64.to_le_bytes().to_vec();
    ping.push(0);
    expect_trailing(decode_one("ping", &ping).await, "ping", 1);

    let mut headers = serialize(&NetworkMessage::Headers(vec![block_header(1)]));
    headers.extend_from_slice(&[0, 0, 0]);
    expect_trailing(decode_one("headers", &headers).await, "headers", 3);

    let mut block = serialize(&bitcoin::constants::genesis_block(
        bitcoin::Network::Bitcoin,
    ));
    block.extend_from_slice(&[1, 2]);
    expect_trailing(decode_one("block", &block).await, "block", 2);
}

#[tokio::test]
async fn trailing_bytes_after_empty_messages() {
    for command in [
        "verack",
        "mempool",
        "sendheaders",
        "getaddr",
        "filterclear",
        "wtxidrelay",
        "sendaddrv2",
    ] {
        expect_trailing(decode_one(command, &[0]).await, command, 1);
        assert!(decode_one(command, &[]).await.is_ok(), "{command}");
    }
}

fn expect_too_many(
    result: Result<NetworkMessage, WireError>,
    command: &str,
    count: u64,
    max: usize,
) {
    match result {
        Err(WireError::TooManyEntries {
            command: c,
            count: n,
            max: m,
        }) => {
            assert_eq!(c, command);
            assert_eq!(n, count, "{command}");
            assert_eq!(m, max, "{command}");
        }
        other => panic!("{command}: expected TooManyEntries, got {other:?}"),
    }
}

#[tokio::test]
async fn too_many_entries_full_payloads() {
    // Complete, well-formed payloads one entry over the limit (the bitcoin crate alone would
    // accept them).
    let addr = Address::new(&([1, 2, 3, 4], 8333).into(), ServiceFlags::NETWORK);
    let addrv2 = AddrV2Message {
        time: 1,
        services: ServiceFlags::NETWORK,
        addr: AddrV2::Ipv4([1, 2, 3, 4].into()),
        port: 8333,
    };
    let inv = Inventory::Block(block_hash(1));
    let cases = [
        (
            "addr",
            serialize(&vec![(1u32, addr); MAX_ADDR_ENTRIES + 1]),
            MAX_ADDR_ENTRIES,
        ),
        (
            "addrv2",
            serialize(&vec![addrv2; MAX_ADDR_ENTRIES + 1]),
            MAX_ADDR_ENTRIES,
        ),
        (
            "inv",
            serialize(&vec![inv; MAX_INV_ENTRIES + 1]),
            MAX_INV_ENTRIES,
        ),
        (
            "getdata",
            serialize(&vec![inv; MAX_INV_ENTRIES + 1]),
            MAX_INV_ENTRIES,
        ),
        (
            "notfound",
            serialize(&vec![inv; MAX_INV_ENTRIES + 1]),
            MAX_INV_ENTRIES,
        ),
        (
            "headers",
            serialize(&NetworkMessage::Headers(
                (0..=MAX_HEADERS_ENTRIES as u32).map(block_header).collect(),
            )),
            MAX_HEADERS_ENTRIES,
        ),
    ];
    for (command, payload, max) in cases {
        expect_too_many(
            decode_one(command, &payload).await,
            command,
            max as u64 + 1,
            max,
        );
    }
}

#[tokio::test]
async fn too_many_entries_from_the_count_alone() {
    // Only the CompactSize count: refused before any entry is looked at or allocated.
    for (command, max) in [
        ("addr", MAX_ADDR_ENTRIES),
        ("addrv2", MAX_ADDR_ENTRIES),
        ("inv", MAX_INV_ENTRIES),
        ("getdata", MAX_INV_ENTRIES),
        ("notfound", MAX_INV_ENTRIES),
        ("headers", MAX_HEADERS_ENTRIES),
    ] {
        let payload = serialize(&VarInt(max as u64 + 1));
        expect_too_many(
            decode_one(command, &payload).await,
            command,
            max as u64 + 1,
            max,
        );
        let payload = serialize(&VarInt(u64::MAX));
        expect_too_many(decode_one(command, &payload).await, command, u64::MAX, max);
    }
}

#[tokio::test]
async fn truncated_mid_header() {
    let bytes = raw_frame(MAINNET, b"ping", &7u64.to_le_bytes());
    for cut in [1, 10, 23] {
        match first(&bytes[..cut]).await {
            Err(WireError::Truncated { buffered }) => assert_eq!(buffered, cut),
            other => panic!("cut {cut}: expected Truncated, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn truncated_mid_payload() {
    let bytes = raw_frame(MAINNET, b"ping", &7u64.to_le_bytes());
    for cut in [24, 25, 31] {
        match first(&bytes[..cut]).await {
            Err(WireError::Truncated { buffered }) => assert_eq!(buffered, cut),
            other => panic!("cut {cut}: expected Truncated, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn truncated_after_complete_frames() {
    let mut bytes = raw_frame(MAINNET, b"verack", &[]);
    bytes.extend_from_slice(&raw_frame(MAINNET, b"ping", &7u64.to_le_bytes())[..30]);
    let mut reader = FrameReader::new(&bytes[..], &mainnet());
    let first = reader.read_frame().await.expect("read").expect("frame");
    assert_eq!(first.command, "verack");
    match reader.read_frame().await {
        Err(WireError::Truncated { buffered }) => assert_eq!(buffered, 30),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[tokio::test]
async fn clean_eof_between_frames() {
    assert!(first(&[]).await.expect("empty stream").is_none());

    let mut bytes = raw_frame(MAINNET, b"verack", &[]);
    bytes.extend_from_slice(&raw_frame(MAINNET, b"ping", &7u64.to_le_bytes()));
    let mut reader = FrameReader::new(&bytes[..], &mainnet());
    assert_eq!(
        reader.read_frame().await.expect("1").expect("1").command,
        "verack"
    );
    assert_eq!(
        reader.read_frame().await.expect("2").expect("2").command,
        "ping"
    );
    assert!(reader.read_frame().await.expect("eof").is_none());
}

#[tokio::test]
async fn unknown_command_survives_with_its_payload() {
    let message = decode_one("mycmd", &[1, 2, 3]).await.expect("decode");
    match message {
        NetworkMessage::Unknown { command, payload } => {
            assert_eq!(command.as_ref(), "mycmd");
            assert_eq!(payload, vec![1, 2, 3]);
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
    // Also with an empty payload and a full 12-character command.
    let message = decode_one("abcdefghijkl", &[]).await.expect("decode");
    assert!(
        matches!(&message, NetworkMessage::Unknown { command, payload }
            if command.as_ref() == "abcdefghijkl" && payload.is_empty()),
        "{message:?}"
    );
}

#[test]
fn frame_raw_rejects_invalid_commands() {
    for command in ["abcdefghijklm", "pïng", "", "tab\t", "nul\0", "\u{7f}"] {
        match Frame::raw(command, vec![1]) {
            Err(WireError::InvalidCommand(c)) => assert_eq!(c, command),
            other => panic!("{command:?}: expected InvalidCommand, got {other:?}"),
        }
    }
    assert!(Frame::raw("abcdefghijkl", vec![1]).is_ok());
    assert!(Frame::raw("a b", vec![]).is_ok());
}

#[tokio::test]
async fn writer_refuses_payload_over_the_limit() {
    let config = mainnet().with_max_payload(100);
    let mut out = Vec::new();
    let mut writer = FrameWriter::new(&mut out, &config);
    let big = Frame::raw("blob", vec![0; 101]).expect("frame");
    match writer.write_frame(&big).await {
        Err(WireError::PayloadTooLarge { command, len, max }) => {
            assert_eq!(command, "blob");
            assert_eq!(len, 101);
            assert_eq!(max, 100);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    // Nothing of the refused frame was written; the writer still works.
    writer
        .write_frame(&Frame::raw("blob", vec![0; 100]).expect("frame"))
        .await
        .expect("at the limit");
    drop(writer);
    assert_eq!(out.len(), 24 + 100);
}

#[tokio::test]
async fn writer_refuses_a_message_over_the_default_limit() {
    let mut out = Vec::new();
    let mut writer = FrameWriter::new(&mut out, &WireConfig::default());
    let message = NetworkMessage::Alert(vec![0; DEFAULT_MAX_PAYLOAD]); // + CompactSize prefix
    let err = writer.write_message(&message).await.expect_err("too large");
    assert!(
        matches!(err, WireError::PayloadTooLarge { len, .. } if len == DEFAULT_MAX_PAYLOAD as u64 + 5),
        "{err:?}"
    );
    drop(writer);
    assert!(out.is_empty());
}

#[test]
fn protocol_violations_are_told_apart_from_caller_mistakes() {
    assert!(WireError::Truncated { buffered: 1 }.is_protocol_violation());
    assert!(!WireError::InvalidCommand(String::new()).is_protocol_violation());
    assert!(!WireError::Io(std::io::Error::other("x")).is_protocol_violation());
}
