//! The responder side of BIP324 v2, as Bitcoin Core's `V2Transport` answers an inbound peer.
//!
//! Core (with `-v2transport`, the default since 26.0) reads an inbound connection's first bytes
//! and compares them, as they arrive, with the 16-byte v1 prefix (network magic, then
//! `version` padded with NULs). On the full prefix the connection is v1; on the first byte that
//! differs it is v2: Core sends its key and garbage, and once the peer's 64-byte key is in, its
//! garbage terminator and version packet; it then skips the peer's garbage up to the peer's
//! terminator and the peer's decoys, and authenticates the peer's version packet.

use btcclient_wire::bip324::{GarbageResult, Handshake, ReceivedKey, Role, VersionResult};
use btcclient_wire::{
    Frame, SessionId, V1Codec, V2Decoder, V2Encoder, WireConfig, WireError, V2_MAX_GARBAGE,
};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::rng::Rng;
use crate::Fault;

/// Bytes of the v1 prefix Core compares (`V1_PREFIX_LEN`).
pub(crate) const V1_PREFIX_LEN: usize = 16;
/// The largest contents a v2 packet's 3-byte length field can announce. Also the payload
/// limit of a node's v2 encoder: room for a decoy of that size (the oversized-length fault);
/// the node's own messages are far smaller.
const V2_MAX_CONTENTS: usize = (1 << 24) - 1;
/// Decoys sent before the version packet, and before every frame, under
/// [`Fault::V2DecoyFlood`].
pub(crate) const DECOY_FLOOD: usize = 200;

/// The reading half of a simnet connection's transport.
#[derive(Debug)]
pub(crate) enum RecvCodec {
    V1(V1Codec),
    V2(Box<V2Decoder>),
}

/// The writing half of a simnet connection's transport.
#[derive(Debug)]
pub(crate) enum SendCodec {
    V1(V1Codec),
    V2 {
        encoder: Box<V2Encoder>,
        /// Decoys to put before every frame.
        decoys: usize,
        rng: Rng,
    },
}

impl SendCodec {
    pub(crate) fn encode_frame(
        &mut self,
        frame: &Frame,
        dst: &mut BytesMut,
    ) -> Result<(), WireError> {
        match self {
            SendCodec::V1(c) => c.encode_frame(frame, dst),
            SendCodec::V2 {
                encoder,
                decoys,
                rng,
            } => {
                for _ in 0..*decoys {
                    encoder.encode_decoy(rng.below(64) as usize, dst)?;
                }
                encoder.encode_frame(frame, dst)
            }
        }
    }

    /// `frame` as this transport sends it, with its integrity check broken: on v1 a wrong
    /// checksum (Core drops the message and carries on), on v2 a wrong authentication tag
    /// (Core ends the connection).
    pub(crate) fn encode_corrupt(&mut self, frame: &Frame, dst: &mut BytesMut) {
        let start = dst.len();
        if self.encode_frame(frame, dst).is_err() {
            return;
        }
        match self {
            SendCodec::V1(_) => {
                for b in &mut dst[start + 20..start + 24] {
                    *b ^= 0xff;
                }
            }
            SendCodec::V2 { .. } => {
                if let Some(last) = dst.last_mut() {
                    *last ^= 0xff;
                }
            }
        }
    }

    /// The start of a message announcing more than any peer accepts, and nothing after it:
    /// on v1 `v1_header` (a header announcing 33 MB), on v2 a packet whose length field
    /// announces the largest contents BIP324 can express (2^24 - 1 bytes).
    pub(crate) fn encode_oversized(&mut self, v1_header: &[u8], dst: &mut BytesMut) {
        match self {
            SendCodec::V1(_) => dst.extend_from_slice(v1_header),
            SendCodec::V2 { encoder, .. } => {
                let mut packet = BytesMut::new();
                if encoder.encode_decoy(V2_MAX_CONTENTS, &mut packet).is_ok() {
                    // The length field and a little of the contents; the rest never comes.
                    dst.extend_from_slice(&packet[..64]);
                }
            }
        }
    }
}

/// What the first bytes of a connection led to.
pub(crate) enum Opened {
    /// v1 (or v2 is off): the bytes read so far, to be read as v1.
    V1(BytesMut),
    /// A v2 session.
    V2 {
        recv: RecvCodec,
        send: SendCodec,
        session_id: SessionId,
        /// Bytes received after the peer's version packet.
        buffered: BytesMut,
    },
    /// The connection ends (a fault, or the peer failed the handshake).
    Closed(&'static str),
}

fn v1_prefix(magic: [u8; 4]) -> [u8; V1_PREFIX_LEN] {
    let mut prefix = [0u8; V1_PREFIX_LEN];
    prefix[..4].copy_from_slice(&magic);
    prefix[4..11].copy_from_slice(b"version");
    prefix
}

async fn read_more(rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> Result<(), &'static str> {
    match rd.read_buf(buf).await {
        Ok(0) => Err("closed by the client during the v2 handshake"),
        Ok(_) => Ok(()),
        Err(_) => Err("read error during the v2 handshake"),
    }
}

/// Reads and drops everything until the client closes.
async fn drain(rd: &mut OwnedReadHalf) {
    let mut sink = BytesMut::with_capacity(4096);
    while read_more(rd, &mut sink).await.is_ok() {
        sink.clear();
    }
}

/// Reads the first bytes and, when they are not v1's, answers the v2 handshake.
pub(crate) async fn open(
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    wire: &WireConfig,
    fault: Option<&Fault>,
    rng: &mut Rng,
) -> Opened {
    let magic = wire.magic().to_bytes();
    let prefix = v1_prefix(magic);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        let n = buf.len().min(V1_PREFIX_LEN);
        if buf[..n] != prefix[..n] {
            break;
        }
        if n == V1_PREFIX_LEN {
            return Opened::V1(buf);
        }
        if let Err(why) = read_more(rd, &mut buf).await {
            return Opened::Closed(why);
        }
    }
    match respond(rd, wr, wire, fault, rng, buf).await {
        Ok(opened) => opened,
        Err(why) => Opened::Closed(why),
    }
}

async fn respond(
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    wire: &WireConfig,
    fault: Option<&Fault>,
    rng: &mut Rng,
    mut buf: BytesMut,
) -> Result<Opened, &'static str> {
    let magic = match fault {
        Some(Fault::V2WrongMagic(m)) => *m,
        _ => wire.magic().to_bytes(),
    };
    let handshake =
        Handshake::new(magic, Role::Responder).map_err(|_| "v2 key generation failed")?;
    let mut garbage = vec![0u8; rng.below(V2_MAX_GARBAGE as u64 + 1) as usize];
    rng.fill(&mut garbage);
    let mut out = vec![0u8; Handshake::send_key_len(Some(&garbage))];
    let handshake = handshake
        .send_key(Some(&garbage), &mut out)
        .map_err(|_| "v2 key encoding failed")?;
    if matches!(fault, Some(Fault::V2CloseDuringKeyExchange)) {
        // Half a key, then our side closes; read until the client hangs up, so that what it
        // sent is not left unread (which would turn the close into a reset).
        let _ = wr.write_all(&out[..32]).await;
        let _ = wr.shutdown().await;
        drain(rd).await;
        return Err("closed during the v2 key exchange (fault)");
    }
    if matches!(fault, Some(Fault::V2BadGarbageTerminator)) {
        // Key, then 4095 bytes of garbage and 16 bytes that are not the terminator: the
        // client has seen all the garbage BIP324 allows without finding a terminator.
        let mut bad = out[..64].to_vec();
        let mut tail = vec![0u8; V2_MAX_GARBAGE + 16];
        rng.fill(&mut tail);
        bad.extend_from_slice(&tail);
        let _ = wr.write_all(&bad).await;
        drain(rd).await;
        return Err("bad garbage terminator sent (fault)");
    }
    if wr.write_all(&out).await.is_err() {
        return Err("write error during the v2 handshake");
    }

    while buf.len() < 64 {
        read_more(rd, &mut buf).await?;
    }
    let mut key = [0u8; 64];
    key.copy_from_slice(&buf[..64]);
    let _ = buf.split_to(64);
    let handshake = handshake
        .receive_key(key)
        .map_err(|_| "v2 key exchange failed")?;

    let decoy_contents: Vec<Vec<u8>> = match fault {
        Some(Fault::V2DecoyFlood) => (0..DECOY_FLOOD)
            .map(|_| {
                let mut d = vec![0u8; rng.below(64) as usize];
                rng.fill(&mut d);
                d
            })
            .collect(),
        _ => Vec::new(),
    };
    let decoys: Vec<&[u8]> = decoy_contents.iter().map(Vec::as_slice).collect();
    let decoys = (!decoys.is_empty()).then_some(decoys.as_slice());
    let mut out = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(decoys)];
    let mut handshake = handshake
        .send_version(&mut out, decoys)
        .map_err(|_| "v2 version packet failed")?;
    if wr.write_all(&out).await.is_err() {
        return Err("write error during the v2 handshake");
    }

    let (mut handshake, consumed) = loop {
        match handshake.receive_garbage(&buf) {
            Ok(GarbageResult::FoundGarbage {
                handshake,
                consumed_bytes,
            }) => break (handshake, consumed_bytes),
            Ok(GarbageResult::NeedMoreData(h)) => handshake = h,
            Err(_) => return Err("no v2 garbage terminator"),
        }
        read_more(rd, &mut buf).await?;
    };
    let mut rest = BytesMut::from(&buf[consumed..]);
    let max = 13 + wire.max_payload();
    let cipher = loop {
        while rest.len() < 3 {
            read_more(rd, &mut rest).await?;
        }
        let len = handshake
            .decrypt_packet_len([rest[0], rest[1], rest[2]])
            .map_err(|_| "v2 length")?;
        if len.saturating_sub(17) > max {
            return Err("oversized v2 packet in the handshake");
        }
        while rest.len() < 3 + len {
            read_more(rd, &mut rest).await?;
        }
        let _ = rest.split_to(3);
        let mut packet = rest.split_to(len);
        match handshake.receive_version(&mut packet) {
            Ok(VersionResult::Complete { cipher }) => break cipher,
            Ok(VersionResult::Decoy(h)) => handshake = h,
            Err(_) => return Err("v2 version packet failed authentication"),
        }
    };
    drop(buf);
    let session_id = SessionId(*cipher.id());
    let (inbound, outbound) = cipher.into_split();
    let decoys = match fault {
        Some(Fault::V2DecoyFlood) => 3,
        _ => 0,
    };
    Ok(Opened::V2 {
        recv: RecvCodec::V2(Box::new(V2Decoder::new(inbound, wire))),
        send: SendCodec::V2 {
            encoder: Box::new(V2Encoder::new(
                outbound,
                &wire.with_max_payload(V2_MAX_CONTENTS),
            )),
            decoys,
            rng: Rng::new(),
        },
        session_id,
        buffered: rest,
    })
}
