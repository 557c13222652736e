//! The initiator side of the BIP324 handshake over the two halves of a stream.
//!
//! As Bitcoin Core's `V2Transport` does when it connects out: send our ElligatorSwift key and
//! 0 to 4095 random garbage bytes at once; on the peer's 64-byte key, send our garbage
//! terminator and version packet (no decoys); then skip the peer's garbage up to its terminator
//! and its decoy packets, and authenticate its version packet (the first packet carries the
//! garbage as associated data). The `bip324` crate does the cryptography; this module does the
//! I/O, the counting Core's v1 fallback needs, and the wrong-network diagnosis.

use bip324::{
    GarbageResult, Handshake, InboundCipher, OutboundCipher, ReceivedKey, Role, VersionResult,
};
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::p2p::Magic;
use bitcoin::secp256k1::ellswift::{ElligatorSwift, ElligatorSwiftParty};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bytes::BytesMut;
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::V2HandshakeCause;
use crate::v2::{max_contents, HandshakeProgress, SessionId, V2_MAX_GARBAGE};
use crate::{WireConfig, WireError};

/// Bytes of an ElligatorSwift-encoded public key.
const KEY_LEN: usize = 64;
/// Bytes of a garbage terminator.
const TERMINATOR_LEN: usize = 16;

/// What a completed handshake hands to the frame reader and writer.
pub(crate) struct Established {
    pub(crate) inbound: InboundCipher,
    pub(crate) outbound: OutboundCipher,
    pub(crate) session_id: SessionId,
    /// Bytes received after the peer's version packet (its first messages).
    pub(crate) leftover: BytesMut,
}

/// The networks whose terminators are looked for when ours does not come.
const KNOWN_MAGICS: [Magic; 5] = [
    Magic::BITCOIN,
    Magic::TESTNET3,
    Magic::TESTNET4,
    Magic::SIGNET,
    Magic::REGTEST,
];

/// Feeds a chosen secret key to `bip324`'s handshake, which asks for 32 random bytes.
struct KeyBytes([u8; 32]);

impl bip324::FillBytes for KeyBytes {
    fn fill_bytes(&mut self, dest: &mut [u8; 32]) {
        *dest = self.0;
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(key);
    for part in parts {
        engine.input(part);
    }
    hmac::Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

/// The responder's garbage terminator for the network `magic` (BIP324: HKDF-SHA256 with salt
/// `"bitcoin_v2_shared_secret" || magic`, info `"garbage_terminators"`, second half).
pub(crate) fn responder_terminator(shared_secret: &[u8; 32], magic: [u8; 4]) -> [u8; 16] {
    let mut salt = b"bitcoin_v2_shared_secret".to_vec();
    salt.extend_from_slice(&magic);
    let prk = hmac_sha256(&salt, &[shared_secret]);
    let okm = hmac_sha256(&prk, &[b"garbage_terminators", &[1u8]]);
    let mut t = [0u8; 16];
    t.copy_from_slice(&okm[16..]);
    t
}

/// The handshake's state of I/O: counts every byte for [`HandshakeProgress`].
struct Io<'a, R, W> {
    reader: &'a mut R,
    writer: &'a mut W,
    progress: &'a mut HandshakeProgress,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Io<'_, R, W> {
    fn fail(&self, cause: V2HandshakeCause) -> WireError {
        WireError::V2Handshake {
            received: self.progress.received,
            sent: self.progress.sent,
            cause,
        }
    }

    async fn send(&mut self, mut bytes: &[u8]) -> Result<(), WireError> {
        while !bytes.is_empty() {
            match self.writer.write(bytes).await {
                Ok(0) => return Err(self.fail(V2HandshakeCause::Closed)),
                Ok(n) => {
                    self.progress.sent += n;
                    bytes = &bytes[n..];
                }
                Err(e) => return Err(self.fail(V2HandshakeCause::Io(e))),
            }
        }
        self.writer
            .flush()
            .await
            .map_err(|e| self.fail(V2HandshakeCause::Io(e)))
    }

    /// Reads once into `buf` (at most `max` more bytes); an end of stream is an error.
    async fn recv(&mut self, buf: &mut BytesMut, max: usize) -> Result<(), WireError> {
        let mut chunk = [0u8; 4096];
        let want = max.clamp(1, chunk.len());
        match self.reader.read(&mut chunk[..want]).await {
            Ok(0) => Err(self.fail(V2HandshakeCause::Closed)),
            Ok(n) => {
                self.progress.received += n;
                buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(self.fail(V2HandshakeCause::Io(e))),
        }
    }
}

/// Runs the initiator's handshake. Reads never go past what the handshake needs by more than
/// one read's worth; whatever arrived after the peer's version packet is returned.
pub(crate) async fn initiate<R, W>(
    reader: &mut R,
    writer: &mut W,
    config: &WireConfig,
    progress: &mut HandshakeProgress,
) -> Result<Established, WireError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let magic = config.magic().to_bytes();
    let mut io = Io {
        reader,
        writer,
        progress,
    };
    let keys_failed = |io: &Io<'_, R, W>, e: &dyn std::fmt::Display| {
        io.fail(V2HandshakeCause::Keys(e.to_string()))
    };

    // Our key: a random secret (kept, for the wrong-network diagnosis) and random garbage.
    // (The thread's generator is not `Send`: it is not held across an await.)
    let (secret, secret_bytes, garbage) = {
        let mut rng = rand::thread_rng();
        let (secret, secret_bytes) = loop {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                break (secret, bytes);
            }
        };
        let mut garbage = vec![0u8; (rng.next_u32() as usize) % (V2_MAX_GARBAGE + 1)];
        rng.fill_bytes(&mut garbage);
        (secret, secret_bytes, garbage)
    };
    let curve = Secp256k1::signing_only();
    let handshake =
        Handshake::new_with_rng(magic, Role::Initiator, &mut KeyBytes(secret_bytes), &curve)
            .map_err(|e| keys_failed(&io, &e))?;
    let mut out = vec![0u8; Handshake::send_key_len(Some(&garbage))];
    let handshake = handshake
        .send_key(Some(&garbage), &mut out)
        .map_err(|e| keys_failed(&io, &e))?;
    let mut ours = [0u8; KEY_LEN];
    ours.copy_from_slice(&out[..KEY_LEN]);
    io.send(&out).await?;

    // Their key.
    let mut inbuf = BytesMut::new();
    while inbuf.len() < KEY_LEN {
        if inbuf.len() >= 4 && inbuf[..4] == magic {
            return Err(io.fail(V2HandshakeCause::V1Reply));
        }
        let want = KEY_LEN - inbuf.len();
        io.recv(&mut inbuf, want).await?;
    }
    let mut theirs = [0u8; KEY_LEN];
    theirs.copy_from_slice(&inbuf[..KEY_LEN]);
    let _ = inbuf.split_to(KEY_LEN);
    let handshake = match handshake.receive_key(theirs) {
        Ok(h) => h,
        Err(bip324::Error::V1Protocol) => return Err(io.fail(V2HandshakeCause::V1Reply)),
        Err(e) => return Err(keys_failed(&io, &e)),
    };

    // Our terminator and version packet.
    let mut out = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let mut handshake = handshake
        .send_version(&mut out, None)
        .map_err(|e| keys_failed(&io, &e))?;
    io.send(&out).await?;

    // Their garbage, up to their terminator.
    let mut other_networks: Option<Vec<([u8; 4], [u8; 16])>> = None;
    let (mut handshake, consumed) = loop {
        match handshake.receive_garbage(&inbuf) {
            Ok(GarbageResult::FoundGarbage {
                handshake,
                consumed_bytes,
            }) => break (handshake, consumed_bytes),
            Ok(GarbageResult::NeedMoreData(h)) => handshake = h,
            Err(_) => {
                let cause =
                    wrong_network(&mut other_networks, &secret, &ours, &theirs, magic, &inbuf);
                return Err(cause.unwrap_or_else(|| io.fail(V2HandshakeCause::NoGarbageTerminator)));
            }
        }
        if inbuf.len() > TERMINATOR_LEN {
            if let Some(e) =
                wrong_network(&mut other_networks, &secret, &ours, &theirs, magic, &inbuf)
            {
                return Err(e);
            }
        }
        let room =
            V2_MAX_GARBAGE + TERMINATOR_LEN - inbuf.len().min(V2_MAX_GARBAGE + TERMINATOR_LEN);
        io.recv(&mut inbuf, room.max(1)).await?;
    };

    // Their decoys and version packet.
    let mut rest = BytesMut::from(&inbuf[consumed..]);
    let max = max_contents(config.max_payload());
    let cipher = loop {
        while rest.len() < 3 {
            io.recv(&mut rest, 4096).await?;
        }
        let len = handshake
            .decrypt_packet_len([rest[0], rest[1], rest[2]])
            .map_err(|e| keys_failed(&io, &e))?;
        let contents = len.saturating_sub(17);
        if contents > max {
            return Err(io.fail(V2HandshakeCause::PacketTooLarge {
                len: contents as u64,
                max,
            }));
        }
        while rest.len() < 3 + len {
            let want = 3 + len - rest.len();
            io.recv(&mut rest, want).await?;
        }
        let _ = rest.split_to(3);
        let mut packet = rest.split_to(len);
        match handshake.receive_version(&mut packet) {
            Ok(VersionResult::Complete { cipher }) => break cipher,
            Ok(VersionResult::Decoy(h)) => handshake = h,
            Err(_) => return Err(io.fail(V2HandshakeCause::Decryption)),
        }
    };
    drop(inbuf);
    let session_id = SessionId(*cipher.id());
    let (inbound, outbound) = cipher.into_split();
    Ok(Established {
        inbound,
        outbound,
        session_id,
        leftover: rest,
    })
}

/// When our peer's terminator has not come: whether the bytes hold the terminator another known
/// network's keys give (computed once, on first need).
fn wrong_network(
    cache: &mut Option<Vec<([u8; 4], [u8; 16])>>,
    secret: &SecretKey,
    ours: &[u8; KEY_LEN],
    theirs: &[u8; KEY_LEN],
    magic: [u8; 4],
    received: &[u8],
) -> Option<WireError> {
    let terminators = cache.get_or_insert_with(|| {
        let shared = ElligatorSwift::shared_secret(
            ElligatorSwift::from_array(*ours),
            ElligatorSwift::from_array(*theirs),
            *secret,
            ElligatorSwiftParty::A,
            Some(b"bip324_ellswift_xonly_ecdh"),
        )
        .to_secret_bytes();
        KNOWN_MAGICS
            .iter()
            .map(|m| m.to_bytes())
            .filter(|m| *m != magic)
            .map(|m| (m, responder_terminator(&shared, m)))
            .collect()
    });
    let window = &received[..received.len().min(V2_MAX_GARBAGE + TERMINATOR_LEN)];
    terminators
        .iter()
        .find(|(_, t)| window.windows(TERMINATOR_LEN).any(|w| w == t))
        .map(|(got, _)| WireError::V2WrongNetwork {
            expected: magic,
            got: *got,
        })
}
