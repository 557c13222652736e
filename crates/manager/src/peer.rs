//! One managed peer: its status, its counters and its send queue.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Frame, WireError, HEADER_LEN};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::address::PeerAddr;
use crate::error::{ConnectFailure, PeerConnectionError};
use crate::listeners::DisconnectReason;
use crate::{Error, Result};

/// Where a peer is in its life (the specification's state machine).
///
/// `Disconnected -> Connecting -> Connected -> Disconnected`, and `Unhealthy` once
/// `max_failure_count` consecutive attempts failed; an unhealthy peer stays `Unhealthy` while it
/// is retried and becomes `Connected` again only after a full handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PeerStatus {
    /// Not connected: not yet dialled, between attempts, or after a disconnect.
    Disconnected = 0,
    /// Dialling or in the version/verack handshake.
    Connecting = 1,
    /// The handshake finished; messages flow.
    Connected = 2,
    /// `max_failure_count` consecutive failures (set by the health check).
    Unhealthy = 3,
}

impl fmt::Display for PeerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerStatus::Disconnected => "disconnected",
            PeerStatus::Connecting => "connecting",
            PeerStatus::Connected => "connected",
            PeerStatus::Unhealthy => "unhealthy",
        })
    }
}

/// What the peer told us about itself in its `version` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Negotiated protocol version (the lower of theirs and ours).
    pub protocol_version: u32,
    /// Services the peer advertises.
    pub services: ServiceFlags,
    /// The peer's user agent.
    pub user_agent: String,
    /// The peer's best height when it connected.
    pub start_height: i32,
    /// The peer's relay flag.
    pub relay: bool,
}

/// A point-in-time view of one peer, from [`crate::BtcClient::peers`].
#[derive(Clone, Debug)]
pub struct PeerSnapshot {
    /// Stable id of the peer, unique within the client.
    pub id: u64,
    /// The address as managed (`1.2.3.4:8333`, `[::1]:8333`, `host:port`).
    pub addr: String,
    /// The socket address last dialled, if any.
    pub resolved: Option<SocketAddr>,
    /// Current status.
    pub status: PeerStatus,
    /// Consecutive failures.
    pub failure_count: u32,
    /// Whether the peer was learned through discovery (as opposed to added by the user).
    pub discovered: bool,
    /// What the peer said in its `version`, once it has connected.
    pub info: Option<PeerInfo>,
    /// When the current connection's handshake finished.
    pub connected_since: Option<SystemTime>,
    /// Bytes received (headers included).
    pub bytes_in: u64,
    /// Bytes sent (headers included).
    pub bytes_out: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Round trip of the last answered ping.
    pub last_ping_rtt: Option<Duration>,
    /// The last connection failure or disconnect reason.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct PeerState {
    status: PeerStatus,
    failure_count: u32,
    info: Option<PeerInfo>,
    connected_since: Option<SystemTime>,
    resolved: Option<SocketAddr>,
    last_ping_rtt: Option<Duration>,
    last_error: Option<String>,
    last_failure: Option<ConnectFailure>,
    sender: Option<mpsc::Sender<Frame>>,
    stop_reason: Option<DisconnectReason>,
}

pub(crate) struct PeerShared {
    id: u64,
    addr: PeerAddr,
    discovered: bool,
    group: Option<Vec<u8>>,
    max_payload: usize,
    queue_bytes_limit: usize,
    state: Mutex<PeerState>,
    pub(crate) cancel: CancellationToken,
    /// Bumped after every connection attempt, successful or not.
    attempts: watch::Sender<u64>,
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
}

/// A handle to one managed peer: cheap to clone, usable from any thread and from callbacks.
///
/// It stays valid after the peer is removed (its sends then fail with `PeerNotConnected`).
#[derive(Clone)]
pub struct ManagedPeer {
    pub(crate) shared: Arc<PeerShared>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ManagedPeer {
    pub(crate) fn new(
        id: u64,
        addr: PeerAddr,
        discovered: bool,
        group: Option<Vec<u8>>,
        cancel: CancellationToken,
        config: &crate::Config,
    ) -> ManagedPeer {
        ManagedPeer {
            shared: Arc::new(PeerShared {
                id,
                addr,
                discovered,
                group,
                max_payload: config.max_message_size,
                queue_bytes_limit: config.send_queue_bytes,
                state: Mutex::new(PeerState {
                    status: PeerStatus::Disconnected,
                    failure_count: 0,
                    info: None,
                    connected_since: None,
                    resolved: None,
                    last_ping_rtt: None,
                    last_error: None,
                    last_failure: None,
                    sender: None,
                    stop_reason: None,
                }),
                cancel,
                attempts: watch::channel(0).0,
                queued_bytes: AtomicUsize::new(0),
                bytes_in: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                messages_in: AtomicU64::new(0),
                messages_out: AtomicU64::new(0),
            }),
        }
    }

    /// Stable id of the peer, unique within its client (never reused).
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The address as managed: `1.2.3.4:8333`, `[2001:db8::1]:8333` or `host:port`.
    pub fn addr(&self) -> &str {
        self.shared.addr.key()
    }

    pub(crate) fn target(&self) -> &PeerAddr {
        &self.shared.addr
    }

    pub(crate) fn group(&self) -> Option<&[u8]> {
        self.shared.group.as_deref()
    }

    /// Whether the peer was learned through discovery.
    pub fn is_discovered(&self) -> bool {
        self.shared.discovered
    }

    /// Current status.
    pub fn status(&self) -> PeerStatus {
        lock(&self.shared.state).status
    }

    /// Consecutive failures.
    pub fn failure_count(&self) -> u32 {
        lock(&self.shared.state).failure_count
    }

    /// What the peer said in its `version` (None before its first handshake).
    pub fn info(&self) -> Option<PeerInfo> {
        lock(&self.shared.state).info.clone()
    }

    /// A snapshot of everything known about the peer.
    pub fn snapshot(&self) -> PeerSnapshot {
        let s = &self.shared;
        let st = lock(&s.state);
        PeerSnapshot {
            id: s.id,
            addr: s.addr.key().to_owned(),
            resolved: st.resolved,
            status: st.status,
            failure_count: st.failure_count,
            discovered: s.discovered,
            info: st.info.clone(),
            connected_since: st.connected_since,
            bytes_in: s.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.bytes_out.load(Ordering::Relaxed),
            messages_in: s.messages_in.load(Ordering::Relaxed),
            messages_out: s.messages_out.load(Ordering::Relaxed),
            last_ping_rtt: st.last_ping_rtt,
            last_error: st.last_error.clone(),
        }
    }

    /// Queues a message for this peer.
    ///
    /// Fails with `PeerNotConnected` when the peer has no connection, `QueueFull` when its
    /// send queue is full (by count or by bytes), `InvalidMessage` when the message is larger
    /// than `max_message_size`. Never blocks.
    pub fn send(&self, message: &NetworkMessage) -> Result<()> {
        self.send_frame(Frame::from_message(message)?)
    }

    /// Queues an already serialized message (command + payload) for this peer; see
    /// [`ManagedPeer::send`].
    pub fn send_frame(&self, frame: Frame) -> Result<()> {
        let s = &self.shared;
        if frame.payload.len() > s.max_payload {
            return Err(Error::InvalidMessage(WireError::PayloadTooLarge {
                command: frame.command,
                len: frame.payload.len() as u64,
                max: s.max_payload,
            }));
        }
        let sender = lock(&s.state)
            .sender
            .clone()
            .ok_or_else(|| Error::PeerNotConnected(self.addr().to_owned()))?;
        let size = HEADER_LEN + frame.payload.len();
        let before = s.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if before + size > s.queue_bytes_limit {
            s.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(Error::QueueFull(self.addr().to_owned()));
        }
        match sender.try_send(frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                s.queued_bytes.fetch_sub(size, Ordering::AcqRel);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => Error::QueueFull(self.addr().to_owned()),
                    mpsc::error::TrySendError::Closed(_) => {
                        Error::PeerNotConnected(self.addr().to_owned())
                    }
                })
            }
        }
    }

    // ---- state changes made by the connection task and the manager ----

    pub(crate) fn set_status(&self, status: PeerStatus) {
        let mut st = lock(&self.shared.state);
        // An unhealthy peer stays unhealthy while it is retried; only a handshake clears it.
        if st.status == PeerStatus::Unhealthy && status != PeerStatus::Connected {
            return;
        }
        st.status = status;
    }

    pub(crate) fn mark_unhealthy_if(&self, threshold: u32) -> bool {
        let mut st = lock(&self.shared.state);
        if st.failure_count >= threshold && st.status != PeerStatus::Connected {
            st.status = PeerStatus::Unhealthy;
            true
        } else {
            false
        }
    }

    pub(crate) fn set_resolved(&self, addr: SocketAddr) {
        lock(&self.shared.state).resolved = Some(addr);
    }

    /// A connection attempt failed.
    pub(crate) fn record_connect_failure(&self, failure: ConnectFailure) -> u32 {
        let count = {
            let mut st = lock(&self.shared.state);
            st.failure_count = st.failure_count.saturating_add(1);
            st.last_error = Some(failure.to_string());
            st.last_failure = Some(failure);
            st.failure_count
        };
        self.shared.attempts.send_modify(|n| *n += 1);
        count
    }

    /// A session ended through the peer's fault (misbehaviour, timeouts): the count goes on
    /// from `before`, its value before the handshake reset it.
    pub(crate) fn record_failure_after(&self, before: u32, error: String) -> u32 {
        let mut st = lock(&self.shared.state);
        st.failure_count = before.max(st.failure_count).saturating_add(1);
        st.last_error = Some(error);
        st.failure_count
    }

    /// Waits until the peer is connected, or until a connection attempt that ends after this
    /// call fails.
    ///
    /// Errors: [`Error::PeerConnection`] with the address and the cause of the failed attempt
    /// (or [`ConnectFailure::WaitTimeout`] when `timeout` passes first). The peer stays
    /// managed and is retried either way.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.shared.attempts.subscribe();
        let fail = |cause| {
            Error::PeerConnection(PeerConnectionError {
                addr: self.addr().to_owned(),
                cause,
            })
        };
        let wait = async {
            loop {
                if self.status() == PeerStatus::Connected {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(fail(ConnectFailure::WaitTimeout));
                }
                let st = lock(&self.shared.state);
                if st.status == PeerStatus::Connected {
                    return Ok(());
                }
                if let Some(f) = st.last_failure.clone() {
                    return Err(fail(f));
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(fail(ConnectFailure::WaitTimeout)),
        }
    }

    pub(crate) fn record_connected(&self, info: PeerInfo, sender: mpsc::Sender<Frame>) {
        let mut st = lock(&self.shared.state);
        st.status = PeerStatus::Connected;
        st.failure_count = 0;
        st.info = Some(info);
        st.connected_since = Some(SystemTime::now());
        st.sender = Some(sender);
        st.last_failure = None;
        drop(st);
        self.shared.attempts.send_modify(|n| *n += 1);
    }

    pub(crate) fn clear_sender(&self) {
        lock(&self.shared.state).sender = None;
    }

    pub(crate) fn record_disconnected(&self, reason: &DisconnectReason) {
        let mut st = lock(&self.shared.state);
        st.sender = None;
        st.connected_since = None;
        st.last_error = Some(reason.to_string());
        if st.status == PeerStatus::Connected {
            st.status = PeerStatus::Disconnected;
        }
    }

    pub(crate) fn record_ping_rtt(&self, rtt: Duration) {
        lock(&self.shared.state).last_ping_rtt = Some(rtt);
    }

    /// Asks the connection task to end, with the reason its disconnect listener will see.
    pub(crate) fn cancel(&self, reason: DisconnectReason) {
        {
            let mut st = lock(&self.shared.state);
            if st.stop_reason.is_none() {
                st.stop_reason = Some(reason);
            }
        }
        self.shared.cancel.cancel();
    }

    pub(crate) fn stop_reason(&self) -> DisconnectReason {
        lock(&self.shared.state)
            .stop_reason
            .clone()
            .unwrap_or(DisconnectReason::Stopped)
    }
}

impl fmt::Debug for ManagedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedPeer")
            .field("id", &self.id())
            .field("addr", &self.addr())
            .field("status", &self.status())
            .finish()
    }
}
