//! Bitcoin P2P message framing for btcclient.
//!
//! This crate turns bytes on a socket into Bitcoin P2P messages and back, on top of the
//! [`bitcoin`] crate's `p2p` types:
//!
//! - [`FrameReader`] reads [`Frame`]s (command + payload as shared [`bytes::Bytes`])
//!   incrementally from any tokio `AsyncRead`, whether bytes arrive one at a time or many
//!   frames at once;
//! - [`Frame::decode`] turns a frame into a `NetworkMessage` when, and only when, someone
//!   wants it; an unknown command survives as [`NetworkMessage::Unknown`];
//! - [`FrameWriter`] writes frames built from a `NetworkMessage` ([`Frame::from_message`]) or
//!   from a raw command and payload ([`Frame::raw`]);
//! - every malformed input is a distinct [`WireError`], found before any allocation larger
//!   than the payload limit.
//!
//! # Example
//!
//! ```
//! use bitcoin::p2p::message::NetworkMessage;
//! use bitcoin::Network;
//! use btcclient_wire::{Frame, FrameReader, FrameWriter, WireConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), btcclient_wire::WireError> {
//! let config = WireConfig::new(Network::Regtest);
//! let (client, server) = tokio::io::duplex(64 * 1024);
//! let mut writer = FrameWriter::new(client, &config);
//! writer.write_message(&NetworkMessage::Ping(42)).await?;
//! writer.write_frame(&Frame::raw("mycommand", vec![1, 2, 3])?).await?;
//! drop(writer);
//!
//! let mut reader = FrameReader::new(server, &config);
//! let ping = reader.read_frame().await?.expect("a frame");
//! assert_eq!(ping.command, "ping");
//! assert_eq!(ping.decode()?, NetworkMessage::Ping(42));
//! let raw = reader.read_frame().await?.expect("a frame");
//! assert_eq!(&raw.payload[..], &[1, 2, 3]);
//! assert!(reader.read_frame().await?.is_none()); // clean end of stream
//! # Ok(())
//! # }
//! ```

mod block;
mod codec;
mod command;
mod config;
mod error;
mod frame;
mod transport;
mod v2;
mod v2_handshake;

/// The `bip324` crate whose handshake and ciphers the v2 transport uses.
pub use bip324;
pub use bitcoin;
pub use bitcoin::p2p::message::NetworkMessage;
pub use block::RawBlock;
pub use codec::{V1Codec, HEADER_LEN};
pub use command::{commands, Command, COMMAND_LEN};
pub use config::{
    locator_heights, WireConfig, DEFAULT_MAX_PAYLOAD, MAX_ADDR_ENTRIES, MAX_HEADERS_ENTRIES,
    MAX_INV_ENTRIES, MIN_PEER_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use error::{V2HandshakeCause, WireError};
pub use frame::{checksum, decode_payload, Frame};
pub use transport::{open, open_v2, open_v2_with_secrets, FrameReader, FrameWriter};
pub use v2::{
    should_reconnect_v1, v2_command, v2_short_id, HandshakeProgress, SessionId, TransportKind,
    V2Decoder, V2Encoder, V1_HEADER_WORTH, V2_IGNORE_BIT, V2_LENGTH_LEN, V2_MAX_GARBAGE,
    V2_PACKET_OVERHEAD, V2_SHORT_IDS,
};

/// The README's example compiles (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
