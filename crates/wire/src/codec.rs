//! The v1 (plaintext) transport: a 24-byte header, then the payload.
//!
//! ```text
//! magic (4) | command (12, NUL-padded ASCII) | length (4, LE) | checksum (4) | payload
//! ```
//!
//! Every check that can be made on the header (magic, command, length limit) is made before the
//! payload buffer is grown, so a hostile length costs nothing. The checksum is verified once the
//! whole payload is there.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::frame::checksum;
use crate::{Command, Frame, WireConfig, WireError};

/// Length of a v1 frame header.
pub const HEADER_LEN: usize = 24;

/// Size of the stack buffer a [`crate::FrameReader`] reads into between frames, and the
/// capacity `V1Codec` shrinks a large read buffer back to.
pub(crate) const INITIAL_BUFFER: usize = 8 * 1024;
/// A read or write buffer larger than this is released once it holds little data.
pub(crate) const SHRINK_ABOVE: usize = 64 * 1024;
/// How much the read buffer grows at a time beyond what has arrived (Bitcoin Core reads in
/// steps of 256 KiB).
const GROW_STEP: usize = 256 * 1024;

#[derive(Clone, Copy, Debug)]
struct Header {
    command: Command,
    len: usize,
    checksum: [u8; 4],
}

/// Encoder and decoder of v1 frames, usable with `tokio_util::codec::{FramedRead, FramedWrite}`.
#[derive(Debug)]
pub struct V1Codec {
    magic: [u8; 4],
    max_payload: usize,
    pending: Option<Header>,
}

impl V1Codec {
    /// A codec for the network and payload limit of `config`.
    pub fn new(config: &WireConfig) -> V1Codec {
        V1Codec {
            magic: config.magic().to_bytes(),
            max_payload: config.max_payload(),
            pending: None,
        }
    }

    /// Whether a frame header has been read and its payload is still awaited.
    pub(crate) fn mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    fn parse_header(&self, raw: &[u8]) -> Result<Header, WireError> {
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&raw[0..4]);
        if magic != self.magic {
            return Err(WireError::WrongMagic {
                expected: self.magic,
                got: magic,
            });
        }
        let mut command = [0u8; 12];
        command.copy_from_slice(&raw[4..16]);
        let command = Command::from_wire(command)?;
        let len = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
        if len as u64 > self.max_payload as u64 {
            return Err(WireError::PayloadTooLarge {
                command,
                len: len as u64,
                max: self.max_payload,
            });
        }
        Ok(Header {
            command,
            len: len as usize,
            checksum: [raw[20], raw[21], raw[22], raw[23]],
        })
    }

    /// Writes the header and payload of `frame` into `dst`.
    pub fn encode_frame(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        let len = frame.payload.len();
        if len > self.max_payload {
            return Err(WireError::PayloadTooLarge {
                command: frame.command,
                len: len as u64,
                max: self.max_payload,
            });
        }
        dst.reserve(HEADER_LEN + len);
        dst.put_slice(&self.magic);
        dst.put_slice(&frame.command.to_wire());
        dst.put_u32_le(len as u32);
        dst.put_slice(&checksum(&frame.payload));
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

impl Decoder for V1Codec {
    type Item = Frame;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        let header = match self.pending {
            Some(header) => header,
            None => {
                if src.len() < HEADER_LEN {
                    src.reserve(HEADER_LEN - src.len());
                    return Ok(None);
                }
                let header = self.parse_header(&src[..HEADER_LEN])?;
                src.advance(HEADER_LEN);
                self.pending = Some(header);
                header
            }
        };
        if src.len() < header.len {
            // Grow with what has arrived, as Bitcoin Core does, not with what the header
            // announces: a peer that sends a header and stalls holds at most
            // `GROW_STEP` of our memory, not the payload limit. Growing by at least what we
            // hold doubles the buffer, so a large payload costs few reallocations.
            let missing = header.len - src.len();
            src.reserve(missing.min(GROW_STEP.max(src.len())));
            return Ok(None);
        }
        self.pending = None;
        let payload = src.split_to(header.len).freeze();
        let computed = checksum(&payload);
        if computed != header.checksum {
            return Err(WireError::ChecksumMismatch {
                command: header.command,
                expected: header.checksum,
                computed,
            });
        }
        // Do not keep a large buffer alive for a peer that went back to small messages.
        if src.capacity() > SHRINK_ABOVE && src.len() < INITIAL_BUFFER {
            let mut fresh = BytesMut::with_capacity(INITIAL_BUFFER);
            fresh.extend_from_slice(src);
            *src = fresh;
        }
        Ok(Some(Frame {
            command: header.command,
            payload,
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        let buffered = src.len()
            + if self.pending.is_some() {
                HEADER_LEN
            } else {
                0
            };
        if buffered == 0 {
            Ok(None)
        } else {
            Err(WireError::Truncated { buffered })
        }
    }
}

impl Encoder<Frame> for V1Codec {
    type Error = WireError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        self.encode_frame(&frame, dst)
    }
}

impl Encoder<&Frame> for V1Codec {
    type Error = WireError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        self.encode_frame(frame, dst)
    }
}
