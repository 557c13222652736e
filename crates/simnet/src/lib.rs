//! Simulated Bitcoin nodes on 127.0.0.1 for btcclient's tests.
//!
//! A [`Simnet`] is a set of [`SimNode`]s sharing one generated [`Chain`]. Each node listens on
//! its own loopback port and treats every connection as Bitcoin Core 29 treats an inbound peer:
//!
//! - it waits for the client's `version` (Core never speaks first to an inbound peer), then
//!   answers `version` (protocol 70016, `NODE_NETWORK | NODE_WITNESS | NODE_NETWORK_LIMITED`,
//!   start height = chain height), `wtxidrelay` and `sendaddrv2` (when the client's version is
//!   at least 70016) and `verack`;
//! - after the client's `verack` it sends what Core sends: `sendcmpct`, a first `ping`,
//!   `getheaders` (only to one client that offers blocks) and `feefilter`
//!   (see [`SimnetBuilder::core_greeting`]);
//! - `ping` gets `pong`; `getaddr` gets one `addr`/`addrv2` per connection after a delay;
//!   `getheaders`/`getblocks`/`getdata` are served from the chain (transactions from the node's
//!   mempool, see [`SimNode::add_tx`]);
//! - protocol violations are handled as Core handles them: a wrong magic, an oversized message,
//!   `sendaddrv2`/`wtxidrelay` after `verack`, over-long lists or bloom-filter requests cost the
//!   connection; a wrong checksum, an invalid command, an undecodable payload, a second
//!   `version` or a message sent before the handshake completes are ignored.
//!
//! With [`SimnetBuilder::v2`] a node also answers BIP324 v2 initiators as Core 26+ does.
//!
//! Faults ([`Fault`]) make a node misbehave on purpose, and [`SimNode::go_down`] /
//! [`SimNode::come_up`] take it off and back onto the same port.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bitcoin::p2p::message::NetworkMessage;
//! use bitcoin::p2p::message_network::VersionMessage;
//! use bitcoin::p2p::{address::Address, ServiceFlags};
//! use btcclient_simnet::Simnet;
//! use btcclient_wire::{FrameReader, FrameWriter, WireConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let simnet = Simnet::builder().nodes(2).chain_length(10).build().await?;
//! let node = simnet.node(0);
//!
//! // A bare client: TCP, then version/verack.
//! let stream = tokio::net::TcpStream::connect(node.addr()).await?;
//! let (rd, wr) = stream.into_split();
//! let config = WireConfig::new(bitcoin::Network::Regtest);
//! let (mut reader, mut writer) = (FrameReader::new(rd, &config), FrameWriter::new(wr, &config));
//! let any = Address::new(&"0.0.0.0:0".parse()?, ServiceFlags::NONE);
//! let mut version = VersionMessage::new(ServiceFlags::NONE, 0, any.clone(), any, 1, "/test/".into(), 0);
//! version.version = 70016;
//! writer.write_message(&NetworkMessage::Version(version)).await?;
//! let mut got = Vec::new();
//! while got.last().map(String::as_str) != Some("verack") {
//!     let frame = reader.read_frame().await?.ok_or("closed")?;
//!     got.push(frame.command.to_string());
//! }
//! assert_eq!(got, ["version", "wtxidrelay", "sendaddrv2", "verack"]);
//! writer.write_message(&NetworkMessage::Verack).await?;
//! assert!(node.wait_for_connections(1, Duration::from_secs(5)).await);
//! assert_eq!(node.received(), ["version", "verack"]);
//! simnet.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod chain;
mod conn;
mod node;
mod rng;
mod v2;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::Magic;
use bitcoin::{Network, Transaction};
use btcclient_wire::{Frame, SessionId, WireConfig};
use tokio::runtime::Handle;

pub use chain::{locator_heights, Chain, MAX_HEADERS_RESULTS, REGTEST_BITS};
use conn::MAX_PCT_ADDR_TO_SEND;
pub use conn::{node_services, node_services_with, PROTOCOL_VERSION};
pub use node::RECEIVED_LOG_LEN;

use node::{NodeInner, Shared};

/// The user agent simnet nodes announce by default.
pub const DEFAULT_USER_AGENT: &str = "/Satoshi:29.2.0/";
/// Default delay before a node answers `getaddr` (Core waits tens of seconds; tests need speed).
pub const DEFAULT_GETADDR_DELAY: Duration = Duration::from_millis(200);

/// A fault a node injects on purpose. Set with [`SimNode::set_fault`].
///
/// Faults apply to new connections; those that act after the handshake (stall, garbage, wrong
/// checksum, oversized length, addr flood, disconnect-after) also apply at once to live
/// connections that finished the handshake when they are set.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Stop listening while the port stays bound: a client's `connect` is refused
    /// (`ECONNREFUSED`). Live connections are kept. Clearing the fault listens again.
    RefuseConnections,
    /// Accept the TCP connection, then close it without sending a byte.
    AcceptThenClose,
    /// Accept and read (and record) everything, but never send anything, not even `version`:
    /// the client's handshake timeout must fire. Core itself would close after 60 s.
    NeverAnswerVersion,
    /// After the handshake, send the first half of a `headers` frame (as the connection's
    /// transport encodes it: on v2, half of the encrypted packet) and then nothing, keeping
    /// the socket open.
    StallMidMessage,
    /// After the handshake, send the first half of a `headers` frame (on v2, of its encrypted
    /// packet), then close the connection: a peer that handshakes and drops at once, every
    /// time.
    TruncateThenClose,
    /// After the handshake, send 64 to 255 random bytes that do not start with the network
    /// magic; then send nothing more. On v2 a client reads the first 3 as an encrypted packet
    /// length (up to 16 MiB): it refuses a length above its limit at once, and otherwise
    /// waits for a packet that never comes (as Core would, until its timeouts).
    SendGarbage,
    /// After the handshake, send a `ping` frame whose checksum is wrong, then carry on
    /// normally (the stream stays aligned on frames). On v2, the `ping` packet's
    /// authentication tag is wrong instead: BIP324 has no way to skip such a packet, and
    /// Core ends the connection.
    WrongChecksum,
    /// After the handshake, send a `block` header announcing a 33,000,000-byte payload; then
    /// send nothing more. On v2, a packet whose length field announces 16,777,215 bytes
    /// (the most 3 bytes can say).
    OversizedLength,
    /// After the handshake (after the Core greeting), send 20 `addr` messages (`addrv2` if the
    /// client sent `sendaddrv2`) of 1,000 entries each, then carry on normally.
    ///
    /// The entries are random **loopback** addresses (127.1.0.0–127.255.255.255, random ports),
    /// not public ones: this workplace forbids traffic to any address off the machine, and a
    /// client that dials flooded addresses must not produce any. A client that follows Core's
    /// routability rules discards them all.
    FloodAddr,
    /// Close the connection after sending this many messages in all, counting from the first
    /// (`version`, `wtxidrelay`, `sendaddrv2`, `verack`, then with the Core greeting
    /// `sendcmpct`, `ping`, `feefilter`, ...). `DisconnectAfter(0)` closes at once.
    DisconnectAfter(usize),
    /// After the handshake, stop reading; this long after it, close the connection with what
    /// the client sent still unread, so the kernel answers the client with a reset (RST).
    /// A client that keeps sending meets a socket reset under its writes.
    StopReadingThenReset(Duration),
    /// Apply [`StallMidMessage`](Fault::StallMidMessage) (half a `version` frame),
    /// [`SendGarbage`](Fault::SendGarbage), [`WrongChecksum`](Fault::WrongChecksum) (the
    /// `version` frame with a wrong checksum) or [`OversizedLength`](Fault::OversizedLength)
    /// (a `version` header announcing 33 MB) in place of the `version` reply, then send
    /// nothing more. Any other fault inside acts as if it were not wrapped.
    DuringHandshake(Box<Fault>),
    /// v2 node ([`SimnetBuilder::v2`]): on a v2 initiator, send the first 32 bytes of our
    /// 64-byte key, then close our side (the client has received something, so Core's rule
    /// does not retry over v1).
    V2CloseDuringKeyExchange,
    /// v2 node: send our key, then 4095 bytes of garbage and 16 bytes that are not our garbage
    /// terminator; then send nothing more. The client finds no terminator where BIP324 allows
    /// one.
    V2BadGarbageTerminator,
    /// v2 node: send 200 decoy packets (up to 63 bytes each) before our version packet, and
    /// three before every message after it. A client must skip them all.
    V2DecoyFlood,
    /// v2 node: derive the session keys with this network magic instead of the node's own, as
    /// a v2 node of another network does. A client recognises the other network only by its
    /// garbage terminator (see `btcclient_wire::WireError::V2WrongNetwork`).
    V2WrongMagic([u8; 4]),
}

/// The addresses nodes know, from which they answer `getaddr` as Bitcoin Core does: a random
/// 23 % of them, at most 1,000 (Core's `MAX_PCT_ADDR_TO_SEND`, `MAX_ADDR_TO_SEND`); fewer
/// than 5 known addresses give no answer at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AddrAdvertise {
    /// The other simnet nodes' 127.0.0.1 addresses, so discovery cascades.
    #[default]
    OtherNodes,
    /// These addresses.
    Fixed(Vec<SocketAddr>),
    /// Nothing: like a Core node with an empty address book, no `addr` message is sent at all.
    None,
}

/// Configures and starts a [`Simnet`]. Every setter takes and returns the builder.
#[derive(Clone, Debug)]
pub struct SimnetBuilder {
    nodes: usize,
    chain_length: u32,
    network: Network,
    magic: [u8; 4],
    getaddr_delay: Duration,
    getaddr_once: bool,
    getaddr_percent: u8,
    advertise: AddrAdvertise,
    ping_interval: Option<Duration>,
    user_agent: String,
    core_greeting: bool,
    v2: bool,
}

impl Default for SimnetBuilder {
    fn default() -> Self {
        SimnetBuilder {
            nodes: 1,
            chain_length: 100,
            network: Network::Regtest,
            magic: Magic::REGTEST.to_bytes(),
            getaddr_delay: DEFAULT_GETADDR_DELAY,
            getaddr_once: true,
            getaddr_percent: MAX_PCT_ADDR_TO_SEND,
            advertise: AddrAdvertise::OtherNodes,
            ping_interval: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            core_greeting: true,
            v2: true,
        }
    }
}

impl SimnetBuilder {
    /// Number of nodes (default 1).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Blocks after genesis (default 100).
    pub fn chain_length(mut self, n: u32) -> Self {
        self.chain_length = n;
        self
    }

    /// The network magic (default regtest, `fabfb5da`). The chain keeps the genesis block of
    /// the network set with [`network`](Self::network) (regtest by default).
    pub fn magic(mut self, magic: [u8; 4]) -> Self {
        self.magic = magic;
        self
    }

    /// The network: sets both the magic and the genesis block of the chain.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self.magic = Magic::from(network).to_bytes();
        self
    }

    /// Delay before a node answers `getaddr` (default 200 ms; Core: tens of seconds).
    pub fn getaddr_delay(mut self, delay: Duration) -> Self {
        self.getaddr_delay = delay;
        self
    }

    /// The share of its known addresses, in percent (1 to 100), a node answers `getaddr` with
    /// (default 23, Bitcoin Core's `MAX_PCT_ADDR_TO_SEND`). A small simulated network whose
    /// nodes know only each other answers nothing at Core's share (23 % of fewer than 5 is
    /// none); tests that want discovery to reach every node of such a network raise it.
    pub fn getaddr_percent(mut self, percent: u8) -> Self {
        self.getaddr_percent = percent.clamp(1, 100);
        self
    }

    /// Answer `getaddr` only once per connection, as Core does (default true).
    pub fn getaddr_once(mut self, once: bool) -> Self {
        self.getaddr_once = once;
        self
    }

    /// What `getaddr` returns (default [`AddrAdvertise::OtherNodes`]).
    pub fn advertise(mut self, mode: AddrAdvertise) -> Self {
        self.advertise = mode;
        self
    }

    /// Ping the client again this long after the previous ping, once its pong has arrived
    /// (Core: 2 minutes). Default `None`: no pings beyond the first one of the Core greeting.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// The user agent in the node's `version` (default `/Satoshi:29.2.0/`).
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_owned();
        self
    }

    /// Whether nodes send what Core sends right after the client's `verack` (default true):
    /// `sendcmpct(false, 2)`, a `ping`, a `getheaders` to one client whose `version` offers
    /// `NODE_NETWORK` or `NODE_NETWORK_LIMITED`, and `feefilter(100)`. With false, a node sends
    /// nothing unsolicited after the handshake (with a ping interval, its first ping comes after
    /// one interval).
    pub fn core_greeting(mut self, on: bool) -> Self {
        self.core_greeting = on;
        self
    }

    /// Whether nodes answer BIP324 v2 (default true, as Bitcoin Core 27+; false: v1-only, as
    /// Core with `-v2transport=0`).
    ///
    /// With true, a node does what Core does by default: it compares an inbound
    /// connection's first 16 bytes with the v1 prefix (magic, `version`), speaks v1 when they
    /// match and answers the v2 handshake (key, garbage, terminator, version packet) when they
    /// do not, and advertises `NODE_P2P_V2` ([`node_services_with`]). A v1-only node reads a
    /// v2 initiator's key as a v1 header, finds the magic wrong and disconnects, as Core does.
    pub fn v2(mut self, on: bool) -> Self {
        self.v2 = on;
        self
    }

    /// Generates the chain, binds one listener per node on `127.0.0.1:0` and starts them.
    ///
    /// Must be called inside a tokio runtime, which then runs the nodes.
    pub async fn build(self) -> io::Result<Simnet> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let (network, length) = (self.network, self.chain_length);
        let chain = tokio::task::spawn_blocking(move || Chain::generate(network, length))
            .await
            .map_err(io::Error::other)?;
        let mut sockets = Vec::with_capacity(self.nodes);
        let mut addrs = Vec::with_capacity(self.nodes);
        for _ in 0..self.nodes {
            let socket = node::bind_loopback()?;
            addrs.push(socket.local_addr()?);
            sockets.push(socket);
        }
        let shared = Arc::new(Shared {
            wire: WireConfig::custom(self.magic),
            chain: Arc::new(chain),
            getaddr_delay: self.getaddr_delay,
            getaddr_once: self.getaddr_once,
            getaddr_percent: usize::from(self.getaddr_percent),
            advertise: self.advertise,
            ping_interval: self.ping_interval,
            user_agent: self.user_agent,
            core_greeting: self.core_greeting,
            v2: self.v2,
            addrs,
            runtime,
            closed: AtomicBool::new(false),
        });
        let mut nodes = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            let inner = NodeInner::new(index, socket, shared.clone())?;
            nodes.push(SimNode { inner });
        }
        Ok(Simnet { shared, nodes })
    }
}

/// A set of simulated nodes sharing one chain. Dropping it shuts every node down (listeners
/// closed, connections dropped, tasks aborted).
#[derive(Debug)]
pub struct Simnet {
    shared: Arc<Shared>,
    nodes: Vec<SimNode>,
}

impl Simnet {
    /// A builder with the defaults.
    pub fn builder() -> SimnetBuilder {
        SimnetBuilder::default()
    }

    /// The nodes' addresses, in node order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.shared.addrs.clone()
    }

    /// Node `i`. Panics when `i >= nodes().len()`, like slice indexing.
    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// The chain every node serves.
    pub fn chain(&self) -> &Chain {
        &self.shared.chain
    }

    /// The wire settings (magic, payload limit) the nodes use.
    pub fn wire_config(&self) -> WireConfig {
        self.shared.wire
    }

    /// Shuts every node down and waits until all their tasks (and so all sockets) are gone.
    pub async fn shutdown(self) {
        let tasks = self.close();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn close(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.nodes.iter().flat_map(|n| n.inner.close()).collect()
    }
}

impl Drop for Simnet {
    fn drop(&mut self) {
        self.close();
    }
}

/// A handle to one node; cheap to clone.
#[derive(Clone, Debug)]
pub struct SimNode {
    inner: Arc<NodeInner>,
}

impl SimNode {
    /// The node's address (always `127.0.0.1:PORT`, the same across `go_down`/`come_up`).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The node's position in [`Simnet::nodes`].
    pub fn index(&self) -> usize {
        self.inner.index
    }

    /// Sets or clears the fault; see [`Fault`] for what applies to live connections.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.inner.set_fault(fault);
    }

    /// Sets what this node knows and answers `getaddr` from, in place of the simnet's
    /// [`SimnetBuilder::advertise`]; `None` returns to the simnet's. Applies to `getaddr`
    /// requests answered from now on.
    pub fn set_advertise(&self, mode: Option<AddrAdvertise>) {
        self.inner.set_advertise(mode);
    }

    /// The fault in force.
    pub fn fault(&self) -> Option<Fault> {
        self.inner.fault()
    }

    /// Closes the listener (new connections are refused) and drops every live connection. The
    /// port stays bound, so [`come_up`](Self::come_up) gets it back.
    pub fn go_down(&self) {
        self.inner.go_down();
    }

    /// Listens again on the same address. Fails after the simnet was shut down. Under
    /// [`Fault::RefuseConnections`] the node is up but listens only once the fault is cleared.
    pub async fn come_up(&self) -> io::Result<()> {
        self.inner.come_up()
    }

    /// Live connections that finished the handshake (the client's `verack` arrived).
    pub fn connections(&self) -> usize {
        self.inner.connections()
    }

    /// TCP connections accepted so far (including those a fault closed at once).
    pub fn accepted(&self) -> usize {
        self.inner.accepted()
    }

    /// Commands received from clients, in order, across connections (the last 10,000). Frames
    /// dropped for a wrong checksum or an invalid command are not listed.
    pub fn received(&self) -> Vec<String> {
        self.inner.received()
    }

    /// Forgets the commands received so far (and frees the log's memory).
    pub fn clear_received(&self) {
        self.inner.clear_received()
    }

    /// Sends `msg` to every client that finished the handshake; returns how many got it
    /// queued.
    pub fn push(&self, msg: NetworkMessage) -> usize {
        self.inner.push(&msg)
    }

    /// Sends a raw frame to every client that finished the handshake; returns how many got it
    /// queued.
    pub fn push_raw(&self, frame: Frame) -> usize {
        self.inner.push_raw(frame)
    }

    /// Puts a transaction into this node's mempool and announces it with `inv` (`MSG_WTX` to
    /// clients that sent `wtxidrelay`, `MSG_TX` otherwise) to clients whose `version` asked for
    /// transaction relay. `getdata` for it is then answered with `tx`. Like Core, a node serves
    /// only mempool transactions: the chain's coinbase transactions get `notfound`.
    pub fn add_tx(&self, tx: Transaction) {
        self.inner.add_tx(tx);
    }

    /// The session ids of the v2 connections this node accepted, in order (the last 10,000).
    pub fn v2_sessions(&self) -> Vec<SessionId> {
        self.inner.sessions()
    }

    /// Waits until at least `n` connections finished the handshake; false on timeout.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        self.inner.wait_for_connections(n, timeout).await
    }
}

/// The README's example compiles (`cargo test --doc`).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
