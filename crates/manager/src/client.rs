//! `BtcClient`: the public entry point, and the peer table it manages.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::p2p::address::AddrV2Message;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Frame, WireConfig};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use crate::addrbook::{AddrBook, Admission, BookAddr, BookStats, NetAddr, PeersDatImport, Source};
use crate::address::{is_bad_port, is_routable, PeerAddr};
use crate::config::{Config, Delivery};
use crate::connection::Events;
use crate::dispatch::{in_callback_of, run_concurrent, spawn_serialized, Deliverer, Event, Gate};
use crate::error::ConnectFailure;
use crate::listeners::DisconnectReason;
use crate::peer::{lock, ManagedPeer, PeerSnapshot, PeerStatus};
use crate::{Error, Result};

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);
/// Numbers every run (`start` to `stop`) of every client.
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// State shared by the client handle and its tasks.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) config: Config,
    pub(crate) wire: WireConfig,
    pub(crate) handle: Handle,
    pub(crate) nonces: Mutex<HashSet<u64>>,
    next_peer_id: AtomicU64,
    state: Mutex<State>,
    /// Every address heard of. Lock order: `state` before `book`.
    book: Mutex<AddrBook>,
    /// What each DNS seed asked in the current run answered, in the order asked.
    dns_answers: Mutex<Vec<DnsSeedAnswer>>,
    /// Peers (by managed address) found not to speak v2: spoken to over v1 for the client's
    /// lifetime.
    v1_only: Mutex<HashSet<String>>,
    /// The client handle, not kept alive by its own state.
    client: WeakClient,
    /// Permits for connection attempts: [`MAX_CONCURRENT_ATTEMPTS`].
    pub(crate) attempt_permits: tokio::sync::Semaphore,
}

/// Unix time in seconds (0 if the clock is before 1970).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `services` without `NODE_P2P_V2`. (`ServiceFlags::remove` toggles the bits instead of
/// clearing them: it would add the flag to services that lack it.)
fn without_p2p_v2(services: ServiceFlags) -> ServiceFlags {
    ServiceFlags::from(services.to_u64() & !ServiceFlags::P2P_V2.to_u64())
}

/// An empty address book for `config`, admitting local addresses only when they are allowed.
fn empty_book(config: &Config) -> AddrBook {
    let mut book = AddrBook::new(config.network);
    book.set_admission(book_admission(config));
    book
}

fn book_admission(config: &Config) -> Admission {
    Admission {
        onion: config.proxy_for_onion().is_some(),
        local: config.allow_local_addresses,
    }
}

/// How often the address book is saved while the client runs (Bitcoin Core's interval).
const BOOK_SAVE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Below this many addresses the DNS seeds are asked after [`Config::dns_seed_delay`]; from
/// it on, after 5 minutes (Core's `DNSSEEDS_DELAY_PEER_THRESHOLD`).
const DNS_MANY_ADDRESSES: usize = 1000;
/// Core's `DNSSEEDS_DELAY_MANY_PEERS`.
const DNS_DELAY_MANY: Duration = Duration::from_secs(300);
/// With this many peers connected when the delay ends, the DNS seeds are not asked (Core's
/// `SEED_OUTBOUND_CONNECTION_THRESHOLD`).
const DNS_ENOUGH_PEERS: usize = 2;

/// Connection attempts (dial, proxy, v2 key exchange, version handshake) in flight at once;
/// more wait their turn, in order. An attempt's buffers and state are freed when it ends, but
/// ten thousand at once leave the heap that much larger and scattered for as long as the
/// connections live (about 2 KiB of resident memory per peer, measured at 10,000 peers); a
/// bounded number of them reuses the same memory, at no cost in handshakes per second.
pub(crate) const MAX_CONCURRENT_ATTEMPTS: usize = 512;

enum State {
    Idle,
    Running(Box<Run>),
}

/// Everything that exists between `start` and `stop`.
struct Run {
    /// This run's number: tasks of an older run find the client running another and act no
    /// more.
    generation: u64,
    cancel: CancellationToken,
    /// Cancelled when the run is given up (its stop timed out, or the client was dropped):
    /// the last events of its peers are then no longer waited for.
    abandon: CancellationToken,
    tracker: TaskTracker,
    peers: HashMap<String, ManagedPeer>,
    groups: HashSet<Vec<u8>>,
    /// Addresses removed by the user or dropped as unhealthy: discovery does not bring them
    /// back for a while.
    dropped: DroppedList,
    /// Wakes the task that keeps `target_outbound` discovered peers (an address arrived, a
    /// discovered peer went away).
    wake: Arc<Notify>,
    /// Set at start: addresses of the tried table are chosen before any other, until none is
    /// left to choose (a restarted client goes back to the peers it knew first).
    tried_first: bool,
    deliverer: Deliverer,
    /// Serialized delivery: the dispatcher's channel and its completion signal.
    serialized: Option<(mpsc::Sender<Event>, oneshot::Receiver<()>)>,
}

/// Owns the runtime (when the client made its own) and stops the client when the last user
/// handle goes away.
struct Owner {
    shared: Arc<Shared>,
    runtime: Option<Runtime>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let run = match std::mem::replace(&mut *lock(&self.shared.state), State::Idle) {
            State::Running(run) => Some(run),
            State::Idle => None,
        };
        if let Some(run) = run {
            run.deliverer.gate.close();
            run.cancel.cancel();
            run.abandon.cancel();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A Bitcoin P2P client: keeps outbound peer connections alive and delivers their messages
/// to listeners.
///
/// Cheap to clone (all clones are the same client); `Send + Sync`. Operations other than
/// [`stop`](BtcClient::stop) never block. Inside a tokio runtime the client runs on it;
/// created outside one, it owns a small runtime of its own.
///
/// ```no_run
/// use std::time::Duration;
/// use btcclient_manager::{BtcClient, Config, Listeners, Network};
///
/// let listeners = Listeners::new()
///     .on_peer_connected(|peer| println!("connected to {}", peer.addr()))
///     .on_headers(|peer, headers| println!("{} headers from {}", headers.len(), peer.addr()));
/// let config = Config::builder()
///     .network(Network::Mainnet)
///     .max_peers(8)
///     .listeners(listeners)
///     .build()?;
/// let client = BtcClient::new(config)?;
/// client.start()?;
/// client.add_peer("seed.example.org:8333")?;
/// std::thread::sleep(Duration::from_secs(30));
/// client.stop_blocking(Duration::from_secs(5))?;
/// # Ok::<(), btcclient_manager::Error>(())
/// ```
#[derive(Clone)]
pub struct BtcClient {
    owner: Arc<Owner>,
}

/// A handle to a [`BtcClient`] that does not keep it alive: what a listener should hold to
/// reach its client (holding a `BtcClient` in a listener makes a reference cycle, and the
/// client is never freed). Get one with [`BtcClient::downgrade`]; in a callback,
/// [`ManagedPeer::client`] does the same.
///
/// ```no_run
/// use btcclient_manager::{BtcClient, Config, Listeners, WeakClient};
/// use std::sync::{Arc, OnceLock};
///
/// let me: Arc<OnceLock<WeakClient>> = Arc::default();
/// let me2 = me.clone();
/// let listeners = Listeners::new().on_peer_connected(move |_| {
///     if let Some(client) = me2.get().and_then(WeakClient::upgrade) {
///         println!("{} peers", client.peer_count());
///     }
/// });
/// let client = BtcClient::new(Config::builder().listeners(listeners).build()?)?;
/// let _ = me.set(client.downgrade());
/// # Ok::<(), btcclient_manager::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct WeakClient(Weak<Owner>);

impl WeakClient {
    /// The client, if any handle to it is still alive.
    pub fn upgrade(&self) -> Option<BtcClient> {
        self.0.upgrade().map(|owner| BtcClient { owner })
    }
}

impl std::fmt::Debug for WeakClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakClient")
    }
}

impl std::fmt::Debug for BtcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtcClient")
            .field("id", &self.owner.shared.id)
            .field("running", &self.is_running())
            .field("peers", &self.peer_count())
            .finish()
    }
}

impl BtcClient {
    /// A client for `config` (validated first). Uses the current tokio runtime if there is
    /// one, otherwise creates its own.
    pub fn new(config: Config) -> Result<BtcClient> {
        match Handle::try_current() {
            Ok(handle) => BtcClient::build(config, handle, None),
            Err(_) => {
                config.validate()?;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("btcclient")
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Runtime(e.to_string()))?;
                let handle = runtime.handle().clone();
                BtcClient::build(config, handle, Some(runtime))
            }
        }
    }

    /// A client that runs on the given runtime.
    pub fn with_runtime(config: Config, handle: Handle) -> Result<BtcClient> {
        BtcClient::build(config, handle, None)
    }

    fn build(config: Config, handle: Handle, runtime: Option<Runtime>) -> Result<BtcClient> {
        config.validate()?;
        let owner = Arc::new_cyclic(|weak| Owner {
            shared: Arc::new(Shared::new(config, handle, WeakClient(weak.clone()))),
            runtime,
        });
        Ok(BtcClient { owner })
    }

    /// A handle that reaches this client without keeping it alive; see [`WeakClient`].
    pub fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.owner))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &Config {
        &self.shared().config
    }

    /// Whether the client is started.
    pub fn is_running(&self) -> bool {
        matches!(*lock(&self.shared().state), State::Running(_))
    }

    /// Starts the client: its health check, and delivery of events. Peers are added after
    /// this. A stopped client can be started again.
    ///
    /// Errors: [`Error::ClientAlreadyStarted`].
    pub fn start(&self) -> Result<()> {
        let shared = self.shared();
        let mut state = lock(&shared.state);
        if matches!(*state, State::Running(_)) {
            return Err(Error::ClientAlreadyStarted);
        }
        let deliverer = Deliverer {
            listeners: shared.config.listeners.clone(),
            client_id: shared.id,
            gate: Gate::default(),
        };
        let serialized = match shared.config.delivery {
            Delivery::Serialized => Some(
                spawn_serialized(deliverer.clone(), shared.config.event_queue_len)
                    .map_err(|e| Error::Runtime(e.to_string()))?,
            ),
            Delivery::Concurrent => None,
        };
        if let Some(path) = &shared.config.address_book_path {
            let loaded = AddrBook::load(path, shared.config.network);
            if let Some(warning) = &loaded.warning {
                warn!("{warning}");
            }
            let mut book = loaded.book;
            book.set_admission(book_admission(&shared.config));
            info!(
                new = book.len_new(),
                tried = book.len_tried(),
                path = %path.display(),
                "address book loaded"
            );
            let mut held = lock(&shared.book);
            // What the client was given before (an import before the first start) is kept;
            // after a stop the book was saved, so this adds nothing.
            let kept = book.merge(&held, unix_now());
            if kept > 0 {
                info!(
                    kept,
                    "addresses given before start kept beside the loaded book"
                );
            }
            *held = book;
        }
        let run = Run {
            generation: NEXT_RUN.fetch_add(1, Ordering::Relaxed),
            cancel: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tracker: TaskTracker::new(),
            peers: HashMap::new(),
            groups: HashSet::new(),
            dropped: DroppedList::default(),
            wake: Arc::new(Notify::new()),
            tried_first: true,
            deliverer,
            serialized,
        };
        let weak = Arc::downgrade(shared);
        let cancel = run.cancel.clone();
        let generation = run.generation;
        let interval = shared.config.health_check_interval;
        let wake = run.wake.clone();
        run.tracker.spawn_on(
            async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker.tick().await;
                // Peers from the book at once (a restarted client dials its tried peers
                // without waiting a health-check interval).
                match weak.upgrade() {
                    Some(shared) => {
                        shared.fill_outbound(generation);
                    }
                    None => return,
                }
                let mut next_save = tokio::time::Instant::now() + BOOK_SAVE_INTERVAL;
                loop {
                    let tick = tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = ticker.tick() => true,
                        _ = wake.notified() => false,
                    };
                    let Some(shared) = weak.upgrade() else { break };
                    if tick {
                        shared.health_check(generation);
                    }
                    shared.fill_outbound(generation);
                    if tokio::time::Instant::now() >= next_save {
                        next_save = tokio::time::Instant::now() + BOOK_SAVE_INTERVAL;
                        let _ = tokio::task::spawn_blocking(move || shared.save_book()).await;
                    }
                }
            },
            &shared.handle,
        );
        if shared.config.discovery {
            let seeds = shared.config.dns_seed_list();
            lock(&shared.dns_answers).clear();
            if !seeds.is_empty() {
                run.tracker.spawn_on(
                    seed_from_dns(
                        Arc::downgrade(shared),
                        generation,
                        run.cancel.clone(),
                        seeds,
                    ),
                    &shared.handle,
                );
            }
        }
        *state = State::Running(Box::new(run));
        info!(network = ?shared.config.network, "client started");
        Ok(())
    }

    /// Stops the client: every peer is disconnected (each connected one gets its
    /// `on_peer_disconnected` with [`DisconnectReason::Stopped`]), every task and socket is
    /// closed. When it returns `Ok`, no callback is running and none will run again.
    ///
    /// Errors: [`Error::ClientNotStarted`]; [`Error::CalledFromCallback`] from inside a
    /// listener; [`Error::StopTimeout`] when tasks or callbacks did not finish within
    /// `timeout` — the client is stopped anyway, and no callback starts after that (a callback
    /// already running may still finish). That promise wins over pairing: the error says how
    /// many connected peers' disconnected events were not delivered. Nothing of this run
    /// reaches a later one (after `start` again).
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        let shared = self.shared();
        if in_callback_of(shared.id) {
            return Err(Error::CalledFromCallback);
        }
        let run = match std::mem::replace(&mut *lock(&shared.state), State::Idle) {
            State::Running(run) => *run,
            State::Idle => return Err(Error::ClientNotStarted),
        };
        let Run {
            generation: _,
            cancel,
            abandon,
            tracker,
            peers,
            groups: _,
            dropped: _,
            wake: _,
            tried_first: _,
            deliverer,
            serialized,
        } = run;
        for peer in peers.values() {
            peer.cancel(DisconnectReason::Stopped);
        }
        cancel.cancel();
        tracker.close();
        let (sender, done) = match serialized {
            Some((tx, done)) => (Some(tx), Some(done)),
            None => (None, None),
        };
        // The peers hold clones of the serialized sender; ours goes now so the dispatcher
        // ends once they have.
        drop(sender);
        drop(peers);
        let finished = tokio::time::timeout(timeout, async {
            tracker.wait().await;
            if let Some(done) = done {
                let _ = done.await;
            }
        })
        .await;
        let undelivered_disconnects = deliverer.gate.close();
        abandon.cancel();
        let saver = Arc::clone(shared);
        let _ = tokio::task::spawn_blocking(move || saver.save_book()).await;
        match finished {
            Ok(()) => {
                info!("client stopped");
                Ok(())
            }
            Err(_) => Err(Error::StopTimeout {
                timeout,
                undelivered_disconnects,
            }),
        }
    }

    /// [`stop`](BtcClient::stop) for callers outside an async context (C, Go, plain threads).
    /// Inside a runtime use `stop(..).await` instead; this returns [`Error::Runtime`] there.
    pub fn stop_blocking(&self, timeout: Duration) -> Result<()> {
        if in_callback_of(self.shared().id) {
            return Err(Error::CalledFromCallback);
        }
        if Handle::try_current().is_ok() {
            return Err(Error::Runtime(
                "stop_blocking called inside an async context; use stop().await".into(),
            ));
        }
        self.shared().handle.block_on(self.stop(timeout))
    }

    /// Adds a peer by `host:port`, `ipv4:port`, `[ipv6]:port` or a Tor v3 `name.onion:port`
    /// and starts connecting to it in the background (a host name is resolved when dialled,
    /// by the proxy if one is set). Returns its handle.
    ///
    /// Errors: [`Error::InvalidAddress`] (also for an onion address when no onion proxy is
    /// configured), [`Error::ClientNotStarted`],
    /// [`Error::PeerAlreadyExists`], [`Error::MaxPeersReached`].
    pub fn add_peer(&self, addr: &str) -> Result<ManagedPeer> {
        let target = PeerAddr::parse(addr)?;
        let shared = self.shared();
        if target.is_onion() && shared.config.proxy_for_onion().is_none() {
            return Err(Error::InvalidAddress {
                addr: target.key().to_owned(),
                reason: "an onion address is reachable only through Tor: set onion_proxy (or \
                         proxy) to Tor's SOCKS5 port; it is never looked up in DNS",
            });
        }
        let mut state = lock(&shared.state);
        let run = match &mut *state {
            State::Running(run) => run,
            State::Idle => return Err(Error::ClientNotStarted),
        };
        if run.peers.contains_key(target.key()) {
            return Err(Error::PeerAlreadyExists(target.key().to_owned()));
        }
        let mut evicted = None;
        if run.peers.len() >= shared.config.max_peers {
            // Room is made by evicting a discovered peer: one not connected if there is one,
            // else the newest.
            let victim = run
                .peers
                .values()
                .filter(|p| p.is_discovered())
                .max_by_key(|p| (p.status() != PeerStatus::Connected, p.id()))
                .map(|p| p.addr().to_owned());
            let Some(key) = victim else {
                return Err(Error::MaxPeersReached(shared.config.max_peers));
            };
            if let Some(peer) = run.peers.remove(&key) {
                if let Some(group) = peer.group() {
                    run.groups.remove(group);
                }
                evicted = Some(peer);
            }
        }
        let peer = shared.spawn_peer(run, target, false, None);
        drop(state);
        if let Some(old) = evicted {
            info!(addr = %old.addr(), "evicting a discovered peer for a user-added one");
            old.cancel(DisconnectReason::Evicted);
        }
        Ok(peer)
    }

    /// Removes a peer: it is disconnected (its `on_peer_disconnected` gets
    /// [`DisconnectReason::Removed`] if it was connected) and no longer retried.
    ///
    /// Errors: [`Error::ClientNotStarted`], [`Error::PeerNotFound`].
    pub fn remove_peer(&self, addr: &str) -> Result<()> {
        let key = match PeerAddr::parse(addr) {
            Ok(a) => a.key().to_owned(),
            Err(_) => addr.trim().to_owned(),
        };
        let shared = self.shared();
        let mut state = lock(&shared.state);
        let run = match &mut *state {
            State::Running(run) => run,
            State::Idle => return Err(Error::ClientNotStarted),
        };
        let peer = run
            .peers
            .remove(&key)
            .ok_or(Error::PeerNotFound(key.clone()))?;
        if let Some(group) = peer.group() {
            run.groups.remove(group);
        }
        run.dropped.insert(key);
        if peer.is_discovered() {
            run.wake.notify_one();
        }
        drop(state);
        peer.cancel(DisconnectReason::Removed);
        Ok(())
    }

    /// Removes a peer by its id; see [`remove_peer`](BtcClient::remove_peer) (the same errors:
    /// [`Error::ClientNotStarted`] before `start`, [`Error::PeerNotFound`] for an unknown id).
    pub fn remove_peer_by_id(&self, id: u64) -> Result<()> {
        if !self.is_running() {
            return Err(Error::ClientNotStarted);
        }
        let addr = self
            .peer_by_id(id)
            .ok_or(Error::PeerNotFound(format!("#{id}")))?;
        self.remove_peer(addr.addr())
    }

    /// Number of managed peers (connected or not); 0 when the client is not started.
    pub fn peer_count(&self) -> usize {
        match &*lock(&self.shared().state) {
            State::Running(run) => run.peers.len(),
            State::Idle => 0,
        }
    }

    /// Sizes of the address book: entries in its new and tried tables, per kind of network and
    /// per network group. Available whether or not the client runs.
    pub fn address_book(&self) -> BookStats {
        lock(&self.shared().book).stats()
    }

    /// What the DNS seeds asked in the current run answered so far, in the order they
    /// answered: the addresses each added to the book, or why it did not answer. (With a
    /// proxy, a seed is asked through it and its answer is what the node the proxy reached
    /// under the seed's name told us.) Empty when none was asked
    /// (the book was not short, or seeding is off).
    pub fn dns_seed_answers(&self) -> Vec<DnsSeedAnswer> {
        lock(&self.shared().dns_answers).clone()
    }

    /// Imports the addresses of a Bitcoin Core `peers.dat` (of this client's network) into the
    /// address book: what Core tried goes to the tried table where its slot is free. Works
    /// whether or not the client runs; a running client may connect to them at once. Before
    /// the first `start`, the imported addresses are kept beside what `start` loads from
    /// [`crate::Config::address_book_path`], and saved with it.
    ///
    /// Errors: [`Error::PeersDat`] when the file cannot be read or is not a `peers.dat` of
    /// this network (nothing is imported then).
    pub fn import_peers_dat(&self, path: impl AsRef<Path>) -> Result<PeersDatImport> {
        let shared = self.shared();
        let data = crate::addrbook::read_peers_dat(path.as_ref())?;
        let imported = lock(&shared.book).import_peers_dat(&data, unix_now())?;
        info!(
            new = imported.added_new,
            tried = imported.added_tried,
            "peers.dat imported"
        );
        if let State::Running(run) = &*lock(&shared.state) {
            run.wake.notify_one();
        }
        Ok(imported)
    }

    /// Number of peers whose handshake has finished.
    pub fn connected_count(&self) -> usize {
        self.handles()
            .iter()
            .filter(|p| p.status() == PeerStatus::Connected)
            .count()
    }

    /// Handles of every managed peer.
    pub fn handles(&self) -> Vec<ManagedPeer> {
        match &*lock(&self.shared().state) {
            State::Running(run) => run.peers.values().cloned().collect(),
            State::Idle => Vec::new(),
        }
    }

    /// A snapshot of every managed peer, ordered by id.
    pub fn peers(&self) -> Vec<PeerSnapshot> {
        let mut all: Vec<PeerSnapshot> = self.handles().iter().map(|p| p.snapshot()).collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// The handle of a managed peer by address.
    pub fn peer(&self, addr: &str) -> Option<ManagedPeer> {
        let key = PeerAddr::parse(addr).ok()?;
        match &*lock(&self.shared().state) {
            State::Running(run) => run.peers.get(key.key()).cloned(),
            State::Idle => None,
        }
    }

    /// The handle of a managed peer by id.
    pub fn peer_by_id(&self, id: u64) -> Option<ManagedPeer> {
        // Searched under the lock: only the one handle found is cloned.
        match &*lock(&self.shared().state) {
            State::Running(run) => run.peers.values().find(|p| p.id() == id).cloned(),
            State::Idle => None,
        }
    }

    /// Sends a message to the peer at `addr`; see [`ManagedPeer::send`].
    ///
    /// Errors: [`Error::ClientNotStarted`], [`Error::PeerNotFound`],
    /// [`Error::PeerNotConnected`], [`Error::QueueFull`], [`Error::InvalidMessage`].
    pub fn send(&self, addr: &str, message: &NetworkMessage) -> Result<()> {
        self.lookup(addr)?.send(message)
    }

    /// Sends a raw message (command + payload) to the peer at `addr`.
    pub fn send_frame(&self, addr: &str, frame: Frame) -> Result<()> {
        self.lookup(addr)?.send_frame(frame)
    }

    fn lookup(&self, addr: &str) -> Result<ManagedPeer> {
        if !self.is_running() {
            return Err(Error::ClientNotStarted);
        }
        self.peer(addr)
            .ok_or_else(|| Error::PeerNotFound(addr.to_owned()))
    }
}

/// Recently removed or dropped addresses, kept for [`DroppedList::TTL`] and at most
/// [`DroppedList::CAP`] of them (the oldest go first), so that discovery does not redial a
/// peer the user removed or the health check gave up on.
#[derive(Default)]
struct DroppedList {
    at: HashMap<String, std::time::Instant>,
}

impl DroppedList {
    const TTL: Duration = Duration::from_secs(3600);
    const CAP: usize = 4096;

    fn insert(&mut self, key: String) {
        if self.at.len() >= Self::CAP {
            let now = std::time::Instant::now();
            self.at.retain(|_, t| now.duration_since(*t) < Self::TTL);
            if self.at.len() >= Self::CAP {
                if let Some(oldest) = self
                    .at
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    self.at.remove(&oldest);
                }
            }
        }
        self.at.insert(key, std::time::Instant::now());
    }

    fn contains(&self, key: &str) -> bool {
        self.at.get(key).is_some_and(|t| t.elapsed() < Self::TTL)
    }
}

/// Decides whether a discovered address becomes a peer: it must be new, routable and in a
/// network group no other peer occupies (the last two unless local addresses are allowed);
/// an onion address only when `onion` (an onion proxy is configured). Returns the peer
/// address and the group it takes.
fn admit(
    addr: BookAddr,
    onion: bool,
    allow_local: bool,
    taken: impl Fn(&str) -> bool,
    discovered_groups: &HashSet<Vec<u8>>,
    user_group: impl Fn(&[u8]) -> bool,
) -> Option<(PeerAddr, Option<Vec<u8>>)> {
    if addr.port == 0 || is_bad_port(addr.port) {
        return None;
    }
    let target = match addr.socket_addr() {
        Some(sock) => {
            let ip = sock.ip();
            if ip.is_unspecified() || ip.is_multicast() || ip == std::net::Ipv4Addr::BROADCAST {
                return None;
            }
            if !allow_local && !is_routable(ip) {
                return None;
            }
            PeerAddr::from_socket(sock)
        }
        None if onion => PeerAddr::from_book(addr),
        None => return None,
    };
    if taken(target.key()) {
        return None;
    }
    if allow_local {
        return Some((target, None));
    }
    let group = addr.net.group();
    if discovered_groups.contains(&group) || user_group(&group) {
        return None;
    }
    Some((target, Some(group)))
}

impl Shared {
    /// A client state that is never started, for driving one connection by hand (fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn detached(config: Config, handle: Handle) -> Arc<Shared> {
        Arc::new(Shared::new(config, handle, WeakClient::default()))
    }

    /// The state of a client that has not started, reaching its handle through `client`.
    fn new(config: Config, handle: Handle, client: WeakClient) -> Shared {
        Shared {
            attempt_permits: tokio::sync::Semaphore::new(MAX_CONCURRENT_ATTEMPTS),
            id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
            wire: config.wire(),
            book: Mutex::new(empty_book(&config)),
            dns_answers: Mutex::new(Vec::new()),
            v1_only: Mutex::new(HashSet::new()),
            config,
            handle,
            nonces: Mutex::new(HashSet::new()),
            next_peer_id: AtomicU64::new(1),
            state: Mutex::new(State::Idle),
            client,
        }
    }

    fn spawn_peer(
        self: &Arc<Self>,
        run: &mut Run,
        target: PeerAddr,
        discovered: bool,
        group: Option<Vec<u8>>,
    ) -> ManagedPeer {
        let id = self.next_peer_id.fetch_add(1, Ordering::Relaxed);
        let peer = ManagedPeer::new(
            id,
            target,
            discovered,
            group,
            run.cancel.child_token(),
            &self.config,
            run.generation,
            self.client.clone(),
        );
        run.peers.insert(peer.addr().to_owned(), peer.clone());
        let events = match &run.serialized {
            Some((tx, _)) => tx.clone(),
            None => {
                let (tx, rx) = mpsc::channel(self.config.event_queue_len);
                run.tracker
                    .spawn_on(run_concurrent(rx, run.deliverer.clone()), &self.handle);
                tx
            }
        };
        let span = tracing::info_span!("peer", id, addr = %peer.addr());
        let events = Events::new(events, run.abandon.clone(), &self.config.listeners);
        run.tracker.spawn_on(
            crate::connection::run_peer(Arc::clone(self), peer.clone(), events).instrument(span),
            &self.handle,
        );
        debug!(id, addr = %peer.addr(), discovered, "peer added");
        peer
    }

    /// Puts addresses heard from a peer (`source`) into the address book and wakes the task
    /// that keeps the outbound target. Returns how many were new to the book. `generation`
    /// is the run of the peer that heard them: a task of an older run adds nothing.
    pub(crate) fn hear(&self, generation: u64, source: Source, entries: &[AddrV2Message]) -> usize {
        let wake = match &*lock(&self.state) {
            State::Running(run) if run.generation == generation => run.wake.clone(),
            _ => return 0,
        };
        let added = lock(&self.book).add(entries, &source, unix_now());
        if added > 0 {
            debug!(added, heard = entries.len(), "addresses added to the book");
            wake.notify_one();
        }
        added
    }

    /// Addresses a DNS seed answered, into the book with the network's default port.
    fn seeded(&self, generation: u64, seed: &str, ips: &[std::net::IpAddr]) -> usize {
        let wake = match &*lock(&self.state) {
            State::Running(run) if run.generation == generation => run.wake.clone(),
            _ => return 0,
        };
        let now = unix_now();
        let port = self.config.network.default_port();
        let mut rng = rand::thread_rng();
        let entries: Vec<AddrV2Message> = ips
            .iter()
            .map(|ip| {
                use rand::Rng;
                // As Core: a seed's answer is dated 3 to 7 days ago.
                let age = rng.gen_range(3 * 86_400..7 * 86_400);
                AddrV2Message {
                    time: now.saturating_sub(age) as u32,
                    services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
                    addr: NetAddr::from_ip(*ip).to_addrv2(),
                    port,
                }
            })
            .collect();
        let added = lock(&self.book).add(&entries, &Source::seed(seed), now);
        info!(seed, answered = ips.len(), added, "DNS seed answered");
        if added > 0 {
            wake.notify_one();
        }
        added
    }

    /// Records the outcome of a connection attempt in the address book: a finished handshake
    /// (`outcome` Ok, with the services the peer announced) marks the address good (it moves
    /// to the tried table; an address the user added enters the book first), a failed attempt
    /// counts against it, unless the proxy failed: then the peer was not tried at all (as
    /// Core, which does not count an attempt whose proxy could not be reached), and a proxy
    /// outage leaves the book as it was.
    pub(crate) fn book_outcome(
        &self,
        peer: &ManagedPeer,
        outcome: std::result::Result<ServiceFlags, &ConnectFailure>,
    ) {
        if outcome.is_err_and(ConnectFailure::is_proxy_failure) {
            return;
        }
        let Some(addr) = peer.book_addr() else {
            return;
        };
        let now = unix_now();
        let mut book = lock(&self.book);
        match outcome {
            Ok(mut services) => {
                if lock(&self.v1_only).contains(peer.addr()) {
                    services = without_p2p_v2(services);
                }
                if book.get(&addr).is_none() {
                    let entry = AddrV2Message {
                        time: now as u32,
                        services,
                        addr: addr.net.to_addrv2(),
                        port: addr.port,
                    };
                    book.add(&[entry], &Source::Local, now);
                }
                book.set_services(&addr, services);
                book.good(&addr, now);
            }
            Err(_) => {
                book.attempt(&addr, true, now);
            }
        }
    }

    /// Whether [`Transport::V2Preferred`](crate::Transport::V2Preferred) tries v2 with this
    /// peer: yes for peers the user added, for discovered ones when the address book records
    /// `NODE_P2P_V2` for them; never once the peer was found v1-only.
    pub(crate) fn wants_v2(&self, peer: &ManagedPeer) -> bool {
        if lock(&self.v1_only).contains(peer.addr()) {
            return false;
        }
        if !peer.is_discovered() {
            return true;
        }
        match peer.book_addr() {
            Some(addr) => lock(&self.book)
                .get(&addr)
                .is_some_and(|e| e.services.has(ServiceFlags::P2P_V2)),
            None => false,
        }
    }

    /// The peer closed on our v2 key: speak v1 to it from now on, and stop recording
    /// `NODE_P2P_V2` for its address in the book.
    pub(crate) fn remember_v1_only(&self, peer: &ManagedPeer) {
        lock(&self.v1_only).insert(peer.addr().to_owned());
        let Some(addr) = peer.book_addr() else {
            return;
        };
        let mut book = lock(&self.book);
        if let Some(services) = book.get(&addr).map(|e| e.services) {
            book.set_services(&addr, without_p2p_v2(services));
        }
    }

    /// Writes the address book to `address_book_path`, if one is set; a failure is logged.
    fn save_book(&self) {
        let Some(path) = &self.config.address_book_path else {
            return;
        };
        let book = lock(&self.book).clone();
        match book.save(path) {
            Ok(()) => debug!(path = %path.display(), entries = book.len(), "address book saved"),
            Err(e) => warn!(path = %path.display(), "cannot save the address book: {e}"),
        }
    }

    /// Connected peers of the run `generation` (None if it is not the running one).
    fn connected_in(&self, generation: u64) -> Option<usize> {
        match &*lock(&self.state) {
            State::Running(run) if run.generation == generation => Some(
                run.peers
                    .values()
                    .filter(|p| p.status() == PeerStatus::Connected)
                    .count(),
            ),
            _ => None,
        }
    }

    /// Brings the discovered peers up to `target_outbound` (without passing `max_peers`),
    /// drawing addresses from the book: not already managed nor recently dropped, not a bad
    /// port, and (unless local addresses are allowed) routable and in a network group no
    /// other peer occupies. At the start of a run, tried addresses come first. Returns how
    /// many peers were added.
    pub(crate) fn fill_outbound(self: &Arc<Self>, generation: u64) -> usize {
        if !self.config.discovery {
            return 0;
        }
        let allow_local = self.config.allow_local_addresses;
        let onion = self.config.proxy_for_onion().is_some();
        let target = self.config.target_outbound.unwrap_or(self.config.max_peers);
        let mut state = lock(&self.state);
        let run = match &mut *state {
            State::Running(run) if run.generation == generation => run,
            _ => return 0,
        };
        let user_groups: HashSet<Vec<u8>> = run
            .peers
            .values()
            .filter(|p| !p.is_discovered())
            .filter_map(|p| p.target().book_addr().map(|a| a.net.group()))
            .collect();
        let now = unix_now();
        let mut rng = rand::thread_rng();
        let book = lock(&self.book);
        let mut added = 0;
        loop {
            let discovered = run.peers.values().filter(|p| p.is_discovered()).count();
            if discovered >= target || run.peers.len() >= self.config.max_peers {
                break;
            }
            let taken = |key: &str| run.peers.contains_key(key) || run.dropped.contains(key);
            let user_group = |g: &[u8]| user_groups.contains(g);
            let acceptable = |entry: &crate::addrbook::AddrEntry| {
                admit(
                    entry.addr,
                    onion,
                    allow_local,
                    taken,
                    &run.groups,
                    user_group,
                )
                .is_some()
            };
            let mut picked = None;
            if run.tried_first {
                picked = book.select(now, &mut rng, |e| e.in_tried && acceptable(e));
            }
            let tried_left = picked.is_some();
            if picked.is_none() {
                picked = book.select(now, &mut rng, acceptable);
            }
            let Some((target, group)) = picked
                .and_then(|e| admit(e.addr, onion, allow_local, taken, &run.groups, user_group))
            else {
                break;
            };
            if !tried_left {
                run.tried_first = false;
            }
            if let Some(g) = &group {
                run.groups.insert(g.clone());
            }
            self.spawn_peer(run, target, true, group);
            added += 1;
        }
        if added > 0 {
            info!(added, "peers chosen from the address book");
        }
        added
    }

    /// Drops discovered peers that are `Unhealthy`, or whose first connection attempt failed,
    /// to make room for others (user-added ones keep being retried).
    fn health_check(&self, generation: u64) {
        let mut dropped = Vec::new();
        {
            let mut state = lock(&self.state);
            let run = match &mut *state {
                State::Running(run) if run.generation == generation => run,
                _ => return,
            };
            let unhealthy: Vec<String> = run
                .peers
                .values()
                .filter(|p| {
                    p.is_discovered()
                        && (p.status() == PeerStatus::Unhealthy
                            || (p.info().is_none() && p.failure_count() > 0))
                })
                .map(|p| p.addr().to_owned())
                .collect();
            for key in unhealthy {
                if let Some(peer) = run.peers.remove(&key) {
                    if let Some(group) = peer.group() {
                        run.groups.remove(group);
                    }
                    run.dropped.insert(key);
                    dropped.push(peer);
                }
            }
        }
        for peer in dropped {
            info!(addr = %peer.addr(), "dropping unhealthy discovered peer");
            peer.cancel(DisconnectReason::Unhealthy);
        }
    }
}

/// Asks the DNS seeds when the address book is short, as Bitcoin Core does: at once when it
/// is empty; otherwise after [`Config::dns_seed_delay`] (5 minutes from 1,000 addresses on),
/// and then only if fewer than 2 peers are connected. Each seed's addresses enter the book.
async fn seed_from_dns(
    weak: Weak<Shared>,
    generation: u64,
    cancel: CancellationToken,
    seeds: Vec<String>,
) {
    let (known, delay, resolver, timeout) = match weak.upgrade() {
        Some(shared) => {
            let known = lock(&shared.book).len();
            let delay = match known {
                0 => Duration::ZERO,
                n if n < DNS_MANY_ADDRESSES => shared.config.dns_seed_delay,
                _ => DNS_DELAY_MANY.max(shared.config.dns_seed_delay),
            };
            (
                known,
                delay,
                shared.config.resolver.0.clone(),
                shared.config.connection_timeout,
            )
        }
        None => return,
    };
    if known > 0 {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let connected = match weak.upgrade() {
            Some(shared) => shared.connected_in(generation),
            None => None,
        };
        match connected {
            None => return,
            Some(n) if n >= DNS_ENOUGH_PEERS => {
                debug!(known, connected = n, "enough peers: DNS seeds not asked");
                return;
            }
            Some(_) => {}
        }
    }
    if let Some(shared) = weak.upgrade().filter(|s| s.config.proxy.is_some()) {
        // Through the proxy, nothing is resolved here: each seed is asked over an
        // address-fetch connection to its name, all at once (each waits for its answer).
        let fetches = seeds
            .into_iter()
            .map(|seed| fetch_from_seed(&shared, generation, &cancel, seed));
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = futures_util::future::join_all(fetches) => {}
        }
        return;
    }
    for seed in seeds {
        let answer = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(timeout, resolver.resolve(&seed)) => r,
        };
        let Some(shared) = weak.upgrade() else { return };
        let result = match answer {
            Ok(Ok(ips)) => Ok(shared.seeded(generation, &seed, &ips)),
            Ok(Err(e)) => {
                info!(seed, "DNS seed did not answer: {e}");
                Err(e.to_string())
            }
            Err(_) => {
                info!(seed, "DNS seed timed out");
                Err(format!("no answer within {timeout:?}"))
            }
        };
        if shared.connected_in(generation).is_some() {
            lock(&shared.dns_answers).push(DnsSeedAnswer { seed, result });
        }
    }
}

/// How long an address-fetch connection to a DNS seed waits for its answer (Bitcoin Core
/// answers `getaddr` after a random delay of tens of seconds).
const ADDR_FETCH_WAIT: Duration = Duration::from_secs(120);

/// Asks one DNS seed through the proxy, as Bitcoin Core does with `-proxy`: a short
/// connection to `seed` at the network's port (the proxy resolves the name and reaches one
/// of the seed's nodes), `getaddr`, and its answer into the book with the seed as source.
async fn fetch_from_seed(
    shared: &Arc<Shared>,
    generation: u64,
    cancel: &CancellationToken,
    seed: String,
) {
    let port = shared.config.network.default_port();
    let result = match PeerAddr::parse(&format!("{seed}:{port}")) {
        Err(e) => Err(e.to_string()),
        Ok(target) => {
            let peer = ManagedPeer::new(
                0,
                target,
                true,
                None,
                cancel.child_token(),
                &shared.config,
                generation,
                WeakClient::default(),
            );
            let span = tracing::info_span!("addr-fetch", seed = %seed);
            crate::connection::fetch_addresses(shared, &peer, ADDR_FETCH_WAIT)
                .instrument(span)
                .await
                .map(|heard| {
                    let added = shared.hear(generation, Source::seed(&seed), &heard);
                    info!(
                        seed,
                        answered = heard.len(),
                        added,
                        "DNS seed answered through the proxy"
                    );
                    added
                })
        }
    };
    if let Err(e) = &result {
        info!(seed, "DNS seed did not answer through the proxy: {e}");
    }
    if shared.connected_in(generation).is_some() {
        lock(&shared.dns_answers).push(DnsSeedAnswer { seed, result });
    }
}

/// What one DNS seed answered ([`BtcClient::dns_seed_answers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSeedAnswer {
    /// The seed's host name.
    pub seed: String,
    /// How many addresses it added to the book, or why it did not answer.
    pub result: std::result::Result<usize, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::network_group;
    use std::net::SocketAddr;

    fn run(addrs: &[&str], allow_local: bool, user: &[&str]) -> Vec<String> {
        let mut groups = HashSet::new();
        let mut keys: HashSet<String> = user.iter().map(|s| s.to_string()).collect();
        let mut admitted = Vec::new();
        for a in addrs {
            let sock: SocketAddr = a.parse().expect("socket address");
            let user_group = |g: &[u8]| {
                user.iter()
                    .any(|u| network_group(u.parse::<SocketAddr>().expect("addr").ip()) == g)
            };
            if let Some((t, g)) = admit(
                BookAddr::from(sock),
                false,
                allow_local,
                |k| keys.contains(k),
                &groups,
                user_group,
            ) {
                if let Some(g) = g {
                    groups.insert(g);
                }
                keys.insert(t.key().to_owned());
                admitted.push(t.key().to_owned());
            }
        }
        admitted
    }

    #[test]
    fn one_discovered_peer_per_network_group() {
        let got = run(
            &[
                "8.8.8.8:8333",
                "8.8.4.4:8333",
                "8.9.1.1:8333",
                "[2a01:4f8::1]:8333",
                "[2a01:4f8:ffff::2]:8333",
                "[2a01:4f9::1]:8333",
            ],
            false,
            &[],
        );
        assert_eq!(
            got,
            [
                "8.8.8.8:8333",
                "8.9.1.1:8333",
                "[2a01:4f8::1]:8333",
                "[2a01:4f9::1]:8333"
            ]
        );
    }

    #[test]
    fn a_user_peer_occupies_its_group_and_duplicates_are_skipped() {
        let got = run(
            &[
                "1.2.9.9:8333",
                "5.6.7.8:8333",
                "5.6.7.8:8333",
                "[::ffff:5.6.7.8]:8333",
            ],
            false,
            &["1.2.3.4:8333"],
        );
        assert_eq!(got, ["5.6.7.8:8333"]);
    }

    #[test]
    fn non_routable_and_port_zero_refused_unless_local_allowed() {
        let bad = [
            "127.0.0.1:6379",
            "10.0.0.1:8333",
            "192.168.0.1:8333",
            "[::1]:8333",
            "[fe80::1]:8333",
            "0.0.0.0:8333",
            "8.8.8.8:0",
        ];
        assert!(run(&bad, false, &[]).is_empty());
        // Simnet and regtest: local addresses are fine and groups are not enforced, but an
        // unspecified address or port 0 is still never dialled.
        assert_eq!(
            run(&bad, true, &[]),
            [
                "127.0.0.1:6379",
                "10.0.0.1:8333",
                "192.168.0.1:8333",
                "[::1]:8333",
                "[fe80::1]:8333"
            ]
        );
        assert_eq!(run(&["127.0.0.1:2", "127.0.0.1:3"], true, &[]).len(), 2);
        // Bitcoin Core's bad ports are never dialled, local addresses allowed or not; nor are
        // broadcast and multicast addresses.
        let bad = [
            "8.8.8.8:22",
            "8.8.8.8:25",
            "8.8.8.8:6667",
            "8.8.8.8:27017",
            "127.0.0.1:53",
            "255.255.255.255:8333",
            "224.0.0.1:8333",
        ];
        assert!(run(&bad, false, &[]).is_empty());
        assert!(run(&bad, true, &[]).is_empty());
    }

    #[test]
    fn onion_addresses_are_admitted_only_with_an_onion_proxy_one_per_group() {
        let onion = |first: u8, port: u16| BookAddr::new(NetAddr::TorV3([first; 32]), port);
        let none = |_: &str| false;
        let no_user = |_: &[u8]| false;
        let mut groups = HashSet::new();
        assert!(admit(onion(0x10, 8333), false, false, none, &groups, no_user).is_none());
        let (target, group) =
            admit(onion(0x10, 8333), true, false, none, &groups, no_user).expect("admitted");
        assert!(target.key().ends_with(".onion:8333"), "{}", target.key());
        assert_eq!(group, Some(vec![b'o', 0x10]));
        groups.insert(vec![b'o', 0x10]);
        // The same group (the key's first four bits) is taken; another is not.
        assert!(admit(onion(0x1f, 8333), true, false, none, &groups, no_user).is_none());
        assert!(admit(onion(0x20, 8333), true, false, none, &groups, no_user).is_some());
        // Bad ports and port 0 are never dialled, onion or not.
        assert!(admit(onion(0x20, 22), true, true, none, &groups, no_user).is_none());
        assert!(admit(onion(0x20, 0), true, true, none, &groups, no_user).is_none());
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;

    fn generation(client: &BtcClient) -> u64 {
        match &*lock(&client.shared().state) {
            State::Running(run) => run.generation,
            State::Idle => 0,
        }
    }

    #[tokio::test]
    async fn a_task_of_an_old_run_adds_no_peer_to_a_new_run() {
        let config = Config::builder()
            .network(crate::Network::Regtest)
            .allow_local_addresses(true)
            .build()
            .expect("config");
        let client = BtcClient::new(config).expect("client");
        client.start().expect("start");
        let old = generation(&client);
        client.stop(Duration::from_secs(1)).await.expect("stop");
        client.start().expect("start again");
        let new = generation(&client);
        assert_ne!(old, new);
        // Nothing listens on port 10 here; nothing is reached either way.
        let heard = AddrV2Message {
            time: unix_now() as u32,
            services: ServiceFlags::NETWORK,
            addr: bitcoin::p2p::address::AddrV2::Ipv4(std::net::Ipv4Addr::LOCALHOST),
            port: 10,
        };
        let source = Source::Peer(NetAddr::Ipv4(std::net::Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(
            client
                .shared()
                .hear(old, source, std::slice::from_ref(&heard)),
            0
        );
        assert_eq!(client.shared().fill_outbound(old), 0);
        client.shared().health_check(old);
        assert_eq!(client.peer_count(), 0);
        assert_eq!(client.address_book().new, 0);
        assert_eq!(client.shared().hear(new, source, &[heard]), 1);
        client.shared().fill_outbound(new);
        assert_eq!(client.peer_count(), 1);
        assert!(client.peers()[0].discovered);
        client.stop(Duration::from_secs(1)).await.expect("stop");
    }
}

#[cfg(test)]
mod dropped_tests {
    use super::DroppedList;

    #[test]
    fn bounded_and_remembers() {
        let mut d = DroppedList::default();
        for i in 0..DroppedList::CAP + 10 {
            d.insert(format!("k{i}"));
        }
        assert!(d.at.len() <= DroppedList::CAP);
        assert!(d.contains(&format!("k{}", DroppedList::CAP + 9)));
        assert!(!d.contains("never"));
    }
}
