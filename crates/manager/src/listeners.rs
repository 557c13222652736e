//! Listener callbacks: the specification's seven, one for any other message, and the
//! lifecycle's: attempt failed and status changed.

use std::fmt;
use std::sync::Arc;

use bitcoin::block::Header;
use bitcoin::p2p::address::AddrV2Message;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Block, Transaction};
use btcclient_wire::{Frame, RawBlock};

use crate::lifecycle::{AttemptFailure, StatusChange};
use crate::peer::ManagedPeer;

type Cb<T> = Option<Arc<dyn Fn(&ManagedPeer, &T) + Send + Sync>>;
type PeerCb = Option<Arc<dyn Fn(&ManagedPeer) + Send + Sync>>;

/// Why a connected peer was disconnected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `remove_peer` was called.
    Removed,
    /// The client was stopped.
    Stopped,
    /// The peer closed the connection.
    RemoteClosed,
    /// No pong arrived within the pong timeout.
    PingTimeout,
    /// The peer did not take our bytes within the write timeout.
    WriteTimeout,
    /// The peer broke the protocol (malformed, oversized or unexpected message); the detail
    /// says how. Counts as a failure.
    ProtocolViolation(String),
    /// An I/O error on the socket.
    Io(String),
    /// The peer was dropped by the health check (a discovered peer that became unhealthy).
    Unhealthy,
    /// A discovered peer was disconnected to make room for a peer the user added while
    /// `max_peers` peers were managed.
    Evicted,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Removed => f.write_str("removed"),
            DisconnectReason::Stopped => f.write_str("client stopped"),
            DisconnectReason::RemoteClosed => f.write_str("remote closed the connection"),
            DisconnectReason::PingTimeout => f.write_str("no pong within the timeout"),
            DisconnectReason::WriteTimeout => f.write_str("peer stopped reading (write timeout)"),
            DisconnectReason::ProtocolViolation(d) => write!(f, "protocol violation: {d}"),
            DisconnectReason::Io(e) => write!(f, "i/o error: {e}"),
            DisconnectReason::Unhealthy => f.write_str("dropped as unhealthy"),
            DisconnectReason::Evicted => f.write_str("evicted to make room for a user-added peer"),
        }
    }
}

/// Callbacks for protocol messages and peer lifecycle events. Every field is optional; a
/// message whose listener is not set is not decoded at all.
///
/// Callbacks run on the client's threads (see [`crate::Delivery`]); for one peer they arrive
/// in the order its messages arrived. They may call `add_peer`, `remove_peer`, `peer_count`,
/// `peers` and send, but not `stop` (which returns [`crate::Error::CalledFromCallback`]).
///
/// ```
/// use btcclient_manager::Listeners;
///
/// let listeners = Listeners::new()
///     .on_headers(|peer, headers| println!("{}: {} headers", peer.addr(), headers.len()))
///     .on_peer_connected(|peer| println!("{} connected", peer.addr()))
///     .on_peer_disconnected(|peer, why| println!("{} disconnected: {why}", peer.addr()));
/// assert!(listeners.wants_headers());
/// ```
#[derive(Clone, Default)]
pub struct Listeners {
    pub(crate) on_headers: Cb<[Header]>,
    pub(crate) on_inv: Cb<[Inventory]>,
    pub(crate) on_block: Cb<Block>,
    pub(crate) on_raw_block: Cb<RawBlock>,
    pub(crate) on_tx: Cb<Transaction>,
    pub(crate) on_addr: Cb<[AddrV2Message]>,
    pub(crate) on_peer_connected: PeerCb,
    pub(crate) on_peer_disconnected: Cb<DisconnectReason>,
    pub(crate) on_message: Cb<Frame>,
    pub(crate) on_attempt_failed: Cb<AttemptFailure>,
    pub(crate) on_status_changed: Cb<StatusChange>,
}

impl Listeners {
    /// No listeners.
    pub fn new() -> Listeners {
        Listeners::default()
    }

    /// A `headers` message arrived.
    pub fn on_headers(
        mut self,
        f: impl Fn(&ManagedPeer, &[Header]) + Send + Sync + 'static,
    ) -> Self {
        self.on_headers = Some(Arc::new(f));
        self
    }

    /// An `inv` message arrived.
    pub fn on_inv(
        mut self,
        f: impl Fn(&ManagedPeer, &[Inventory]) + Send + Sync + 'static,
    ) -> Self {
        self.on_inv = Some(Arc::new(f));
        self
    }

    /// A `block` message arrived, decoded.
    ///
    /// The block is decoded on the thread that delivers it (the dispatcher thread with
    /// [`crate::Delivery::Serialized`], the blocking pool with
    /// [`crate::Delivery::Concurrent`]), not on the peer's reading task, so reading the next
    /// message and decoding this one overlap. Its structure was checked before delivery: a
    /// malformed block disconnects the peer and is never delivered.
    pub fn on_block(mut self, f: impl Fn(&ManagedPeer, &Block) + Send + Sync + 'static) -> Self {
        self.on_block = Some(Arc::new(f));
        self
    }

    /// A `block` message arrived, not decoded: its payload as a [`RawBlock`] — the block's
    /// consensus encoding exactly as the peer sent it, structure checked, with its hash and
    /// header. The fastest way to receive blocks (to store, forward or hash them); decode
    /// one with [`RawBlock::decode`] when needed. Keeping the bytes
    /// ([`RawBlock::bytes`]) costs no copy.
    ///
    /// With both `on_raw_block` and [`Listeners::on_block`] set, each block goes to
    /// `on_raw_block` first, then (decoded) to `on_block`.
    ///
    /// ```
    /// use btcclient_manager::Listeners;
    ///
    /// let listeners = Listeners::new().on_raw_block(|peer, block| {
    ///     println!("{}: block {} ({} bytes, {} txs)",
    ///         peer.addr(), block.hash(), block.as_bytes().len(), block.tx_count());
    /// });
    /// # let _ = listeners;
    /// ```
    pub fn on_raw_block(
        mut self,
        f: impl Fn(&ManagedPeer, &RawBlock) + Send + Sync + 'static,
    ) -> Self {
        self.on_raw_block = Some(Arc::new(f));
        self
    }

    /// Whether `block` messages are delivered (decoded or raw).
    pub(crate) fn wants_blocks(&self) -> bool {
        self.on_block.is_some() || self.on_raw_block.is_some()
    }

    /// A `tx` message arrived.
    pub fn on_tx(mut self, f: impl Fn(&ManagedPeer, &Transaction) + Send + Sync + 'static) -> Self {
        self.on_tx = Some(Arc::new(f));
        self
    }

    /// An `addr` or `addrv2` message arrived; both kinds come as one list of `addrv2`
    /// entries. Discovery itself is automatic.
    pub fn on_addr(
        mut self,
        f: impl Fn(&ManagedPeer, &[AddrV2Message]) + Send + Sync + 'static,
    ) -> Self {
        self.on_addr = Some(Arc::new(f));
        self
    }

    /// A peer finished the version/verack handshake.
    pub fn on_peer_connected(mut self, f: impl Fn(&ManagedPeer) + Send + Sync + 'static) -> Self {
        self.on_peer_connected = Some(Arc::new(f));
        self
    }

    /// A connected peer was disconnected; exactly once after each `on_peer_connected`.
    pub fn on_peer_disconnected(
        mut self,
        f: impl Fn(&ManagedPeer, &DisconnectReason) + Send + Sync + 'static,
    ) -> Self {
        self.on_peer_disconnected = Some(Arc::new(f));
        self
    }

    /// Any other message (not one of the above, and not `version`, `verack`, `ping`, `pong`,
    /// `sendaddrv2`, which the client handles), as command + raw payload.
    pub fn on_message(mut self, f: impl Fn(&ManagedPeer, &Frame) + Send + Sync + 'static) -> Self {
        self.on_message = Some(Arc::new(f));
        self
    }

    /// A connection attempt failed: dialling, the handshake, or a connection that ended
    /// before it was stable ([`crate::Config::stable_after`]; its
    /// [`on_peer_disconnected`](Listeners::on_peer_disconnected) comes first). Carries the
    /// cause, the consecutive failures so far and the delay before the next attempt.
    ///
    /// ```
    /// use btcclient_manager::Listeners;
    ///
    /// let listeners = Listeners::new().on_attempt_failed(|_peer, f| {
    ///     eprintln!("{}: {} ({} in a row, retry in {:?})", f.addr, f.cause, f.failures, f.retry_in)
    /// });
    /// # let _ = listeners;
    /// ```
    pub fn on_attempt_failed(
        mut self,
        f: impl Fn(&ManagedPeer, &AttemptFailure) + Send + Sync + 'static,
    ) -> Self {
        self.on_attempt_failed = Some(Arc::new(f));
        self
    }

    /// A peer's [`crate::PeerStatus`] changed (old and new). For a connection it comes after
    /// `on_peer_connected` / `on_peer_disconnected`, in the peer's order of events.
    pub fn on_status_changed(
        mut self,
        f: impl Fn(&ManagedPeer, &StatusChange) + Send + Sync + 'static,
    ) -> Self {
        self.on_status_changed = Some(Arc::new(f));
        self
    }

    /// Whether `headers` messages are decoded for a listener.
    pub fn wants_headers(&self) -> bool {
        self.on_headers.is_some()
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("on_headers", &self.on_headers.is_some())
            .field("on_inv", &self.on_inv.is_some())
            .field("on_block", &self.on_block.is_some())
            .field("on_raw_block", &self.on_raw_block.is_some())
            .field("on_tx", &self.on_tx.is_some())
            .field("on_addr", &self.on_addr.is_some())
            .field("on_peer_connected", &self.on_peer_connected.is_some())
            .field("on_peer_disconnected", &self.on_peer_disconnected.is_some())
            .field("on_message", &self.on_message.is_some())
            .field("on_attempt_failed", &self.on_attempt_failed.is_some())
            .field("on_status_changed", &self.on_status_changed.is_some())
            .finish()
    }
}
