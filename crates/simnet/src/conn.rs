//! One inbound connection, handled as Bitcoin Core 29 handles an inbound peer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::consensus::deserialize_partial;
use bitcoin::hashes::Hash;
use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetBlocksMessage, GetHeadersMessage, Inventory};
use bitcoin::p2p::message_compact_blocks::SendCmpct;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;
use bitcoin::{Block, BlockHash, Transaction, Txid, VarInt, Witness, Wtxid};
use btcclient_wire::{
    Frame, V1Codec, WireConfig, WireError, DEFAULT_MAX_PAYLOAD, HEADER_LEN, MAX_ADDR_ENTRIES,
    MAX_HEADERS_ENTRIES, MAX_INV_ENTRIES,
};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::Decoder;

use crate::node::NodeInner;
use crate::rng::Rng;
use crate::v2::{self, Opened, RecvCodec, SendCodec};
use crate::Fault;

/// Frames queued for one connection's writer before `push` reports it full.
pub(crate) const OUT_QUEUE: usize = 1024;
use btcclient_wire::MIN_PEER_PROTOCOL_VERSION as MIN_PEER_PROTO_VERSION;
pub use btcclient_wire::PROTOCOL_VERSION;
const BIP0031_VERSION: u32 = 60000;
const FEEFILTER_VERSION: u32 = 70013;
const SHORT_IDS_BLOCKS_VERSION: u32 = 70014;
const WTXID_RELAY_VERSION: u32 = 70016;
/// Core's `MAX_LOCATOR_SZ`.
const MAX_LOCATOR_SZ: usize = 101;
/// Core's `MAX_SUBVERSION_LENGTH`.
const MAX_SUBVERSION_LENGTH: u64 = 256;
/// Core's limit on blocks announced in answer to one `getblocks`.
const MAX_GETBLOCKS_RESULTS: usize = 500;
/// Core's `-peertimeout` default: an inbound peer must finish the handshake within it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// After the node closes its side, how long it still reads (so the client sees a clean FIN
/// rather than a reset caused by unread data).
const LINGER: Duration = Duration::from_secs(2);
/// The feefilter a Core 29.1+ node out of IBD sends (its default `-minrelaytxfee`, sat/kvB).
const FEE_FILTER: i64 = 100;
/// Size announced by the `OversizedLength` fault (33 MB, over every limit).
const OVERSIZED_LEN: u32 = 33_000_000;
/// `FloodAddr`: messages and entries per message.
const FLOOD_MESSAGES: usize = 20;
const FLOOD_ENTRIES: usize = 1_000;

/// Bitcoin Core's `MAX_PCT_ADDR_TO_SEND`: a `getaddr` answer holds at most this share (in
/// percent) of the addresses known (simnet's default).
pub(crate) const MAX_PCT_ADDR_TO_SEND: u8 = 23;

/// The services a v1-only simnet node advertises (the default): Core 29's defaults without
/// `NODE_P2P_V2`, `NODE_NETWORK | NODE_WITNESS | NODE_NETWORK_LIMITED` (1033).
pub fn node_services() -> ServiceFlags {
    node_services_with(false)
}

/// The services a simnet node advertises: with `v2` (see [`crate::SimnetBuilder::v2`]) also
/// `NODE_P2P_V2` (bit 11), 3081 in all, as a Core 29 node with its default `-v2transport=1`.
pub fn node_services_with(v2: bool) -> ServiceFlags {
    let mut flags = ServiceFlags::NETWORK.to_u64()
        | ServiceFlags::WITNESS.to_u64()
        | ServiceFlags::NETWORK_LIMITED.to_u64();
    if v2 {
        flags |= ServiceFlags::P2P_V2.to_u64();
    }
    ServiceFlags::from(flags)
}

/// What the node hands to a connection's writer.
#[derive(Debug)]
pub(crate) enum Out {
    Frame(Frame),
    /// Bytes written as they are (faults).
    Raw(Bytes),
    /// The first half of a frame as the connection's transport encodes it; then nothing more
    /// is sent (`close: false`) or the node closes the connection (`close: true`).
    Half {
        frame: Frame,
        close: bool,
    },
    /// A frame whose integrity check fails ([`SendCodec::encode_corrupt`]).
    Corrupt(Frame),
    /// The start of an oversized message ([`SendCodec::encode_oversized`]; `v1_header` on
    /// v1); then nothing more is sent.
    Oversized(Bytes),
    /// Close after this many messages in all (`DisconnectAfter`), or never.
    SetLimit(Option<usize>),
}

/// What the node tells a live connection.
#[derive(Debug)]
pub(crate) enum Ctrl {
    Fault(Option<Fault>),
    AnnounceTx { txid: Txid, wtxid: Wtxid },
}

/// `DuringHandshake` only changes the four faults that send something; anything else inside it
/// acts as if it were not wrapped.
pub(crate) fn normalise(fault: Fault) -> Fault {
    match fault {
        Fault::DuringHandshake(inner) => match *inner {
            Fault::StallMidMessage
            | Fault::SendGarbage
            | Fault::WrongChecksum
            | Fault::OversizedLength => Fault::DuringHandshake(inner),
            other => normalise(other),
        },
        other => other,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn frame_of(message: &NetworkMessage) -> Option<Frame> {
    Frame::from_message(message).ok()
}

/// The parts of a client's `version` that Core reads, parsed as leniently as Core does.
#[derive(Debug)]
struct PeerVersion {
    version: u32,
    services: ServiceFlags,
    relay: bool,
}

enum VersionError {
    /// Too short or malformed: Core's deserializer throws and the message is ignored.
    Malformed,
    /// Older than `MIN_PEER_PROTO_VERSION`: disconnect.
    Obsolete,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Mirrors Core's `VERSION` deserialization: version, services, time and addrMe are required;
/// addrFrom+nonce, user agent (at most 256 bytes), start height and relay (default true) are
/// each read only when bytes remain.
fn parse_version(payload: &[u8]) -> Result<PeerVersion, VersionError> {
    let mut c = Cursor(payload);
    let version = i32::from_le_bytes(c.array::<4>().ok_or(VersionError::Malformed)?);
    let services = u64::from_le_bytes(c.array::<8>().ok_or(VersionError::Malformed)?);
    c.take(8).ok_or(VersionError::Malformed)?; // time
    c.take(26).ok_or(VersionError::Malformed)?; // addrMe
    if i64::from(version) < i64::from(MIN_PEER_PROTO_VERSION) {
        return Err(VersionError::Obsolete);
    }
    if !c.is_empty() {
        c.take(26 + 8).ok_or(VersionError::Malformed)?; // addrFrom, nonce
    }
    if !c.is_empty() {
        let (VarInt(len), used) =
            deserialize_partial::<VarInt>(c.0).map_err(|_| VersionError::Malformed)?;
        if len > MAX_SUBVERSION_LENGTH {
            return Err(VersionError::Malformed);
        }
        c.take(used).ok_or(VersionError::Malformed)?;
        c.take(len as usize).ok_or(VersionError::Malformed)?;
    }
    if !c.is_empty() {
        c.take(4).ok_or(VersionError::Malformed)?; // start height
    }
    let mut relay = true;
    if !c.is_empty() {
        relay = c.array::<1>().ok_or(VersionError::Malformed)?[0] != 0;
    }
    Ok(PeerVersion {
        version: version as u32,
        services: ServiceFlags::from(services),
        relay,
    })
}

/// The leading CompactSize count of a list payload, if it parses.
fn count(payload: &[u8]) -> Option<u64> {
    deserialize_partial::<VarInt>(payload)
        .ok()
        .map(|(VarInt(n), _)| n)
}

fn strip_witness(tx: &Transaction) -> Transaction {
    let mut tx = tx.clone();
    for input in &mut tx.input {
        input.witness = Witness::new();
    }
    tx
}

fn strip_block(block: &Block) -> Block {
    Block {
        header: block.header,
        txdata: block.txdata.iter().map(strip_witness).collect(),
    }
}

enum Flow {
    Continue,
    Disconnect(&'static str),
}

/// Runs one accepted connection until it ends or is aborted.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    node: Arc<NodeInner>,
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    fault: Option<Fault>,
    out_tx: mpsc::Sender<Out>,
    out_rx: mpsc::Receiver<Out>,
    ctrl_rx: mpsc::UnboundedReceiver<Ctrl>,
) {
    struct Guard(Arc<NodeInner>, u64);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.remove_connection(self.1);
        }
    }
    let _guard = Guard(node.clone(), id);
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let limit = match &fault {
        Some(Fault::DisconnectAfter(n)) => Some(*n),
        _ => None,
    };
    let wire = node.shared.wire;
    let (recv, send, buffered) = if node.shared.v2 {
        let mut rng = Rng::new();
        let opened = v2::open(&mut rd, &mut wr, &wire, fault.as_ref(), &mut rng);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, opened).await {
            Err(_) => {
                tracing::debug!(node = node.index, %peer, "v2 handshake timeout");
                return;
            }
            Ok(Opened::Closed(why)) => {
                tracing::debug!(node = node.index, %peer, reason = why, "connection ended");
                return;
            }
            Ok(Opened::V1(buffered)) => (
                RecvCodec::V1(V1Codec::new(&wire)),
                SendCodec::V1(V1Codec::new(&wire)),
                buffered,
            ),
            Ok(Opened::V2 {
                recv,
                send,
                session_id,
                buffered,
            }) => {
                tracing::debug!(node = node.index, %peer, %session_id, "v2 session");
                node.record_session(session_id);
                (recv, send, buffered)
            }
        }
    } else {
        (
            RecvCodec::V1(V1Codec::new(&wire)),
            SendCodec::V1(V1Codec::new(&wire)),
            BytesMut::with_capacity(8 * 1024),
        )
    };
    let writer = write_loop(wr, out_rx, send, limit);
    let conn = Conn::new(node.clone(), id, out_tx, fault);
    let logic = conn.run(rd, ctrl_rx, recv, buffered);
    tokio::pin!(writer);
    tokio::pin!(logic);
    tokio::select! {
        _ = &mut writer => {
            tracing::debug!(node = node.index, %peer, "node closed its side");
            let _ = tokio::time::timeout(LINGER, &mut logic).await;
        }
        why = &mut logic => {
            tracing::debug!(node = node.index, %peer, reason = why, "connection ended");
        }
    }
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Out>,
    mut codec: SendCodec,
    mut limit: Option<usize>,
) {
    let mut sent = 0usize;
    let mut stalled = false;
    let mut buf = BytesMut::new();
    loop {
        if limit.is_some_and(|l| sent >= l) {
            let _ = wr.shutdown().await;
            return;
        }
        let Some(out) = rx.recv().await else {
            let _ = wr.shutdown().await;
            return;
        };
        let bytes = match out {
            Out::SetLimit(l) => {
                limit = l;
                continue;
            }
            _ if stalled => continue,
            Out::Frame(frame) => {
                buf.clear();
                if codec.encode_frame(&frame, &mut buf).is_err() {
                    tracing::warn!(command = %frame.command, "frame over the payload limit not sent");
                    continue;
                }
                buf.split().freeze()
            }
            Out::Raw(bytes) => bytes,
            Out::Half { frame, close } => {
                buf.clear();
                if codec.encode_frame(&frame, &mut buf).is_err() {
                    continue;
                }
                let half = buf.split_to(buf.len() / 2);
                let _ = wr.write_all(&half).await;
                if close {
                    let _ = wr.shutdown().await;
                    return;
                }
                stalled = true;
                continue;
            }
            Out::Corrupt(frame) => {
                buf.clear();
                codec.encode_corrupt(&frame, &mut buf);
                buf.split().freeze()
            }
            Out::Oversized(v1_header) => {
                buf.clear();
                codec.encode_oversized(&v1_header, &mut buf);
                stalled = true;
                buf.split().freeze()
            }
        };
        if wr.write_all(&bytes).await.is_err() {
            return;
        }
        sent += 1;
    }
}

/// Reads the next complete frame as Core's v1 transport does: a wrong checksum or an invalid
/// command drops that message only; a wrong magic or an oversized length ends the connection.
fn next_frame(
    codec: &mut RecvCodec,
    buf: &mut BytesMut,
    skip: &mut usize,
) -> Result<Option<Frame>, &'static str> {
    let codec = match codec {
        RecvCodec::V1(codec) => codec,
        // Core's V2Transport: an oversized length or a packet that fails authentication ends
        // the connection; decoys and unreadable message types are dropped (by the decoder).
        RecvCodec::V2(codec) => {
            return match codec.decode(buf) {
                Ok(frame) => Ok(frame),
                Err(WireError::V2Decryption) => Err("v2 packet failed authentication"),
                Err(_) => Err("oversized message"),
            }
        }
    };
    loop {
        if *skip > 0 {
            let n = (*skip).min(buf.len());
            buf.advance(n);
            *skip -= n;
            if *skip > 0 {
                return Ok(None);
            }
        }
        match codec.decode(buf) {
            Ok(frame) => return Ok(frame),
            Err(WireError::ChecksumMismatch { command, .. }) => {
                tracing::debug!(%command, "wrong checksum: message dropped");
            }
            Err(WireError::BadCommand { .. }) if buf.len() >= HEADER_LEN => {
                // The header is still buffered (the codec did not consume it).
                let len = u32::from_le_bytes([buf[16], buf[17], buf[18], buf[19]]) as usize;
                if len > DEFAULT_MAX_PAYLOAD {
                    return Err("oversized message");
                }
                tracing::debug!("invalid message type: message dropped");
                buf.advance(HEADER_LEN);
                *skip = len;
            }
            Err(WireError::WrongMagic { .. }) => return Err("wrong magic"),
            Err(WireError::PayloadTooLarge { .. }) => return Err("oversized message"),
            Err(_) => return Err("unreadable header"),
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Conn {
    node: Arc<NodeInner>,
    id: u64,
    out: mpsc::Sender<Out>,
    rng: Rng,
    fault: Option<Fault>,
    /// Sends nothing more (after a fault that broke the stream, or `NeverAnswerVersion`).
    silent: bool,
    /// Reads nothing more (`StopReadingThenReset`).
    deaf: bool,
    /// When to close with unread data (`StopReadingThenReset`).
    reset_at: Option<Instant>,
    peer: Option<PeerVersion>,
    common_version: u32,
    wants_addrv2: bool,
    wtxid_relay: bool,
    handshake_done: bool,
    getaddr_seen: bool,
    getaddr_due: Option<Instant>,
    ping_nonce: Option<u64>,
    ping_start: Instant,
    next_ping: Option<Instant>,
    started: Instant,
}

impl Conn {
    fn new(node: Arc<NodeInner>, id: u64, out: mpsc::Sender<Out>, fault: Option<Fault>) -> Conn {
        let now = Instant::now();
        Conn {
            node,
            id,
            out,
            rng: Rng::new(),
            fault,
            silent: false,
            deaf: false,
            reset_at: None,
            peer: None,
            common_version: 0,
            wants_addrv2: false,
            wtxid_relay: false,
            handshake_done: false,
            getaddr_seen: false,
            getaddr_due: None,
            ping_nonce: None,
            ping_start: now,
            next_ping: None,
            started: now,
        }
    }

    async fn run(
        mut self,
        mut rd: OwnedReadHalf,
        mut ctrl: mpsc::UnboundedReceiver<Ctrl>,
        mut codec: RecvCodec,
        mut buf: BytesMut,
    ) -> &'static str {
        let mut skip = 0usize;
        let handshake_deadline = self.started + HANDSHAKE_TIMEOUT;
        loop {
            loop {
                match next_frame(&mut codec, &mut buf, &mut skip) {
                    Ok(Some(frame)) => {
                        if let Flow::Disconnect(why) = self.handle(frame).await {
                            return why;
                        }
                    }
                    Ok(None) => break,
                    Err(why) => return why,
                }
            }
            tokio::select! {
                read = rd.read_buf(&mut buf), if !self.deaf => match read {
                    Ok(0) => return "closed by the client",
                    Ok(_) => {}
                    Err(_) => return "read error",
                },
                _ = sleep_opt(self.getaddr_due) => self.answer_getaddr().await,
                _ = sleep_opt(self.next_ping) => self.ping_due().await,
                _ = sleep_opt(self.reset_at) => return "reset with unread data (fault)",
                _ = sleep_until(handshake_deadline), if !self.handshake_done => {
                    return "version handshake timeout";
                }
                Some(c) = ctrl.recv() => self.on_ctrl(c).await,
            }
        }
    }

    async fn out(&mut self, out: Out) {
        let _ = self.out.send(out).await;
    }

    async fn send(&mut self, message: NetworkMessage) {
        if self.silent {
            return;
        }
        if let Some(frame) = frame_of(&message) {
            self.out(Out::Frame(frame)).await;
        }
    }

    fn wire(&self) -> WireConfig {
        self.node.shared.wire
    }

    async fn handle(&mut self, frame: Frame) -> Flow {
        let command = frame.command.as_str();
        self.node.record(command);
        let payload = &frame.payload[..];
        if command == "version" {
            return self.on_version(payload).await;
        }
        if self.peer.is_none() {
            // Core: "non-version message before version handshake".
            return Flow::Continue;
        }
        match command {
            "verack" => {
                if !self.handshake_done {
                    self.on_verack().await;
                }
                return Flow::Continue;
            }
            "wtxidrelay" => {
                if self.handshake_done {
                    return Flow::Disconnect("wtxidrelay received after verack");
                }
                if self.common_version >= WTXID_RELAY_VERSION {
                    self.wtxid_relay = true;
                }
                return Flow::Continue;
            }
            "sendaddrv2" => {
                if self.handshake_done {
                    return Flow::Disconnect("sendaddrv2 received after verack");
                }
                self.wants_addrv2 = true;
                return Flow::Continue;
            }
            _ => {}
        }
        if !self.handshake_done {
            // Core: "Unsupported message prior to verack".
            return Flow::Continue;
        }
        match command {
            "ping" => {
                if let Some(nonce) = payload.get(..8) {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(nonce);
                    self.send(NetworkMessage::Pong(u64::from_le_bytes(n))).await;
                }
            }
            "pong" => self.on_pong(payload),
            "getaddr" => self.on_getaddr(),
            "getheaders" => return self.on_getheaders(payload).await,
            "getblocks" => return self.on_getblocks(payload).await,
            "getdata" => return self.on_getdata(payload).await,
            "addr" | "addrv2" if count(payload).is_some_and(|n| n > MAX_ADDR_ENTRIES as u64) => {
                return Flow::Disconnect("addr message size over 1000");
            }
            "inv" if count(payload).is_some_and(|n| n > MAX_INV_ENTRIES as u64) => {
                return Flow::Disconnect("inv message size over 50000");
            }
            "headers" if count(payload).is_some_and(|n| n > MAX_HEADERS_ENTRIES as u64) => {
                return Flow::Disconnect("headers message size over 2000");
            }
            // Core offers neither bloom filters nor compact block filters by default.
            "mempool" | "filterload" | "filteradd" | "filterclear" => {
                return Flow::Disconnect("bloom filter message without NODE_BLOOM");
            }
            "getcfilters" | "getcfheaders" | "getcfcheckpt" => {
                return Flow::Disconnect("unsupported block filter request");
            }
            _ => {}
        }
        Flow::Continue
    }

    async fn on_version(&mut self, payload: &[u8]) -> Flow {
        if self.peer.is_some() {
            // Core 28+: "redundant version message", ignored.
            return Flow::Continue;
        }
        let peer = match parse_version(payload) {
            Ok(peer) => peer,
            Err(VersionError::Obsolete) => return Flow::Disconnect("obsolete protocol version"),
            Err(VersionError::Malformed) => return Flow::Continue,
        };
        self.common_version = peer.version.min(PROTOCOL_VERSION);
        self.peer = Some(peer);
        match self.fault.clone() {
            Some(Fault::NeverAnswerVersion) => {
                self.silent = true;
                return Flow::Continue;
            }
            Some(Fault::DuringHandshake(inner)) => {
                self.handshake_fault(&inner).await;
                return Flow::Continue;
            }
            _ => {}
        }
        let version = self.our_version();
        self.send(version).await;
        if self.common_version >= WTXID_RELAY_VERSION {
            self.send(NetworkMessage::WtxidRelay).await;
        }
        if self.common_version >= PROTOCOL_VERSION {
            self.send(NetworkMessage::SendAddrV2).await;
        }
        self.send(NetworkMessage::Verack).await;
        Flow::Continue
    }

    fn our_version(&mut self) -> NetworkMessage {
        let unspecified = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0);
        NetworkMessage::Version(VersionMessage {
            version: PROTOCOL_VERSION,
            services: node_services_with(self.node.shared.v2),
            timestamp: now_secs() as i64,
            // Core puts the peer's address here only when it is routable (loopback is not).
            receiver: Address::new(&unspecified, ServiceFlags::NONE),
            sender: Address::new(&unspecified, node_services()),
            nonce: self.rng.nonce(),
            user_agent: self.node.shared.user_agent.clone(),
            start_height: self.node.shared.chain.height() as i32,
            relay: true,
        })
    }

    async fn on_verack(&mut self) {
        if self.silent {
            // We never sent our version: the handshake cannot complete.
            return;
        }
        self.handshake_done = true;
        if !self.node.mark_established(self.id) {
            return;
        }
        let fault = self.fault.clone();
        let breaks_stream = matches!(
            fault,
            Some(
                Fault::StallMidMessage
                    | Fault::TruncateThenClose
                    | Fault::SendGarbage
                    | Fault::OversizedLength
            )
        );
        if !breaks_stream {
            self.greeting().await;
        }
        if let Some(fault) = fault {
            self.post_handshake_fault(&fault).await;
        }
    }

    /// What Core sends an inbound peer right after its verack: `sendcmpct`, a first `ping`,
    /// `getheaders` (only to one peer offering blocks) and `feefilter`.
    async fn greeting(&mut self) {
        if !self.node.shared.core_greeting {
            if let Some(interval) = self.node.shared.ping_interval {
                self.next_ping = Some(Instant::now() + interval);
            }
            return;
        }
        if self.common_version >= SHORT_IDS_BLOCKS_VERSION {
            self.send(NetworkMessage::SendCmpct(SendCmpct {
                send_compact: false,
                version: 2,
            }))
            .await;
        }
        if self.common_version > BIP0031_VERSION {
            self.send_ping().await;
        }
        let serves_blocks = self.peer.as_ref().is_some_and(|p| {
            p.services.has(ServiceFlags::NETWORK) || p.services.has(ServiceFlags::NETWORK_LIMITED)
        });
        if serves_blocks && self.node.claim_sync_peer(self.id) {
            let chain = &self.node.shared.chain;
            let locator = chain.locator(chain.height().saturating_sub(1));
            self.send(NetworkMessage::GetHeaders(GetHeadersMessage {
                version: PROTOCOL_VERSION,
                locator_hashes: locator,
                stop_hash: BlockHash::all_zeros(),
            }))
            .await;
        }
        if self.common_version >= FEEFILTER_VERSION {
            self.send(NetworkMessage::FeeFilter(FEE_FILTER)).await;
        }
    }

    async fn send_ping(&mut self) {
        let nonce = self.rng.nonce();
        let now = Instant::now();
        self.ping_nonce = Some(nonce);
        self.ping_start = now;
        self.next_ping = self.node.shared.ping_interval.map(|d| now + d);
        self.send(NetworkMessage::Ping(nonce)).await;
    }

    async fn ping_due(&mut self) {
        self.next_ping = None;
        if self.ping_nonce.is_none() {
            self.send_ping().await;
        }
        // Otherwise Core waits for the outstanding pong before pinging again.
    }

    fn on_pong(&mut self, payload: &[u8]) {
        let Some(bytes) = payload.get(..8) else {
            return;
        };
        let mut n = [0u8; 8];
        n.copy_from_slice(bytes);
        let nonce = u64::from_le_bytes(n);
        if self.ping_nonce.is_some() && (self.ping_nonce == Some(nonce) || nonce == 0) {
            self.ping_nonce = None;
            if self.next_ping.is_none() {
                if let Some(interval) = self.node.shared.ping_interval {
                    self.next_ping = Some((self.ping_start + interval).max(Instant::now()));
                }
            }
        }
    }

    fn on_getaddr(&mut self) {
        if self.getaddr_seen && self.node.shared.getaddr_once {
            // Core: "Ignoring repeated getaddr".
            return;
        }
        self.getaddr_seen = true;
        if self.getaddr_due.is_none() {
            self.getaddr_due = Some(Instant::now() + self.node.shared.getaddr_delay);
        }
    }

    async fn answer_getaddr(&mut self) {
        self.getaddr_due = None;
        let mut addrs = self.node.advertised();
        // As Core's GetAddr: a random 23 % of what it knows, at most 1,000.
        let n = (addrs.len() * self.node.shared.getaddr_percent / 100).min(MAX_ADDR_ENTRIES);
        for i in 0..n {
            let j = i + self.rng.below((addrs.len() - i) as u64) as usize;
            addrs.swap(i, j);
        }
        addrs.truncate(n);
        if addrs.is_empty() {
            // Core sends nothing rather than an empty addr message.
            return;
        }
        let message = self.addr_message(&addrs, now_secs() as u32);
        self.send(message).await;
    }

    /// `addrs` as this peer wants them: `addrv2` after its `sendaddrv2`, else `addr`. Each
    /// address carries the services of a node like this one (`NODE_P2P_V2` when nodes
    /// speak v2).
    fn addr_message(&self, addrs: &[SocketAddr], time: u32) -> NetworkMessage {
        let services = node_services_with(self.node.shared.v2);
        if self.wants_addrv2 {
            NetworkMessage::AddrV2(addrs.iter().map(|a| addrv2(a, time, services)).collect())
        } else {
            NetworkMessage::Addr(
                addrs
                    .iter()
                    .map(|a| (time, Address::new(a, services)))
                    .collect(),
            )
        }
    }

    async fn on_getheaders(&mut self, payload: &[u8]) -> Flow {
        let Ok((request, _)) = deserialize_partial::<GetHeadersMessage>(payload) else {
            return Flow::Continue;
        };
        if request.locator_hashes.len() > MAX_LOCATOR_SZ {
            return Flow::Disconnect("getheaders locator size over 101");
        }
        let chain = self.node.shared.chain.clone();
        if request.locator_hashes.is_empty() && chain.height_of(&request.stop_hash).is_none() {
            return Flow::Continue;
        }
        let headers = chain.locate(&request.locator_hashes, request.stop_hash);
        self.send(NetworkMessage::Headers(headers)).await;
        Flow::Continue
    }

    async fn on_getblocks(&mut self, payload: &[u8]) -> Flow {
        let Ok((request, _)) = deserialize_partial::<GetBlocksMessage>(payload) else {
            return Flow::Continue;
        };
        if request.locator_hashes.len() > MAX_LOCATOR_SZ {
            return Flow::Disconnect("getblocks locator size over 101");
        }
        let chain = self.node.shared.chain.clone();
        let fork = request
            .locator_hashes
            .iter()
            .find_map(|h| chain.height_of(h))
            .unwrap_or(0);
        let mut inv = Vec::new();
        for height in fork + 1..=chain.height() {
            let Some(hash) = chain.hash_at(height) else {
                break;
            };
            if hash == request.stop_hash {
                break;
            }
            inv.push(Inventory::Block(hash));
            if inv.len() >= MAX_GETBLOCKS_RESULTS {
                break;
            }
        }
        if !inv.is_empty() {
            self.send(NetworkMessage::Inv(inv)).await;
        }
        Flow::Continue
    }

    /// Core's `ProcessGetData`: transactions come from the mempool (`notfound` for the others,
    /// sent after each run of transaction requests); known blocks are sent, unknown ones are
    /// ignored silently.
    async fn on_getdata(&mut self, payload: &[u8]) -> Flow {
        if count(payload).is_some_and(|n| n > MAX_INV_ENTRIES as u64) {
            return Flow::Disconnect("getdata message size over 50000");
        }
        let Ok((items, _)) = deserialize_partial::<Vec<Inventory>>(payload) else {
            return Flow::Continue;
        };
        let chain = self.node.shared.chain.clone();
        let mut notfound = Vec::new();
        for item in items {
            match item {
                Inventory::Transaction(txid) => {
                    match self.node.mempool_tx(|t| t.compute_txid() == txid) {
                        Some(tx) => self.send(NetworkMessage::Tx(strip_witness(&tx))).await,
                        None => notfound.push(item),
                    }
                }
                Inventory::WitnessTransaction(txid) => {
                    match self.node.mempool_tx(|t| t.compute_txid() == txid) {
                        Some(tx) => self.send(NetworkMessage::Tx(tx)).await,
                        None => notfound.push(item),
                    }
                }
                Inventory::WTx(wtxid) => match self.node.mempool_tx(|t| t.compute_wtxid() == wtxid)
                {
                    Some(tx) => self.send(NetworkMessage::Tx(tx)).await,
                    None => notfound.push(item),
                },
                other => {
                    match other {
                        Inventory::Block(hash) => {
                            if let Some(block) = chain.block(&hash) {
                                self.send(NetworkMessage::Block(strip_block(block))).await;
                            }
                        }
                        Inventory::WitnessBlock(hash) | Inventory::CompactBlock(hash) => {
                            if let Some(block) = chain.block(&hash) {
                                self.send(NetworkMessage::Block(block.clone())).await;
                            }
                        }
                        _ => {}
                    }
                    if !notfound.is_empty() {
                        let list = std::mem::take(&mut notfound);
                        self.send(NetworkMessage::NotFound(list)).await;
                    }
                }
            }
        }
        if !notfound.is_empty() {
            self.send(NetworkMessage::NotFound(notfound)).await;
        }
        Flow::Continue
    }

    async fn on_ctrl(&mut self, ctrl: Ctrl) {
        match ctrl {
            Ctrl::Fault(fault) => {
                let fault = fault.map(normalise);
                let limit = match &fault {
                    Some(Fault::DisconnectAfter(n)) => Some(*n),
                    _ => None,
                };
                self.out(Out::SetLimit(limit)).await;
                self.fault = fault.clone();
                if self.handshake_done && !self.silent {
                    if let Some(fault) = fault {
                        self.post_handshake_fault(&fault).await;
                    }
                }
            }
            Ctrl::AnnounceTx { txid, wtxid } => {
                let relay = self.peer.as_ref().is_some_and(|p| p.relay);
                if self.handshake_done && relay {
                    let item = if self.wtxid_relay {
                        Inventory::WTx(wtxid)
                    } else {
                        Inventory::Transaction(txid)
                    };
                    self.send(NetworkMessage::Inv(vec![item])).await;
                }
            }
        }
    }

    fn garbage(&mut self) -> Bytes {
        let len = 64 + self.rng.below(192) as usize;
        let mut bytes = vec![0u8; len];
        self.rng.fill(&mut bytes);
        let magic = self.wire().magic().to_bytes();
        if bytes[..4] == magic {
            bytes[0] ^= 0xff;
        }
        Bytes::from(bytes)
    }

    fn oversized_header(&mut self, command: &str) -> Bytes {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&self.wire().magic().to_bytes());
        let mut cmd = [0u8; 12];
        cmd[..command.len()].copy_from_slice(command.as_bytes());
        header.extend_from_slice(&cmd);
        header.extend_from_slice(&OVERSIZED_LEN.to_le_bytes());
        let mut checksum = [0u8; 4];
        self.rng.fill(&mut checksum);
        header.extend_from_slice(&checksum);
        Bytes::from(header)
    }

    /// A fault in place of the version reply; the node then stays silent.
    async fn handshake_fault(&mut self, fault: &Fault) {
        let version = self.our_version();
        let Some(frame) = frame_of(&version) else {
            return;
        };
        let out = match fault {
            Fault::StallMidMessage => Out::Half {
                frame,
                close: false,
            },
            Fault::SendGarbage => Out::Raw(self.garbage()),
            Fault::WrongChecksum => Out::Corrupt(frame),
            Fault::OversizedLength => Out::Oversized(self.oversized_header("version")),
            _ => return,
        };
        self.out(out).await;
        self.silent = true;
    }

    /// A fault after the handshake (or on a live connection when the fault is set).
    async fn post_handshake_fault(&mut self, fault: &Fault) {
        match fault {
            Fault::StallMidMessage | Fault::TruncateThenClose => {
                let chain = &self.node.shared.chain;
                let headers = chain.headers()[..chain.headers().len().min(11)].to_vec();
                if let Some(frame) = frame_of(&NetworkMessage::Headers(headers)) {
                    let close = *fault == Fault::TruncateThenClose;
                    self.out(Out::Half { frame, close }).await;
                    self.silent = true;
                }
            }
            Fault::SendGarbage => {
                let bytes = self.garbage();
                self.out(Out::Raw(bytes)).await;
                self.silent = true;
            }
            Fault::WrongChecksum => {
                let nonce = self.rng.nonce();
                if let Some(frame) = frame_of(&NetworkMessage::Ping(nonce)) {
                    // On v1 the stream stays aligned: carry on normally afterwards.
                    self.out(Out::Corrupt(frame)).await;
                }
            }
            Fault::OversizedLength => {
                let header = self.oversized_header("block");
                self.out(Out::Oversized(header)).await;
                self.silent = true;
            }
            Fault::FloodAddr => self.flood_addr().await,
            Fault::StopReadingThenReset(after) => {
                self.deaf = true;
                self.reset_at = Some(Instant::now() + *after);
            }
            _ => {}
        }
    }

    /// 20 messages of 1,000 random addresses, in the format the client asked for. The
    /// addresses are random loopback ones (127.1.0.0 to 127.255.255.255, random ports) so that
    /// a client that dials them can reach nothing outside this machine.
    async fn flood_addr(&mut self) {
        let time = now_secs() as u32;
        for _ in 0..FLOOD_MESSAGES {
            let addrs: Vec<SocketAddr> = (0..FLOOD_ENTRIES)
                .map(|_| {
                    let r = self.rng.next_u64();
                    let ip =
                        Ipv4Addr::new(127, 1 + (r % 255) as u8, (r >> 8) as u8, (r >> 16) as u8);
                    let port = 1024 + ((r >> 24) % (65536 - 1024)) as u16;
                    SocketAddr::new(IpAddr::V4(ip), port)
                })
                .collect();
            let message = self.addr_message(&addrs, time);
            self.send(message).await;
        }
    }
}

fn addrv2(addr: &SocketAddr, time: u32, services: ServiceFlags) -> AddrV2Message {
    AddrV2Message {
        time,
        services,
        addr: match addr.ip() {
            IpAddr::V4(ip) => AddrV2::Ipv4(ip),
            IpAddr::V6(ip) => AddrV2::Ipv6(ip),
        },
        port: addr.port(),
    }
}
