//! Fuzzes the v2 reader after a completed BIP324 handshake: arbitrary bytes go to a
//! `V2Decoder` (driven by hand) and to a v2 `FrameReader`, delivered in arbitrary chunks.
//! Nothing may panic, both paths must agree, and every frame read must decode or fail with a
//! typed error.
//!
//! Input layout:
//!
//! ```text
//! byte 0   flags: bit 0  packets mode: the rest is records, each encrypted by the peer
//!                        (so the reader gets past authentication); otherwise raw ciphertext
//!                 bits 1-2  chunk sizes: 0 one byte, 1 up to 8, 2 up to 512, 3 all at once
//!                 bit 3  payload limit 1 KiB instead of 64 KiB
//! byte 1   seed of the chunk sizes
//! rest     raw mode: the byte stream
//!          packets mode: records of [len (1 byte)] [header byte] [len bytes of contents]
//! ```
//!
//! Run from `crates/wire`:
//!
//! ```text
//! cargo +nightly fuzz run -O v2_reader fuzz/corpus/v2_reader -- -max_total_time=600
//! ```

#![no_main]

use bitcoin::secp256k1::Secp256k1;
use btcclient_wire::bip324::{
    FillBytes, GarbageResult, Handshake, PacketType, ReceivedKey, Role, SentVersion, VersionResult,
};
use btcclient_wire::{FrameReader, SessionId, V2Decoder, WireConfig, WireError};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAGIC: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

struct Fixed(u8);

impl FillBytes for Fixed {
    fn fill_bytes(&mut self, dest: &mut [u8; 32]) {
        *dest = [self.0; 32];
    }
}

fn finish(h: Handshake<SentVersion>, theirs: &[u8]) -> btcclient_wire::bip324::CipherSession {
    let (mut h, consumed) = match h.receive_garbage(theirs).expect("garbage") {
        GarbageResult::FoundGarbage {
            handshake,
            consumed_bytes,
        } => (handshake, consumed_bytes),
        GarbageResult::NeedMoreData(_) => panic!("no terminator"),
    };
    let rest = &theirs[consumed..];
    let len = h
        .decrypt_packet_len([rest[0], rest[1], rest[2]])
        .expect("len");
    let mut packet = rest[3..3 + len].to_vec();
    match h.receive_version(&mut packet).expect("version") {
        VersionResult::Complete { cipher } => cipher,
        VersionResult::Decoy(_) => panic!("no decoys"),
    }
}

/// A completed handshake with fixed keys: (our session, the peer's session).
fn sessions() -> (
    btcclient_wire::bip324::CipherSession,
    btcclient_wire::bip324::CipherSession,
) {
    let curve = Secp256k1::signing_only();
    let ours =
        Handshake::new_with_rng(MAGIC, Role::Initiator, &mut Fixed(1), &curve).expect("init");
    let theirs =
        Handshake::new_with_rng(MAGIC, Role::Responder, &mut Fixed(2), &curve).expect("resp");
    let (mut ok, mut tk) = ([0u8; 64], [0u8; 64]);
    let ours = ours.send_key(None, &mut ok).expect("key");
    let theirs = theirs.send_key(None, &mut tk).expect("key");
    let ours = ours.receive_key(tk).expect("key");
    let theirs = theirs.receive_key(ok).expect("key");
    let mut ov = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let mut tv = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let ours = ours.send_version(&mut ov, None).expect("version");
    let theirs = theirs.send_version(&mut tv, None).expect("version");
    (finish(ours, &tv), finish(theirs, &ov))
}

fn chunk_sizes(seed: u8, mode: u8, total: usize) -> impl FnMut() -> usize {
    let max = match mode {
        0 => 1,
        1 => 8,
        2 => 512,
        _ => total.max(1),
    };
    let mut state = 0x9e37_79b9u32 ^ u32::from(seed).wrapping_mul(0x0101_0101) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        1 + (state as usize % max)
    }
}

fn via_decoder(
    mut decoder: V2Decoder,
    data: &[u8],
    mut next: impl FnMut() -> usize,
) -> (Vec<btcclient_wire::Frame>, Option<String>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = next().min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(format!("{e:?}"))),
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(format!("{e:?}"))),
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let (flags, seed, rest) = (input[0], input[1], &input[2..]);
    let max_payload = if flags & 8 != 0 { 1024 } else { 64 * 1024 };
    let config = WireConfig::custom(MAGIC).with_max_payload(max_payload);
    let (ours, theirs) = sessions();
    let id = SessionId(*ours.id());
    let (mut peer_out_session, ours2) = (theirs, ours);
    let mut data = Vec::new();
    if flags & 1 != 0 {
        let mut r = rest;
        while let [len, header, tail @ ..] = r {
            let n = usize::from(*len).min(tail.len());
            let kind = if header & 0x80 != 0 {
                PacketType::Decoy
            } else {
                PacketType::Genuine
            };
            data.extend_from_slice(&peer_out_session.outbound().encrypt_to_vec(
                &tail[..n],
                kind,
                None,
            ));
            r = &tail[n..];
        }
    } else {
        data.extend_from_slice(rest);
    }
    let mode = (flags >> 1) & 3;
    let (inbound_a, _) = ours2.clone().into_split();
    let (inbound_b, _) = ours2.into_split();
    let (frames, error) = via_decoder(
        V2Decoder::new(inbound_a, &config),
        &data,
        chunk_sizes(seed, mode, data.len()),
    );
    let (frames2, error2) = RUNTIME.with(|rt| {
        rt.block_on(async {
            let mut reader = FrameReader::new_v2(
                &data[..],
                V2Decoder::new(inbound_b, &config),
                id,
                BytesMut::new(),
            );
            let mut frames = Vec::new();
            loop {
                match reader.read_frame().await {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => return (frames, None),
                    Err(e) => return (frames, Some(format!("{e:?}"))),
                }
            }
        })
    });
    assert_eq!(frames, frames2, "decoder and reader disagree on frames");
    assert_eq!(error, error2, "decoder and reader disagree on the error");
    for frame in &frames {
        assert!(frame.payload.len() <= max_payload);
        if let Err(WireError::InvalidCommand(c)) = frame.decode() {
            panic!("a command read from the wire is invalid: {c:?}");
        }
    }
});
