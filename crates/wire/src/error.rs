//! The one error type of the wire crate.

use crate::Command;

/// Everything that can go wrong while reading or writing P2P frames.
///
/// Each malformed input has its own variant so that a caller (the peer manager, a test, a
/// fuzzer) can tell exactly what a peer did wrong. All of them are detected before any
/// allocation larger than the configured payload limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The frame header starts with another network's magic bytes.
    #[error("wrong network magic: expected {expected:02x?}, got {got:02x?}")]
    WrongMagic {
        /// The magic of the network we speak.
        expected: [u8; 4],
        /// The magic the peer sent.
        got: [u8; 4],
    },
    /// The 12-byte command is not printable ASCII followed only by NUL padding.
    #[error("malformed command field {raw:02x?}")]
    BadCommand {
        /// The raw command field.
        raw: [u8; 12],
    },
    /// A command given by a caller is longer than 12 bytes or not printable ASCII.
    #[error("invalid command {0:?}: at most 12 printable ASCII characters")]
    InvalidCommand(String),
    /// The header announces a payload longer than the configured limit.
    #[error("`{command}` payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// The frame's command.
        command: Command,
        /// The announced payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// The payload's double-SHA256 does not start with the header's checksum.
    #[error("`{command}` checksum mismatch: header says {expected:02x?}, payload hashes to {computed:02x?}")]
    ChecksumMismatch {
        /// The frame's command.
        command: Command,
        /// The checksum in the header.
        expected: [u8; 4],
        /// The checksum of the payload received.
        computed: [u8; 4],
    },
    /// A list message announces more entries than the protocol allows.
    #[error("`{command}` announces {count} entries, more than the limit of {max}")]
    TooManyEntries {
        /// The frame's command.
        command: Command,
        /// The announced number of entries.
        count: u64,
        /// The protocol limit for this command.
        max: usize,
    },
    /// The payload of a known command does not decode.
    #[error("`{command}` payload does not decode: {source}")]
    Decode {
        /// The frame's command.
        command: Command,
        /// What the consensus decoder reported.
        #[source]
        source: bitcoin::consensus::encode::Error,
    },
    /// The payload of a known command decodes but leaves bytes unread.
    #[error("`{command}` payload has {extra} trailing bytes")]
    TrailingBytes {
        /// The frame's command.
        command: Command,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The stream ended in the middle of a frame (as opposed to a clean end between frames).
    #[error(
        "stream ended in the middle of a frame ({buffered} bytes of an unfinished frame buffered)"
    )]
    Truncated {
        /// How many bytes of the unfinished frame had arrived.
        buffered: usize,
    },
    /// An I/O error from the underlying stream.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The BIP324 v2 handshake failed. `received` and `sent` are what Bitcoin Core's fallback
    /// rule looks at ([`WireError::should_reconnect_v1`]).
    #[error("v2 handshake failed after receiving {received} and sending {sent} bytes: {cause}")]
    V2Handshake {
        /// Bytes received from the peer before the failure.
        received: usize,
        /// Bytes of our handshake the stream accepted before the failure.
        sent: usize,
        /// What went wrong.
        #[source]
        cause: V2HandshakeCause,
    },
    /// The v2 peer derived its keys for another network: its garbage terminator is the one of
    /// the network with magic `got` (BIP324 binds the network magic into the key derivation,
    /// so a v2 peer of another network is recognised only this way).
    #[error("v2 peer is on another network: expected magic {expected:02x?}, its handshake uses {got:02x?}")]
    V2WrongNetwork {
        /// The magic of the network we speak.
        expected: [u8; 4],
        /// The magic whose keys the peer's garbage terminator was derived with.
        got: [u8; 4],
    },
    /// A v2 packet announces contents longer than the payload limit plus a long message id.
    #[error("v2 packet of {len} content bytes exceeds the limit of {max} bytes")]
    V2PacketTooLarge {
        /// The decrypted contents length.
        len: u64,
        /// The limit (payload limit + 13).
        max: usize,
    },
    /// A v2 packet failed authentication (tampered with, or the stream is out of step).
    #[error("v2 packet failed authentication")]
    V2Decryption,
}

/// Why a v2 handshake failed (inside [`WireError::V2Handshake`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum V2HandshakeCause {
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// The stream failed (a reset, for instance).
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
    /// The peer's first bytes are our network magic: it answered in v1.
    #[error("the peer answered with v1 bytes")]
    V1Reply,
    /// More than 4095 bytes arrived after the peer's key without its garbage terminator.
    #[error("no garbage terminator within 4095 bytes of garbage")]
    NoGarbageTerminator,
    /// A handshake packet announces contents longer than the limit.
    #[error("handshake packet of {len} content bytes exceeds the limit of {max} bytes")]
    PacketTooLarge {
        /// The decrypted contents length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A handshake packet (decoy or version) failed authentication.
    #[error("a handshake packet failed authentication")]
    Decryption,
    /// Our own key material could not be made (should not happen).
    #[error("key generation failed: {0}")]
    Keys(String),
}

impl WireError {
    /// Whether this error is the peer's fault (malformed or oversized input), as opposed to an
    /// I/O failure or a caller's mistake.
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(
            self,
            WireError::Io(_)
                | WireError::InvalidCommand(_)
                | WireError::V2Handshake {
                    cause: V2HandshakeCause::Closed
                        | V2HandshakeCause::Io(_)
                        | V2HandshakeCause::Keys(_),
                    ..
                }
        )
    }

    /// Bitcoin Core's rule for retrying over v1 after this error (see
    /// [`crate::should_reconnect_v1`]): a v2 handshake that received nothing at all after
    /// sending at least 24 bytes, as happens when a v1-only node hangs up on our key.
    pub fn should_reconnect_v1(&self) -> bool {
        match self {
            WireError::V2Handshake { received, sent, .. } => {
                crate::should_reconnect_v1(*received, *sent)
            }
            _ => false,
        }
    }
}
