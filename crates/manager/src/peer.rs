//! One managed peer: its status, its counters and its send queue.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Frame, SessionId, TransportKind, WireError, HEADER_LEN};
use tokio::sync::Notify;
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

/// One connection's send queue: the frames waiting for its writer and their bytes. Each
/// connection has its own, so nothing left queued when a connection ends counts against the
/// next one.
///
/// A queue of its own rather than a tokio channel: an idle connection's queue is one small
/// allocation (a channel allocates its shared state and a first block of 32 slots, about
/// 800 bytes, when it is made), and frames are not boxed.
#[derive(Clone, Debug)]
pub(crate) struct Outbox(Arc<SendQueue>);

#[derive(Debug)]
pub(crate) struct SendQueue {
    state: Mutex<QueueState>,
    /// Wakes the writer (its only waiter) when a frame arrives or the queue closes.
    readable: Notify,
    /// Wakes the session's own sends waiting for room.
    room: Notify,
    len: usize,
    limit: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    bytes: usize,
    closed: bool,
}

/// Why an [`Outbox`] refused a frame.
pub(crate) enum PushError {
    Full,
    Closed,
}

impl Outbox {
    /// A queue of `len` frames and `limit` bytes.
    pub(crate) fn new(len: usize, limit: usize) -> Outbox {
        Outbox(Arc::new(SendQueue {
            state: Mutex::new(QueueState::default()),
            readable: Notify::new(),
            room: Notify::new(),
            len,
            limit,
        }))
    }

    fn size(frame: &Frame) -> usize {
        HEADER_LEN + frame.payload.len()
    }

    fn append(&self, st: &mut QueueState, frame: Frame) {
        st.bytes += Self::size(&frame);
        st.frames.push_back(frame);
        self.0.readable.notify_one();
    }

    /// Queues `frame` if the queue has room by count and, with `by_bytes`, by bytes (the byte
    /// limit is for callers' messages); gives the frame back with the reason if not.
    fn admit(&self, frame: Frame, by_bytes: bool) -> std::result::Result<(), (Frame, PushError)> {
        let mut st = lock(&self.0.state);
        if st.closed {
            return Err((frame, PushError::Closed));
        }
        if st.frames.len() >= self.0.len
            || (by_bytes && st.bytes + Self::size(&frame) > self.0.limit)
        {
            return Err((frame, PushError::Full));
        }
        self.append(&mut st, frame);
        Ok(())
    }

    /// Queues a frame without waiting; refused when the queue is full by count or by bytes.
    pub(crate) fn try_push(&self, frame: Frame) -> std::result::Result<(), PushError> {
        self.admit(frame, true).map_err(|(_, e)| e)
    }

    /// Queues a frame of the client's own (pong, ping, getaddr), waiting for room by count;
    /// the byte limit is for callers' messages. Cancel-safe. Tried at once: the future holds
    /// the outcome, and the (boxed) wait only when the queue is full.
    pub(crate) fn push(
        &self,
        frame: Frame,
    ) -> impl std::future::Future<Output = std::result::Result<(), PushError>> + '_ {
        let tried = self.admit(frame, false);
        async move {
            match tried {
                Ok(()) => Ok(()),
                Err((frame, PushError::Full)) => Box::pin(self.push_waiting(frame)).await,
                Err((_, e)) => Err(e),
            }
        }
    }

    async fn push_waiting(&self, mut frame: Frame) -> std::result::Result<(), PushError> {
        loop {
            let room = self.0.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.admit(frame, false) {
                Ok(()) => return Ok(()),
                Err((back, PushError::Full)) => frame = back,
                Err((_, e)) => return Err(e),
            }
            room.await;
        }
    }

    /// No more frames: what is queued is still written, then [`next`](Self::next) ends.
    pub(crate) fn close(&self) {
        lock(&self.0.state).closed = true;
        self.0.readable.notify_one();
        self.0.room.notify_waiters();
    }

    /// The writer's side: the next frame, waiting for one; `None` once the queue is closed
    /// and empty. Only one task may wait here.
    pub(crate) async fn next(&self) -> Option<Frame> {
        loop {
            let readable = self.0.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            if let Some(frame) = self.try_next() {
                return Some(frame);
            }
            if lock(&self.0.state).closed {
                return None;
            }
            readable.await;
        }
    }

    /// The next frame if one is queued.
    pub(crate) fn try_next(&self) -> Option<Frame> {
        let mut st = lock(&self.0.state);
        let frame = st.frames.pop_front()?;
        st.bytes -= Self::size(&frame);
        if st.frames.is_empty() && st.frames.capacity() > 4 {
            // A burst of sends does not keep its slots for the connection's life.
            st.frames = VecDeque::new();
        }
        drop(st);
        self.0.room.notify_one();
        Some(frame)
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
    /// Bumped after every connection attempt, successful or not (and when a connection is
    /// announced); `attempt_ended` wakes `wait_connected` then. (A `watch` channel would
    /// cost an allocation of 350 bytes per peer.)
    attempts: AtomicU64,
    attempt_ended: Notify,
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
                attempts: AtomicU64::new(0),
                attempt_ended: Notify::new(),
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
            self.attempt_over();
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
        let s = &self.shared;
        let mut seen = s.attempts.load(Ordering::Acquire);
        let fail = |cause| {
            Error::PeerConnection(PeerConnectionError {
                addr: self.addr().to_owned(),
                cause,
            })
        };
        let wait = async {
            loop {
                // Registered before the state is read, so that no wake-up is missed.
                let ended = s.attempt_ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if self.connected_and_announced() {
                    return Ok(());
                }
                let now = s.attempts.load(Ordering::Acquire);
                if now != seen {
                    // An attempt ended since the call (or since the last look): its failure.
                    seen = now;
                    if let Some(f) = lock(&s.state).last_failure.clone() {
                        return Err(fail(f));
                    }
                }
                ended.await;
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
        self.attempt_over();
    }

    /// Wakes every `wait_connected`.
    fn attempt_over(&self) {
        self.shared.attempts.fetch_add(1, Ordering::AcqRel);
        self.shared.attempt_ended.notify_waiters();
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

#[cfg(test)]
mod outbox_tests {
    use super::*;
    use std::time::Duration;

    fn frame(len: usize) -> Frame {
        Frame::raw("test", vec![0u8; len]).expect("frame")
    }

    #[test]
    fn callers_are_refused_by_count_and_by_bytes_and_get_room_back() {
        let q = Outbox::new(3, 2 * HEADER_LEN + 100);
        assert!(q.try_push(frame(50)).is_ok());
        assert!(q.try_push(frame(50)).is_ok());
        // 2 × (24 + 50) + 24 + 1 > 2 × 24 + 100: full by bytes.
        assert!(matches!(q.try_push(frame(1)), Err(PushError::Full)));
        assert_eq!(q.try_next().map(|f| f.payload.len()), Some(50));
        assert!(
            q.try_push(frame(1)).is_ok(),
            "the bytes taken are free again"
        );
        let q = Outbox::new(1, usize::MAX);
        assert!(q.try_push(frame(0)).is_ok());
        assert!(matches!(q.try_push(frame(0)), Err(PushError::Full)));
        q.close();
        assert!(matches!(q.try_push(frame(0)), Err(PushError::Closed)));
    }

    #[tokio::test]
    async fn own_frames_wait_for_room_by_count_only() {
        let q = Outbox::new(1, 0);
        // The byte limit (0 here) is for callers' messages.
        assert!(q.push(frame(10)).await.is_ok());
        let pushed = tokio::spawn({
            let q = q.clone();
            async move { q.push(frame(20)).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!pushed.is_finished(), "waits while the queue is full");
        assert_eq!(q.try_next().map(|f| f.payload.len()), Some(10));
        assert!(pushed.await.expect("joined"), "taking a frame made room");
        assert_eq!(q.next().await.map(|f| f.payload.len()), Some(20));
    }

    #[tokio::test]
    async fn a_closed_queue_is_written_to_its_end_and_wakes_everyone() {
        let q = Outbox::new(1, usize::MAX);
        assert!(q.push(frame(1)).await.is_ok());
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.push(frame(2)).await.is_err() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.close();
        assert!(
            waiting.await.expect("joined"),
            "a waiting push ends with Closed"
        );
        assert_eq!(q.next().await.map(|f| f.payload.len()), Some(1));
        assert!(q.next().await.is_none(), "then the writer's end");
        let reader = tokio::spawn({
            let q = Outbox::new(1, usize::MAX);
            let closer = q.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                closer.close();
            });
            async move { q.next().await.is_none() }
        });
        assert!(
            reader.await.expect("joined"),
            "a waiting writer is woken by close"
        );
    }
}
