//! One managed peer: its status, its counters and its send queue.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Frame, SessionId, TransportKind, WireError, HEADER_LEN};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::address::PeerAddr;
use crate::client::WeakClient;
use crate::error::{ConnectFailure, PeerConnectionError};
use crate::lifecycle::{Action, Input, Lifecycle, Policy};
use crate::listeners::DisconnectReason;
use crate::{BtcClient, Error, Result};

/// Where a peer is in its life (the specification's state machine).
///
/// `Disconnected -> Connecting -> Connected -> Disconnected`, and `Unhealthy` once
/// `max_failure_count` consecutive attempts failed (a connection that ends before it is stable
/// counts as a failed attempt); an unhealthy peer stays `Unhealthy` while it is retried and
/// becomes `Connected` again only after a full handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PeerStatus {
    /// Not connected: not yet dialled, between attempts, or after a disconnect.
    Disconnected = 0,
    /// Dialling or in the version/verack handshake.
    Connecting = 1,
    /// The handshake finished; messages flow.
    Connected = 2,
    /// `max_failure_count` consecutive failures.
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
    /// Consecutive failures (while connected: the streak so far, until the connection is
    /// stable).
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
    /// The transport of the current (or last) connection: v1 or BIP324 v2.
    pub transport: Option<TransportKind>,
    /// The BIP324 session id of the current (or last) v2 connection, as Bitcoin Core's
    /// `getpeerinfo` shows it (`session_id`) for the same connection.
    pub session_id: Option<SessionId>,
}

/// One connection's send queue: the channel to its writer and the bytes waiting in it. Each
/// connection has its own, so nothing left queued when a connection ends counts against the
/// next one.
///
/// Frames travel boxed: tokio's channel allocates its slots 32 at a time when it is created,
/// and a slot of a boxed frame takes 8 bytes instead of 48 (about 1.3 KiB less per idle
/// peer, for one small allocation per message sent).
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Box<Frame>>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// Why an [`Outbox`] refused a frame.
pub(crate) enum PushError {
    Full,
    Closed,
}

impl Outbox {
    /// A queue of `len` frames and `limit` bytes; the receiver goes to the writer, which
    /// calls [`Outbox::written`] for each frame it takes.
    pub(crate) fn new(len: usize, limit: usize) -> (Outbox, mpsc::Receiver<Box<Frame>>) {
        let (tx, rx) = mpsc::channel(len);
        (
            Outbox {
                tx,
                queued: Arc::new(AtomicUsize::new(0)),
                limit,
            },
            rx,
        )
    }

    fn size(frame: &Frame) -> usize {
        HEADER_LEN + frame.payload.len()
    }

    /// Queues a frame without waiting; refused when the queue is full by count or by bytes.
    pub(crate) fn try_push(&self, frame: Frame) -> std::result::Result<(), PushError> {
        let size = Self::size(&frame);
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before + size > self.limit {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return Err(PushError::Full);
        }
        self.tx.try_send(Box::new(frame)).map_err(|e| {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => PushError::Full,
                mpsc::error::TrySendError::Closed(_) => PushError::Closed,
            }
        })
    }

    /// Queues a frame of the client's own (pong, ping, getaddr), waiting for room by count;
    /// the byte limit is for callers' messages. Cancel-safe.
    ///
    /// The wait is boxed (it is rare, and would otherwise enlarge every peer task's state);
    /// a queue with room takes the frame at once.
    pub(crate) async fn push(&self, frame: Frame) -> std::result::Result<(), PushError> {
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Closed(())) => return Err(PushError::Closed),
            Err(mpsc::error::TrySendError::Full(())) => Box::pin(self.tx.reserve())
                .await
                .map_err(|_| PushError::Closed)?,
        };
        self.queued.fetch_add(Self::size(&frame), Ordering::AcqRel);
        permit.send(Box::new(frame));
        Ok(())
    }

    /// The writer's side of the byte count (it holds no sender, so that dropping the last
    /// `Outbox` ends the writer).
    pub(crate) fn taken(&self) -> Taken {
        Taken(Arc::clone(&self.queued))
    }
}

/// Counts frames the writer took off an [`Outbox`].
pub(crate) struct Taken(Arc<AtomicUsize>);

impl Taken {
    /// The writer took `frame` off the queue.
    pub(crate) fn frame(&self, frame: &Frame) {
        self.0.fetch_sub(Outbox::size(frame), Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct PeerState {
    lifecycle: Lifecycle,
    info: Option<PeerInfo>,
    connected_since: Option<SystemTime>,
    resolved: Option<SocketAddr>,
    last_ping_rtt: Option<Duration>,
    last_error: Option<String>,
    last_failure: Option<ConnectFailure>,
    transport: Option<(TransportKind, Option<SessionId>)>,
    outbox: Option<Outbox>,
    stop_reason: Option<DisconnectReason>,
    /// The current connection's connected event is queued for the listeners: from then on
    /// `wait_connected` may report it (and its disconnected event is owed).
    announced: bool,
}

pub(crate) struct PeerShared {
    id: u64,
    addr: PeerAddr,
    discovered: bool,
    group: Option<Vec<u8>>,
    max_payload: usize,
    /// The run of the client (between one `start` and its `stop`) the peer belongs to.
    pub(crate) run: u64,
    client: WeakClient,
    state: Mutex<PeerState>,
    pub(crate) cancel: CancellationToken,
    /// Bumped after every connection attempt, successful or not.
    attempts: watch::Sender<u64>,
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        addr: PeerAddr,
        discovered: bool,
        group: Option<Vec<u8>>,
        cancel: CancellationToken,
        config: &crate::Config,
        run: u64,
        client: WeakClient,
    ) -> ManagedPeer {
        ManagedPeer {
            shared: Arc::new(PeerShared {
                id,
                addr,
                discovered,
                group,
                max_payload: config.max_message_size,
                run,
                client,
                state: Mutex::new(PeerState {
                    lifecycle: Lifecycle::new(
                        Policy::from_config(config),
                        rand::random::<u64>() ^ id,
                    ),
                    info: None,
                    connected_since: None,
                    resolved: None,
                    last_ping_rtt: None,
                    last_error: None,
                    last_failure: None,
                    transport: None,
                    outbox: None,
                    stop_reason: None,
                    announced: false,
                }),
                cancel,
                attempts: watch::channel(0).0,
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

    /// The client that manages this peer, if it still exists. The peer does not keep the
    /// client alive: a callback reaches its client this way without a reference cycle.
    pub fn client(&self) -> Option<BtcClient> {
        self.shared.client.upgrade()
    }

    /// Whether the peer was learned through discovery.
    pub fn is_discovered(&self) -> bool {
        self.shared.discovered
    }

    /// Current status.
    pub fn status(&self) -> PeerStatus {
        lock(&self.shared.state).lifecycle.status()
    }

    /// Consecutive failures (while connected: the streak so far, until the connection is
    /// stable, see [`crate::Config::stable_after`]).
    pub fn failure_count(&self) -> u32 {
        lock(&self.shared.state).lifecycle.failures()
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
            status: st.lifecycle.status(),
            failure_count: st.lifecycle.failures(),
            discovered: s.discovered,
            info: st.info.clone(),
            connected_since: st.connected_since,
            bytes_in: s.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.bytes_out.load(Ordering::Relaxed),
            messages_in: s.messages_in.load(Ordering::Relaxed),
            messages_out: s.messages_out.load(Ordering::Relaxed),
            last_ping_rtt: st.last_ping_rtt,
            last_error: st.last_error.clone(),
            transport: st.transport.map(|(kind, _)| kind),
            session_id: st.transport.and_then(|(_, id)| id),
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
        let outbox = lock(&s.state)
            .outbox
            .clone()
            .ok_or_else(|| Error::PeerNotConnected(self.addr().to_owned()))?;
        outbox.try_push(frame).map_err(|e| match e {
            PushError::Full => Error::QueueFull(self.addr().to_owned()),
            PushError::Closed => Error::PeerNotConnected(self.addr().to_owned()),
        })
    }

    // ---- state changes made by the connection task and the manager ----

    /// Feeds the lifecycle (the only writer of status and failure count) and returns what
    /// the session must do.
    pub(crate) fn step(&self, input: Input) -> Vec<Action> {
        let now = tokio::time::Instant::now();
        let mut st = lock(&self.shared.state);
        let attempt_over = match &input {
            Input::AttemptFailed(failure) => {
                st.last_error = Some(failure.to_string());
                st.last_failure = Some(failure.clone());
                true
            }
            Input::Ended(reason) => {
                st.outbox = None;
                st.connected_since = None;
                st.last_error = Some(reason.to_string());
                false
            }
            _ => false,
        };
        let actions = st.lifecycle.step(input, now);
        drop(st);
        if attempt_over {
            self.shared.attempts.send_modify(|n| *n += 1);
        }
        actions
    }

    /// The session ends for good (stop or removal) while not connected.
    pub(crate) fn finish(&self) -> Vec<Action> {
        lock(&self.shared.state).lifecycle.finish()
    }

    /// The address last dialled.
    pub(crate) fn resolved(&self) -> Option<SocketAddr> {
        lock(&self.shared.state).resolved
    }

    /// The address book's key for this peer: the socket address last dialled, else its
    /// address as managed when that is an IP or onion address (a host name not yet resolved
    /// has none).
    pub(crate) fn book_addr(&self) -> Option<crate::addrbook::BookAddr> {
        match self.resolved() {
            Some(sock) => Some(sock.into()),
            None => self.target().book_addr(),
        }
    }

    pub(crate) fn set_resolved(&self, addr: SocketAddr) {
        lock(&self.shared.state).resolved = Some(addr);
    }

    /// Waits until the peer is connected, or until a connection attempt that ends after this
    /// call fails.
    ///
    /// Errors: [`Error::PeerConnection`] with the address and the cause of the failed attempt
    /// (or [`ConnectFailure::WaitTimeout`] when `timeout` passes first). The peer stays
    /// managed and is retried either way. When the peer is removed (or the client stops)
    /// meanwhile, it returns at once with [`ConnectFailure::Removed`] (or
    /// [`ConnectFailure::ClientStopped`]).
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
                if self.connected_and_announced() {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(fail(ConnectFailure::WaitTimeout));
                }
                if self.connected_and_announced() {
                    return Ok(());
                }
                let st = lock(&self.shared.state);
                if let Some(f) = st.last_failure.clone() {
                    return Err(fail(f));
                }
            }
        };
        let ended = async {
            self.shared.cancel.cancelled().await;
            Err(fail(match self.stop_reason() {
                DisconnectReason::Stopped => ConnectFailure::ClientStopped,
                _ => ConnectFailure::Removed,
            }))
        };
        let wait = async {
            tokio::select! {
                biased;
                r = wait => r,
                r = ended => r,
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(fail(ConnectFailure::WaitTimeout)),
        }
    }

    /// The handshake finished: the peer is connected, and sends go to `outbox`.
    pub(crate) fn record_connected(
        &self,
        info: PeerInfo,
        outbox: Outbox,
        transport: TransportKind,
        session_id: Option<SessionId>,
    ) -> Vec<Action> {
        let now = tokio::time::Instant::now();
        let mut st = lock(&self.shared.state);
        st.info = Some(info);
        st.transport = Some((transport, session_id));
        st.connected_since = Some(SystemTime::now());
        st.outbox = Some(outbox);
        st.last_failure = None;
        st.announced = false;
        st.lifecycle.step(Input::HandshakeDone, now)
    }

    /// The connected event of the current connection is queued: wakes `wait_connected`. Until
    /// then a stop could cancel the session before any listener heard of the connection, so
    /// `wait_connected` does not report it yet.
    pub(crate) fn announce_connected(&self) {
        lock(&self.shared.state).announced = true;
        self.shared.attempts.send_modify(|n| *n += 1);
    }

    /// Connected, and the listeners told so.
    fn connected_and_announced(&self) -> bool {
        let st = lock(&self.shared.state);
        st.announced && st.lifecycle.status() == PeerStatus::Connected
    }

    /// No more sends from users on this connection.
    pub(crate) fn clear_outbox(&self) {
        lock(&self.shared.state).outbox = None;
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
