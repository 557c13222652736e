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
}

impl WireError {
    /// Whether this error is the peer's fault (malformed or oversized input), as opposed to an
    /// I/O failure or a caller's mistake.
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(self, WireError::Io(_) | WireError::InvalidCommand(_))
    }
}
