//! `throughput`: a local node streams 1 MB `block` messages as fast as the socket allows; the
//! client delivers each to a Rust `on_raw_block` listener (checked bytes), in another run to a
//! Rust `on_block` listener (decoded `Block`), and in another to a C callback through the C
//! ABI (`btcclient_*` functions of the ffi crate, `extern "C"` callback). The floor is a plain
//! tokio read of the same frames over loopback plus double-SHA256 of each payload.
//! Configurations run interleaved; medians and ratios are printed.
//!
//! ```sh
//! cargo build --release -p btcclient-bench
//! target/release/throughput [--runs 5] [--blocks 200] [--only floor,raw,block,c]
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
use btcclient_manager::{BtcClient, Config, Delivery, Listeners, Network, RawBlock};
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

/// Serves one connection: with `handshake`, answers the client's version and waits for its
/// verack; then writes `blocks` copies of `block_frame` and keeps reading until the peer
/// closes.
async fn serve(mut s: TcpStream, handshake: bool, block_frame: Arc<Vec<u8>>, blocks: usize) {
    let _ = s.set_nodelay(true);
    if handshake {
        loop {
            let Ok((cmd, _)) = read_frame(&mut s).await else {
                return;
            };
            if cmd == "version" {
                let a = Address::new(&SocketAddr::from(([127, 0, 0, 1], 0)), ServiceFlags::NONE);
                let v = VersionMessage::new(
                    ServiceFlags::NETWORK | ServiceFlags::WITNESS,
                    1_700_000_000,
                    a.clone(),
                    a,
                    42,
                    "/bench:0/".into(),
                    0,
                );
                let mut out = frame(NetworkMessage::Version(v));
                out.extend(frame(NetworkMessage::Verack));
                if s.write_all(&out).await.is_err() {
                    return;
                }
            } else if cmd == "verack" {
                break;
            }
        }
    }
    let (mut r, mut w) = s.into_split();
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    for _ in 0..blocks {
        if w.write_all(&block_frame).await.is_err() {
            break;
        }
    }
    let _ = drain.await;
}

/// Starts a one-connection server on its own runtime thread; returns its address.
fn server(handshake: bool, block_frame: Arc<Vec<u8>>, blocks: usize) -> SocketAddr {
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
                serve(s, handshake, block_frame, blocks).await;
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

/// The floor: tokio reads the frames and double-SHA256es each payload.
fn floor(block_frame: Arc<Vec<u8>>, blocks: usize) -> Option<f64> {
    let addr = server(false, block_frame, blocks);
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
        for _ in 0..blocks {
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
    meter.wait(blocks, Duration::from_secs(1))
}

fn rust_config() -> btcclient_manager::ConfigBuilder {
    Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .discovery(false)
        .max_peers(1)
        .handshake_timeout(Duration::from_secs(30))
        .delivery(Delivery::Serialized)
}

/// Rust delivery: an `on_block` listener (decoded `Block`), or with `raw` an `on_raw_block`
/// listener (checked bytes and hash, not decoded).
fn rust(block_frame: Arc<Vec<u8>>, blocks: usize, raw: bool) -> Option<f64> {
    let frame_len = block_frame.len();
    let addr = server(true, block_frame, blocks);
    let meter = Meter::new();
    let m = meter.clone();
    let listeners = if raw {
        Listeners::new().on_raw_block(move |_, block| {
            std::hint::black_box((block.hash(), block.as_bytes().len()));
            m.mark(frame_len);
        })
    } else {
        Listeners::new().on_block(move |_, block| {
            std::hint::black_box(block.txdata.len());
            m.mark(frame_len);
        })
    };
    let client = BtcClient::new(rust_config().listeners(listeners).build().ok()?).ok()?;
    client.start().ok()?;
    client.add_peer(&addr.to_string()).ok()?;
    let r = meter.wait(blocks, Duration::from_secs(120));
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
fn c_delivery(block_frame: Arc<Vec<u8>>, blocks: usize) -> Option<f64> {
    use btcclient::client::*;
    use btcclient::config::{btcclient_config, btcclient_config_default};
    use btcclient::listeners::btcclient_listeners;
    let addr = server(true, block_frame, blocks);
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
    let r = meter.wait(blocks, Duration::from_secs(120));
    // SAFETY: `client` is live and freed once; `meter` outlives it.
    unsafe {
        btcclient_client_stop(client, 10_000, null_err);
        btcclient_client_free(client);
    }
    r
}

/// 1 MB blocks through the client, Rust and C delivery, against a floor (see BENCHMARKS.md).
#[derive(Debug, Parser)]
#[command(name = "throughput")]
struct Args {
    /// Runs of each path.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Blocks per run.
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// Paths to run, comma-separated: floor, raw, block, c (for profiling one path).
    #[arg(long, default_value = "floor,raw,block,c")]
    only: String,
}

fn main() {
    let args = Args::parse();
    let (runs, blocks) = (args.runs, args.blocks);
    let block = big_block();
    let block_frame = Arc::new(frame(NetworkMessage::Block(block.clone())));
    println!(
        "throughput: block frame {} bytes ({} txs), {blocks} blocks per run, {runs} runs each (MB = 10^6 bytes)",
        block_frame.len(),
        block.txdata.len()
    );
    // Where the time goes, single-threaded and in-process, per 1 MB payload: the checksum
    // (double SHA-256, the floor's work and every path's), the structure check of
    // `RawBlock::new` (every path), the decode into `Block` and dropping it (`on_block` only).
    let payload = bytes::Bytes::from(serialize(&block));
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
    println!(
        "per block, one thread (median of 21): sha256d {:.3} ms, RawBlock::new (check) {:.3} ms, \
         decode to Block {:.3} ms ({} txs), drop Block {:.3} ms",
        median(&mut th),
        median(&mut tc),
        median(&mut td),
        block.txdata.len(),
        median(&mut tf)
    );
    let (mut f, mut rr, mut r, mut c) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // `--only floor,raw,block,c` runs a subset (for profiling one path).
    let only = args.only;
    let on = |name: &str| only.split(',').any(|o| o == name);
    for i in 0..runs {
        let fl = on("floor")
            .then(|| floor(block_frame.clone(), blocks))
            .flatten();
        let raw = on("raw")
            .then(|| rust(block_frame.clone(), blocks, true))
            .flatten();
        let ru = on("block")
            .then(|| rust(block_frame.clone(), blocks, false))
            .flatten();
        let cc = on("c")
            .then(|| c_delivery(block_frame.clone(), blocks))
            .flatten();
        let show = |v: Option<f64>| v.map_or("FAILED".to_owned(), |x| format!("{x:.1} MB/s"));
        println!(
            "run {i}: floor {}, rust on_raw_block {}, rust on_block {}, c on_block {}",
            show(fl),
            show(raw),
            show(ru),
            show(cc)
        );
        f.extend(fl);
        rr.extend(raw);
        r.extend(ru);
        c.extend(cc);
    }
    let (mf, mrr, mr, mc) = (
        median(&mut f),
        median(&mut rr),
        median(&mut r),
        median(&mut c),
    );
    println!(
        "median: floor {mf:.1} MB/s, rust on_raw_block {mrr:.1} MB/s, rust on_block {mr:.1} MB/s, c on_block {mc:.1} MB/s"
    );
    println!(
        "ratios: rust on_raw_block/floor {:.3}, rust on_block/floor {:.3} (goal >= 0.80); \
         c/rust on_raw_block {:.3}, c/rust on_block {:.3} (goal >= 0.90)",
        mrr / mf,
        mr / mf,
        mc / mrr,
        mc / mr
    );
}
