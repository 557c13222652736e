//! One run: the client's callbacks feed a channel; one loop turns them into events, drives the
//! header sync and ends the run. Everything shown about peers comes from the client's events
//! (connected, disconnected, attempt failed, status changed), not from comparing snapshots.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::pow::Target;
use bitcoin::BlockHash;
use btcclient_manager::{
    AttemptFailure, BtcClient, DisconnectReason, Error, FailureCause, Listeners, ManagedPeer,
    PeerStatus, StatusChange,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::chain::{HeaderChain, Rejected, MAX_HEADERS};
use crate::output::{Event, Output, PeerLine, Summary};

/// What the client's callbacks hand to the loop.
pub enum Input {
    /// A peer finished its handshake.
    Connected(ManagedPeer),
    /// A connected peer went away.
    Disconnected(ManagedPeer, DisconnectReason),
    /// A `headers` message.
    Headers(ManagedPeer, Vec<Header>),
    /// An `addr`/`addrv2` message with this many entries.
    Addr(ManagedPeer, usize),
    /// Block hashes announced in an `inv`.
    Inv(ManagedPeer, Vec<BlockHash>),
    /// A connection attempt failed.
    Failed(ManagedPeer, AttemptFailure),
    /// A peer's status changed.
    Status(ManagedPeer, StatusChange),
}

/// Listeners that forward everything the run shows to `tx`. They only queue: no callback
/// waits for the loop.
pub fn listeners(tx: mpsc::UnboundedSender<Input>) -> Listeners {
    let (t1, t2, t3, t4, t5, t6) = (
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
        tx.clone(),
    );
    let t7 = tx;
    Listeners::new()
        .on_peer_connected(move |p| {
            let _ = t1.send(Input::Connected(p.clone()));
        })
        .on_peer_disconnected(move |p, why| {
            let _ = t2.send(Input::Disconnected(p.clone(), why.clone()));
        })
        .on_headers(move |p, headers| {
            let _ = t3.send(Input::Headers(p.clone(), headers.to_vec()));
        })
        .on_addr(move |p, addrs| {
            let _ = t4.send(Input::Addr(p.clone(), addrs.len()));
        })
        .on_inv(move |p, inv| {
            let blocks: Vec<BlockHash> = inv
                .iter()
                .filter_map(|i| match i {
                    Inventory::Block(h) | Inventory::WitnessBlock(h) => Some(*h),
                    _ => None,
                })
                .collect();
            if !blocks.is_empty() {
                let _ = t5.send(Input::Inv(p.clone(), blocks));
            }
        })
        .on_attempt_failed(move |p, failure| {
            let _ = t6.send(Input::Failed(p.clone(), failure.clone()));
        })
        .on_status_changed(move |p, change| {
            let _ = t7.send(Input::Status(p.clone(), *change));
        })
}

/// How a run goes.
pub struct Plan {
    /// Ends the run (None: only Ctrl-C).
    pub duration: Option<Duration>,
    /// End as soon as the headers are synced.
    pub exit_when_synced: bool,
    /// Time a sync peer has to answer getheaders.
    pub sync_timeout: Duration,
    /// The height to reach when it is known in advance (the simulated chain's).
    pub target_height: u32,
    /// The first header of the chain.
    pub genesis: Header,
    /// The network's proof-of-work limit.
    pub max_target: Option<Target>,
    /// How long the first peers have to connect before the run gives up.
    pub first_connect_timeout: Duration,
    /// No peer was given: the run starts from the address book and these DNS seeds, and
    /// gives up when the seeds cannot be reached and the book is empty, or when no peer
    /// connected within the first-connect timeout after they answered.
    pub bootstrap: Option<Vec<String>>,
}

/// A node of the simulated network that goes down and comes back.
pub trait Flapper {
    /// When it changes next.
    fn next_change(&self) -> Instant;
    /// Changes it; returns what to show.
    fn change(&mut self) -> impl std::future::Future<Output = Event> + Send;
}

/// A flapper that never flaps (for `connect`).
pub struct NoFlapper;

impl Flapper for NoFlapper {
    fn next_change(&self) -> Instant {
        Instant::now() + Duration::from_secs(365 * 24 * 3600)
    }
    async fn change(&mut self) -> Event {
        Event::Error {
            peer: None,
            message: "no flapping node".into(),
        }
    }
}

struct Conn {
    peer: ManagedPeer,
    start_height: i32,
    /// Asked and answered with less than a full message, or unresponsive: not asked again
    /// until it announces something new.
    done: bool,
}

/// A managed peer, as its events told.
struct Known {
    discovered: bool,
}

/// The state of one run.
pub struct Session {
    client: BtcClient,
    out: Output,
    plan: Plan,
    chain: HeaderChain,
    connected: HashMap<u64, Conn>,
    sync: Option<(u64, Instant)>,
    best_announced: u32,
    synced_reported: bool,
    completed_once: bool,
    known: HashMap<u64, Known>,
    reached: HashSet<String>,
    removed_by_us: HashSet<u64>,
    /// Peers reported unhealthy in their current failure streak (an unhealthy peer that
    /// connects and drops again re-enters `Unhealthy` on every drop; it is reported once).
    unhealthy: HashSet<u64>,
    max_connected: usize,
    disconnections: usize,
    reconnections: usize,
    faults: usize,
    peers_removed: usize,
    max_peers_reported: bool,
    /// Set when the client is being stopped: the last events only close the books.
    stopping: bool,
    start: Instant,
}

impl Session {
    /// A run of `client` (started, no peers yet).
    pub fn new(client: BtcClient, out: Output, plan: Plan, start: Instant) -> Session {
        let chain = HeaderChain::new(&plan.genesis, plan.max_target);
        Session {
            client,
            out,
            chain,
            best_announced: plan.target_height,
            plan,
            connected: HashMap::new(),
            sync: None,
            synced_reported: false,
            completed_once: false,
            known: HashMap::new(),
            reached: HashSet::new(),
            removed_by_us: HashSet::new(),
            unhealthy: HashSet::new(),
            max_connected: 0,
            disconnections: 0,
            reconnections: 0,
            faults: 0,
            peers_removed: 0,
            max_peers_reported: false,
            stopping: false,
            start,
        }
    }

    /// Shows an event.
    pub fn emit(&self, event: Event) {
        self.out.emit(&event);
    }

    /// While bootstrapping with no peer connected yet: why the run cannot go on, if it
    /// cannot. Every DNS seed answered (or failed) and the book is still empty: nothing to
    /// connect to. Or the seeds answered, and the first-connect timeout passed since without
    /// a single connection.
    fn bootstrap_failed(&self, answered_at: &mut Option<Instant>) -> Option<String> {
        let seeds = self.plan.bootstrap.as_deref().unwrap_or_default();
        let answers = self.client.dns_seed_answers();
        let book = self.client.address_book();
        let known = book.new + book.tried;
        if answers.len() < seeds.len() {
            return None;
        }
        let now = Instant::now();
        let since = *answered_at.get_or_insert(now);
        if known == 0 {
            return Some(if seeds.is_empty() {
                "no peer given, the address book is empty and there is no DNS seed to ask: \
                 give peers on the command line, or --dns-seed"
                    .to_owned()
            } else {
                let failures: Vec<String> = answers
                    .iter()
                    .map(|a| match &a.result {
                        Ok(n) => format!("{}: {n} usable addresses", a.seed),
                        Err(e) => format!("{}: {e}", a.seed),
                    })
                    .collect();
                format!(
                    "no peer given, the address book is empty and no DNS seed gave an address \
                     ({}): give peers on the command line",
                    failures.join("; ")
                )
            });
        }
        if now.duration_since(since) > self.plan.first_connect_timeout {
            return Some(format!(
                "no peer connected within {:?}: the address book knows {known} addresses",
                self.plan.first_connect_timeout
            ));
        }
        None
    }

    /// Adds the given peers, runs until the duration passes, Ctrl-C, the sync ends (with
    /// `exit_when_synced`) or none of the given peers can be connected; stops the client and
    /// returns the summary.
    pub async fn run(
        mut self,
        peers: &[String],
        mut rx: mpsc::UnboundedReceiver<Input>,
        mut flapper: Option<impl Flapper>,
    ) -> Summary {
        let mut first: JoinSet<Result<(), Error>> = JoinSet::new();
        let mut first_errors: Vec<String> = Vec::new();
        for addr in peers {
            match self.client.add_peer(addr) {
                Ok(peer) => {
                    self.known.insert(peer.id(), Known { discovered: false });
                    self.emit(Event::PeerAdded {
                        peer: peer.addr().to_owned(),
                        discovered: false,
                    });
                    let wait = self.plan.first_connect_timeout;
                    first.spawn(async move { peer.wait_connected(wait).await });
                }
                Err(e) => {
                    self.emit(Event::Error {
                        peer: Some(addr.clone()),
                        message: e.to_string(),
                    });
                    first_errors.push(e.to_string());
                }
            }
        }
        let bootstrapping = peers.is_empty() && self.plan.bootstrap.is_some();
        if let (true, Some(seeds)) = (bootstrapping, &self.plan.bootstrap) {
            self.emit(Event::Bootstrap {
                seeds: seeds.clone(),
            });
        }
        let given = !first.is_empty();
        let mut waiting_first = given || bootstrapping;
        let mut seeds_answered_at: Option<Instant> = None;

        let deadline = self.plan.duration.map(|d| self.start + d);
        let far = self.start + Duration::from_secs(100 * 365 * 24 * 3600);
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(ctrl_c);

        let end: &'static str = if !waiting_first {
            "no_peer_connected"
        } else {
            loop {
                let flap_at = flapper.as_ref().map_or(far, |f| f.next_change());
                tokio::select! {
                    biased;
                    _ = &mut ctrl_c => break "interrupted",
                    _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                        if !self.reached.is_empty() {
                            break "duration";
                        }
                        // No peer was ever reached (an attempt may have failed before its
                        // wait began): say why from the peers' last errors.
                        for p in self.client.peers() {
                            if let Some(e) = p.last_error {
                                first_errors.push(format!("peer {}: {e}", p.addr));
                            }
                        }
                        break "no_peer_connected";
                    }
                    joined = first.join_next(), if waiting_first && given => match joined {
                        Some(Ok(Ok(()))) => {
                            waiting_first = false;
                            first.abort_all();
                        }
                        Some(Ok(Err(e))) => {
                            let (peer, message) = match &e {
                                Error::PeerConnection(pc) => (Some(pc.addr.clone()), pc.cause.to_string()),
                                other => (None, other.to_string()),
                            };
                            // In text the failure line from the peer table says it.
                            if self.out.is_json() {
                                self.emit(Event::Error { peer, message });
                            }
                            first_errors.push(e.to_string());
                        }
                        Some(Err(_)) => {}
                        None => {
                            waiting_first = false;
                            if self.reached.is_empty() {
                                break "no_peer_connected";
                            }
                        }
                    },
                    Some(input) = rx.recv() => self.handle(input),
                    _ = ticker.tick() => self.tick(),
                    _ = tokio::time::sleep_until(flap_at), if flapper.is_some() => {
                        if let Some(f) = flapper.as_mut() {
                            let event = f.change().await;
                            self.emit(event);
                        }
                    }
                }
                if waiting_first && !self.reached.is_empty() {
                    waiting_first = false;
                    first.abort_all();
                }
                if waiting_first && bootstrapping {
                    if let Some(why) = self.bootstrap_failed(&mut seeds_answered_at) {
                        first_errors.push(why);
                        break "no_peer_connected";
                    }
                }
                if self.plan.exit_when_synced && self.is_synced() {
                    break "synced";
                }
            }
        };

        // The final table for the summary, then stop.
        let peers_at_end: Vec<PeerLine> = self
            .client
            .peers()
            .into_iter()
            .map(|p| PeerLine {
                addr: p.addr,
                status: p.status.to_string(),
                failures: p.failure_count,
                discovered: p.discovered,
                user_agent: p.info.map(|i| i.user_agent),
                messages_in: p.messages_in,
            })
            .collect();
        let connected_at_end = self.connected.len();
        self.out.status(|| "stopping…".into());
        self.stopping = true;
        if let Err(e) = self.client.stop(Duration::from_secs(5)).await {
            self.emit(Event::Error {
                peer: None,
                message: format!("stopping the client: {e}"),
            });
        }
        while let Ok(input) = rx.try_recv() {
            self.handle(input);
        }

        let ok = end != "no_peer_connected";
        let summary = Summary {
            ok,
            end,
            elapsed: self.start.elapsed(),
            peers_reached: self.reached.len(),
            max_connected: self.max_connected,
            connected_at_end,
            headers_synced: self.chain.height(),
            target_height: self.best_announced.max(self.chain.height()),
            tip: self.chain.tip().to_string(),
            disconnections: self.disconnections,
            reconnections: self.reconnections,
            faults_survived: self.faults,
            peers_removed: self.peers_removed,
            peers: peers_at_end,
        };
        let failure = (!ok).then(|| {
            let detail = if first_errors.is_empty() {
                "no peer given".to_owned()
            } else {
                first_errors.join("; ")
            };
            format!("could not connect to any peer: {detail}")
        });
        if let (Some(message), true) = (&failure, self.out.is_json()) {
            self.emit(Event::Error {
                peer: None,
                message: message.clone(),
            });
        }
        self.out.finish(&Event::Summary(summary.clone()));
        if let Some(message) = failure {
            eprintln!("error: {message}");
        }
        summary
    }

    /// Synced: a sync finished, none is under way, and no connected peer that has not
    /// answered yet announced more than we have (a peer that announced more but had nothing
    /// to give does not hold the sync open).
    fn is_synced(&self) -> bool {
        self.completed_once && self.sync.is_none() && self.candidate().is_none()
    }

    /// The peer to sync from next: a connected peer that announced more than we have (the
    /// highest first); before any sync finished, any peer not yet done.
    fn candidate(&self) -> Option<(u64, String, i32)> {
        let height = i64::from(self.chain.height());
        let completed = self.completed_once;
        self.connected
            .iter()
            .filter(|(_, c)| !c.done && (i64::from(c.start_height) > height || !completed))
            .max_by_key(|(id, c)| (c.start_height, std::cmp::Reverse(**id)))
            .map(|(id, c)| (*id, c.peer.addr().to_owned(), c.start_height))
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Connected(peer) => self.on_connected(peer),
            Input::Disconnected(peer, reason) => self.on_disconnected(&peer, &reason),
            Input::Headers(peer, headers) => {
                if !self.removed_by_us.contains(&peer.id()) {
                    self.on_headers(&peer, &headers);
                }
            }
            Input::Addr(peer, count) => {
                // In text, addr lines matter while they can still bring new peers.
                if self.out.is_json() || !self.max_peers_reported {
                    self.emit(Event::Addr {
                        peer: peer.addr().to_owned(),
                        count,
                    });
                }
            }
            Input::Failed(peer, failure) => self.on_failed(&peer, &failure),
            Input::Status(peer, change) => self.on_status(&peer, change),
            Input::Inv(peer, blocks) => {
                if blocks.iter().any(|h| !self.chain.contains(h)) {
                    if let Some(c) = self.connected.get_mut(&peer.id()) {
                        c.done = false;
                        c.start_height = c.start_height.max(self.chain.height() as i32 + 1);
                    }
                    self.maybe_start_sync();
                }
            }
        }
        self.check_synced();
    }

    /// A peer's first event makes it known (discovered peers are announced here).
    fn learn(&mut self, peer: &ManagedPeer) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.known.entry(peer.id()) {
            e.insert(Known {
                discovered: peer.is_discovered(),
            });
            self.emit(Event::PeerAdded {
                peer: peer.addr().to_owned(),
                discovered: peer.is_discovered(),
            });
            let max = self.client.config().max_peers;
            if self.known.len() >= max && !self.max_peers_reported {
                self.max_peers_reported = true;
                self.emit(Event::MaxPeers { max });
            }
        }
    }

    fn on_failed(&mut self, peer: &ManagedPeer, failure: &AttemptFailure) {
        self.learn(peer);
        // A connection that ended early was counted (and shown) by its disconnect already.
        if matches!(failure.cause, FailureCause::Connect(_)) {
            self.faults += 1;
        }
        if failure.failures < self.client.config().max_failure_count {
            // A new streak (a stable connection ended the last one).
            self.unhealthy.remove(&peer.id());
        }
        self.emit(Event::PeerFailure {
            peer: failure.addr.clone(),
            failures: failure.failures,
            error: failure.cause.to_string(),
            retry_in_ms: failure.retry_in.as_millis() as u64,
        });
        self.refresh();
    }

    fn on_status(&mut self, peer: &ManagedPeer, change: StatusChange) {
        // Stopping ends every peer: nothing to show.
        if self.stopping {
            return;
        }
        self.learn(peer);
        let id = peer.id();
        if change.new == PeerStatus::Unhealthy {
            if !self.unhealthy.insert(id) {
                return self.refresh();
            }
            self.emit(Event::PeerUnhealthy {
                peer: peer.addr().to_owned(),
                failures: peer.failure_count(),
            });
        } else if change.old == PeerStatus::Unhealthy
            && change.new == PeerStatus::Disconnected
            && self.known.get(&id).is_some_and(|k| k.discovered)
            && !self.removed_by_us.contains(&id)
        {
            // The health check gave up on a discovered peer.
            self.known.remove(&id);
            self.emit(Event::PeerDropped {
                peer: peer.addr().to_owned(),
            });
        }
        self.refresh();
    }

    fn on_connected(&mut self, peer: ManagedPeer) {
        let id = peer.id();
        self.learn(&peer);
        let (user_agent, start_height) = peer
            .info()
            .map_or((String::new(), 0), |i| (i.user_agent, i.start_height));
        let reconnect = !self.reached.insert(peer.addr().to_owned());
        if reconnect {
            self.reconnections += 1;
        }
        self.best_announced = self.best_announced.max(start_height.max(0) as u32);
        if self.best_announced > self.chain.height() {
            self.synced_reported = false;
        }
        self.connected.insert(
            id,
            Conn {
                peer: peer.clone(),
                start_height,
                done: false,
            },
        );
        self.max_connected = self.max_connected.max(self.connected.len());
        let snapshot = peer.snapshot();
        self.emit(Event::PeerConnected {
            peer: peer.addr().to_owned(),
            user_agent,
            start_height,
            reconnect,
            discovered: peer.is_discovered(),
            connected: self.connected.len(),
            transport: snapshot
                .transport
                .map_or_else(String::new, |t| t.as_str().to_owned()),
            session_id: snapshot.session_id.map(|id| id.to_hex()),
        });
        self.refresh();
        self.maybe_start_sync();
    }

    fn on_disconnected(&mut self, peer: &ManagedPeer, reason: &DisconnectReason) {
        let id = peer.id();
        self.connected.remove(&id);
        let kind = match reason {
            DisconnectReason::Removed => "removed",
            DisconnectReason::Stopped => "stopped",
            DisconnectReason::RemoteClosed => "remote_closed",
            DisconnectReason::PingTimeout => "ping_timeout",
            DisconnectReason::WriteTimeout => "write_timeout",
            DisconnectReason::ProtocolViolation(_) => "protocol_violation",
            DisconnectReason::Io(_) => "io",
            DisconnectReason::Unhealthy => "unhealthy",
            _ => "other",
        };
        if !matches!(kind, "stopped" | "removed" | "unhealthy") {
            self.faults += 1;
        }
        if kind != "stopped" {
            self.disconnections += 1;
        }
        if kind != "stopped" || self.out.is_json() {
            self.emit(Event::PeerDisconnected {
                peer: peer.addr().to_owned(),
                reason: reason.to_string(),
                kind,
            });
        }
        if self.sync.is_some_and(|(s, _)| s == id) {
            self.sync = None;
            self.maybe_start_sync();
        }
        self.refresh();
    }

    fn on_headers(&mut self, peer: &ManagedPeer, headers: &[Header]) {
        let id = peer.id();
        let from_sync = self.sync.is_some_and(|(s, _)| s == id);
        let full = headers.len() >= MAX_HEADERS;
        match self.chain.accept(headers) {
            Err(Rejected::NotConnecting { .. }) if !from_sync && !full => {
                // An announcement of blocks whose parents we do not have yet: ask this peer.
                if let Some(c) = self.connected.get_mut(&id) {
                    c.done = false;
                    c.start_height = c.start_height.max(self.chain.height() as i32 + 1);
                }
                self.maybe_start_sync();
            }
            Err(rejected) => {
                self.faults += 1;
                self.peers_removed += 1;
                self.removed_by_us.insert(id);
                self.connected.remove(&id);
                self.emit(Event::Error {
                    peer: Some(peer.addr().to_owned()),
                    message: format!("invalid headers: {rejected}; removing the peer"),
                });
                if let Err(e) = self.client.remove_peer(peer.addr()) {
                    if !matches!(e, Error::PeerNotFound(_)) {
                        self.emit(Event::Error {
                            peer: Some(peer.addr().to_owned()),
                            message: format!("remove_peer: {e}"),
                        });
                    }
                }
                if from_sync {
                    self.sync = None;
                }
                self.maybe_start_sync();
            }
            Ok(accepted) => {
                if !headers.is_empty() {
                    self.emit(Event::Headers {
                        peer: peer.addr().to_owned(),
                        count: headers.len(),
                        new: accepted.new,
                        height: self.chain.height(),
                        reorg_from: accepted.reorg_from,
                    });
                }
                self.best_announced = self.best_announced.max(self.chain.height());
                if from_sync {
                    if full && accepted.new > 0 {
                        if !self.request(id) {
                            self.maybe_start_sync();
                        }
                    } else {
                        if let Some(c) = self.connected.get_mut(&id) {
                            c.done = true;
                        }
                        self.completed_once = true;
                        self.sync = None;
                        self.maybe_start_sync();
                    }
                } else if full && accepted.new > 0 && self.sync.is_none() && !self.request(id) {
                    self.maybe_start_sync();
                }
                self.refresh();
            }
        }
    }

    /// Sends getheaders from our tip to `id`; it becomes the sync peer.
    fn request(&mut self, id: u64) -> bool {
        let Some(c) = self.connected.get(&id) else {
            return false;
        };
        let msg = NetworkMessage::GetHeaders(GetHeadersMessage::new(
            self.chain.locator(),
            BlockHash::all_zeros(),
        ));
        match c.peer.send(&msg) {
            Ok(()) => {
                self.sync = Some((id, Instant::now()));
                true
            }
            Err(e) => {
                let addr = c.peer.addr().to_owned();
                self.emit(Event::Error {
                    peer: Some(addr),
                    message: format!("cannot send getheaders: {e}"),
                });
                if let Some(c) = self.connected.get_mut(&id) {
                    c.done = true;
                }
                if self.sync.is_some_and(|(s, _)| s == id) {
                    self.sync = None;
                }
                false
            }
        }
    }

    /// Picks a sync peer when there is none (see [`Session::candidate`]) and asks it.
    fn maybe_start_sync(&mut self) {
        while self.sync.is_none() {
            let Some((id, addr, peer_height)) = self.candidate() else {
                return;
            };
            if i64::from(peer_height) > i64::from(self.chain.height()) {
                self.emit(Event::SyncPeer {
                    peer: addr,
                    height: self.chain.height(),
                    peer_height,
                });
            }
            self.request(id);
        }
    }

    fn check_synced(&mut self) {
        if !self.synced_reported && self.is_synced() {
            self.synced_reported = true;
            self.emit(Event::Synced {
                height: self.chain.height(),
                tip: self.chain.tip().to_string(),
            });
        }
    }

    /// Checks the sync peer's progress; redraws the status line.
    fn tick(&mut self) {
        if let Some((id, since)) = self.sync {
            if since.elapsed() > self.plan.sync_timeout {
                let addr = self.connected.get(&id).map(|c| c.peer.addr().to_owned());
                if let Some(c) = self.connected.get_mut(&id) {
                    c.done = true;
                }
                self.faults += 1;
                self.sync = None;
                self.emit(Event::Error {
                    peer: addr,
                    message: format!(
                        "no headers within {:?}; asking another peer",
                        self.plan.sync_timeout
                    ),
                });
                self.maybe_start_sync();
            }
        }
        self.check_synced();
        self.refresh();
    }

    fn refresh(&self) {
        let managed = self.known.len();
        self.out.progress(
            self.chain.height(),
            self.best_announced.max(self.chain.height()),
        );
        self.out.status(|| {
            let syncing = match self.sync.and_then(|(id, _)| self.connected.get(&id)) {
                Some(c) => format!(" · syncing from {}", c.peer.addr()),
                None => String::new(),
            };
            format!(
                "peers {}/{} connected (max {}) · reached {} · disconnects {} · reconnects {} \
                 · faults {}{}",
                self.connected.len(),
                managed,
                self.client.config().max_peers,
                self.reached.len(),
                self.disconnections,
                self.reconnections,
                self.faults,
                syncing
            )
        });
    }
}
