//! The `btcclient` binary as a user runs it: demo, connect against a simulated network,
//! unreachable peers, bad arguments, help.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use btcclient_simnet::Simnet;
use serde_json::Value;

/// The command, with its default data directory (the address book) under `home`, never in
/// the user's home.
fn command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_btcclient"));
    c.env("XDG_DATA_HOME", home);
    c
}

/// Runs the command to its end, with a default data directory of its own (removed after).
fn btcclient(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("a temporary directory");
    command(home.path())
        .args(args)
        .output()
        .expect("the btcclient binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every stdout line as JSON; fails on any line that is not a JSON object with an event.
fn events(out: &Output) -> Vec<Value> {
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\nstdout:\n{stdout}"));
            assert!(v["event"].is_string(), "no event name: {line}");
            v
        })
        .collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

fn summary(events: &[Value]) -> &Value {
    let last = events.last().expect("some output");
    assert_eq!(last["event"], "summary", "the last line is the summary");
    last
}

#[test]
fn demo_discovers_syncs_and_survives_faults() {
    let out = btcclient(&[
        "demo",
        "--json",
        "--duration",
        "6",
        "--nodes",
        "8",
        "--chain-length",
        "3000",
    ]);
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {stderr}",
        out.status
    );
    let events = events(&out);

    let mut connected: Vec<&str> = named(&events, "peer_connected")
        .iter()
        .filter_map(|e| e["peer"].as_str())
        .collect();
    connected.sort_unstable();
    connected.dedup();
    assert!(connected.len() > 1, "peers connected: {connected:?}");

    let faults = named(&events, "fault").len() + named(&events, "peer_disconnected").len();
    assert!(faults >= 1, "no fault or disconnect event");

    let headers: u64 = named(&events, "headers")
        .iter()
        .filter_map(|e| e["new"].as_u64())
        .sum();
    assert_eq!(headers, 3000);

    let s = summary(&events);
    assert_eq!(s["ok"], true);
    assert_eq!(s["headers_synced"], 3000);
    assert_eq!(s["target_height"], 3000);
    assert!(s["peers_reached"].as_u64() > Some(1), "{s}");
    assert!(s["faults_survived"].as_u64() >= Some(1), "{s}");
    assert!(s["elapsed_secs"].as_f64() >= Some(6.0), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_syncs_every_header_from_a_simulated_network() {
    let simnet = Simnet::builder()
        .nodes(3)
        .chain_length(4_500)
        .build()
        .await
        .expect("simnet starts");
    let first = simnet.addrs()[0].to_string();
    let tip = simnet.chain().tip().to_string();
    let out = tokio::task::spawn_blocking(move || {
        btcclient(&[
            "connect",
            "--network",
            "regtest",
            "--json",
            "--exit-when-synced",
            "--duration",
            "20s",
            "--allow-local-addresses",
            "--reconnect-delay",
            "500ms",
            &first,
        ])
    })
    .await
    .expect("joined");
    simnet.shutdown().await;

    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {stderr}",
        out.status
    );
    let events = events(&out);
    assert_eq!(named(&events, "start")[0]["network"], "regtest");
    assert!(!named(&events, "peer_connected").is_empty());
    let synced = named(&events, "synced");
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0]["height"], 4500);
    assert_eq!(synced[0]["tip"], tip.as_str());
    let s = summary(&events);
    assert_eq!(s["end"], "synced");
    assert_eq!(s["headers_synced"], 4500);
    assert_eq!(s["tip"], tip.as_str());
    // Every connected peer is disconnected once the run stops.
    assert_eq!(
        named(&events, "peer_connected").len(),
        named(&events, "peer_disconnected").len()
    );
}

/// `--transport`: a v2 node is reached over v2 (the session id shown is the one the node
/// has); `--transport v2` against a v1-only node fails, saying why; the default falls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_reports_the_transport_and_v2_only_refuses_a_v1_node() {
    let v2 = Simnet::builder().build().await.expect("simnet starts");
    let v1 = Simnet::builder()
        .v2(false)
        .build()
        .await
        .expect("simnet starts");
    let (v2_addr, v1_addr) = (v2.addrs()[0].to_string(), v1.addrs()[0].to_string());
    let run = |addr: String, transport: &'static str| {
        tokio::task::spawn_blocking(move || {
            btcclient(&[
                "connect",
                "-n",
                "regtest",
                "--json",
                "--no-data-dir",
                "--duration",
                "1500ms",
                "--transport",
                transport,
                &addr,
            ])
        })
    };
    let out = run(v2_addr.clone(), "v2-preferred").await.expect("joined");
    let ev = events(&out);
    let connected = named(&ev, "peer_connected");
    assert_eq!(connected[0]["transport"], "v2", "{ev:?}");
    let sessions: Vec<String> = v2
        .node(0)
        .v2_sessions()
        .iter()
        .map(|s| s.to_hex())
        .collect();
    assert_eq!(
        connected[0]["session_id"].as_str(),
        sessions.first().map(String::as_str)
    );

    let out = run(v1_addr.clone(), "v2-preferred").await.expect("joined");
    let ev = events(&out);
    let connected = named(&ev, "peer_connected");
    assert_eq!(connected[0]["transport"], "v1", "{ev:?}");
    assert!(connected[0].get("session_id").is_none());
    assert!(named(&ev, "peer_failure").is_empty(), "{ev:?}");

    let out = run(v1_addr.clone(), "v2").await.expect("joined");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let ev = events(&out);
    assert!(named(&ev, "peer_connected").is_empty());
    let failures = named(&ev, "peer_failure");
    assert!(
        failures.iter().any(|e| e["error"]
            .as_str()
            .is_some_and(|r| r.contains("does not speak the v2 transport"))),
        "{ev:?}"
    );

    let out = run(v2_addr, "v1").await.expect("joined");
    let ev = events(&out);
    assert_eq!(named(&ev, "peer_connected")[0]["transport"], "v1", "{ev:?}");
    v1.shutdown().await;
    v2.shutdown().await;
}

/// `connect --proxy`: with nothing listening on the proxy's port the run ends at once with an
/// error naming the proxy; with microsocks there, the headers are synced through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_through_a_socks5_proxy() {
    let simnet = Simnet::builder()
        .nodes(1)
        .chain_length(2_500)
        .build()
        .await
        .expect("simnet starts");
    let node = simnet.addrs()[0].to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let proxy = format!("127.0.0.1:{port}");
    let run = |node: String, proxy: String| {
        tokio::task::spawn_blocking(move || {
            btcclient(&[
                "connect",
                "-n",
                "regtest",
                "--no-data-dir",
                "--json",
                "--exit-when-synced",
                "--duration",
                "20s",
                "--no-discovery",
                "--proxy",
                &proxy,
                &node,
            ])
        })
    };
    let out = run(node.clone(), proxy.clone()).await.expect("joined");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("proxy {proxy}: cannot connect to the proxy")),
        "{stderr}"
    );

    let bin = std::env::var("MICROSOCKS").unwrap_or_else(|_| "microsocks".to_owned());
    let mut socks = std::process::Command::new(&bin)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e} (apt-get install microsocks)"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&proxy).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run(node, proxy).await.expect("joined");
    let _ = socks.kill();
    let _ = socks.wait();
    simnet.shutdown().await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let events = events(&out);
    let s = summary(&events);
    assert_eq!(s["end"], "synced");
    assert_eq!(s["headers_synced"], 2500);
}

#[test]
fn an_unreachable_peer_is_a_clear_error() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = btcclient(&[
        "connect",
        "--network",
        "regtest",
        "--duration",
        "30s",
        &addr,
    ]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&addr), "stderr: {stderr}");
    assert!(stderr.contains("could not connect"), "stderr: {stderr}");

    // The same with --json: stdout stays JSON, ending with a summary that says so.
    let out = btcclient(&["connect", "--network", "regtest", "--json", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let events = events(&out);
    let errors = named(&events, "error");
    assert!(
        errors.iter().any(|e| e["peer"] == addr.as_str()),
        "{errors:?}"
    );
    // The failed attempt is reported from the client's event, with its next retry.
    let failures = named(&events, "peer_failure");
    assert!(
        failures.iter().any(|e| e["peer"] == addr.as_str()
            && e["failures"] == 1
            && e["retry_in_ms"].as_u64() > Some(0)),
        "{events:?}"
    );
    let s = summary(&events);
    assert_eq!(s["ok"], false);
    assert_eq!(s["end"], "no_peer_connected");
    assert!(text(&out.stderr).contains(&addr));
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["connect", "--network", "nonsense", "127.0.0.1:1"],
            "unknown network",
        ),
        (&["connect", "--max-peers", "0", "127.0.0.1:1"], "max_peers"),
        (
            &["connect", "--reconnect-delay", "soon", "127.0.0.1:1"],
            "not a duration",
        ),
        (&["connect", "127.0.0.1:99999"], "invalid peer address"),
        (&["connect", "[::1"], "invalid peer address"),
        (&["demo", "--nodes", "0"], "--nodes"),
        (
            &["connect", "--proxy", "127.0.0.1", "127.0.0.1:1"],
            "--proxy <HOST:PORT>",
        ),
        (
            &["connect", "--onion-proxy", "127.0.0.1:0", "127.0.0.1:1"],
            "the proxy's port must not be 0",
        ),
        (
            &[
                "connect",
                "--proxy-username",
                "u",
                "--proxy-password",
                "p",
                "127.0.0.1:1",
            ],
            "--proxy <HOST:PORT>",
        ),
        (
            &[
                "connect",
                "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
            ],
            "reachable only through Tor",
        ),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let out = btcclient(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: stderr {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn help_documents_everything() {
    let out = btcclient(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["demo", "connect", "Exit status"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let out = btcclient(&["connect", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--network",
        "--max-peers",
        "--max-failure-count",
        "--health-check-interval",
        "--reconnect-delay",
        "--backoff",
        "--connection-timeout",
        "--handshake-timeout",
        "--ping-interval",
        "--pong-timeout",
        "--write-timeout",
        "--user-agent",
        "--services",
        "--no-relay",
        "--allow-local-addresses",
        "--no-discovery",
        "--max-message-size",
        "--send-queue-bytes",
        "--send-queue-len",
        "--event-queue-len",
        "--delivery",
        "--json",
        "--duration",
        "--exit-when-synced",
        "--proxy",
        "--proxy-username",
        "--proxy-password",
        "--onion-proxy",
        "--backoff-max",
        "--sync-timeout",
        "--target-outbound",
        "--transport",
        "--data-dir",
        "--no-data-dir",
        "--import-peers-dat",
        "--dns-seed",
        "--no-dns-seeds",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = btcclient(&["demo", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--nodes", "--chain-length", "--duration", "--json"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_headers_that_fail_is_reported_and_removed() {
    use bitcoin::block::Header;
    use bitcoin::p2p::message::NetworkMessage;

    let simnet = Simnet::builder()
        .nodes(1)
        .chain_length(100)
        .build()
        .await
        .expect("simnet starts");
    let node = simnet.node(0).clone();
    let tip: Header = *simnet.chain().headers().last().expect("a chain");
    let home = tempfile::tempdir().expect("a temporary directory");
    let child = command(home.path())
        .args([
            "connect",
            "--network",
            "regtest",
            "--json",
            "--duration",
            "6s",
            "--no-discovery",
            &node.addr().to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the btcclient binary runs");
    assert!(node.wait_for_connections(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A header on top of the tip whose hash misses its own target.
    let mut bad = Header {
        prev_blockhash: tip.block_hash(),
        time: tip.time + 600,
        ..tip
    };
    while bad.validate_pow(bad.target()).is_ok() {
        bad.nonce = bad.nonce.wrapping_add(1);
    }
    assert_eq!(node.push(NetworkMessage::Headers(vec![bad])), 1);

    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("waited");
    simnet.shutdown().await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let events = events(&out);
    let errors = named(&events, "error");
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("proof-of-work") && m.contains("removing"))),
        "{errors:?}"
    );
    assert!(named(&events, "peer_disconnected")
        .iter()
        .any(|e| e["kind"] == "removed"));
    let s = summary(&events);
    assert_eq!(s["peers_removed"], 1);
    assert_eq!(s["headers_synced"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_on_another_chain_is_removed() {
    // Regtest magic, but a chain that starts from signet's genesis block.
    let simnet = Simnet::builder()
        .nodes(1)
        .chain_length(10)
        .network(bitcoin::Network::Signet)
        .magic(bitcoin::p2p::Magic::REGTEST.to_bytes())
        .build()
        .await
        .expect("simnet starts");
    let addr = simnet.addrs()[0].to_string();
    let out = tokio::task::spawn_blocking(move || {
        btcclient(&[
            "connect",
            "--network",
            "regtest",
            "--json",
            "--duration",
            "4s",
            "--no-discovery",
            &addr,
        ])
    })
    .await
    .expect("joined");
    simnet.shutdown().await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let events = events(&out);
    assert!(named(&events, "error").iter().any(|e| e["message"]
        .as_str()
        .is_some_and(|m| m.contains("invalid headers"))));
    let s = summary(&events);
    assert_eq!(s["peers_removed"], 1);
    assert_eq!(s["headers_synced"], 0);
}

/// With no peer given, `connect` starts from the address book and the DNS seeds; when there
/// is nothing to start from, it says so and exits 1.
#[test]
fn connect_without_peers_and_without_seeds_says_so() {
    let out = btcclient(&["connect", "-n", "regtest", "--no-data-dir"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the address book is empty and there is no DNS seed to ask"),
        "{stderr}"
    );
}

/// A DNS seed that cannot be resolved: the error names it and why. (A 64-character label is
/// refused by the resolver library itself: no query leaves the machine.)
#[test]
fn connect_with_an_unreachable_dns_seed_says_so() {
    let seed = format!("{}.test", "a".repeat(64));
    let out = btcclient(&[
        "connect",
        "-n",
        "regtest",
        "--no-data-dir",
        "--dns-seed",
        &seed,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no DNS seed gave an address") && stderr.contains(&seed),
        "{stderr}"
    );
}

/// A peer that connects and then drops before its connection is stable is reported failure
/// by failure, from the client's events, until it is unhealthy.
#[test]
fn a_peer_that_keeps_dropping_is_reported_unhealthy() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let simnet = rt
        .block_on(Simnet::builder().nodes(1).build())
        .expect("simnet starts");
    simnet
        .node(0)
        .set_fault(Some(btcclient_simnet::Fault::TruncateThenClose));
    let node = simnet.addrs()[0].to_string();
    let out = btcclient(&[
        "connect",
        "-n",
        "regtest",
        "--json",
        "--no-data-dir",
        "--no-discovery",
        "--duration",
        "2s",
        "--max-failure-count",
        "3",
        "--reconnect-delay",
        "50ms",
        "--backoff",
        "fixed",
        &node,
    ]);
    rt.block_on(simnet.shutdown());
    let ev = events(&out);
    let failures: Vec<u64> = named(&ev, "peer_failure")
        .iter()
        .filter(|e| e["peer"] == node.as_str())
        .filter_map(|e| e["failures"].as_u64())
        .collect();
    assert!(failures.len() >= 3, "{ev:?}");
    assert_eq!(failures[..3], [1, 2, 3], "{ev:?}");
    let unhealthy = named(&ev, "peer_unhealthy");
    assert_eq!(unhealthy.len(), 1, "{ev:?}");
    assert_eq!(unhealthy[0]["peer"], node.as_str());
    assert_eq!(unhealthy[0]["failures"], 3);
}

/// `--import-peers-dat` reports what it took from a Bitcoin Core peers.dat (a Core 29 mainnet
/// file, tests/fixtures) and keeps it in the address book of the data directory, where the
/// next run finds it; discovery is off, so none of its public addresses is dialled.
#[test]
fn connect_imports_a_peers_dat() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/peers-core29-mainnet.dat"
    );
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data_dir = tmp.path().to_string_lossy().into_owned();
    let run = |import: &[&str]| {
        let mut args = vec![
            "connect",
            "-n",
            "mainnet",
            "--json",
            "--data-dir",
            &data_dir,
            "--no-discovery",
            "--no-dns-seeds",
            "--connection-timeout",
            "100ms",
            "--handshake-timeout",
            "100ms",
        ];
        args.extend(import);
        btcclient(&args)
    };
    let out = run(&["--import-peers-dat", fixture]);
    let ev = events(&out);
    let imported = named(&ev, "imported");
    assert_eq!(imported.len(), 1, "{ev:?}");
    let counts = (imported[0]["new"].as_u64(), imported[0]["tried"].as_u64());
    // The book's slots come from a random key per client: 8.8.8.8 and 8.8.4.4 (one group, one
    // source) share a new bucket, and 1 time in 64 a slot, where the later entry takes the
    // earlier's place. 4 new and 2 tried otherwise.
    assert!(
        counts == (Some(4), Some(2)) || counts == (Some(3), Some(2)),
        "{counts:?}"
    );
    let book = named(&ev, "address_book");
    assert_eq!(
        (book[0]["new"].as_u64(), book[0]["tried"].as_u64()),
        counts,
        "the book holds what the import reported"
    );
    assert!(
        named(&ev, "peer_added").is_empty(),
        "nothing dialled: {ev:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    let next = events(&run(&[]));
    let book = named(&next, "address_book");
    assert_eq!(
        (book[0]["new"].as_u64(), book[0]["tried"].as_u64()),
        counts,
        "the next run loads what the import added"
    );

    let out = btcclient(&[
        "connect",
        "--no-data-dir",
        "--import-peers-dat",
        "/nonexistent/peers.dat",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/peers.dat"),
        "{stderr}"
    );
}

/// The address book is kept in the data directory, one file per network, and a second run
/// starts with what the first learned.
#[test]
fn the_address_book_is_kept_in_the_data_directory() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let simnet = rt
        .block_on(Simnet::builder().nodes(1).build())
        .expect("simnet starts");
    let node = simnet.addrs()[0].to_string();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("data");
    let data_dir = dir.to_string_lossy().into_owned();
    let run = |peer: Option<&str>| {
        let mut args = vec![
            "connect",
            "-n",
            "regtest",
            "--json",
            "--duration",
            "2s",
            "--allow-local-addresses",
            "--data-dir",
            &data_dir,
        ];
        args.extend(peer);
        events(&btcclient(&args))
    };
    let first = run(Some(&node));
    assert!(!named(&first, "peer_connected").is_empty(), "{first:?}");
    assert!(dir.join("regtest/addrbook.dat").exists());
    let second = run(None);
    let book = named(&second, "address_book");
    assert_eq!(book[0]["tried"].as_u64(), Some(1), "{second:?}");
    // It connects to the peer it remembered.
    let connected = named(&second, "peer_connected");
    assert_eq!(
        connected.first().map(|e| &e["peer"]),
        Some(&Value::from(node.clone())),
        "{second:?}"
    );
    rt.block_on(simnet.shutdown());
}
