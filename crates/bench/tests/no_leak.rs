//! A client whose listeners reach the client is freed when the user drops it: 100
//! create/start/connect/stop/drop cycles leave threads, file descriptors, live heap and the
//! client's state where they were. Alone in its own test binary, so that no other test's
//! threads, sockets or allocations come and go meanwhile; in the bench crate for its counting
//! allocator.
#![allow(clippy::unwrap_used, missing_docs)]

#[global_allocator]
static ALLOC: btcclient_bench::Counting = btcclient_bench::Counting;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use btcclient_manager::{BtcClient, Config, Listeners, Network, WeakClient};

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits up to 5 s for `f` to come down to `baseline` (threads of a runtime that was shut
/// down in the background, and sockets the node closes, go a moment later).
fn settles(baseline: usize, f: fn() -> usize) -> usize {
    let start = Instant::now();
    while f() > baseline && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn clients_whose_listeners_reach_them_are_freed() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let net = rt
        .block_on(
            btcclient_simnet::Simnet::builder()
                .nodes(1)
                .advertise(btcclient_simnet::AddrAdvertise::None)
                .build(),
        )
        .unwrap();
    let node = net.addrs()[0].to_string();

    let cycle = || {
        // Held by the listeners: alive exactly as long as they are.
        let token = Arc::new(());
        let me: Arc<OnceLock<WeakClient>> = Arc::default();
        let (t1, t2, me2) = (token.clone(), token.clone(), me.clone());
        let listeners = Listeners::new()
            .on_peer_connected(move |peer| {
                let _ = &t1;
                // The peer's handle reaches the client without keeping it alive.
                let client = peer.client().expect("client alive during a callback");
                let _ = client.peer_count();
            })
            .on_peer_disconnected(move |_, _| {
                let _ = &t2;
                let client = me2.get().and_then(WeakClient::upgrade);
                assert!(client.is_some());
            });
        let client = BtcClient::new(
            Config::builder()
                .network(Network::Regtest)
                .allow_local_addresses(true)
                .discovery(false)
                .listeners(listeners)
                .build()
                .unwrap(),
        )
        .unwrap();
        me.set(client.downgrade()).unwrap();
        client.start().unwrap();
        let peer = client.add_peer(&node).unwrap();
        let connected = {
            let start = Instant::now();
            while peer.status() != btcclient_manager::PeerStatus::Connected
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            peer.status() == btcclient_manager::PeerStatus::Connected
        };
        assert!(connected);
        client.stop_blocking(Duration::from_secs(5)).unwrap();
        drop(client);
        // The client's state, listeners included, is gone.
        assert!(me.get().unwrap().upgrade().is_none());
        assert!(peer.client().is_none());
        drop(peer);
        assert_eq!(Arc::strong_count(&token), 1, "listeners not freed");
    };

    // One cycle first, so that lazily created process-wide things exist at the baseline.
    cycle();
    std::thread::sleep(Duration::from_millis(500));
    let (threads0, fds0, heap0) = (threads(), fds(), btcclient_bench::live_heap());
    for _ in 0..100 {
        cycle();
    }
    assert_eq!(settles(threads0, threads), threads0, "threads left behind");
    assert_eq!(settles(fds0, fds), fds0, "descriptors left behind");
    // A client with its runtime, peer, queues and listeners is well over 100 KB; 100 leaked
    // ones would be megabytes. What may differ is noise: the simnet node's per-connection
    // bookkeeping and allocator-internal caches.
    let heap = settles(heap0 + 64 * 1024, btcclient_bench::live_heap);
    println!("live heap: {heap0} B before 100 cycles, {heap} B after");
    assert!(
        heap <= heap0 + 64 * 1024,
        "live heap grew from {heap0} B to {heap} B over 100 cycles"
    );
    rt.block_on(net.shutdown());
}
