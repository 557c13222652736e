//! The btcclient peer manager: keeps outbound Bitcoin P2P connections alive and delivers
//! their messages to your code.
//!
//! - [`BtcClient`]: `start`, `stop` (with a deadline), `add_peer`, `remove_peer`,
//!   `peer_count`, `peers` (snapshots), `send` — the operations of the original Go package,
//!   with its errors ([`Error`]) and its peer states ([`PeerStatus`]).
//! - Each peer is dialled, goes through the version/verack handshake (it is `Connected` only
//!   after that), is pinged, and is redialled after failures with backoff; after
//!   `max_failure_count` consecutive failures it is `Unhealthy`.
//! - After every handshake the client asks for addresses (`getaddr`); what comes back in
//!   `addr` or `addrv2` (and what DNS seeds answer when the book is short) goes into an
//!   address book modelled on Bitcoin Core's addrman ([`addrbook`]), from which the client
//!   keeps `target_outbound` discovered peers, one per network group, beside the peers you
//!   add; `max_peers` caps the total.
//! - [`Listeners`]: callbacks for headers, inv, block, tx, addr, peer connected and peer
//!   disconnected (with its [`DisconnectReason`]), and any other message. A message nobody
//!   listens to is not decoded; blocks can also be taken undecoded, as checked bytes
//!   ([`Listeners::on_raw_block`], the fastest way to receive them).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use btcclient_manager::{BtcClient, Config, Listeners, Network};
//! use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
//! use btcclient_manager::bitcoin::p2p::message_blockdata::GetHeadersMessage;
//! use btcclient_manager::bitcoin::{blockdata::constants::genesis_block, BlockHash};
//!
//! # #[tokio::main] async fn main() -> Result<(), btcclient_manager::Error> {
//! let genesis = genesis_block(bitcoin::Network::Regtest).block_hash();
//! let listeners = Listeners::new()
//!     .on_peer_connected(move |peer| {
//!         let locator = GetHeadersMessage::new(vec![genesis], BlockHash::all_zeros());
//!         let _ = peer.send(&NetworkMessage::GetHeaders(locator));
//!     })
//!     .on_headers(|peer, headers| println!("{}: {} headers", peer.addr(), headers.len()));
//! let client = BtcClient::new(
//!     Config::builder()
//!         .network(Network::Regtest)
//!         .allow_local_addresses(true)
//!         .listeners(listeners)
//!         .build()?,
//! )?;
//! client.start()?;
//! client.add_peer("127.0.0.1:18444")?;
//! tokio::time::sleep(Duration::from_secs(10)).await;
//! for peer in client.peers() {
//!     println!("{} {} {:?}", peer.addr, peer.status, peer.info.map(|i| i.user_agent));
//! }
//! client.stop(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! # use bitcoin::hashes::Hash;
//! ```

pub mod addrbook;
mod address;
mod client;
mod config;
mod connection;
mod dialer;
mod dispatch;
pub mod dns;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod lifecycle;
mod listeners;
mod peer;
mod socket;
pub mod socks5;

pub use addrbook::{BookStats, PeersDatImport};
pub use address::{
    is_bad_port, is_routable, network_group, onion_host, onion_key, parse_peer_address,
};
pub use bitcoin;
pub use btcclient_wire as wire;
pub use btcclient_wire::{Frame, RawBlock};
pub use btcclient_wire::{SessionId, TransportKind};
pub use client::{BtcClient, DnsSeedAnswer, WeakClient};
pub use config::{
    Backoff, Config, ConfigBuilder, Delivery, Network, Transport, MIN_PEER_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
pub use dialer::{DialFuture, Dialer, TcpDialer};
pub use error::{ConnectFailure, Error, PeerConnectionError, Result};
pub use lifecycle::{AttemptFailure, FailureCause, StatusChange};
pub use listeners::{DisconnectReason, Listeners};
pub use peer::{ManagedPeer, PeerInfo, PeerSnapshot, PeerStatus};
pub use socks5::{Credentials, Proxy};

/// The README's example compiles (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
