//! `scale`: connects one client to N simulated nodes running in a separate `simnet` process
//! and reports handshake time and rate, resident memory per connected peer, idle CPU with
//! every peer connected, and the time `stop` takes.
//!
//! `--transport v1` (the default): the client speaks v1 only (`Transport::V1Only`) to v1-only
//! nodes (`simnet --v1-only`), as the figures from before the v2 transport were measured.
//! `--transport v2`: the client speaks v2 only (`Transport::V2Only`: a peer that fails the v2
//! handshake is a failure, not a silent v1 fallback) to nodes that answer v2 (simnet's default,
//! as Bitcoin Core). `--transport both`: v1 and v2 runs alternate in one invocation (v1 first),
//! each with its own medians, and the v2/v1 ratios are printed.
//!
//! ```sh
//! cargo build --release -p btcclient-simnet -p btcclient-bench
//! target/release/scale --peers 1000 [--runs 5] [--idle-secs 5] [--transport v1|v2|both] [--simnet PATH]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use btcclient_bench::{cpu_time, live_heap, median, raise_nofile, rss_kib, Counting};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: Counting = Counting;
use btcclient_manager::{
    BtcClient, Config, Delivery, Listeners, Network, Transport, TransportKind,
};

struct Run {
    handshake_s: f64,
    per_s: f64,
    kib_per_peer: f64,
    heap_per_peer: f64,
    idle_cpu_pct: f64,
    stop_ms: f64,
    /// The client process's CPU time (getrusage) per handshake, in µs.
    cpu_us_per_handshake: f64,
    /// The floor of `stop`: closing N idle loopback sockets to the same nodes from one thread.
    close_floor_ms: f64,
}

/// Many peers against a separate simnet process: handshake rate, memory per peer, idle CPU
/// and stop time (see BENCHMARKS.md). Each run goes in a fresh child process.
#[derive(Debug, Parser)]
#[command(name = "scale")]
struct Args {
    /// Peers per run.
    #[arg(long, default_value_t = 100)]
    peers: usize,
    /// Runs (each in a fresh process).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds of idling measured after the handshakes.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// The simnet binary (default: `simnet` next to this executable).
    #[arg(long)]
    simnet: Option<String>,
    /// The transport: `v1` (client v1-only against `simnet --v1-only`), `v2` (client v2-only
    /// against simnet's default v2 nodes) or `both` (v1 and v2 runs alternating).
    #[arg(long, default_value = "v1", value_parser = ["v1", "v2", "both"])]
    transport: String,
    /// Internal: run once in this process and print the result line.
    #[arg(long, hide = true)]
    child: bool,
}

/// Nodes per simnet process: each node holds a listening socket and an accepted one, so a
/// process with RLIMIT_NOFILE = 20,000 cannot serve 10,000 nodes.
const NODES_PER_PROCESS: usize = 4000;

fn start_simnets(simnet: &str, n: usize, v2: bool) -> Result<(Vec<Child>, Vec<String>), String> {
    let mut children = Vec::new();
    let mut addrs = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = left.min(NODES_PER_PROCESS);
        left -= k;
        let mut cmd = Command::new(simnet);
        cmd.args(["--nodes", &k.to_string(), "--getaddr-delay-ms", "0"]);
        if !v2 {
            cmd.arg("--v1-only");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {simnet}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut got = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            addrs.push(line);
            got += 1;
            if got == k {
                break;
            }
        }
        children.push(child);
        if got < k {
            stop_simnets(children);
            return Err(format!("simnet printed {got} of {k} addresses"));
        }
    }
    Ok((children, addrs))
}

fn stop_simnets(children: Vec<Child>) {
    for mut child in children {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}

fn one_run(simnet: &str, n: usize, idle: Duration, v2: bool) -> Result<Run, String> {
    let (children, addrs) = start_simnets(simnet, n, v2)?;
    let r = run_client(&addrs, n, idle, v2);
    stop_simnets(children);
    r
}

fn run_client(addrs: &[String], n: usize, idle: Duration, v2: bool) -> Result<Run, String> {
    let connected = Arc::new(AtomicUsize::new(0));
    let c2 = connected.clone();
    let listeners = Listeners::new().on_peer_connected(move |_| {
        c2.fetch_add(1, Ordering::Relaxed);
    });
    let config = Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .discovery(false)
        .max_peers(n)
        .connection_timeout(Duration::from_secs(120))
        .handshake_timeout(Duration::from_secs(120))
        .event_queue_len(1024)
        .delivery(Delivery::Serialized)
        .transport(if v2 {
            Transport::V2Only
        } else {
            Transport::V1Only
        })
        .listeners(listeners)
        .build()
        .map_err(|e| e.to_string())?;
    let client = BtcClient::new(config).map_err(|e| e.to_string())?;
    client.start().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = rss_kib();
    let heap_before = live_heap();

    let t0 = Instant::now();
    let cpu_start = cpu_time();
    for a in addrs {
        client
            .add_peer(a)
            .map_err(|e| format!("add_peer {a}: {e}"))?;
    }
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let now = connected.load(Ordering::Relaxed);
        if now >= n {
            break;
        }
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(20) {
            let _ = client.stop_blocking(Duration::from_secs(30));
            return Err(format!("only {now} of {n} connected, no progress for 20 s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let handshake = t0.elapsed();
    let handshake_cpu = cpu_time() - cpu_start;
    // Let the post-handshake traffic (getaddr answers, sendheaders, ...) settle.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after = rss_kib();
    let heap_after = live_heap();

    let cpu0 = cpu_time();
    let w0 = Instant::now();
    std::thread::sleep(idle);
    let cpu = cpu_time() - cpu0;
    let wall = w0.elapsed();
    let still = client.connected_count();
    let want = if v2 {
        TransportKind::V2
    } else {
        TransportKind::V1
    };
    let other = client
        .peers()
        .iter()
        .filter(|p| p.transport != Some(want))
        .count();

    let s0 = Instant::now();
    client
        .stop_blocking(Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let stop = s0.elapsed();
    drop(client);
    if still < n {
        return Err(format!("{still} of {n} still connected after idle"));
    }
    if other > 0 {
        return Err(format!("{other} of {n} peers not on {want}"));
    }
    let close_floor = close_floor(addrs)?;
    Ok(Run {
        handshake_s: handshake.as_secs_f64(),
        per_s: n as f64 / handshake.as_secs_f64(),
        kib_per_peer: (rss_after.saturating_sub(rss_before)) as f64 / n as f64,
        heap_per_peer: heap_after.saturating_sub(heap_before) as f64 / n as f64,
        idle_cpu_pct: 100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        stop_ms: stop.as_secs_f64() * 1000.0,
        cpu_us_per_handshake: handshake_cpu.as_secs_f64() * 1e6 / n as f64,
        close_floor_ms: close_floor.as_secs_f64() * 1000.0,
    })
}

/// The floor `stop` is compared with: one idle TCP connection to each node (the same nodes,
/// so their side does the same work on a close), then all of them closed from one thread.
fn close_floor(addrs: &[String]) -> Result<Duration, String> {
    let mut socks = Vec::with_capacity(addrs.len());
    for a in addrs {
        socks.push(std::net::TcpStream::connect(a).map_err(|e| format!("floor connect {a}: {e}"))?);
    }
    // Let the nodes accept them all.
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    for s in socks {
        drop(s);
    }
    Ok(t.elapsed())
}

/// Runs one child process (a fresh process per run) and parses its result line.
fn child_run(simnet: &str, n: usize, idle: Duration, transport: &str) -> Result<Run, String> {
    let out = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(["--child", "--peers", &n.to_string(), "--idle-secs"])
            .arg(idle.as_secs().to_string())
            .args(["--simnet", simnet, "--transport", transport])
            .stderr(Stdio::inherit())
            .output()
    });
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("FAILED cannot run a child: {e}"),
    };
    let line = text.lines().last().unwrap_or("FAILED no output").to_owned();
    let v: Vec<f64> = line
        .strip_prefix("RESULT ")
        .map(|r| {
            r.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if v.len() != 8 {
        return Err(line);
    }
    Ok(Run {
        handshake_s: v[0],
        per_s: v[1],
        kib_per_peer: v[2],
        idle_cpu_pct: v[3],
        stop_ms: v[4],
        heap_per_peer: v[5],
        cpu_us_per_handshake: v[6],
        close_floor_ms: v[7],
    })
}

/// Medians of `all`, in the order: handshake s, handshakes/s, KiB/peer, heap B/peer, idle CPU
/// %, stop ms, CPU µs per handshake, close floor ms.
fn medians(all: &[Run]) -> [f64; 8] {
    let m = |f: fn(&Run) -> f64| median(&mut all.iter().map(f).collect::<Vec<_>>());
    [
        m(|r| r.handshake_s),
        m(|r| r.per_s),
        m(|r| r.kib_per_peer),
        m(|r| r.heap_per_peer),
        m(|r| r.idle_cpu_pct),
        m(|r| r.stop_ms),
        m(|r| r.cpu_us_per_handshake),
        m(|r| r.close_floor_ms),
    ]
}

fn main() {
    let args = Args::parse();
    let n = args.peers;
    let runs = args.runs;
    let idle = Duration::from_secs(args.idle_secs);
    let simnet = args.simnet.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("simnet")))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "simnet".into())
    });
    let nofile = raise_nofile();
    if args.child {
        // One run in this fresh process, so that its memory figure is not flattered by heap
        // that an earlier run freed; the parent parses the line.
        let v2 = match args.transport.as_str() {
            "v1" => false,
            "v2" => true,
            other => {
                println!("FAILED a child runs one transport, not {other}");
                return;
            }
        };
        match one_run(&simnet, n, idle, v2) {
            Ok(r) => println!(
                "RESULT {} {} {} {} {} {} {} {}",
                r.handshake_s,
                r.per_s,
                r.kib_per_peer,
                r.idle_cpu_pct,
                r.stop_ms,
                r.heap_per_peer,
                r.cpu_us_per_handshake,
                r.close_floor_ms
            ),
            Err(e) => println!("FAILED {e}"),
        }
        return;
    }
    let transports: &[&str] = match args.transport.as_str() {
        "both" => &["v1", "v2"],
        "v2" => &["v2"],
        _ => &["v1"],
    };
    println!(
        "scale: peers={n} runs={runs} idle={}s transport={} RLIMIT_NOFILE={nofile} (each run in a \
         fresh process; v1: client V1Only, simnet --v1-only; v2: client V2Only, simnet default)",
        idle.as_secs(),
        transports.join("+")
    );
    let mut all: Vec<Vec<Run>> = transports.iter().map(|_| Vec::new()).collect();
    for i in 0..runs {
        for (k, t) in transports.iter().enumerate() {
            match child_run(&simnet, n, idle, t) {
                Ok(r) => {
                    println!(
                        "run {i} {t}: handshake {:.3} s ({:.0}/s, client CPU {:.1} µs each), RSS {:.2} KiB/peer (live heap {:.0} B/peer), idle CPU {:.2} %, stop {:.1} ms (floor: closing {n} sockets {:.1} ms)",
                        r.handshake_s, r.per_s, r.cpu_us_per_handshake, r.kib_per_peer, r.heap_per_peer, r.idle_cpu_pct, r.stop_ms, r.close_floor_ms
                    );
                    all[k].push(r);
                }
                Err(line) => println!("run {i} {t}: {line}"),
            }
        }
    }
    let mut med = Vec::new();
    for (k, t) in transports.iter().enumerate() {
        let m = medians(&all[k]);
        println!(
            "median of {} runs ({t}, N={n}): handshake {:.3} s, {:.0} handshakes/s, client CPU {:.1} µs per handshake, RSS {:.2} KiB/peer (live heap {:.0} B/peer), idle CPU {:.2} % of one core, stop {:.1} ms, floor (closing {n} idle sockets from one thread) {:.1} ms, stop/floor {:.2}",
            all[k].len(),
            m[0], m[1], m[6], m[2], m[3], m[4], m[5], m[7], m[5] / m[7]
        );
        med.push(m);
    }
    if let [v1, v2] = med.as_slice() {
        println!(
            "v2/v1 (ratios of medians, N={n}): handshake time {:.3}, handshakes/s {:.3}, RSS per peer {:.3}, live heap per peer {:.3}, stop {:.3}",
            v2[0] / v1[0],
            v2[1] / v1[1],
            v2[2] / v1[2],
            v2[3] / v1[3],
            v2[5] / v1[5]
        );
    }
}
