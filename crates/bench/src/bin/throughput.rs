//! `throughput`: a local node streams 1 MB `block` messages as fast as the socket allows, over
//! v1 (plaintext frames) or BIP324 v2 (encrypted packets); the client delivers each to a Rust
//! `on_raw_block` listener (checked bytes), in another run to a Rust `on_block` listener
//! (decoded `Block`), and over v1 in another to a C callback through the C ABI (`btcclient_*`
//! functions of the ffi crate, `extern "C"` callback). The v1 floor is a plain tokio read of
//! the same frames over loopback plus double-SHA256 of each payload; the v2 floor is a plain
//! tokio read of the v2 packets plus their decryption (length and packet, the `bip324`
//! ciphers), and `floor-v2-sha` adds the v1 floor's double-SHA256. Configurations run
//! interleaved; medians and ratios are printed.
//!
//! ```sh
//! cargo build --release -p btcclient-bench
//! target/release/throughput [--runs 5] [--blocks 200] \
//!     [--only floor,floor-v2,floor-v2-sha,raw,raw-v2,block,block-v2,c]
//! ```

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::ffi::{c_void, CString};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use btcclient_bench::median;
use btcclient_manager::wire::bip324::{
    GarbageResult, Handshake, InboundCipher, OutboundCipher, PacketType, ReceivedKey, Role,
    VersionResult,
};
use btcclient_manager::wire::{
    commands, FrameReader, SessionId, V2Decoder, V2Encoder, WireConfig, V2_LENGTH_LEN,
    V2_PACKET_OVERHEAD,
};
use btcclient_manager::{
    BtcClient, Config, Delivery, Frame, Listeners, Network, RawBlock, Transport,
};
use bytes::{Buf, BytesMut};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A block of about 1 MB: ~4,400 transactions of 1 input and 2 outputs.
fn big_block() -> Block {
    let mut txdata = Vec::new();
    let mut size = 80 + 3;
    let mut i: u32 = 0;
    while size < 1_000_000 {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([(i % 251) as u8; 32]),
                    vout: i,
                },
                script_sig: ScriptBuf::from_bytes(vec![0x51; 107]),
                sequence: Sequence::MAX,
                witness: Witness::default(),
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(u64::from(i) + 1000),
                    script_pubkey: ScriptBuf::from_bytes(vec![0x00; 22]),
                };
                2
            ],
        };
        size += serialize(&tx).len();
        txdata.push(tx);
        i += 1;
    }
    Block {
        header: Header {
            version: BlockVersion::TWO,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    }
}

fn frame(msg: NetworkMessage) -> Vec<u8> {
    serialize(&RawNetworkMessage::new(Magic::REGTEST, msg))
}

/// Reads one frame: (command, payload).
async fn read_frame(s: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<(String, Vec<u8>)> {
    let mut h = [0u8; 24];
    s.read_exact(&mut h).await?;
    let cmd = String::from_utf8_lossy(&h[4..16])
        .trim_end_matches('\0')
        .to_owned();
    let len = u32::from_le_bytes([h[16], h[17], h[18], h[19]]) as usize;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await?;
    Ok((cmd, p))
}

/// The server's `version` message.
fn server_version() -> NetworkMessage {
    let a = Address::new(&SocketAddr::from(([127, 0, 0, 1], 0)), ServiceFlags::NONE);
    NetworkMessage::Version(VersionMessage::new(
        ServiceFlags::NETWORK | ServiceFlags::WITNESS | ServiceFlags::P2P_V2,
        1_700_000_000,
        a.clone(),
        a,
        42,
        "/bench:0/".into(),
        0,
    ))
}

/// The transport a path speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    /// Plaintext v1 frames.
    V1,
    /// BIP324 v2 packets.
    V2,
}

/// The block to send, as a v1 frame and as the payload a v2 packet carries.
#[derive(Clone)]
struct Blocks {
    /// The v1 `block` frame (24-byte header + payload).
    frame: Arc<Vec<u8>>,
    /// The serialized block.
    payload: bytes::Bytes,
    /// Blocks per run.
    count: usize,
}

impl Blocks {
    /// Bytes one block takes on the wire: the v1 frame, or the v2 packet (3-byte length,
    /// header byte, short id, payload, 16-byte tag).
    fn wire_len(&self, wire: Wire) -> usize {
        match wire {
            Wire::V1 => self.frame.len(),
            Wire::V2 => self.payload.len() + V2_PACKET_OVERHEAD + 1,
        }
    }
}

async fn read_more(s: &mut TcpStream, buf: &mut BytesMut) -> Option<()> {
    match s.read_buf(buf).await {
        Ok(n) if n > 0 => Some(()),
        _ => None,
    }
}

/// A BIP324 handshake over `s` in `role` (no garbage, no decoys: the bench's own two ends),
/// as both Bitcoin Core and the client do it. Returns the session's ciphers and the bytes
/// received after the peer's version packet.
async fn v2_handshake(
    s: &mut TcpStream,
    role: Role,
) -> Option<(InboundCipher, OutboundCipher, BytesMut)> {
    let handshake = Handshake::new(Magic::REGTEST.to_bytes(), role).ok()?;
    let mut out = vec![0u8; Handshake::send_key_len(None)];
    let handshake = handshake.send_key(None, &mut out).ok()?;
    s.write_all(&out).await.ok()?;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    while buf.len() < 64 {
        read_more(s, &mut buf).await?;
    }
    let mut key = [0u8; 64];
    key.copy_from_slice(&buf[..64]);
    buf.advance(64);
    let handshake = handshake.receive_key(key).ok()?;
    let mut out = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let mut handshake = handshake.send_version(&mut out, None).ok()?;
    s.write_all(&out).await.ok()?;
    let (mut handshake, consumed) = loop {
        match handshake.receive_garbage(&buf).ok()? {
            GarbageResult::FoundGarbage {
                handshake,
                consumed_bytes,
            } => break (handshake, consumed_bytes),
            GarbageResult::NeedMoreData(h) => handshake = h,
        }
        read_more(s, &mut buf).await?;
    };
    let mut rest = BytesMut::from(&buf[consumed..]);
    let cipher = loop {
        while rest.len() < V2_LENGTH_LEN {
            read_more(s, &mut rest).await?;
        }
        let len = handshake
            .decrypt_packet_len([rest[0], rest[1], rest[2]])
            .ok()?;
        while rest.len() < V2_LENGTH_LEN + len {
            read_more(s, &mut rest).await?;
        }
        rest.advance(V2_LENGTH_LEN);
        let mut packet = rest.split_to(len);
        match handshake.receive_version(&mut packet).ok()? {
            VersionResult::Complete { cipher } => break cipher,
            VersionResult::Decoy(h) => handshake = h,
        }
    };
    drop(buf);
    let (inbound, outbound) = cipher.into_split();
    Some((inbound, outbound, rest))
}

/// The v1 side of a served connection: with `handshake`, answers the client's version and
/// waits for its verack.
async fn serve_v1_handshake(s: &mut TcpStream) -> Option<()> {
    loop {
        let (cmd, _) = read_frame(s).await.ok()?;
        if cmd == "version" {
            let mut out = frame(server_version());
            out.extend(frame(NetworkMessage::Verack));
            s.write_all(&out).await.ok()?;
        } else if cmd == "verack" {
            return Some(());
        }
    }
}

/// The v2 side of a served connection: the responder's handshake, then with `handshake` the
/// version exchange in v2 packets; returns all `count` block packets, encrypted in advance
/// (the session's keys exist only now), so that sending them costs what sending v1 frames
/// costs: a write.
async fn serve_v2_handshake(
    s: &mut TcpStream,
    handshake: bool,
    blocks: &Blocks,
) -> Option<BytesMut> {
    let (inbound, outbound, leftover) = v2_handshake(s, Role::Responder).await?;
    let wire = WireConfig::custom(Magic::REGTEST.to_bytes());
    let mut encoder = V2Encoder::new(outbound, &wire);
    if handshake {
        let (rd, mut wr) = s.split();
        let decoder = V2Decoder::new(inbound, &wire);
        let mut reader = FrameReader::new_v2(rd, decoder, SessionId([0; 32]), leftover);
        loop {
            let f = reader.read_frame().await.ok()??;
            if f.command == commands::VERSION {
                let mut answer = BytesMut::new();
                let version = Frame::from_message(&server_version()).ok()?;
                encoder.encode_frame(&version, &mut answer).ok()?;
                let verack = Frame::new(commands::VERACK, Vec::new());
                encoder.encode_frame(&verack, &mut answer).ok()?;
                wr.write_all(&answer).await.ok()?;
            } else if f.command == commands::VERACK {
                break;
            }
        }
    }
    let frame = Frame::new(commands::BLOCK, blocks.payload.clone());
    let mut packets = BytesMut::with_capacity(blocks.count * blocks.wire_len(Wire::V2));
    for _ in 0..blocks.count {
        encoder.encode_frame(&frame, &mut packets).ok()?;
    }
    Some(packets)
}
/// Serves one connection over `wire`: with `handshake`, answers the client's version and
/// waits for its verack (the v2 handshake comes first on v2); then writes the blocks, one
/// frame or packet per write, and keeps reading until the peer closes.
async fn serve(mut s: TcpStream, wire: Wire, handshake: bool, blocks: Blocks) {
    let _ = s.set_nodelay(true);
    let packets = match wire {
        Wire::V1 => {
            if handshake && serve_v1_handshake(&mut s).await.is_none() {
                return;
            }
            None
        }
        Wire::V2 => match serve_v2_handshake(&mut s, handshake, &blocks).await {
            Some(p) => Some(p),
            None => return,
        },
    };
    let (mut r, mut w) = s.into_split();
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    match packets {
        None => {
            for _ in 0..blocks.count {
                if w.write_all(&blocks.frame).await.is_err() {
                    break;
                }
            }
        }
        Some(packets) => {
            for packet in packets.chunks(blocks.wire_len(Wire::V2)) {
                if w.write_all(packet).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = drain.await;
}

/// Starts a one-connection server on its own runtime thread; returns its address.
fn server(wire: Wire, handshake: bool, blocks: Blocks) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(l) = TcpListener::bind("127.0.0.1:0").await else {
                return;
            };
            let _ = tx.send(l.local_addr().ok());
            if let Ok((s, _)) = l.accept().await {
                serve(s, wire, handshake, blocks).await;
            }
        });
    });
    rx.recv()
        .ok()
        .flatten()
        .expect("the server thread binds a port")
}

/// Times deliveries: `mark` is called once per block; the rate counts blocks after the first.
struct Meter {
    count: AtomicUsize,
    bytes: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
}

impl Meter {
    fn new() -> Arc<Meter> {
        Arc::new(Meter {
            count: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            first: Mutex::new(None),
            last: Mutex::new(None),
        })
    }
    fn mark(&self, len: usize) {
        let now = Instant::now();
        if self.count.fetch_add(1, Ordering::SeqCst) == 0 {
            *self.first.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        } else {
            self.bytes.fetch_add(len as u64, Ordering::SeqCst);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }
    fn wait(&self, blocks: usize, limit: Duration) -> Option<f64> {
        let t0 = Instant::now();
        while self.count.load(Ordering::SeqCst) < blocks {
            if t0.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let first = (*self.first.lock().unwrap_or_else(|e| e.into_inner()))?;
        let last = (*self.last.lock().unwrap_or_else(|e| e.into_inner()))?;
        let secs = (last - first).as_secs_f64();
        Some(self.bytes.load(Ordering::SeqCst) as f64 / 1e6 / secs)
    }
}

/// The v1 floor: tokio reads the frames and double-SHA256es each payload.
fn floor(blocks: Blocks) -> Option<f64> {
    let count = blocks.count;
    let addr = server(Wire::V1, false, blocks);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let meter = Meter::new();
    let m = meter.clone();
    rt.block_on(async move {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let mut h = [0u8; 24];
        let mut p = Vec::new();
        let mut sink = 0u8;
        for _ in 0..count {
            s.read_exact(&mut h).await.ok()?;
            let len = u32::from_le_bytes([h[16], h[17], h[18], h[19]]) as usize;
            p.resize(len, 0);
            s.read_exact(&mut p).await.ok()?;
            let d = sha256d::Hash::hash(&p);
            sink ^= d.as_byte_array()[0] ^ u8::from(d.as_byte_array()[..4] != h[20..24]);
            m.mark(24 + len);
        }
        std::hint::black_box(sink);
        Some(())
    })?;
    meter.wait(count, Duration::from_secs(1))
}

/// The v2 floor: after a v2 handshake (not timed), tokio reads each packet's 3-byte length,
/// decrypts it (ChaCha20), reads the rest of the packet and decrypts and authenticates it in
/// place (ChaCha20-Poly1305): the least any v2 client does per block. v2 has no checksum (the
/// tag authenticates the packet); with `sha256d` the payload is also double-SHA256ed, as on
/// the v1 floor, so that the two floors differ by the decryption alone.
fn floor_v2(blocks: Blocks, sha256d: bool) -> Option<f64> {
    let count = blocks.count;
    let addr = server(Wire::V2, false, blocks);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let meter = Meter::new();
    let m = meter.clone();
    rt.block_on(async move {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let _ = s.set_nodelay(true);
        let (mut inbound, _outbound, leftover) = v2_handshake(&mut s, Role::Initiator).await?;
        // Nothing follows the server's version packet before the blocks; keep it simple.
        if !leftover.is_empty() {
            return None;
        }
        let mut l = [0u8; V2_LENGTH_LEN];
        let mut p = Vec::new();
        let mut sink = 0u8;
        for _ in 0..count {
            s.read_exact(&mut l).await.ok()?;
            let len = inbound.decrypt_packet_len(l);
            p.resize(len, 0);
            s.read_exact(&mut p).await.ok()?;
            let (_, plaintext) = inbound.decrypt_in_place(&mut p, None).ok()?;
            // header byte, short id (2 = block), payload
            let payload = plaintext.get(2..)?;
            sink ^= plaintext[1];
            if sha256d {
                sink ^= sha256d::Hash::hash(payload).as_byte_array()[0];
            }
            m.mark(V2_LENGTH_LEN + len);
        }
        std::hint::black_box(sink);
        Some(())
    })?;
    meter.wait(count, Duration::from_secs(1))
}

fn rust_config(wire: Wire) -> btcclient_manager::ConfigBuilder {
    Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .discovery(false)
        .max_peers(1)
        .handshake_timeout(Duration::from_secs(30))
        .delivery(Delivery::Serialized)
        .transport(match wire {
            Wire::V1 => Transport::V1Only,
            Wire::V2 => Transport::V2Only,
        })
}

/// Rust delivery over `wire`: an `on_block` listener (decoded `Block`), or with `raw` an
/// `on_raw_block` listener (checked bytes and hash, not decoded).
fn rust(blocks: Blocks, wire: Wire, raw: bool) -> Option<f64> {
    let (count, wire_len) = (blocks.count, blocks.wire_len(wire));
    let addr = server(wire, true, blocks);
    let meter = Meter::new();
    let m = meter.clone();
    let listeners = if raw {
        Listeners::new().on_raw_block(move |_, block| {
            std::hint::black_box((block.hash(), block.as_bytes().len()));
            m.mark(wire_len);
        })
    } else {
        Listeners::new().on_block(move |_, block| {
            std::hint::black_box(block.txdata.len());
            m.mark(wire_len);
        })
    };
    let client = BtcClient::new(rust_config(wire).listeners(listeners).build().ok()?).ok()?;
    client.start().ok()?;
    client.add_peer(&addr.to_string()).ok()?;
    let r = meter.wait(count, Duration::from_secs(120));
    let _ = client.stop_blocking(Duration::from_secs(10));
    r
}

extern "C" fn c_on_block(
    user_data: *mut c_void,
    _peer_id: u64,
    _peer: *const btcclient::types::btcclient_peer_info,
    block: *const u8,
    len: usize,
    _hash: *const u8,
) {
    // SAFETY: `user_data` is the `Meter` kept alive by `c_delivery` until the client is freed.
    #[allow(unsafe_code)]
    let meter = unsafe { &*(user_data as *const Meter) };
    std::hint::black_box(block);
    meter.mark(len + 24);
}

/// C delivery: the same through the C ABI, with an `extern "C"` callback.
#[allow(unsafe_code)]
fn c_delivery(blocks: Blocks) -> Option<f64> {
    use btcclient::client::*;
    use btcclient::config::{btcclient_config, btcclient_config_default};
    use btcclient::listeners::btcclient_listeners;
    let count = blocks.count;
    let addr = server(Wire::V1, true, blocks);
    let meter = Meter::new();
    let mut config = std::mem::MaybeUninit::<btcclient_config>::uninit();
    // SAFETY: `config` is writable; the function fills every field.
    let st = unsafe {
        btcclient_config_default(config.as_mut_ptr(), std::mem::size_of::<btcclient_config>())
    };
    if st != btcclient::status::btcclient_status::Ok {
        return None;
    }
    // SAFETY: initialised by btcclient_config_default returning OK.
    let mut config = unsafe { config.assume_init() };
    config.network = btcclient::types::btcclient_network::Regtest as u32;
    config.max_peers = 1;
    config.allow_local_addresses = true;
    config.discovery = false;
    config.handshake_timeout_ms = 30_000;
    config.transport = btcclient::types::btcclient_transport::V1Only as u32;
    let mut listeners = btcclient_listeners::EMPTY;
    listeners.user_data = Arc::as_ptr(&meter) as *mut c_void;
    listeners.on_block = Some(c_on_block);
    let mut client = std::ptr::null_mut();
    let null_err = std::ptr::null_mut();
    // SAFETY: valid config and listeners for the call; `client` is writable.
    let st = unsafe { btcclient_client_new(&config, &listeners, &mut client, null_err) };
    if st != btcclient::status::btcclient_status::Ok || client.is_null() {
        return None;
    }
    let a = CString::new(addr.to_string()).ok()?;
    let mut id = 0u64;
    // SAFETY: `client` is live; `a` is a NUL-terminated string; `id` is writable.
    unsafe {
        btcclient_client_start(client, null_err);
        btcclient_client_add_peer(client, a.as_ptr(), &mut id, null_err);
    }
    let r = meter.wait(count, Duration::from_secs(120));
    // SAFETY: `client` is live and freed once; `meter` outlives it.
    unsafe {
        btcclient_client_stop(client, 10_000, null_err);
        btcclient_client_free(client);
    }
    r
}

/// 1 MB blocks through the client over v1 and v2, Rust and C delivery, against floors (see
/// BENCHMARKS.md).
#[derive(Debug, Parser)]
#[command(name = "throughput")]
struct Args {
    /// Runs of each path.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Blocks per run.
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// Paths to run, comma-separated (default: all, interleaved in this order): floor, raw,
    /// block, c (v1); floor-v2, floor-v2-sha, raw-v2, block-v2 (v2).
    #[arg(long, default_value = ALL_PATHS)]
    only: String,
}

/// Every path, in the order a run goes through them.
const ALL_PATHS: &str = "floor,floor-v2,floor-v2-sha,raw,raw-v2,block,block-v2,c";

/// A path's label in the output.
fn label(name: &str) -> &'static str {
    match name {
        "floor" => "v1 floor (read + sha256d)",
        "floor-v2" => "v2 floor (read + decrypt)",
        "floor-v2-sha" => "v2 floor + sha256d",
        "raw" => "rust on_raw_block v1",
        "raw-v2" => "rust on_raw_block v2",
        "block" => "rust on_block v1",
        "block-v2" => "rust on_block v2",
        "c" => "c on_block v1",
        _ => "?",
    }
}

fn run_path(name: &str, blocks: &Blocks) -> Option<f64> {
    let b = blocks.clone();
    match name {
        "floor" => floor(b),
        "floor-v2" => floor_v2(b, false),
        "floor-v2-sha" => floor_v2(b, true),
        "raw" => rust(b, Wire::V1, true),
        "raw-v2" => rust(b, Wire::V2, true),
        "block" => rust(b, Wire::V1, false),
        "block-v2" => rust(b, Wire::V2, false),
        "c" => c_delivery(b),
        _ => None,
    }
}

/// The two ends of a v2 session over loopback: (initiator, responder) ciphers.
fn v2_session_pair() -> Option<(
    (InboundCipher, OutboundCipher),
    (InboundCipher, OutboundCipher),
)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.ok()?;
        let addr = l.local_addr().ok()?;
        let (a, b) = tokio::join!(
            async {
                let mut s = TcpStream::connect(addr).await.ok()?;
                v2_handshake(&mut s, Role::Initiator).await
            },
            async {
                let (mut s, _) = l.accept().await.ok()?;
                v2_handshake(&mut s, Role::Responder).await
            }
        );
        let ((ai, ao, _), (bi, bo, _)) = (a?, b?);
        Some(((ai, ao), (bi, bo)))
    })
}

fn main() {
    let args = Args::parse();
    let (runs, count) = (args.runs, args.blocks);
    let block = big_block();
    let payload = bytes::Bytes::from(serialize(&block));
    let blocks = Blocks {
        frame: Arc::new(frame(NetworkMessage::Block(block.clone()))),
        payload: payload.clone(),
        count,
    };
    println!(
        "throughput: block frame {} bytes, v2 packet {} bytes ({} txs), {count} blocks per run, \
         {runs} runs each (MB = 10^6 bytes)",
        blocks.wire_len(Wire::V1),
        blocks.wire_len(Wire::V2),
        block.txdata.len()
    );
    // Where the time goes, single-threaded and in-process, per 1 MB payload: the checksum
    // (double SHA-256, the v1 floor's work and every v1 path's), the structure check of
    // `RawBlock::new` (every path), the decode into `Block` and dropping it (`on_block` only),
    // and a v2 packet's encryption and decryption (the v2 floor's work and every v2 path's).
    let (mut th, mut tc, mut td, mut tf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..21 {
        let t = Instant::now();
        std::hint::black_box(sha256d::Hash::hash(&payload));
        th.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let raw = RawBlock::new(payload.clone()).expect("own block is well-formed");
        tc.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let decoded = raw.decode().expect("own block decodes");
        td.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        drop(std::hint::black_box(decoded));
        tf.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let ((_, mut outbound), (mut inbound, _)) =
        v2_session_pair().expect("a v2 handshake over loopback");
    let mut contents = vec![2u8];
    contents.extend_from_slice(&payload);
    let (mut te, mut tdec) = (Vec::new(), Vec::new());
    let mut packets = Vec::new();
    for _ in 0..21 {
        let mut packet = vec![0u8; OutboundCipher::encryption_buffer_len(contents.len())];
        let t = Instant::now();
        outbound
            .encrypt(&contents, &mut packet, PacketType::Genuine, None)
            .expect("sized by encryption_buffer_len");
        te.push(t.elapsed().as_secs_f64() * 1e3);
        packets.push(packet);
    }
    for mut packet in packets {
        let t = Instant::now();
        let len = inbound.decrypt_packet_len([packet[0], packet[1], packet[2]]);
        let body = &mut packet[V2_LENGTH_LEN..V2_LENGTH_LEN + len];
        std::hint::black_box(inbound.decrypt_in_place(body, None).is_ok());
        tdec.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "per block, one thread (median of 21): sha256d {:.3} ms, RawBlock::new (check) {:.3} ms, \
         decode to Block {:.3} ms ({} txs), drop Block {:.3} ms, v2 encrypt {:.3} ms, \
         v2 decrypt {:.3} ms",
        median(&mut th),
        median(&mut tc),
        median(&mut td),
        block.txdata.len(),
        median(&mut tf),
        median(&mut te),
        median(&mut tdec)
    );
    // `--only floor,raw-v2,...` runs a subset (for profiling one path); the paths run in the
    // order of ALL_PATHS within each run.
    let names: Vec<&str> = ALL_PATHS
        .split(',')
        .filter(|n| args.only.split(',').any(|o| o.trim() == *n))
        .collect();
    for o in args.only.split(',') {
        if !ALL_PATHS.split(',').any(|n| n == o.trim()) {
            eprintln!("unknown path {o:?} (known: {ALL_PATHS})");
            std::process::exit(2);
        }
    }
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let show = |v: Option<f64>| v.map_or("FAILED".to_owned(), |x| format!("{x:.1} MB/s"));
    for i in 0..runs {
        let mut line = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let v = run_path(name, &blocks);
            line.push(format!("{} {}", label(name), show(v)));
            results[k].extend(v);
        }
        println!("run {i}: {}", line.join(", "));
    }
    let medians: Vec<(&str, f64)> = names
        .iter()
        .zip(results.iter_mut())
        .map(|(n, v)| (*n, median(v)))
        .collect();
    println!(
        "median of {runs}: {}",
        medians
            .iter()
            .map(|(n, m)| format!("{} {m:.1} MB/s", label(n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let get = |n: &str| {
        medians
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, v)| *v)
            .filter(|v| *v > 0.0)
    };
    let ratios = [
        ("raw", "floor", "goal >= 0.80"),
        ("block", "floor", "goal >= 0.80"),
        ("c", "raw", "goal >= 0.90"),
        ("c", "block", "goal >= 0.90"),
        ("raw-v2", "floor-v2", "goal >= 0.90"),
        ("block-v2", "floor-v2", ""),
        ("raw-v2", "floor-v2-sha", ""),
        ("floor-v2", "floor", "v2 floor / v1 floor"),
        ("floor-v2-sha", "floor", ""),
        ("raw-v2", "raw", "v2 / v1"),
        ("block-v2", "block", "v2 / v1"),
    ];
    let shown: Vec<String> = ratios
        .iter()
        .filter_map(|(a, b, note)| {
            let r = get(a)? / get(b)?;
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(" ({note})")
            };
            Some(format!("{a}/{b} {r:.3}{note}"))
        })
        .collect();
    println!("ratios of medians: {}", shown.join(", "));
}
