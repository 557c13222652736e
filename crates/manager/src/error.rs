//! The manager's error type, with the specification's error names.

use std::fmt;

/// Everything a client operation can fail with.
///
/// The first variants are the specification's errors (`ErrClientAlreadyStarted`, …,
/// `PeerConnectionError`); the rest are what a Rust, C or Go caller can additionally get
/// wrong or run into.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `start` on a running client.
    #[error("client already started")]
    ClientAlreadyStarted,
    /// An operation that needs a running client (`stop`, `add_peer`, `send`) before `start`.
    #[error("client not started")]
    ClientNotStarted,
    /// `add_peer` with an address that is already managed.
    #[error("peer {0} already exists")]
    PeerAlreadyExists(String),
    /// `remove_peer` (or a send) naming an address or id that is not managed.
    #[error("peer {0} not found")]
    PeerNotFound(String),
    /// `add_peer` when `max_peers` peers are already managed.
    #[error("maximum number of peers ({0}) reached")]
    MaxPeersReached(usize),
    /// `stop` did not finish before its deadline; the client is stopped anyway and no
    /// callback starts after this is returned. Some peers that were reported connected may
    /// then miss their disconnected event: `undelivered_disconnects` says how many.
    #[error(
        "stop did not finish within {timeout:?} ({undelivered_disconnects} disconnected events not delivered)"
    )]
    StopTimeout {
        /// The deadline given to `stop`.
        timeout: std::time::Duration,
        /// Peers whose `on_peer_connected` ran but whose `on_peer_disconnected` never will.
        undelivered_disconnects: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// The offending field, as named in `Config`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Dialling a peer or its handshake failed.
    #[error("{0}")]
    PeerConnection(#[from] PeerConnectionError),
    /// An address string that is not `host:port`, `ipv4:port` or `[ipv6]:port`.
    #[error("invalid peer address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A message could not be built or is too large to send.
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] btcclient_wire::WireError),
    /// The peer's send queue is full; try again later.
    #[error("send queue of peer {0} is full")]
    QueueFull(String),
    /// The peer exists but has no connection at the moment.
    #[error("peer {0} is not connected")]
    PeerNotConnected(String),
    /// `stop` called from inside a listener callback (it would wait for itself).
    #[error("stop cannot be called from inside a listener callback")]
    CalledFromCallback,
    /// The client could not create its own runtime or dispatcher thread.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A Bitcoin Core `peers.dat` could not be imported (nothing was added).
    #[error("{0}")]
    PeersDat(#[from] crate::addrbook::PeersDatError),
}

/// Why connecting to a peer failed: the address and the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("peer {addr}: {cause}")]
pub struct PeerConnectionError {
    /// The peer's address as it is managed.
    pub addr: String,
    /// What went wrong.
    pub cause: ConnectFailure,
}

/// The cause inside a [`PeerConnectionError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The host name did not resolve.
    Resolve(String),
    /// The TCP connection failed (refused, unreachable, …).
    Dial(String),
    /// The TCP connection did not complete within the connection timeout.
    DialTimeout,
    /// The version/verack handshake did not complete within the handshake timeout.
    HandshakeTimeout,
    /// The peer closed the connection during the handshake.
    ClosedDuringHandshake,
    /// The peer broke the protocol during the handshake.
    Protocol(String),
    /// The peer's version nonce is ours: we connected to ourselves.
    SelfConnection,
    /// The peer's protocol version is older than we support.
    ObsoleteVersion(u32),
    /// An I/O error during the handshake.
    Io(String),
    /// `wait_connected` gave up before any attempt finished.
    WaitTimeout,
    /// The peer was removed while `wait_connected` waited.
    Removed,
    /// The client stopped while `wait_connected` waited.
    ClientStopped,
    /// The SOCKS5 proxy failed, not the peer: it could not be reached, refused our
    /// authentication, answered "general failure" (or another code that does not blame the
    /// destination) or broke the protocol. It does not count against the address in the
    /// address book nor in the peer's failure streak; the next attempt backs off.
    Proxy {
        /// The proxy, as `host:port`.
        proxy: String,
        /// What went wrong.
        reason: String,
    },
    /// The SOCKS5 proxy could not reach the peer: its reply blames the destination (network
    /// or host unreachable, connection refused, TTL expired, a Tor onion-service error). A
    /// failure of the peer, like a refused direct connection.
    ProxyRefused {
        /// The proxy, as `host:port`.
        proxy: String,
        /// The SOCKS5 reply code (RFC 1928 §6; Tor's 0xf0–0xf7).
        code: u8,
    },
    /// The transport is [`Transport::V2Only`](crate::Transport::V2Only) and the peer does not
    /// speak BIP324 v2: it closed after our key without sending a byte, or answered in v1.
    V2NotSupported,
    /// The BIP324 v2 handshake failed (the peer's key exchange, garbage or version packet).
    V2Handshake(String),
    /// The peer speaks another network than ours (its v1 magic, or the keys of its v2
    /// handshake, are another network's).
    WrongNetwork(String),
}

impl ConnectFailure {
    /// Whether the attempt failed because of the proxy rather than the peer
    /// ([`ConnectFailure::Proxy`]): such a failure does not count against the address.
    pub fn is_proxy_failure(&self) -> bool {
        matches!(self, ConnectFailure::Proxy { .. })
    }
}

impl From<crate::socks5::ProxyError> for ConnectFailure {
    fn from(e: crate::socks5::ProxyError) -> Self {
        use crate::socks5::{reply_blames_target, reply_text, ProxyError};
        match e {
            ProxyError::Reply { proxy, code, .. } if reply_blames_target(code) => {
                ConnectFailure::ProxyRefused { proxy, code }
            }
            ProxyError::Reply { proxy, code, .. } => ConnectFailure::Proxy {
                proxy,
                reason: format!("{} (SOCKS5 reply {code:#04x})", reply_text(code)),
            },
            ProxyError::Io { proxy, source } => ConnectFailure::Proxy {
                proxy,
                reason: format!("the connection to the proxy failed: {source}"),
            },
            ProxyError::Auth { proxy, reason } => ConnectFailure::Proxy { proxy, reason },
            ProxyError::Protocol { proxy, reason } => ConnectFailure::Proxy {
                proxy,
                reason: format!("protocol error: {reason}"),
            },
            bad @ ProxyError::BadTarget { .. } => ConnectFailure::Dial(bad.to_string()),
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Resolve(e) => write!(f, "cannot resolve: {e}"),
            ConnectFailure::Dial(e) => write!(f, "connect failed: {e}"),
            ConnectFailure::DialTimeout => f.write_str("connect timed out"),
            ConnectFailure::HandshakeTimeout => f.write_str("handshake timed out"),
            ConnectFailure::ClosedDuringHandshake => f.write_str("closed during handshake"),
            ConnectFailure::Protocol(e) => write!(f, "protocol violation during handshake: {e}"),
            ConnectFailure::SelfConnection => f.write_str("connected to ourselves"),
            ConnectFailure::ObsoleteVersion(v) => write!(f, "obsolete protocol version {v}"),
            ConnectFailure::Io(e) => write!(f, "i/o error during handshake: {e}"),
            ConnectFailure::WaitTimeout => f.write_str("not connected within the wait"),
            ConnectFailure::Removed => f.write_str("the peer was removed"),
            ConnectFailure::ClientStopped => f.write_str("the client was stopped"),
            ConnectFailure::V2NotSupported => f.write_str(
                "the peer does not speak the v2 transport (it closed after our key without \
                 answering) and the transport is v2 only",
            ),
            ConnectFailure::V2Handshake(e) => write!(f, "v2 handshake failed: {e}"),
            ConnectFailure::WrongNetwork(e) => write!(f, "wrong network: {e}"),
            ConnectFailure::Proxy { proxy, reason } => write!(f, "proxy {proxy}: {reason}"),
            ConnectFailure::ProxyRefused { proxy, code } => write!(
                f,
                "proxy {proxy} could not reach the peer: {} (SOCKS5 reply {code:#04x})",
                crate::socks5::reply_text(*code)
            ),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
