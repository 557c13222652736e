//! The specification's state table: Disconnected -> Connecting -> Connected -> Disconnected,
//! Unhealthy after max_failure_count failures, reconnect after the delay; and stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use btcclient_manager::{BtcClient, DisconnectReason, FailureCause, Listeners, PeerStatus};
use btcclient_simnet::{Fault, Simnet};

use crate::{eventually, fast, quiet_net, started, Recorder, Seen};

#[tokio::test]
async fn connecting_until_the_handshake_finishes_then_connected() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    net.node(0).set_fault(Some(Fault::NeverAnswerVersion));
    let rec = Recorder::default();
    let client = started(
        fast()
            .handshake_timeout(Duration::from_millis(400))
            .stable_after(Duration::from_millis(300))
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    // TCP is accepted but the handshake never finishes: Connecting, never Connected.
    assert!(eventually(Duration::from_secs(2), || net.node(0).accepted() >= 1).await);
    assert_eq!(peer.status(), PeerStatus::Connecting);
    // The handshake timeout counts as a failure; no connected event ever fires.
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() >= 2).await);
    assert!(peer.status() != PeerStatus::Connected);
    assert_eq!(rec.count(|s| matches!(s, Seen::Connected(_))), 0);
    assert!(peer
        .snapshot()
        .last_error
        .unwrap()
        .contains("handshake timed out"));

    // Once the node behaves, the peer connects and its failure count resets.
    net.node(0).set_fault(None);
    assert!(
        eventually(Duration::from_secs(3), || peer.status()
            == PeerStatus::Connected)
        .await
    );
    // While connected the count is the streak so far; once stable it is reset.
    assert!(peer.failure_count() >= 1);
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() == 0).await);
    assert_eq!(rec.connected(peer.addr()), 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn remote_close_disconnects_then_reconnects_after_the_delay() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let rec = Recorder::default();
    let client = started(
        fast()
            .discovery(false)
            .stable_after(Duration::from_millis(300))
            .listeners(rec.listeners()),
    );
    let addr = net.addrs()[0].to_string();
    let peer = client.add_peer(&addr).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() == 0).await);

    net.node(0).go_down();
    assert!(eventually(Duration::from_secs(3), || rec.disconnected(&addr) == 1).await);
    assert!(rec.all().contains(&Seen::Disconnected(
        addr.clone(),
        DisconnectReason::RemoteClosed
    )));
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() >= 1).await);
    assert_ne!(peer.status(), PeerStatus::Connected);

    net.node(0).come_up().await.unwrap();
    assert!(eventually(Duration::from_secs(5), || rec.connected(&addr) == 2).await);
    assert_eq!(peer.status(), PeerStatus::Connected);
    // While connected the count is the streak so far; once stable it is reset.
    assert!(peer.failure_count() >= 1);
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() == 0).await);
    client.stop(Duration::from_secs(5)).await.unwrap();
    // Every connected event has exactly one disconnected event.
    assert_eq!(rec.connected(&addr), 2);
    assert_eq!(rec.disconnected(&addr), 2);
    net.shutdown().await;
}

#[tokio::test]
async fn unhealthy_at_the_failure_threshold_and_retried() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    net.node(0).set_fault(Some(Fault::AcceptThenClose));
    let client = started(
        fast()
            .max_failure_count(3)
            .stable_after(Duration::from_millis(300))
            .reconnect_delay(Duration::from_millis(20)),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || peer.status()
            == PeerStatus::Unhealthy)
        .await
    );
    assert!(peer.failure_count() >= 3);
    // A user-added peer stays managed and keeps being retried.
    let accepted = net.node(0).accepted();
    assert!(
        eventually(Duration::from_secs(3), || net.node(0).accepted()
            > accepted + 2)
        .await
    );
    assert_eq!(client.peer_count(), 1);
    assert_eq!(peer.status(), PeerStatus::Unhealthy);
    // Healthy again only after a handshake.
    net.node(0).set_fault(None);
    assert!(
        eventually(Duration::from_secs(3), || peer.status()
            == PeerStatus::Connected)
        .await
    );
    // While connected the count is the streak so far; once stable it is reset.
    assert!(peer.failure_count() >= 1);
    assert!(eventually(Duration::from_secs(3), || peer.failure_count() == 0).await);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn remove_peer_fires_disconnected_with_removed() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let rec = Recorder::default();
    let client = started(fast().discovery(false).listeners(rec.listeners()));
    let addr = net.addrs()[0].to_string();
    client
        .add_peer(&addr)
        .unwrap()
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    client.remove_peer(&addr).unwrap();
    assert!(eventually(Duration::from_secs(3), || rec.disconnected(&addr) == 1).await);
    assert_eq!(
        rec.all()
            .into_iter()
            .rev()
            .find(|s| matches!(s, Seen::Disconnected(..))),
        Some(Seen::Disconnected(addr.clone(), DisconnectReason::Removed))
    );
    assert!(eventually(Duration::from_secs(3), || net.node(0).connections() == 0).await);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[test]
fn stop_leaves_no_task_no_socket_and_no_later_callback() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let net = rt
        .block_on(
            Simnet::builder()
                .nodes(5)
                .advertise(btcclient_simnet::AddrAdvertise::None)
                .ping_interval(Some(Duration::from_millis(20)))
                .build(),
        )
        .unwrap();
    let rec = Recorder::default();
    // The client runs on its own runtime so that its tasks can be counted alone.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = BtcClient::with_runtime(
        fast()
            .max_peers(5)
            .listeners(rec.listeners())
            .build()
            .unwrap(),
        client_rt.handle().clone(),
    )
    .unwrap();
    client.start().unwrap();
    for addr in net.addrs() {
        client.add_peer(&addr.to_string()).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.connected_count() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(client.connected_count(), 5);
    client.stop_blocking(Duration::from_secs(5)).unwrap();

    let connected = rec.count(|s| matches!(s, Seen::Connected(_)));
    let disconnected: Vec<Seen> = rec
        .all()
        .into_iter()
        .filter(|s| matches!(s, Seen::Disconnected(..)))
        .collect();
    assert_eq!(connected, 5);
    assert_eq!(disconnected.len(), 5);
    assert!(disconnected
        .iter()
        .all(|s| matches!(s, Seen::Disconnected(_, DisconnectReason::Stopped))));
    // A finished task is released by the runtime a moment after its future completes.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while client_rt.metrics().num_alive_tasks() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        client_rt.metrics().num_alive_tasks(),
        0,
        "tasks left after stop"
    );
    let events = rec.all().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rec.all().len(),
        events,
        "a callback ran after stop returned"
    );
    let nodes = net.nodes().to_vec();
    rt.block_on(async {
        assert!(
            eventually(Duration::from_secs(3), || nodes
                .iter()
                .all(|n| n.connections() == 0))
            .await
        );
    });
    rt.block_on(net.shutdown());
}

#[tokio::test]
async fn stop_timeout_when_a_callback_hangs() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let listeners = btcclient_manager::Listeners::new()
        .on_peer_disconnected(|_, _| std::thread::sleep(Duration::from_millis(1500)));
    let client = started(fast().listeners(listeners));
    client
        .add_peer(&net.addrs()[0].to_string())
        .unwrap()
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    let r = client.stop(Duration::from_millis(200)).await;
    assert!(
        matches!(r, Err(btcclient_manager::Error::StopTimeout { .. })),
        "{r:?}"
    );
    assert!(!client.is_running());
    // The client can be started again afterwards.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.start().unwrap();
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn an_unhealthy_discovered_peer_is_dropped_to_make_room() {
    let net = Simnet::builder()
        .nodes(2)
        .advertise(btcclient_simnet::AddrAdvertise::None)
        .build()
        .await
        .unwrap();
    // The second node, which the first announces, never accepts.
    net.node(1).set_fault(Some(Fault::RefuseConnections));
    let rec = Recorder::default();
    let client = started(
        fast()
            .max_failure_count(3)
            .reconnect_delay(Duration::from_millis(20))
            .listeners(rec.listeners()),
    );
    let seed = crate::connect(&client, net.node(0)).await;
    announce(&net, 0, 1).await;
    let discovered = net.addrs()[1].to_string();
    assert!(
        eventually(Duration::from_secs(5), || client
            .peer(&discovered)
            .is_some())
        .await
    );
    assert!(client.peer(&discovered).unwrap().is_discovered());
    // A discovered peer that never connected is dropped after its first failed attempt;
    // the user-added seed stays.
    assert!(
        eventually(Duration::from_secs(5), || client
            .peer(&discovered)
            .is_none())
        .await
    );
    assert_eq!(client.peer_count(), 1);
    assert_eq!(seed.status(), PeerStatus::Connected);
    // It never connected, so no connected/disconnected events for it.
    assert_eq!(rec.connected(&discovered), 0);
    assert_eq!(rec.disconnected(&discovered), 0);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// Defaults but for the network: Bitcoin Core's timing, on loopback.
fn defaults() -> btcclient_manager::ConfigBuilder {
    btcclient_manager::Config::builder()
        .network(btcclient_manager::Network::Regtest)
        .allow_local_addresses(true)
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_drops_right_after_every_handshake_backs_off() {
    // Runs on tokio's paused clock: a minute of client time in milliseconds. Callbacks run on
    // the blocking pool (concurrent delivery), which holds the clock while they run, so every
    // event is counted by the time the sleep ends.
    let net = crate::quiet_net(1).await;
    net.node(0).set_fault(Some(Fault::TruncateThenClose));
    let rec = Recorder::default();
    let client = started(
        defaults()
            .delivery(btcclient_manager::Delivery::Concurrent)
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let addr = peer.addr().to_owned();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let handshakes = rec.connected(&addr);
    let failures = rec.failed(&addr);
    assert!(handshakes <= 8, "{handshakes} handshakes in 60 s");
    assert!(
        failures >= 3,
        "{failures} failures in 60 s: {:?}",
        rec.all()
    );
    // Each one failed with the reason the connection ended, and the count only grows.
    let seen: Vec<(FailureCause, u32, Duration)> = rec
        .all()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Failed(_, cause, n, delay) => Some((cause, n, delay)),
            _ => None,
        })
        .collect();
    for (i, (cause, n, delay)) in seen.iter().enumerate() {
        assert_eq!(
            *cause,
            FailureCause::Unstable(DisconnectReason::RemoteClosed),
            "{seen:?}"
        );
        assert_eq!(*n as usize, i + 1);
        // 5 s doubled per failure, ±25 %.
        let nominal = Duration::from_secs(5) * (1 << i);
        assert!(*delay >= nominal.mul_f64(0.75) && *delay <= nominal.mul_f64(1.25));
    }
    assert!(peer.failure_count() >= 3);
    client.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(rec.connected(&addr), rec.disconnected(&addr));
    net.shutdown().await;
}

#[tokio::test]
async fn wait_connected_returns_at_once_when_the_peer_is_removed() {
    let net = crate::quiet_net(1).await;
    net.node(0).set_fault(Some(Fault::NeverAnswerVersion));
    let client = started(fast().handshake_timeout(Duration::from_secs(5)));
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let waiting = {
        let peer = peer.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            (
                peer.wait_connected(Duration::from_secs(8)).await,
                start.elapsed(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.remove_peer(peer.addr()).unwrap();
    let (result, took) = waiting.await.unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(
            &err,
            btcclient_manager::Error::PeerConnection(e)
                if e.cause == btcclient_manager::ConnectFailure::Removed
        ),
        "{err}"
    );
    assert!(err.to_string().contains("removed"), "{err}");
    assert!(took < Duration::from_secs(1), "waited {took:?}");
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// A disconnected callback that blocks past `stop`'s deadline: `stop` says how many connected
/// peers' disconnected events it could not deliver, and nothing of that run reaches the next.
/// Serialized delivery: the blocked callback holds up the other two (2 undelivered).
/// Concurrent delivery: the other two run beside it (every pair complete, 0 undelivered).
async fn stop_timeout_with_a_blocked_callback(
    delivery: btcclient_manager::Delivery,
    started_at_stop: usize,
    undelivered: usize,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let net = crate::quiet_net(3).await;
    let started_disconnects = Arc::new(AtomicUsize::new(0));
    let seen = started_disconnects.clone();
    let listeners = btcclient_manager::Listeners::new().on_peer_disconnected(move |_, _| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(800));
        }
    });
    let client = started(
        fast()
            .discovery(false)
            .delivery(delivery)
            .listeners(listeners),
    );
    for node in net.nodes() {
        crate::connect(&client, node).await;
    }
    let r = client.stop(Duration::from_millis(300)).await;
    assert!(
        matches!(
            r,
            Err(btcclient_manager::Error::StopTimeout {
                undelivered_disconnects,
                ..
            }) if undelivered_disconnects == undelivered
        ),
        "{r:?}"
    );
    let at_stop = started_disconnects.load(Ordering::SeqCst);
    assert_eq!(at_stop, started_at_stop);
    // A new run starts at once; the old run's queued disconnected events never arrive.
    client.start().unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(started_disconnects.load(Ordering::SeqCst), at_stop);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn stop_timeout_counts_undelivered_disconnects_and_nothing_reaches_the_next_run() {
    stop_timeout_with_a_blocked_callback(btcclient_manager::Delivery::Serialized, 1, 2).await;
}

#[tokio::test]
async fn stop_timeout_with_concurrent_delivery_delivers_the_other_peers_disconnects() {
    stop_timeout_with_a_blocked_callback(btcclient_manager::Delivery::Concurrent, 3, 0).await;
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_to_its_ten_minute_cap() {
    // Every dial is refused; on the paused clock, an hour of retries takes milliseconds.
    let net = crate::quiet_net(1).await;
    net.node(0).set_fault(Some(Fault::RefuseConnections));
    let rec = Recorder::default();
    let client = started(
        defaults()
            .max_failure_count(3)
            .delivery(btcclient_manager::Delivery::Concurrent)
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let addr = peer.addr().to_owned();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let delays: Vec<Duration> = rec
        .all()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Failed(_, _, _, d) => Some(d),
            _ => None,
        })
        .collect();
    let cap = Duration::from_secs(600);
    // 5, 10, 20, ... s (±25 %), then never over 10 minutes.
    assert!(delays.len() >= 10, "{delays:?}");
    for (i, d) in delays.iter().enumerate() {
        let nominal = (Duration::from_secs(5) * (1u32 << i.min(20))).min(cap);
        assert!(
            *d >= nominal.mul_f64(0.75) && *d <= nominal.mul_f64(1.25).min(cap),
            "{i}: {d:?}"
        );
    }
    assert!(delays[delays.len() - 1] >= cap.mul_f64(0.75));
    // Unhealthy from the third failure on, without passing through Connecting again.
    assert_eq!(peer.status(), PeerStatus::Unhealthy);
    let statuses = rec.statuses(&addr);
    assert_eq!(
        statuses[..5],
        [
            (PeerStatus::Disconnected, PeerStatus::Connecting),
            (PeerStatus::Connecting, PeerStatus::Disconnected),
            (PeerStatus::Disconnected, PeerStatus::Connecting),
            (PeerStatus::Connecting, PeerStatus::Disconnected),
            (PeerStatus::Disconnected, PeerStatus::Connecting),
        ]
    );
    assert_eq!(statuses[5], (PeerStatus::Connecting, PeerStatus::Unhealthy));
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn no_pong_for_twenty_minutes_disconnects() {
    // The node answers nothing after the handshake (not even pings); on the paused clock the
    // default 2-minute pings and 20-minute pong timeout pass in milliseconds.
    let net = btcclient_simnet::Simnet::builder()
        .nodes(1)
        .advertise(btcclient_simnet::AddrAdvertise::None)
        .core_greeting(false)
        .build()
        .await
        .unwrap();
    let rec = Recorder::default();
    let client = started(
        defaults()
            .delivery(btcclient_manager::Delivery::Concurrent)
            .listeners(rec.listeners()),
    );
    let peer = crate::connect(&client, net.node(0)).await;
    let addr = peer.addr().to_owned();
    net.node(0).set_fault(Some(Fault::StallMidMessage));
    let start = tokio::time::Instant::now();
    while rec.disconnected(&addr) == 0 && start.elapsed() < Duration::from_secs(3600) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let took = start.elapsed();
    assert!(
        rec.all().contains(&Seen::Disconnected(
            addr.clone(),
            DisconnectReason::PingTimeout
        )),
        "{:?}",
        rec.all()
    );
    // The first ping goes out 2 minutes after the handshake, the timeout 20 minutes later.
    assert!(
        took >= Duration::from_secs(21 * 60) && took <= Duration::from_secs(22 * 60 + 2),
        "{took:?}"
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_health_check_drops_an_unhealthy_discovered_peer_on_its_next_tick() {
    // Defaults: 3 failures (5 s, 10 s backoff) make the discovered peer unhealthy within 20 s;
    // the health check, every 30 s from start, drops it at 30 s, not before.
    let net = Simnet::builder()
        .nodes(2)
        .advertise(btcclient_simnet::AddrAdvertise::None)
        .build()
        .await
        .unwrap();
    net.node(1).set_fault(Some(Fault::RefuseConnections));
    let rec = Recorder::default();
    let client = started(
        defaults()
            .max_failure_count(3)
            .delivery(btcclient_manager::Delivery::Concurrent)
            .listeners(rec.listeners()),
    );
    let start = tokio::time::Instant::now();
    client
        .add_peer(&net.addrs()[0].to_string())
        .unwrap()
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    announce(&net, 0, 1).await;
    let discovered = net.addrs()[1].to_string();
    tokio::time::sleep_until(start + Duration::from_secs(29)).await;
    let peer = client
        .peer(&discovered)
        .expect("discovered and still managed");
    assert_eq!(peer.status(), PeerStatus::Unhealthy);
    tokio::time::sleep_until(start + Duration::from_millis(30_100)).await;
    assert!(client.peer(&discovered).is_none(), "not dropped at 30 s");
    assert_eq!(
        rec.statuses(&discovered).last(),
        Some(&(PeerStatus::Unhealthy, PeerStatus::Disconnected))
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// `wait_connected` reports a connection only once its connected event is on its way to the
/// listeners: a `stop` right after it returns still delivers that connected event and its
/// disconnected event (the peer's status went to Connected before the event was queued, and a
/// stop in between left the listeners without either).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_connected_then_stop_delivers_the_connected_event() {
    let net = quiet_net(1).await;
    for round in 0..30 {
        let connected = Arc::new(AtomicUsize::new(0));
        let disconnected = Arc::new(AtomicUsize::new(0));
        let (c, d) = (Arc::clone(&connected), Arc::clone(&disconnected));
        let client = started(
            fast().listeners(
                Listeners::new()
                    .on_peer_connected(move |_| {
                        c.fetch_add(1, Ordering::SeqCst);
                    })
                    .on_peer_disconnected(move |_, _| {
                        d.fetch_add(1, Ordering::SeqCst);
                    }),
            ),
        );
        let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
        peer.wait_connected(Duration::from_secs(5)).await.unwrap();
        client.stop(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            (
                connected.load(Ordering::SeqCst),
                disconnected.load(Ordering::SeqCst)
            ),
            (1, 1),
            "round {round}"
        );
    }
}

/// Node `from` sends the client an `addr` naming node `about`, once it counts the client's
/// connection as handshaked.
async fn announce(net: &Simnet, from: usize, about: usize) {
    use btcclient_manager::bitcoin::p2p::{
        address::Address, message::NetworkMessage, ServiceFlags,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let entry = (
        now,
        Address::new(&net.addrs()[about], ServiceFlags::NETWORK),
    );
    assert!(eventually(Duration::from_secs(5), || net.node(from).connections() > 0).await);
    assert_eq!(net.node(from).push(NetworkMessage::Addr(vec![entry])), 1);
}
