//! One simulated node: its listener, its live connections and what it observed.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::Transaction;
use btcclient_wire::{Frame, SessionId, WireConfig};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::conn::{self, Ctrl, Out, OUT_QUEUE};
use crate::{AddrAdvertise, Chain, Fault};

/// How many received commands a node remembers.
pub const RECEIVED_LOG_LEN: usize = 10_000;

/// Listen backlog of a node.
const BACKLOG: u32 = 1024;

/// Settings and state shared by all nodes of one simnet.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) wire: WireConfig,
    pub(crate) chain: Arc<Chain>,
    pub(crate) getaddr_delay: Duration,
    pub(crate) getaddr_once: bool,
    /// The share of known addresses in a `getaddr` answer, in percent.
    pub(crate) getaddr_percent: usize,
    pub(crate) advertise: AddrAdvertise,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) user_agent: String,
    pub(crate) core_greeting: bool,
    /// Whether nodes answer BIP324 v2 initiators (Core's `-v2transport`).
    pub(crate) v2: bool,
    /// Every node's address, in node order.
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) runtime: Handle,
    /// Set once the simnet is shut down: nothing listens again.
    pub(crate) closed: AtomicBool,
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not wedge the simnet).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct ListenState {
    /// Whether the node is up (`go_down` / `come_up`).
    up: bool,
    /// A bound, non-listening socket holding the port while nothing listens on it.
    reserved: Option<TcpSocket>,
    accept_task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
pub(crate) struct ConnEntry {
    out: mpsc::Sender<Out>,
    ctrl: mpsc::UnboundedSender<Ctrl>,
    handshaked: bool,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
pub(crate) struct NodeInner {
    pub(crate) index: usize,
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    listener: Mutex<Option<TcpListener>>,
    listen: Mutex<ListenState>,
    fault: Mutex<Option<Fault>>,
    /// This node's own `getaddr` answer, overriding the simnet's.
    advertise: Mutex<Option<AddrAdvertise>>,
    received: Mutex<VecDeque<String>>,
    accepted: AtomicUsize,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    connections: watch::Sender<usize>,
    next_id: AtomicU64,
    mempool: Mutex<Vec<Transaction>>,
    sync_peer: Mutex<Option<u64>>,
    sessions: Mutex<Vec<SessionId>>,
}

fn reserve(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Binds a fresh port on 127.0.0.1 (not yet listening).
pub(crate) fn bind_loopback() -> io::Result<TcpSocket> {
    reserve(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl NodeInner {
    pub(crate) fn new(
        index: usize,
        socket: TcpSocket,
        shared: Arc<Shared>,
    ) -> io::Result<Arc<Self>> {
        let addr = socket.local_addr()?;
        let node = Arc::new(NodeInner {
            index,
            addr,
            shared,
            listener: Mutex::new(None),
            listen: Mutex::new(ListenState {
                up: true,
                reserved: Some(socket),
                accept_task: None,
            }),
            fault: Mutex::new(None),
            advertise: Mutex::new(None),
            received: Mutex::new(VecDeque::new()),
            accepted: AtomicUsize::new(0),
            conns: Mutex::new(HashMap::new()),
            connections: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
            mempool: Mutex::new(Vec::new()),
            sync_peer: Mutex::new(None),
            sessions: Mutex::new(Vec::new()),
        });
        node.start_listening()?;
        Ok(node)
    }

    fn closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Listens on the node's address (using the reserved socket when there is one).
    fn start_listening(self: &Arc<Self>) -> io::Result<()> {
        if self.closed() {
            return Err(io::Error::other("simnet is shut down"));
        }
        let _runtime = self.shared.runtime.enter();
        let mut state = lock(&self.listen);
        if lock(&self.listener).is_some() {
            return Ok(());
        }
        let listener = match state.reserved.take() {
            Some(socket) => match socket.listen(BACKLOG) {
                Ok(listener) => listener,
                Err(_) => reserve(self.addr)?.listen(BACKLOG)?,
            },
            None => reserve(self.addr)?.listen(BACKLOG)?,
        };
        *lock(&self.listener) = Some(listener);
        if let Some(old) = state.accept_task.take() {
            old.abort();
        }
        state.accept_task = Some(self.shared.runtime.spawn(accept_loop(self.clone())));
        tracing::debug!(node = self.index, addr = %self.addr, "listening");
        Ok(())
    }

    /// Closes the listener at once (new connections are refused) and keeps the port bound.
    fn stop_listening(&self) {
        let mut state = lock(&self.listen);
        drop(lock(&self.listener).take());
        if let Some(task) = state.accept_task.take() {
            task.abort();
        }
        if state.reserved.is_none() && !self.closed() {
            match reserve(self.addr) {
                Ok(socket) => state.reserved = Some(socket),
                Err(e) => {
                    tracing::warn!(node = self.index, error = %e, "could not keep the port reserved")
                }
            }
        }
    }

    /// Drops every live connection; returns their tasks.
    fn drop_connections(&self) -> Vec<JoinHandle<()>> {
        let entries: Vec<ConnEntry> = {
            let mut conns = lock(&self.conns);
            let entries: Vec<ConnEntry> = conns.drain().map(|(_, e)| e).collect();
            let handshaked = entries.iter().filter(|e| e.handshaked).count();
            if handshaked > 0 {
                self.connections
                    .send_modify(|c| *c = c.saturating_sub(handshaked));
            }
            entries
        };
        *lock(&self.sync_peer) = None;
        entries
            .into_iter()
            .filter_map(|e| e.task)
            .inspect(|t| t.abort())
            .collect()
    }

    pub(crate) fn go_down(&self) {
        lock(&self.listen).up = false;
        self.stop_listening();
        self.drop_connections();
        tracing::debug!(node = self.index, "down");
    }

    pub(crate) fn come_up(self: &Arc<Self>) -> io::Result<()> {
        if self.closed() {
            return Err(io::Error::other("simnet is shut down"));
        }
        lock(&self.listen).up = true;
        if matches!(self.fault(), Some(Fault::RefuseConnections)) {
            return Ok(());
        }
        self.start_listening()
    }

    /// Stops everything for good; returns the tasks to wait for.
    pub(crate) fn close(&self) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        {
            let mut state = lock(&self.listen);
            state.up = false;
            drop(lock(&self.listener).take());
            state.reserved = None;
            if let Some(task) = state.accept_task.take() {
                task.abort();
                tasks.push(task);
            }
        }
        tasks.extend(self.drop_connections());
        tasks
    }

    pub(crate) fn fault(&self) -> Option<Fault> {
        lock(&self.fault).clone()
    }

    pub(crate) fn set_fault(self: &Arc<Self>, fault: Option<Fault>) {
        *lock(&self.fault) = fault.clone();
        let up = lock(&self.listen).up;
        if up && !self.closed() {
            if matches!(fault, Some(Fault::RefuseConnections)) {
                self.stop_listening();
            } else if lock(&self.listener).is_none() {
                if let Err(e) = self.start_listening() {
                    tracing::warn!(node = self.index, error = %e, "could not listen again");
                }
            }
        }
        for entry in lock(&self.conns).values() {
            let _ = entry.ctrl.send(Ctrl::Fault(fault.clone()));
        }
    }

    pub(crate) fn record_session(&self, id: SessionId) {
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= RECEIVED_LOG_LEN {
            sessions.remove(0);
        }
        sessions.push(id);
    }

    pub(crate) fn sessions(&self) -> Vec<SessionId> {
        lock(&self.sessions).clone()
    }

    pub(crate) fn record(&self, command: &str) {
        let mut log = lock(&self.received);
        if log.len() >= RECEIVED_LOG_LEN {
            log.pop_front();
        }
        log.push_back(command.to_owned());
    }

    pub(crate) fn clear_received(&self) {
        *lock(&self.received) = VecDeque::new();
    }

    pub(crate) fn received(&self) -> Vec<String> {
        lock(&self.received).iter().cloned().collect()
    }

    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub(crate) fn connections(&self) -> usize {
        *self.connections.borrow()
    }

    pub(crate) async fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.connections.subscribe();
        let reached = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await,
            Ok(Ok(_))
        );
        reached
    }

    /// Marks a connection as having finished the handshake; false if it was dropped meanwhile.
    pub(crate) fn mark_established(&self, id: u64) -> bool {
        let mut conns = lock(&self.conns);
        match conns.get_mut(&id) {
            Some(entry) if !entry.handshaked => {
                entry.handshaked = true;
                self.connections.send_modify(|c| *c += 1);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    pub(crate) fn remove_connection(&self, id: u64) {
        let mut conns = lock(&self.conns);
        if let Some(entry) = conns.remove(&id) {
            if entry.handshaked {
                self.connections.send_modify(|c| *c = c.saturating_sub(1));
            }
        }
        drop(conns);
        let mut sync = lock(&self.sync_peer);
        if *sync == Some(id) {
            *sync = None;
        }
    }

    /// Makes `id` the one peer this node asks for headers (Core syncs from one peer at a time);
    /// false when another connection already is.
    pub(crate) fn claim_sync_peer(&self, id: u64) -> bool {
        let mut sync = lock(&self.sync_peer);
        match *sync {
            Some(other) => other == id,
            None => {
                *sync = Some(id);
                true
            }
        }
    }

    pub(crate) fn push_raw(&self, frame: Frame) -> usize {
        lock(&self.conns)
            .values()
            .filter(|e| e.handshaked)
            .filter(|e| e.out.try_send(Out::Frame(frame.clone())).is_ok())
            .count()
    }

    pub(crate) fn push(&self, message: &NetworkMessage) -> usize {
        match Frame::from_message(message) {
            Ok(frame) => self.push_raw(frame),
            Err(_) => 0,
        }
    }

    pub(crate) fn add_tx(&self, tx: Transaction) {
        let txid = tx.compute_txid();
        let wtxid = tx.compute_wtxid();
        {
            let mut pool = lock(&self.mempool);
            if pool.iter().any(|t| t.compute_wtxid() == wtxid) {
                return;
            }
            pool.push(tx);
        }
        for entry in lock(&self.conns).values().filter(|e| e.handshaked) {
            let _ = entry.ctrl.send(Ctrl::AnnounceTx { txid, wtxid });
        }
    }

    pub(crate) fn mempool_tx(&self, pick: impl Fn(&Transaction) -> bool) -> Option<Transaction> {
        lock(&self.mempool).iter().find(|t| pick(t)).cloned()
    }

    /// Sets (or with `None` clears) this node's own `getaddr` answer.
    pub(crate) fn set_advertise(&self, mode: Option<AddrAdvertise>) {
        *lock(&self.advertise) = mode;
    }

    /// The addresses this node knows, from which it answers `getaddr`.
    pub(crate) fn advertised(&self) -> Vec<SocketAddr> {
        let own = lock(&self.advertise).clone();
        match own.as_ref().unwrap_or(&self.shared.advertise) {
            AddrAdvertise::OtherNodes => self
                .shared
                .addrs
                .iter()
                .copied()
                .filter(|a| *a != self.addr)
                .collect(),
            AddrAdvertise::Fixed(list) => list.clone(),
            AddrAdvertise::None => Vec::new(),
        }
    }

    fn spawn_connection(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let fault = self.fault().map(conn::normalise);
        if matches!(
            fault,
            Some(Fault::AcceptThenClose | Fault::RefuseConnections | Fault::DisconnectAfter(0))
        ) {
            tracing::debug!(node = self.index, %peer, ?fault, "closing a new connection at once");
            drop(stream);
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        lock(&self.conns).insert(
            id,
            ConnEntry {
                out: out_tx.clone(),
                ctrl: ctrl_tx,
                handshaked: false,
                task: None,
            },
        );
        let task = self.shared.runtime.spawn(conn::run(
            self.clone(),
            id,
            stream,
            peer,
            fault,
            out_tx,
            out_rx,
            ctrl_rx,
        ));
        let mut conns = lock(&self.conns);
        match conns.get_mut(&id) {
            Some(entry) => entry.task = Some(task),
            // Dropped by go_down (or already finished) before we stored the task.
            None => task.abort(),
        }
    }
}

async fn accept_loop(node: Arc<NodeInner>) {
    loop {
        let next = poll_fn(|cx| match lock(&node.listener).as_ref() {
            Some(listener) => listener.poll_accept(cx).map(Some),
            None => Poll::Ready(None),
        })
        .await;
        match next {
            None => return,
            Some(Ok((stream, peer))) => node.spawn_connection(stream, peer),
            Some(Err(e)) => {
                tracing::warn!(node = node.index, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
