//! Throughput of the wire crate against the `bitcoin` crate and against the hashing floor.
//!
//! For three inputs — a ~1 MB block, a 2,000-entry `headers`, a 1,000-entry `inv` — this
//! measures (a) our read + decode (`FrameReader` over an in-memory slice, then
//! `Frame::decode`), (b) frame-only read (checksum verified, payload not decoded), (c) write
//! (`FrameWriter::write_message` into a `Vec`, serialization included), (d)
//! `bitcoin::consensus::deserialize::<RawNetworkMessage>` of the same bytes, and (e) a bare
//! `sha256d::Hash::hash` of the payload (the floor of any reader that verifies checksums);
//! also (f) `decode_payload` alone, to show how (a) splits into reading and decoding.
//!
//! Criterion reports each benchmark on its own. After it, a summary pass times every case
//! itself, interleaving the operations round by round (so that a noisy neighbour hits all of
//! them alike, see `summary`), and prints medians and the per-round ratios (a)/(d) (goal
//! <= 1.0) and (b)/(e) (goal <= 1.10). `WIRE_BENCH_SECONDS` sets the time spent per input (default 4);
//! `WIRE_BENCH_SUMMARY_ONLY=1` skips criterion.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bitcoin::consensus::deserialize;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::RawNetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use btcclient_wire::{
    decode_payload, Command, Frame, FrameReader, FrameWriter, NetworkMessage, WireConfig,
};
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

struct Case {
    name: &'static str,
    message: NetworkMessage,
    /// The whole frame: header + payload.
    bytes: Vec<u8>,
    /// The payload alone.
    payload: Vec<u8>,
    command: Command,
}

fn cases(config: &WireConfig) -> Vec<Case> {
    let block = NetworkMessage::Block(common::big_block(1_000_000));
    let headers = NetworkMessage::Headers((0..2_000).map(common::block_header).collect());
    let inv = NetworkMessage::Inv(
        (0..1_000u32)
            .map(|i| {
                let mut hash = [0u8; 32];
                hash[..4].copy_from_slice(&i.to_le_bytes());
                hash[31] = 0x5a;
                if i % 2 == 0 {
                    Inventory::WTx(Hash::from_byte_array(hash))
                } else {
                    Inventory::Block(Hash::from_byte_array(hash))
                }
            })
            .collect(),
    );
    [
        ("block 1MB", block),
        ("headers 2000", headers),
        ("inv 1000", inv),
    ]
    .into_iter()
    .map(|(name, message)| {
        let bytes = common::bitcoin_crate_bytes(config.magic().to_bytes(), &message);
        let payload = bytes[24..].to_vec();
        Case {
            name,
            command: Command::new(message.cmd()).expect("command"),
            message,
            bytes,
            payload,
        }
    })
    .collect()
}

/// The operations, each run once on `case`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ReadDecode,
    ReadFrame,
    Write,
    BitcoinDeserialize,
    Sha256d,
    DecodeOnly,
}

const OPS: [Op; 6] = [
    Op::ReadDecode,
    Op::ReadFrame,
    Op::Write,
    Op::BitcoinDeserialize,
    Op::Sha256d,
    Op::DecodeOnly,
];

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::ReadDecode => "(a) read+decode",
            Op::ReadFrame => "(b) read frame",
            Op::Write => "(c) write",
            Op::BitcoinDeserialize => "(d) bitcoin deserialize",
            Op::Sha256d => "(e) sha256d",
            Op::DecodeOnly => "(f) decode only",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Op::ReadDecode => "a_read_decode",
            Op::ReadFrame => "b_read_frame",
            Op::Write => "c_write",
            Op::BitcoinDeserialize => "d_bitcoin_deserialize",
            Op::Sha256d => "e_sha256d",
            Op::DecodeOnly => "f_decode_only",
        }
    }

    fn run(self, rt: &Runtime, config: &WireConfig, case: &Case) {
        match self {
            Op::ReadDecode => {
                let message = rt.block_on(async {
                    let mut reader = FrameReader::new(black_box(&case.bytes[..]), config);
                    let frame = reader.read_frame().await.expect("read").expect("frame");
                    frame.decode().expect("decode")
                });
                black_box(message);
            }
            Op::ReadFrame => {
                let frame = rt.block_on(async {
                    let mut reader = FrameReader::new(black_box(&case.bytes[..]), config);
                    reader.read_frame().await.expect("read").expect("frame")
                });
                black_box(frame);
            }
            Op::Write => {
                let out = rt.block_on(async {
                    let mut out = Vec::new();
                    let mut writer = FrameWriter::new(&mut out, config);
                    writer
                        .write_message(black_box(&case.message))
                        .await
                        .expect("write");
                    drop(writer);
                    out
                });
                black_box(out);
            }
            Op::BitcoinDeserialize => {
                let raw: RawNetworkMessage =
                    deserialize(black_box(&case.bytes[..])).expect("deserialize");
                black_box(raw);
            }
            Op::Sha256d => {
                black_box(sha256d::Hash::hash(black_box(&case.payload[..])));
            }
            Op::DecodeOnly => {
                let message = decode_payload(case.command, black_box(&case.payload[..]));
                black_box(message.expect("decode"));
            }
        }
    }
}

fn check(rt: &Runtime, config: &WireConfig, case: &Case) {
    // The paths measured really do the same work.
    let frame = rt
        .block_on(FrameReader::new(&case.bytes[..], config).read_frame())
        .expect("read")
        .expect("frame");
    assert_eq!(frame.decode().expect("decode"), case.message);
    let raw: RawNetworkMessage = deserialize(&case.bytes).expect("deserialize");
    assert_eq!(raw.payload(), &case.message);
    assert_eq!(
        Frame::from_message(&case.message).expect("frame").payload,
        &case.payload[..]
    );
}

fn criterion_benches(c: &mut Criterion, rt: &Runtime, config: &WireConfig, cases: &[Case]) {
    for case in cases {
        let mut group = c.benchmark_group(case.name.replace(' ', "_"));
        group.throughput(Throughput::Bytes(case.bytes.len() as u64));
        for op in OPS {
            group.bench_function(op.short(), |b| b.iter(|| op.run(rt, config, case)));
        }
        group.finish();
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn format_time(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.3} ms", seconds * 1e3)
    } else {
        format!("{:.2} us", seconds * 1e6)
    }
}

/// Times every op on every case and prints the table.
///
/// Round after round, each op (in an order that rotates every round) runs once untimed, so that
/// it starts from its own steady state (allocator, caches) rather than from the previous op's,
/// then a timed batch of about 2 ms. Ops of one round run next to each other in time, so the
/// ratio of two ops within a round is little affected by what the machine's other tenants do;
/// the table shows medians over rounds.
fn summary(rt: &Runtime, config: &WireConfig, cases: &[Case], budget: Duration) {
    const BATCH: Duration = Duration::from_millis(2);
    println!();
    println!(
        "Summary: per input, ~{:.1} s of interleaved rounds (every op once untimed, then a timed \
         batch of ~{} ms);",
        budget.as_secs_f64(),
        BATCH.as_millis()
    );
    println!("times are medians per run over rounds; ratios are medians of the per-round ratios.");
    println!();
    println!(
        "| input        | frame bytes | rounds | {} | (a)/(d) goal<=1.0 | (b)/(e) goal<=1.10 |",
        OPS.map(|op| format!("{:>23}", op.label())).join(" | ")
    );
    println!(
        "|--------------|-------------|--------|{}|-------------------|--------------------|",
        OPS.map(|_| "-".repeat(25)).join("|")
    );
    let idx = |op: Op| OPS.iter().position(|o| *o == op).expect("op");
    for case in cases {
        let batches: Vec<u32> = OPS
            .iter()
            .map(|op| {
                op.run(rt, config, case);
                let start = Instant::now();
                for _ in 0..5 {
                    op.run(rt, config, case);
                }
                let one = start.elapsed() / 5;
                (BATCH.as_nanos() / one.as_nanos().max(1)).clamp(1, 100_000) as u32
            })
            .collect();
        let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); OPS.len()];
        let started = Instant::now();
        let mut rounds = 0;
        while rounds < 21 || (started.elapsed() < budget && rounds < 100_000) {
            for k in 0..OPS.len() {
                let i = (k + rounds) % OPS.len();
                OPS[i].run(rt, config, case);
                let start = Instant::now();
                for _ in 0..batches[i] {
                    OPS[i].run(rt, config, case);
                }
                per_op[i].push(start.elapsed().as_secs_f64() / f64::from(batches[i]));
            }
            rounds += 1;
        }
        let ratios = |x: Op, y: Op| -> f64 {
            let mut r: Vec<f64> = per_op[idx(x)]
                .iter()
                .zip(&per_op[idx(y)])
                .map(|(a, b)| a / b)
                .collect();
            median(&mut r)
        };
        let ad = ratios(Op::ReadDecode, Op::BitcoinDeserialize);
        let be = ratios(Op::ReadFrame, Op::Sha256d);
        let medians: Vec<String> = per_op
            .iter_mut()
            .map(|v| format!("{:>23}", format_time(median(v))))
            .collect();
        println!(
            "| {:<12} | {:>11} | {:>6} | {} | {:>12.3} {:<4} | {:>13.3} {:<4} |",
            case.name,
            case.bytes.len(),
            rounds,
            medians.join(" | "),
            ad,
            if ad <= 1.0 { "ok" } else { "MISS" },
            be,
            if be <= 1.10 { "ok" } else { "MISS" },
        );
    }
    println!();
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let config = WireConfig::new(bitcoin::Network::Bitcoin);
    let cases = cases(&config);
    for case in &cases {
        check(&rt, &config, case);
    }

    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and then every
    // benchmark runs once as a smoke test and the summary is skipped.
    // A filter or `--profile-time` means someone looks at single benchmarks: no summary then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench_mode = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--profile-time" || !a.starts_with('-'));
    let summary_only = std::env::var_os("WIRE_BENCH_SUMMARY_ONLY").is_some();
    if !summary_only {
        let mut c = Criterion::default()
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .configure_from_args();
        criterion_benches(&mut c, &rt, &config, &cases);
        c.final_summary();
    }
    if bench_mode || summary_only {
        let seconds = std::env::var("WIRE_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4.0);
        summary(&rt, &config, &cases, Duration::from_secs_f64(seconds));
    }
}
