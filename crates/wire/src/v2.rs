//! The BIP324 v2 (encrypted) transport: packet framing with short message ids.
//!
//! After the handshake (see [`crate::open_v2`]) every message travels in one packet:
//!
//! ```text
//! length (3, encrypted, LE) | header (1) | contents | tag (16)      header, contents encrypted
//! contents = short id (1 byte, 1..=28)            | payload
//!          | 0x00 | command (12, NUL-padded ASCII) | payload
//! ```
//!
//! The packet ciphers come from the `bip324` crate; this module adds what Bitcoin Core's
//! `V2Transport` does around them: the length is decrypted and checked against the payload limit
//! before the packet body is buffered, packets whose header has the ignore bit (0x80) set
//! (decoys) are skipped, and a packet whose message type cannot be read (an unknown short id,
//! a malformed long command, empty contents) is dropped without ending the connection, as Core
//! drops it. A payload is handed over as a slice of the buffer it was decrypted in: no copy.

use std::fmt;

use bip324::{InboundCipher, OutboundCipher, PacketType};
use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::{INITIAL_BUFFER, SHRINK_ABOVE};
use crate::{Command, Frame, WireConfig, WireError, COMMAND_LEN};

/// Bytes of the encrypted length field in front of every packet.
pub const V2_LENGTH_LEN: usize = 3;
/// Bytes a packet adds to its contents: length (3), header (1), authentication tag (16).
pub const V2_PACKET_OVERHEAD: usize = V2_LENGTH_LEN + 1 + 16;
/// The header bit that marks a packet to be ignored (a decoy).
pub const V2_IGNORE_BIT: u8 = 0x80;
/// At most this many bytes of garbage precede a garbage terminator (BIP324).
pub const V2_MAX_GARBAGE: usize = 4095;
/// Bytes of a v1 header after which Bitcoin Core considers a failed v2 attempt as one a v1-only
/// node would have refused (`CMessageHeader::HEADER_SIZE`, see [`should_reconnect_v1`]).
pub const V1_HEADER_WORTH: usize = 24;

/// Header and tag around the contents (what the decrypted length does not count).
const HEADER_AND_TAG: usize = 1 + 16;
/// How much the read buffer grows at a time beyond what has arrived (as the v1 codec).
const GROW_STEP: usize = 256 * 1024;

/// BIP324's one-byte message ids, index = id (0 means a 12-byte command follows).
///
/// From the table in BIP324 ("v2 Bitcoin P2P message structure"), identical to Bitcoin Core's
/// `V2_MESSAGE_IDS` (ids 29 to 32 are reserved there and unknown here).
pub const V2_SHORT_IDS: [&str; 29] = [
    "",
    "addr",
    "block",
    "blocktxn",
    "cmpctblock",
    "feefilter",
    "filteradd",
    "filterclear",
    "filterload",
    "getblocks",
    "getblocktxn",
    "getdata",
    "getheaders",
    "headers",
    "inv",
    "mempool",
    "merkleblock",
    "notfound",
    "ping",
    "pong",
    "sendcmpct",
    "tx",
    "getcfilters",
    "cfilter",
    "getcfheaders",
    "cfheaders",
    "getcfcheckpt",
    "cfcheckpt",
    "addrv2",
];

/// The BIP324 short id of `command`, if it has one.
///
/// ```
/// use btcclient_wire::{commands, v2_short_id, Command};
/// assert_eq!(v2_short_id(&commands::PING), Some(18));
/// assert_eq!(v2_short_id(&Command::new("version").unwrap()), None);
/// ```
pub fn v2_short_id(command: &Command) -> Option<u8> {
    let name = command.as_str();
    V2_SHORT_IDS
        .iter()
        .skip(1)
        .position(|c| *c == name)
        .map(|i| (i + 1) as u8)
}

/// The command a BIP324 short id stands for (`None` for 0 and for ids no BIP assigns).
pub fn v2_command(short_id: u8) -> Option<Command> {
    match V2_SHORT_IDS.get(usize::from(short_id)) {
        Some(name) if !name.is_empty() => Command::new(name).ok(),
        _ => None,
    }
}

/// The 32-byte identifier of a v2 session (BIP324 `session_id`), the same on both ends.
///
/// Displayed as lowercase hex in byte order, as Bitcoin Core's `getpeerinfo` shows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 32]);

impl SessionId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as in `getpeerinfo`'s `session_id`.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// Which transport a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// Plaintext v1: 24-byte header with magic and checksum.
    V1,
    /// BIP324 v2: encrypted packets with short message ids.
    V2,
}

impl TransportKind {
    /// The name Bitcoin Core's `getpeerinfo` gives in `transport_protocol_type`: `v1` or `v2`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TransportKind::V1 => "v1",
            TransportKind::V2 => "v2",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bitcoin Core's rule for retrying a failed v2 connection over v1
/// (`V2Transport::ShouldReconnectV1`): nothing at all was received from the peer, and at least
/// a v1 header's worth (24 bytes) of our handshake was sent, so a v1-only peer had enough to
/// find the magic wrong and hang up.
///
/// ```
/// use btcclient_wire::should_reconnect_v1;
/// assert!(should_reconnect_v1(0, 64));
/// assert!(!should_reconnect_v1(1, 64)); // the peer answered: it speaks v2
/// assert!(!should_reconnect_v1(0, 23)); // a v1 node may not have seen enough to hang up
/// ```
pub fn should_reconnect_v1(received: usize, sent: usize) -> bool {
    received == 0 && sent >= V1_HEADER_WORTH
}

/// What a v2 handshake exchanged so far; filled in by [`crate::open_v2`] as it goes, so that a
/// caller whose timeout dropped the handshake still knows whether Core's v1 fallback applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandshakeProgress {
    /// Bytes received from the peer.
    pub received: usize,
    /// Bytes of ours the stream accepted.
    pub sent: usize,
}

impl HandshakeProgress {
    /// [`should_reconnect_v1`] on these counts.
    pub fn should_reconnect_v1(&self) -> bool {
        should_reconnect_v1(self.received, self.sent)
    }
}

/// Largest packet contents accepted: a long id (13 bytes) plus the payload limit, Core's
/// `MAX_CONTENTS_LEN`.
pub(crate) fn max_contents(max_payload: usize) -> usize {
    1 + COMMAND_LEN + max_payload
}

/// Reads v2 packets into [`Frame`]s (the receiving half of a v2 session).
///
/// Used by [`crate::FrameReader`] after [`crate::open_v2`]; usable on its own with
/// `tokio_util::codec::FramedRead` or by hand (simnet's responder does).
pub struct V2Decoder {
    cipher: InboundCipher,
    max_payload: usize,
    /// Length of the packet whose length field was decrypted (header + contents + tag).
    pending: Option<usize>,
    ignored: u64,
}

impl fmt::Debug for V2Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2Decoder")
            .field("max_payload", &self.max_payload)
            .field("pending", &self.pending)
            .field("ignored", &self.ignored)
            .finish_non_exhaustive()
    }
}

impl V2Decoder {
    /// A decoder over the inbound cipher of an established session.
    pub fn new(cipher: InboundCipher, config: &WireConfig) -> V2Decoder {
        V2Decoder {
            cipher,
            max_payload: config.max_payload(),
            pending: None,
            ignored: 0,
        }
    }

    /// Whether a packet's length has been read and its body is still awaited.
    pub(crate) fn mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    /// Packets skipped so far: decoys and packets whose message type could not be read.
    pub fn ignored_packets(&self) -> u64 {
        self.ignored
    }

    /// Reads the message type at the start of `contents` (Core's `GetMessageType`) and strips
    /// it; `None` when it cannot be read.
    fn message_type(contents: &mut BytesMut) -> Option<Command> {
        let first = *contents.first()?;
        if first != 0 {
            let command = v2_command(first)?;
            contents.advance(1);
            return Some(command);
        }
        if contents.len() < 1 + COMMAND_LEN {
            return None;
        }
        let mut raw = [0u8; COMMAND_LEN];
        raw.copy_from_slice(&contents[1..1 + COMMAND_LEN]);
        let command = Command::from_wire(raw).ok()?;
        if command.as_str().is_empty() {
            return None;
        }
        contents.advance(1 + COMMAND_LEN);
        Some(command)
    }
}

impl Decoder for V2Decoder {
    type Item = Frame;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        loop {
            let len = match self.pending {
                Some(len) => len,
                None => {
                    if src.len() < V2_LENGTH_LEN {
                        src.reserve(V2_LENGTH_LEN - src.len());
                        return Ok(None);
                    }
                    let packet = self.cipher.decrypt_packet_len([src[0], src[1], src[2]]);
                    let contents = packet - HEADER_AND_TAG;
                    let max = max_contents(self.max_payload);
                    if contents > max {
                        return Err(WireError::V2PacketTooLarge {
                            len: contents as u64,
                            max,
                        });
                    }
                    src.advance(V2_LENGTH_LEN);
                    self.pending = Some(packet);
                    packet
                }
            };
            if src.len() < len {
                // Grow with what arrives, as the v1 codec does: a peer announcing a large packet
                // and stalling holds at most `GROW_STEP` of our memory.
                let missing = len - src.len();
                src.reserve(missing.min(GROW_STEP.max(src.len())));
                return Ok(None);
            }
            self.pending = None;
            let mut packet = src.split_to(len);
            if src.capacity() > SHRINK_ABOVE && src.len() < INITIAL_BUFFER {
                let mut fresh = BytesMut::with_capacity(INITIAL_BUFFER);
                fresh.extend_from_slice(src);
                *src = fresh;
            }
            let header = match self.cipher.decrypt_in_place(&mut packet, None) {
                Ok((_, plaintext)) => plaintext.first().copied().unwrap_or(0),
                Err(_) => return Err(WireError::V2Decryption),
            };
            // BIP324: only the ignore bit of the header counts; the other bits are reserved.
            if header & V2_IGNORE_BIT != 0 {
                self.ignored += 1;
                continue;
            }
            packet.truncate(len - 16);
            packet.advance(1);
            let Some(command) = Self::message_type(&mut packet) else {
                self.ignored += 1;
                continue;
            };
            if packet.len() > self.max_payload {
                return Err(WireError::PayloadTooLarge {
                    command,
                    len: packet.len() as u64,
                    max: self.max_payload,
                });
            }
            return Ok(Some(Frame {
                command,
                payload: packet.freeze(),
            }));
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        let buffered = src.len() + if self.pending.is_some() { 3 } else { 0 };
        if buffered == 0 {
            Ok(None)
        } else {
            Err(WireError::Truncated { buffered })
        }
    }
}

/// Writes [`Frame`]s as v2 packets (the sending half of a v2 session), with the short id when
/// the command has one.
pub struct V2Encoder {
    cipher: OutboundCipher,
    max_payload: usize,
}

impl fmt::Debug for V2Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2Encoder")
            .field("max_payload", &self.max_payload)
            .finish_non_exhaustive()
    }
}

impl V2Encoder {
    /// An encoder over the outbound cipher of an established session.
    pub fn new(cipher: OutboundCipher, config: &WireConfig) -> V2Encoder {
        V2Encoder {
            cipher,
            max_payload: config.max_payload(),
        }
    }

    /// Encrypts `frame` as one packet at the end of `dst`.
    pub fn encode_frame(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        let len = frame.payload.len();
        if len > self.max_payload {
            return Err(WireError::PayloadTooLarge {
                command: frame.command,
                len: len as u64,
                max: self.max_payload,
            });
        }
        let mut contents = Vec::with_capacity(1 + COMMAND_LEN + len);
        match v2_short_id(&frame.command) {
            Some(id) => contents.push(id),
            None => {
                contents.push(0);
                contents.extend_from_slice(&frame.command.to_wire());
            }
        }
        contents.extend_from_slice(&frame.payload);
        self.encode_packet(&contents, PacketType::Genuine, dst)
    }

    /// Encrypts a decoy packet (ignore bit set) with `len` bytes of zero contents: the peer
    /// skips it; on the wire it looks like any other packet.
    pub fn encode_decoy(&mut self, len: usize, dst: &mut BytesMut) -> Result<(), WireError> {
        let max = max_contents(self.max_payload);
        if len > max {
            return Err(WireError::V2PacketTooLarge {
                len: len as u64,
                max,
            });
        }
        self.encode_packet(&vec![0u8; len], PacketType::Decoy, dst)
    }

    fn encode_packet(
        &mut self,
        contents: &[u8],
        kind: PacketType,
        dst: &mut BytesMut,
    ) -> Result<(), WireError> {
        let size = OutboundCipher::encryption_buffer_len(contents.len());
        let start = dst.len();
        dst.reserve(size);
        dst.put_bytes(0, size);
        self.cipher
            .encrypt(contents, &mut dst[start..], kind, None)
            // Cannot fail: the buffer was sized by `encryption_buffer_len`.
            .map_err(|e| WireError::Io(std::io::Error::other(e)))
    }
}

impl Encoder<&Frame> for V2Encoder {
    type Error = WireError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        self.encode_frame(frame, dst)
    }
}

impl Encoder<Frame> for V2Encoder {
    type Error = WireError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        self.encode_frame(&frame, dst)
    }
}
