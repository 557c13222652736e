//! The life of one peer: dial, handshake, session, reconnect — until it is removed or the
//! client stops.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{
    commands, Frame, FrameReader, FrameWriter, HandshakeProgress, RawBlock, TransportKind,
    V2HandshakeCause, WireError, HEADER_LEN,
};
use futures_util::future::Either;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use crate::addrbook::Source;
use crate::address::{dialable, v1_to_v2, AddrTokenBucket, PeerAddr};
use crate::client::Shared;
use crate::config::{Transport, MIN_PEER_PROTOCOL_VERSION, PROTOCOL_VERSION};
use crate::dispatch::{Event, EventKind};
use crate::error::ConnectFailure;
use crate::lifecycle::{Action, AttemptFailure, Input};
use crate::listeners::DisconnectReason;
use crate::peer::{ManagedPeer, Outbox, PeerInfo, PeerShared};
use crate::socket::SocketWriter;
use crate::socks5::{self, Proxy, Target};

/// A connection whose handshake finished. Generic over the stream so that the handshake and
/// the session can run over any transport (TCP here; an in-memory pipe in the fuzz target).
pub(crate) struct Connection<R, W> {
    reader: FrameReader<R>,
    writer: FrameWriter<W>,
    info: PeerInfo,
}

/// Where a peer's task sends its events.
pub(crate) struct Events {
    tx: mpsc::Sender<Event>,
    /// Cancelled when the run is given up: waiting to deliver the last events then ends.
    abandon: CancellationToken,
    /// Whether anyone listens to status changes / failed attempts: events nobody would see
    /// are not made (at `stop`, 10,000 peers would queue 10,000 status changes).
    status_wanted: bool,
    failures_wanted: bool,
}

impl Events {
    pub(crate) fn new(
        tx: mpsc::Sender<Event>,
        abandon: CancellationToken,
        listeners: &crate::Listeners,
    ) -> Events {
        Events {
            tx,
            abandon,
            status_wanted: listeners.on_status_changed.is_some(),
            failures_wanted: listeners.on_attempt_failed.is_some(),
        }
    }

    /// Queues an event: at once when the queue has room (when this is called, not when the
    /// future is first polled), else the future waits for room (so a slow consumer pauses
    /// this peer). Cancel-safe. `Err` when delivery has ended.
    ///
    /// The wait is boxed: this future is part of every peer task's state, and the waiting
    /// (the channel's send and the select) would make it several hundred bytes larger for
    /// every idle peer.
    fn emit(
        &self,
        peer: &ManagedPeer,
        kind: EventKind,
    ) -> impl std::future::Future<Output = Result<(), DisconnectReason>> + '_ {
        // Tried at once; the future holds only the outcome (and, when the queue is full, the
        // boxed wait).
        let tried = if self.abandon.is_cancelled() {
            Err(None)
        } else {
            let event = Event {
                peer: peer.clone(),
                kind,
            };
            match self.tx.try_send(event) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(None),
                Err(mpsc::error::TrySendError::Full(event)) => Err(Some(Box::new(event))),
            }
        };
        async move {
            match tried {
                Ok(()) => Ok(()),
                Err(None) => Err(DisconnectReason::Stopped),
                Err(Some(event)) => Box::pin(self.emit_waiting(*event)).await,
            }
        }
    }

    /// [`emit`](Self::emit) when the queue is full: waits for room or for the run to be given
    /// up.
    async fn emit_waiting(&self, event: Event) -> Result<(), DisconnectReason> {
        tokio::select! {
            r = self.tx.send(event) => r.map_err(|_| DisconnectReason::Stopped),
            _ = self.abandon.cancelled() => Err(DisconnectReason::Stopped),
        }
    }

    /// Reports what the lifecycle says to report; returns the delay before the next attempt
    /// (None: do not dial again).
    async fn carry_out(
        &self,
        peer: &ManagedPeer,
        actions: Vec<Action>,
    ) -> Result<Option<Duration>, DisconnectReason> {
        let mut next = None;
        for action in actions {
            match action {
                Action::Status(change) => {
                    if self.status_wanted {
                        self.emit(peer, EventKind::StatusChanged(change)).await?;
                    }
                }
                Action::Failed {
                    cause,
                    failures,
                    retry_in,
                } => {
                    debug!(failures, "attempt failed: {cause}");
                    if self.failures_wanted {
                        let failure = AttemptFailure {
                            addr: peer.addr().to_owned(),
                            cause,
                            failures,
                            retry_in,
                        };
                        self.emit(peer, EventKind::AttemptFailed(Box::new(failure)))
                            .await?;
                    }
                }
                Action::RetryIn(delay) => next = Some(delay),
                Action::StableAt(_) | Action::Finish => {}
            }
        }
        Ok(next)
    }
}

/// Runs one peer until it is cancelled. Emits `Connected`/`Disconnected` in pairs; every
/// transition of its lifecycle is an event.
///
/// (A function returning an `async move` block rather than an `async fn`: the arguments of an
/// `async fn` are stored twice in its state, and this state is every peer's for its life.)
#[allow(clippy::manual_async_fn)]
pub(crate) fn run_peer(
    shared: Arc<Shared>,
    peer: ManagedPeer,
    events: Events,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let cancel = peer.shared.cancel.clone();
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let dial = peer.step(Input::Dial);
            let attempt: Result<_, DisconnectReason> = tokio::select! {
                r = async {
                    events.carry_out(&peer, dial).await?;
                    // Boxed: the dial, the v2 key exchange and the handshake need several
                    // KiB of state, which a connected peer's task would otherwise carry all
                    // its life. At most MAX_CONCURRENT_ATTEMPTS at once (the semaphore is
                    // never closed).
                    let _permit = shared.attempt_permits.acquire().await;
                    Ok::<_, DisconnectReason>(Box::pin(connect(&shared, &peer)).await)
                } => r,
                _ = cancel.cancelled() => break,
            };
            let next = match attempt {
                Err(_) => break,
                Ok(attempt) => {
                    shared.book_outcome(&peer, attempt.as_ref().map(|c| c.info.services));
                    match attempt {
                        Err(failure) => {
                            // Reported even when a stop follows at once (a `wait_connected`
                            // woken by this failure may be what stops the client); only
                            // giving up the run ends the wait.
                            let actions = peer.step(Input::AttemptFailed(failure));
                            events.carry_out(&peer, actions).await
                        }
                        Ok(conn) => {
                            let (reason, announced) = session(&shared, &peer, conn, &events).await;
                            info!("disconnected: {reason}");
                            let actions = peer.step(Input::Ended(reason.clone()));
                            // Delivered even while stopping (pairing); only giving up the run
                            // ends the wait. Not sent when the connected event never was
                            // (cancelled before).
                            if announced
                                && events
                                    .emit(&peer, EventKind::Disconnected(reason))
                                    .await
                                    .is_err()
                            {
                                return;
                            }
                            events.carry_out(&peer, actions).await
                        }
                    }
                }
            };
            let delay = match next {
                Ok(Some(delay)) => delay,
                Ok(None) | Err(_) => break,
            };
            tokio::select! {
                _ = sleep(delay) => {}
                _ = cancel.cancelled() => break,
            }
        }
        let actions = peer.finish();
        let _ = events.carry_out(&peer, actions).await;
    }
}

/// The first address of `host` from the configured resolver (IPv4 first, as most nodes
/// are reachable over it), within `within`.
async fn resolve(
    shared: &Shared,
    host: &str,
    port: u16,
    within: Duration,
) -> Result<SocketAddr, String> {
    let mut ips = timeout(within, shared.config.resolver.0.resolve(host))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips.first()
        .map(|ip| SocketAddr::new(*ip, port))
        .ok_or_else(|| "no addresses".to_owned())
}

/// Opens a TCP stream to the peer: directly (resolving a host name with the configured
/// resolver, dialling through the configured [`Dialer`](crate::Dialer)), or through the
/// SOCKS5 proxy that [`Config`](crate::Config) names for it, which then resolves host names
/// itself. Returns the stream and the peer's socket address if known (the address our
/// `version` names as the peer's; `None` for a host name or an onion service reached through
/// a proxy).
async fn open_stream(
    shared: &Shared,
    peer: &ManagedPeer,
) -> Result<(tokio::net::TcpStream, Option<SocketAddr>), ConnectFailure> {
    let config = &shared.config;
    let (proxy, target) = match peer.target() {
        PeerAddr::Onion(host, port, _, _) => match config.proxy_for_onion() {
            Some(proxy) => (proxy, Target::Domain(host.clone(), *port)),
            // `add_peer` refuses them and the address book keeps none then: never resolved.
            None => {
                return Err(ConnectFailure::Resolve(
                    "an onion address is reachable only through a Tor proxy (onion_proxy)".into(),
                ))
            }
        },
        PeerAddr::Host(host, port, _) => match &config.proxy {
            Some(proxy) => (proxy, Target::Domain(host.clone(), *port)),
            None => {
                let addr = resolve(shared, host, *port, config.connection_timeout)
                    .await
                    .map_err(ConnectFailure::Resolve)?;
                return dial(shared, peer, addr).await;
            }
        },
        PeerAddr::Socket(sock, _) => match &config.proxy {
            Some(proxy) => (proxy, Target::Addr(*sock)),
            None => return dial(shared, peer, *sock).await,
        },
    };
    let addr = match target {
        Target::Addr(addr) => {
            peer.set_resolved(addr);
            Some(addr)
        }
        Target::Domain(..) => None,
    };
    let stream = dial_through(shared, proxy, &target).await?;
    Ok((stream, addr))
}

/// Dials `addr` directly.
async fn dial(
    shared: &Shared,
    peer: &ManagedPeer,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpStream, Option<SocketAddr>), ConnectFailure> {
    let config = &shared.config;
    peer.set_resolved(addr);
    debug!(%addr, "dialling");
    let stream = timeout(config.connection_timeout, config.dialer.connect(addr))
        .await
        .map_err(|_| ConnectFailure::DialTimeout)?
        .map_err(|e| ConnectFailure::Dial(e.to_string()))?;
    Ok((stream, Some(addr)))
}

/// Connects to `target` through `proxy`: the TCP connection to the proxy (through the
/// [`Dialer`](crate::Dialer)), then the SOCKS5 exchange, each within the connection timeout.
/// Failing to reach the proxy is the proxy's failure; a SOCKS5 exchange that does not end in
/// time (it includes the proxy's own connection to the peer) is a connect timeout, as Core
/// counts it.
async fn dial_through(
    shared: &Shared,
    proxy: &Proxy,
    target: &Target,
) -> Result<tokio::net::TcpStream, ConnectFailure> {
    let config = &shared.config;
    let name = proxy.to_string();
    let proxy_failed = |reason: String| ConnectFailure::Proxy {
        proxy: name.clone(),
        reason,
    };
    let proxy_addr = match proxy.socket_addr() {
        Some(addr) => addr,
        None => resolve(shared, &proxy.host, proxy.port, config.connection_timeout)
            .await
            .map_err(|e| proxy_failed(format!("cannot resolve the proxy's host name: {e}")))?,
    };
    debug!(%target, proxy = %name, "dialling through the proxy");
    let mut stream = timeout(config.connection_timeout, config.dialer.connect(proxy_addr))
        .await
        .map_err(|_| proxy_failed("connecting to the proxy timed out".into()))?
        .map_err(|e| proxy_failed(format!("cannot connect to the proxy: {e}")))?;
    timeout(
        config.connection_timeout,
        socks5::handshake(&mut stream, &name, target, &proxy.credentials),
    )
    .await
    .map_err(|_| ConnectFailure::DialTimeout)??;
    Ok(stream)
}

/// Connects with the transport [`Config::transport`](crate::Config::transport) chooses,
/// falling back from v2 to v1 by Bitcoin Core's rule.
async fn connect(
    shared: &Shared,
    peer: &ManagedPeer,
) -> Result<Box<Connection<OwnedReadHalf, SocketWriter>>, ConnectFailure> {
    let policy = shared.config.transport;
    let v2 = match policy {
        Transport::V1Only => false,
        Transport::V2Only => true,
        Transport::V2Preferred => shared.wants_v2(peer),
    };
    if !v2 {
        return connect_with(shared, peer, TransportKind::V1)
            .await
            .map_err(Fallback::into_failure);
    }
    match connect_with(shared, peer, TransportKind::V2).await {
        Err(Fallback::V1(failure)) => {
            if policy == Transport::V2Only {
                return Err(failure);
            }
            // Nothing came back for our key: a v1-only node. Not a failure: dial again at
            // once over v1, and speak v1 to this address from now on.
            info!("no answer to the v2 key exchange ({failure}); reconnecting over v1");
            shared.remember_v1_only(peer);
            connect_with(shared, peer, TransportKind::V1)
                .await
                .map_err(Fallback::into_failure)
        }
        other => other.map_err(Fallback::into_failure),
    }
}

/// How a connection attempt over one transport failed.
enum Fallback {
    /// A v2 attempt that Bitcoin Core's rule retries over v1 (with the cause it failed with).
    V1(ConnectFailure),
    /// Any other failure.
    Failed(ConnectFailure),
}

impl Fallback {
    fn into_failure(self) -> ConnectFailure {
        match self {
            Fallback::V1(f) | Fallback::Failed(f) => f,
        }
    }
}

impl From<ConnectFailure> for Fallback {
    fn from(f: ConnectFailure) -> Fallback {
        Fallback::Failed(f)
    }
}

/// One connection attempt over `transport`: open the stream, set up the transport (the v2
/// key exchange), run the version handshake. The handshake timeout covers the v2 key
/// exchange and the version handshake together.
async fn connect_with(
    shared: &Shared,
    peer: &ManagedPeer,
    transport: TransportKind,
) -> Result<Box<Connection<OwnedReadHalf, SocketWriter>>, Fallback> {
    let config = &shared.config;
    let (stream, addr) = open_stream(shared, peer).await?;
    debug!(?addr, %transport, "TCP connected; handshake");
    let _ = stream.set_nodelay(true);
    let (r, w) = crate::socket::split(stream).map_err(|e| ConnectFailure::Io(e.to_string()))?;
    let attempt = async {
        let (reader, writer) = match transport {
            // The failure carries what was exchanged; the progress itself is not needed after.
            TransportKind::V2 => {
                let mut progress = HandshakeProgress::default();
                btcclient_wire::open_v2(r, w, &shared.wire, &mut progress)
                    .await
                    .map_err(v2_failure)?
            }
            _ => btcclient_wire::open(r, w, &shared.wire)
                .await
                .map_err(|e| ConnectFailure::Io(e.to_string()))?,
        };
        handshake(shared, peer, addr, reader, writer)
            .await
            .map_err(Fallback::Failed)
    };
    match timeout(config.handshake_timeout, attempt).await {
        Ok(r) => r,
        // A peer that stays silent is not a v1 node (those close on our key): a timeout is
        // a handshake failure whatever was exchanged.
        Err(_) => Err(Fallback::Failed(ConnectFailure::HandshakeTimeout)),
    }
}

/// What a failed v2 key exchange means for the attempt.
fn v2_failure(e: WireError) -> Fallback {
    if e.should_reconnect_v1() {
        return Fallback::V1(ConnectFailure::V2NotSupported);
    }
    Fallback::Failed(match e {
        WireError::V2WrongNetwork { .. } => ConnectFailure::WrongNetwork(e.to_string()),
        WireError::V2Handshake {
            cause: V2HandshakeCause::V1Reply,
            ..
        } => ConnectFailure::V2NotSupported,
        WireError::V2Handshake {
            cause: V2HandshakeCause::Closed,
            ..
        } => ConnectFailure::ClosedDuringHandshake,
        WireError::V2Handshake {
            cause: V2HandshakeCause::Io(io),
            ..
        } => ConnectFailure::Io(io.to_string()),
        WireError::V2Handshake { cause, .. } => ConnectFailure::V2Handshake(cause.to_string()),
        other => ConnectFailure::V2Handshake(other.to_string()),
    })
}

/// Asks a node for addresses over a short connection, as Bitcoin Core's addr-fetch
/// connections do (with a proxy, this is how a DNS seed is asked: a connection to its host
/// name through the proxy). Connects as to any peer, finishes the handshake, sends
/// `getaddr`, then waits up to `wait` for an `addr`/`addrv2` of more than one address (a
/// single one is a node announcing itself) and disconnects. Returns the addresses heard that
/// may go to the address book.
pub(crate) async fn fetch_addresses(
    shared: &Shared,
    peer: &ManagedPeer,
    wait: Duration,
) -> Result<Vec<AddrV2Message>, String> {
    let Connection {
        mut reader,
        mut writer,
        ..
    } = *connect(shared, peer).await.map_err(|e| e.to_string())?;
    debug!("connected; asking for addresses");
    let frame = |m: NetworkMessage| Frame::from_message(&m).map_err(|e| e.to_string());
    writer
        .write_frame(&frame(NetworkMessage::GetAddr)?)
        .await
        .map_err(|e| e.to_string())?;
    let mut heard = Vec::new();
    let mut received = 0;
    let answer = timeout(wait, async {
        loop {
            let f = match reader.read_frame().await {
                Ok(Some(f)) => f,
                Ok(None) | Err(WireError::Truncated { .. }) => {
                    return Err("closed the connection without answering getaddr".to_owned())
                }
                Err(e) => return Err(e.to_string()),
            };
            if f.command == commands::PING {
                if let Ok(NetworkMessage::Ping(nonce)) = f.decode() {
                    let pong = frame(NetworkMessage::Pong(nonce))?;
                    writer.write_frame(&pong).await.map_err(|e| e.to_string())?;
                }
            } else if f.command == commands::ADDR || f.command == commands::ADDRV2 {
                let entries: Vec<AddrV2Message> = match f.decode().map_err(|e| e.to_string())? {
                    NetworkMessage::Addr(list) => {
                        list.iter().map(|(t, a)| v1_to_v2(*t, a)).collect()
                    }
                    NetworkMessage::AddrV2(list) => list,
                    _ => Vec::new(),
                };
                let answered = entries.len() > 1;
                received += entries.len();
                heard.extend(entries.into_iter().filter(worth_keeping));
                // One answer, or at most one message's worth of single announcements.
                if answered || received >= btcclient_wire::MAX_ADDR_ENTRIES {
                    return Ok(());
                }
            }
        }
    })
    .await;
    let _ = timeout(Duration::from_secs(1), writer.close()).await;
    match answer {
        Ok(Ok(())) => Ok(heard),
        _ if !heard.is_empty() => Ok(heard),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no addresses within {wait:?}")),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn wire_failure(e: WireError) -> ConnectFailure {
    match e {
        WireError::Io(io) => ConnectFailure::Io(io.to_string()),
        WireError::WrongMagic { .. } => ConnectFailure::WrongNetwork(e.to_string()),
        WireError::Truncated { .. } => ConnectFailure::ClosedDuringHandshake,
        other => ConnectFailure::Protocol(other.to_string()),
    }
}

/// Removes our version nonce from the client's set however the handshake ends.
struct NonceGuard<'a> {
    shared: &'a Shared,
    nonce: u64,
}

impl Drop for NonceGuard<'_> {
    fn drop(&mut self) {
        crate::peer::lock(&self.shared.nonces).remove(&self.nonce);
    }
}

pub(crate) async fn handshake<R, W>(
    shared: &Shared,
    peer: &ManagedPeer,
    addr: Option<SocketAddr>,
    mut reader: FrameReader<R>,
    mut writer: FrameWriter<W>,
) -> Result<Box<Connection<R, W>>, ConnectFailure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let config = &shared.config;
    let nonce: u64 = rand::thread_rng().gen();
    crate::peer::lock(&shared.nonces).insert(nonce);
    let _guard = NonceGuard { shared, nonce };
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let mut version = VersionMessage::new(
        config.services,
        unix_now(),
        Address::new(&addr.unwrap_or(unspecified), ServiceFlags::NONE),
        Address::new(&unspecified, config.services),
        nonce,
        config.user_agent.clone(),
        0,
    );
    version.version = PROTOCOL_VERSION;
    version.relay = config.relay;
    let send = |frame: Frame| {
        trace!(command = %frame.command, bytes = frame.payload.len(), "handshake: sending");
        peer.shared.messages_out.fetch_add(1, Ordering::Relaxed);
        peer.shared
            .bytes_out
            .fetch_add((HEADER_LEN + frame.payload.len()) as u64, Ordering::Relaxed);
        frame
    };
    let version_frame =
        Frame::from_message(&NetworkMessage::Version(version)).map_err(wire_failure)?;
    writer
        .write_frame(&send(version_frame))
        .await
        .map_err(wire_failure)?;

    let mut theirs: Option<PeerInfo> = None;
    loop {
        let frame = reader
            .read_frame()
            .await
            .map_err(wire_failure)?
            .ok_or(ConnectFailure::ClosedDuringHandshake)?;
        trace!(command = %frame.command, bytes = frame.payload.len(), "handshake: received");
        peer.shared.messages_in.fetch_add(1, Ordering::Relaxed);
        peer.shared
            .bytes_in
            .fetch_add((HEADER_LEN + frame.payload.len()) as u64, Ordering::Relaxed);
        if frame.command == commands::VERSION {
            if theirs.is_some() {
                return Err(ConnectFailure::Protocol("duplicate version message".into()));
            }
            let v = match frame.decode().map_err(wire_failure)? {
                NetworkMessage::Version(v) => v,
                _ => {
                    return Err(ConnectFailure::Protocol(
                        "version did not decode as version".into(),
                    ))
                }
            };
            if crate::peer::lock(&shared.nonces).contains(&v.nonce) {
                return Err(ConnectFailure::SelfConnection);
            }
            if v.version < MIN_PEER_PROTOCOL_VERSION {
                return Err(ConnectFailure::ObsoleteVersion(v.version));
            }
            debug!(
                version = v.version,
                user_agent = %v.user_agent,
                "handshake: their version received; sending sendaddrv2, verack"
            );
            theirs = Some(PeerInfo {
                protocol_version: v.version.min(PROTOCOL_VERSION),
                services: v.services,
                user_agent: v.user_agent,
                start_height: v.start_height,
                relay: v.relay,
            });
            // BIP155: sendaddrv2 goes between version and verack.
            for m in [NetworkMessage::SendAddrV2, NetworkMessage::Verack] {
                let f = Frame::from_message(&m).map_err(wire_failure)?;
                writer.feed(&send(f)).await.map_err(wire_failure)?;
            }
            writer.flush().await.map_err(wire_failure)?;
        } else if frame.command == commands::VERACK {
            match theirs {
                Some(info) => {
                    debug!("handshake: verack received; handshake complete");
                    // Boxed: the session takes it by value, and a connection held inline would
                    // stay in the peer task's state for the connection's whole life.
                    return Ok(Box::new(Connection {
                        reader,
                        writer,
                        info,
                    }));
                }
                None => return Err(ConnectFailure::Protocol("verack before version".into())),
            }
        }
        // Anything else before the handshake completes is ignored, as Bitcoin Core does.
    }
}

/// Why the writer stopped.
enum WriterEnd {
    Timeout,
    Io(String),
}

impl WriterEnd {
    fn reason(self) -> DisconnectReason {
        match self {
            WriterEnd::Timeout => DisconnectReason::WriteTimeout,
            WriterEnd::Io(e) => DisconnectReason::Io(e),
        }
    }
}

/// Writes what the session queues until the queue is closed and empty. It runs inside the
/// peer's task, beside the reading: an idle connection waits here in a few dozen bytes; the
/// writing itself (timeouts, the writer's futures) is boxed for the time it takes.
/// (Not an `async fn`, whose arguments would be stored twice in every peer task's state.)
#[allow(clippy::manual_async_fn)]
fn write_loop<'a, W: AsyncWrite + Unpin + 'a>(
    peer: &'a PeerShared,
    mut writer: FrameWriter<W>,
    queue: &'a Outbox,
    write_timeout: Duration,
) -> impl std::future::Future<Output = WriterEnd> + 'a {
    async move {
        while let Some(frame) = queue.next().await {
            if let Err(end) =
                Box::pin(write_batch(peer, &mut writer, queue, frame, write_timeout)).await
            {
                return end;
            }
        }
        // The session closed the queue and everything in it was written: finish quietly.
        let _ = Box::pin(timeout(Duration::from_secs(1), writer.close())).await;
        WriterEnd::Io("closed".into())
    }
}

/// Writes `first` and whatever else is queued, then flushes once.
async fn write_batch<W: AsyncWrite + Unpin>(
    s: &PeerShared,
    writer: &mut FrameWriter<W>,
    queue: &Outbox,
    first: Frame,
    write_timeout: Duration,
) -> Result<(), WriterEnd> {
    let mut batch = Some(first);
    while let Some(f) = batch.take() {
        trace!(command = %f.command, bytes = f.payload.len(), "sending");
        match timeout(write_timeout, writer.feed(&f)).await {
            Err(_) => return Err(WriterEnd::Timeout),
            Ok(Err(e)) => return Err(WriterEnd::Io(e.to_string())),
            Ok(Ok(())) => {}
        }
        s.messages_out.fetch_add(1, Ordering::Relaxed);
        s.bytes_out
            .fetch_add((HEADER_LEN + f.payload.len()) as u64, Ordering::Relaxed);
        batch = queue.try_next();
    }
    match timeout(write_timeout, writer.flush()).await {
        Err(_) => Err(WriterEnd::Timeout),
        Ok(Err(e)) => Err(WriterEnd::Io(e.to_string())),
        Ok(Ok(())) => Ok(()),
    }
}

/// Queues a frame the client itself sends (pong, ping, getaddr): at once when the queue has
/// room, else the future waits for room. Waiting pauses reading, which is what a peer that
/// does not read deserves; the wait is cancelled with the session.
fn push_own(
    outbox: &Outbox,
    frame: Frame,
) -> impl std::future::Future<Output = Result<(), DisconnectReason>> + '_ {
    let push = outbox.push(frame);
    async move {
        push.await
            .map_err(|_| DisconnectReason::Io("writer gone".into()))
    }
}

/// A message of the client's own, serialized.
fn own_frame(message: NetworkMessage) -> Result<Frame, DisconnectReason> {
    Frame::from_message(&message).map_err(|e| DisconnectReason::Io(e.to_string()))
}

/// What woke the session.
enum Woken {
    Read(Result<Option<Frame>, WireError>),
    PingTimer,
    StableTimer,
}

/// The frame read, or why the connection ends.
fn read_outcome(read: Result<Option<Frame>, WireError>) -> Result<Frame, DisconnectReason> {
    match read {
        Ok(Some(frame)) => Ok(frame),
        Ok(None) | Err(WireError::Truncated { .. }) => Err(DisconnectReason::RemoteClosed),
        Err(WireError::Io(e)) => Err(DisconnectReason::Io(e.to_string())),
        Err(e) => Err(DisconnectReason::ProtocolViolation(e.to_string())),
    }
}

struct Ping {
    nonce: u64,
    sent: Instant,
}

/// Runs a connection until it ends; returns why, and whether its connected event was handed
/// over (then, and only then, a disconnected event must follow).
pub(crate) async fn session<R, W>(
    shared: &Arc<Shared>,
    peer: &ManagedPeer,
    conn: Box<Connection<R, W>>,
    events: &Events,
) -> (DisconnectReason, bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let config = &shared.config;
    let cancel = peer.shared.cancel.clone();
    let outbox = Outbox::new(config.send_queue_len, config.send_queue_bytes);
    // However the session ends (even dropped unfinished), the writer is told to finish.
    let _closed_at_end = CloseOnDrop(&outbox);
    let (mut reader, writer, actions, stable_at) = connected(peer, conn, &outbox);
    let write = write_loop(&peer.shared, writer, &outbox, config.write_timeout);
    tokio::pin!(write);
    let mut writer_ended = false;

    let announced = std::sync::atomic::AtomicBool::new(false);
    let body = async {
        events.emit(peer, EventKind::Connected).await?;
        announced.store(true, Ordering::Relaxed);
        peer.announce_connected();
        // Boxed: it runs once per connection, and its state is larger than the reading's.
        Box::pin(events.carry_out(peer, actions)).await?;
        let mut bucket = AddrTokenBucket::new();
        if config.discovery {
            push_own(&outbox, own_frame(NetworkMessage::GetAddr)?).await?;
            bucket.on_getaddr_sent();
        }
        let mut next_ping = Instant::now() + config.ping_interval;
        let mut outstanding: Option<Ping> = None;
        let mut stable_at = stable_at;
        loop {
            let deadline = match &outstanding {
                Some(p) => p.sent + config.pong_timeout,
                None => next_ping,
            };
            // (No await in the branches: what they would wait for is done below, one await
            // point for all, which keeps every peer task's state small.)
            let reply = {
                let woken = tokio::select! {
                    biased;
                    _ = sleep_until(stable_at.unwrap_or(deadline)), if stable_at.is_some() => {
                        Woken::StableTimer
                    }
                    _ = sleep_until(deadline) => Woken::PingTimer,
                    read = reader.read_frame() => Woken::Read(read),
                };
                match woken {
                    Woken::StableTimer => {
                        stable_at = None;
                        peer.step(Input::StableTimer);
                        continue;
                    }
                    Woken::PingTimer => {
                        if outstanding.is_some() {
                            return Err(DisconnectReason::PingTimeout);
                        }
                        let nonce: u64 = rand::thread_rng().gen();
                        outstanding = Some(Ping {
                            nonce,
                            sent: Instant::now(),
                        });
                        next_ping = Instant::now() + config.ping_interval;
                        Reply::Send(own_frame(NetworkMessage::Ping(nonce))?)
                    }
                    Woken::Read(read) => {
                        let frame = read_outcome(read)?;
                        trace!(command = %frame.command, bytes = frame.payload.len(), "received");
                        peer.shared.messages_in.fetch_add(1, Ordering::Relaxed);
                        peer.shared.bytes_in.fetch_add(
                            (HEADER_LEN + frame.payload.len()) as u64,
                            Ordering::Relaxed,
                        );
                        if outstanding.is_none() && Instant::now() >= next_ping {
                            // Keep the ping schedule even when messages keep the select busy.
                            next_ping = Instant::now();
                        }
                        match handle_frame(shared, peer, frame, &mut outstanding, &mut bucket)? {
                            Some(reply) => reply,
                            None => continue,
                        }
                    }
                }
            };
            let answer = match reply {
                Reply::Deliver(kind) => Either::Left(events.emit(peer, kind)),
                Reply::Send(frame) => Either::Right(push_own(&outbox, frame)),
            };
            answer.await?;
        }
    };
    // Every await of the session (reading, queuing our pong, handing an event over) ends when
    // the peer is removed or the client stops.
    let reason = tokio::select! {
        biased;
        _ = cancel.cancelled() => peer.stop_reason(),
        end = &mut write => {
            writer_ended = true;
            end.reason()
        }
        r = body => r.unwrap_err_or_stopped(),
    };

    // No more sends: the writer writes what is queued and ends; it has a moment to flush,
    // and is dropped with the session if it needs longer.
    peer.clear_outbox();
    outbox.close();
    if !writer_ended {
        let _ = timeout(Duration::from_millis(200), &mut write).await;
    }
    (reason, announced.load(Ordering::Relaxed))
}

/// Records the connection as connected (sends go to `outbox`) and takes it apart: its reader,
/// its writer, what the lifecycle says to do and when the connection will be stable. (Not in
/// the session's own body, where what it holds would stay in the peer's state.)
/// The connection arrives boxed from the handshake; its box is freed when this returns.
#[allow(clippy::type_complexity, clippy::boxed_local)]
fn connected<R: AsyncRead + Unpin, W>(
    peer: &ManagedPeer,
    conn: Box<Connection<R, W>>,
    outbox: &Outbox,
) -> (FrameReader<R>, FrameWriter<W>, Vec<Action>, Option<Instant>) {
    let Connection {
        reader,
        writer,
        info,
    } = *conn;
    info!(
        version = info.protocol_version,
        user_agent = %info.user_agent,
        height = info.start_height,
        "connected"
    );
    let actions = peer.record_connected(
        info,
        outbox.clone(),
        reader.transport(),
        reader.session_id(),
    );
    let stable_at = actions.iter().find_map(|a| match a {
        Action::StableAt(t) => Some(*t),
        _ => None,
    });
    (reader, writer, actions, stable_at)
}

/// Closes a send queue when dropped.
struct CloseOnDrop<'a>(&'a Outbox);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

trait ErrOrStopped {
    fn unwrap_err_or_stopped(self) -> DisconnectReason;
}

impl ErrOrStopped for Result<std::convert::Infallible, DisconnectReason> {
    fn unwrap_err_or_stopped(self) -> DisconnectReason {
        match self {
            Err(reason) => reason,
            Ok(never) => match never {},
        }
    }
}

/// Whether an address heard of may go to the address book (whose admission rules decide the
/// rest): one we can dial directly, or a Tor v3 onion service with a port.
fn worth_keeping(entry: &AddrV2Message) -> bool {
    dialable(entry).is_some() || (matches!(entry.addr, AddrV2::TorV3(_)) && entry.port != 0)
}

/// The source of addresses a peer tells us of: its address when known (an IP address or
/// an onion service); a host name reached through a proxy is "local".
fn peer_source(peer: &ManagedPeer) -> Source {
    peer.book_addr()
        .map_or(Source::Local, |addr| Source::Peer(addr.net))
}

fn violation(e: WireError) -> DisconnectReason {
    DisconnectReason::ProtocolViolation(e.to_string())
}

/// What a received message asks of the session after [`handle_frame`].
enum Reply {
    /// Hand an event to the listeners.
    Deliver(EventKind),
    /// Queue a message to the peer.
    Send(Frame),
}

/// Handles a received message; what must wait (handing an event over, queuing an answer) is
/// returned for the session to do. (Not itself async: its state would be part of every peer
/// task's.)
fn handle_frame(
    shared: &Arc<Shared>,
    peer: &ManagedPeer,
    frame: Frame,
    outstanding: &mut Option<Ping>,
    bucket: &mut AddrTokenBucket,
) -> Result<Option<Reply>, DisconnectReason> {
    let l = &shared.config.listeners;
    let cmd = frame.command;
    if cmd == commands::PING {
        if let NetworkMessage::Ping(nonce) = frame.decode().map_err(violation)? {
            return Ok(Some(Reply::Send(own_frame(NetworkMessage::Pong(nonce))?)));
        }
    } else if cmd == commands::PONG {
        if let NetworkMessage::Pong(nonce) = frame.decode().map_err(violation)? {
            if outstanding.as_ref().is_some_and(|p| p.nonce == nonce) {
                if let Some(p) = outstanding.take() {
                    peer.record_ping_rtt(p.sent.elapsed());
                }
            }
        }
    } else if cmd == commands::VERSION {
        return Err(DisconnectReason::ProtocolViolation(
            "second version message".into(),
        ));
    } else if cmd == commands::VERACK || cmd == commands::SENDADDRV2 || cmd == commands::WTXIDRELAY
    {
        // Redundant handshake messages: ignored, as Bitcoin Core does.
    } else if cmd == commands::ADDR || cmd == commands::ADDRV2 {
        let entries = match frame.decode().map_err(violation)? {
            NetworkMessage::Addr(list) => list.iter().map(|(t, a)| v1_to_v2(*t, a)).collect(),
            NetworkMessage::AddrV2(list) => list,
            _ => Vec::new(),
        };
        if shared.config.discovery {
            let allowed = bucket.take(entries.len());
            if allowed < entries.len() {
                debug!(dropped = entries.len() - allowed, "address rate limit");
            }
            let heard: Vec<AddrV2Message> = entries[..allowed]
                .iter()
                .filter(|e| worth_keeping(e))
                .cloned()
                .collect();
            if !heard.is_empty() {
                shared.hear(peer.shared.run, peer_source(peer), &heard);
            }
        }
        if l.on_addr.is_some() {
            return Ok(Some(Reply::Deliver(EventKind::Addr(entries))));
        }
    } else if cmd == commands::HEADERS && l.on_headers.is_some() {
        if let NetworkMessage::Headers(h) = frame.decode().map_err(violation)? {
            return Ok(Some(Reply::Deliver(EventKind::Headers(h))));
        }
    } else if cmd == commands::INV && l.on_inv.is_some() {
        if let NetworkMessage::Inv(i) = frame.decode().map_err(violation)? {
            return Ok(Some(Reply::Deliver(EventKind::Inv(i))));
        }
    } else if cmd == commands::BLOCK && l.wants_blocks() {
        // Only the structure is checked here (no allocation); the listener's thread decodes.
        let raw = RawBlock::new(frame.payload).map_err(violation)?;
        return Ok(Some(Reply::Deliver(EventKind::Block(Box::new(raw)))));
    } else if cmd == commands::TX && l.on_tx.is_some() {
        if let NetworkMessage::Tx(t) = frame.decode().map_err(violation)? {
            return Ok(Some(Reply::Deliver(EventKind::Tx(Box::new(t)))));
        }
    } else if cmd == commands::HEADERS
        || cmd == commands::INV
        || cmd == commands::BLOCK
        || cmd == commands::TX
    {
        // One of the seven with no listener: not decoded, not delivered.
    } else {
        if cmd == commands::REJECT {
            match frame.decode() {
                Ok(NetworkMessage::Reject(r)) => {
                    warn!(message = %r.message, code = ?r.ccode, reason = %r.reason, "peer rejected a message")
                }
                _ => warn!("peer sent a malformed reject"),
            }
        }
        if l.on_message.is_some() {
            return Ok(Some(Reply::Deliver(EventKind::Message(frame))));
        }
    }
    Ok(None)
}
