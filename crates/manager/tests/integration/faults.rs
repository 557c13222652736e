//! Each simulated fault costs only its own peer: the other peer keeps delivering, the faulty
//! peer's status and failure count are right, nothing panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::message_blockdata::Inventory;
use btcclient_manager::bitcoin::Txid;
use btcclient_manager::PeerStatus;
use btcclient_simnet::{Fault, Simnet};

use crate::{connect, eventually, fast, quiet_net, started, Recorder, Seen};

/// What the faulty peer should look like.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Never connects; failures pile up.
    NeverConnects,
    /// Connects, then is dropped for misbehaviour (a failure).
    DroppedAsFailure,
    /// Connects and stays connected (the fault is legal traffic).
    StaysConnected,
    /// Connects, is closed by the remote (not a failure), reconnects.
    Reconnects,
}

async fn fault_costs_only_its_peer(fault: Fault, expect: Expect) {
    let net = quiet_net(2).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .handshake_timeout(Duration::from_millis(500))
            .ping_interval(Duration::from_millis(200))
            .pong_timeout(Duration::from_millis(600))
            .listeners(rec.listeners()),
    );
    let good_addr = net.addrs()[0].to_string();
    connect(&client, net.node(0)).await;

    // The healthy node keeps announcing.
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let node = net.node(0).clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0u8;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_add(1);
                node.push(NetworkMessage::Inv(vec![Inventory::Transaction(
                    Txid::from_byte_array([i; 32]),
                )]));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    net.node(1).set_fault(Some(fault.clone()));
    let bad = client.add_peer(&net.addrs()[1].to_string()).unwrap();
    let bad_addr = bad.addr().to_owned();
    let good_invs = || rec.count(|s| matches!(s, Seen::Inv(a, _) if *a == good_addr));

    let before = good_invs();
    match expect {
        Expect::NeverConnects => {
            assert!(
                eventually(Duration::from_secs(5), || bad.failure_count() >= 2).await,
                "{fault:?}: {:?}",
                bad.snapshot()
            );
            assert_eq!(rec.connected(&bad_addr), 0, "{fault:?}");
            assert_ne!(bad.status(), PeerStatus::Connected);
        }
        Expect::DroppedAsFailure => {
            assert!(
                eventually(Duration::from_secs(5), || rec.disconnected(&bad_addr) >= 1).await,
                "{fault:?}"
            );
            assert!(
                eventually(Duration::from_secs(2), || bad.failure_count() >= 1).await,
                "{fault:?}: {:?}",
                bad.snapshot()
            );
        }
        Expect::StaysConnected => {
            bad.wait_connected(Duration::from_secs(5)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert_eq!(bad.status(), PeerStatus::Connected, "{fault:?}");
            assert_eq!(rec.disconnected(&bad_addr), 0, "{fault:?}");
        }
        Expect::Reconnects => {
            assert!(
                eventually(Duration::from_secs(5), || rec.connected(&bad_addr) >= 2).await,
                "{fault:?}"
            );
            assert!(rec.disconnected(&bad_addr) >= 1);
        }
    }
    // The healthy peer kept receiving throughout, and is still connected.
    assert!(
        eventually(Duration::from_secs(3), || good_invs() >= before + 10).await,
        "{fault:?}: healthy peer starved ({before} -> {})",
        good_invs()
    );
    assert_eq!(
        client.peer(&good_addr).unwrap().status(),
        PeerStatus::Connected
    );
    assert_eq!(
        rec.disconnected(&good_addr),
        0,
        "{fault:?} cost the healthy peer its connection"
    );

    stop.store(true, Ordering::Relaxed);
    pusher.await.unwrap();
    client.stop(Duration::from_secs(5)).await.unwrap();
    // Exactly one disconnected per connected, for both peers.
    for a in [&good_addr, &bad_addr] {
        assert_eq!(rec.connected(a), rec.disconnected(a), "{fault:?}: {a}");
    }
    net.shutdown().await;
}

#[tokio::test]
async fn refuse_connections() {
    fault_costs_only_its_peer(Fault::RefuseConnections, Expect::NeverConnects).await;
}

#[tokio::test]
async fn accept_then_close() {
    fault_costs_only_its_peer(Fault::AcceptThenClose, Expect::NeverConnects).await;
}

#[tokio::test]
async fn never_answer_version() {
    fault_costs_only_its_peer(Fault::NeverAnswerVersion, Expect::NeverConnects).await;
}

#[tokio::test]
async fn garbage_during_handshake() {
    fault_costs_only_its_peer(
        Fault::DuringHandshake(Box::new(Fault::SendGarbage)),
        Expect::NeverConnects,
    )
    .await;
}

#[tokio::test]
async fn wrong_checksum_during_handshake() {
    fault_costs_only_its_peer(
        Fault::DuringHandshake(Box::new(Fault::WrongChecksum)),
        Expect::NeverConnects,
    )
    .await;
}

#[tokio::test]
async fn oversized_length_during_handshake() {
    fault_costs_only_its_peer(
        Fault::DuringHandshake(Box::new(Fault::OversizedLength)),
        Expect::NeverConnects,
    )
    .await;
}

#[tokio::test]
async fn garbage_after_handshake() {
    fault_costs_only_its_peer(Fault::SendGarbage, Expect::DroppedAsFailure).await;
}

#[tokio::test]
async fn wrong_checksum_after_handshake() {
    fault_costs_only_its_peer(Fault::WrongChecksum, Expect::DroppedAsFailure).await;
}

#[tokio::test]
async fn oversized_length_after_handshake() {
    fault_costs_only_its_peer(Fault::OversizedLength, Expect::DroppedAsFailure).await;
}

#[tokio::test]
async fn stall_mid_message_times_out() {
    fault_costs_only_its_peer(Fault::StallMidMessage, Expect::DroppedAsFailure).await;
}

#[tokio::test]
async fn flood_addr_is_legal_traffic() {
    fault_costs_only_its_peer(Fault::FloodAddr, Expect::StaysConnected).await;
}

#[tokio::test]
async fn disconnect_after_n_messages() {
    fault_costs_only_its_peer(Fault::DisconnectAfter(6), Expect::Reconnects).await;
}

#[tokio::test]
async fn a_peer_that_misbehaves_after_every_handshake_becomes_unhealthy() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    net.node(0).set_fault(Some(Fault::SendGarbage));
    let rec = Recorder::default();
    // On v2 the garbage's first 3 bytes read as an encrypted length: above the limit the
    // connection ends at once, below it the client waits for a packet that never comes, and
    // the silent node misses its pong.
    let client = started(
        fast()
            .max_failure_count(3)
            .reconnect_delay(Duration::from_millis(20))
            .ping_interval(Duration::from_millis(200))
            .pong_timeout(Duration::from_millis(600))
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    // Each handshake succeeds, yet the failures add up across connections.
    assert!(
        eventually(Duration::from_secs(10), || peer.status()
            == PeerStatus::Unhealthy)
        .await,
        "{:?}",
        peer.snapshot()
    );
    assert!(rec.connected(peer.addr()) >= 3);
    client.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(rec.connected(peer.addr()), rec.disconnected(peer.addr()));
    net.shutdown().await;
}

#[tokio::test]
async fn a_second_version_message_is_a_protocol_violation() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let rec = Recorder::default();
    let client = started(fast().listeners(rec.listeners()));
    let peer = connect(&client, net.node(0)).await;
    let addr: std::net::SocketAddr = net.addrs()[0];
    let version = btcclient_manager::bitcoin::p2p::message_network::VersionMessage::new(
        btcclient_manager::bitcoin::p2p::ServiceFlags::NETWORK,
        0,
        btcclient_manager::bitcoin::p2p::address::Address::new(
            &addr,
            btcclient_manager::bitcoin::p2p::ServiceFlags::NONE,
        ),
        btcclient_manager::bitcoin::p2p::address::Address::new(
            &addr,
            btcclient_manager::bitcoin::p2p::ServiceFlags::NONE,
        ),
        7,
        "/again/".into(),
        0,
    );
    net.node(0).push(NetworkMessage::Version(version));
    let a = peer.addr().to_owned();
    assert!(eventually(Duration::from_secs(3), || rec.disconnected(&a) == 1).await);
    assert!(rec.all().iter().any(|s| matches!(s, Seen::Disconnected(_, btcclient_manager::DisconnectReason::ProtocolViolation(d)) if d.contains("second version"))));
    assert!(peer.failure_count() >= 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// What a [`scripted_node`] does on one connection after the handshake.
#[derive(Clone, Copy, Debug)]
enum After {
    /// Never read again; keep the socket open.
    Deaf,
    /// Never read again, but send a `ping` every 5 ms.
    DeafPinging,
    /// Read (and drop) everything until the client closes.
    ReadAll,
}

/// A node that completes the handshake on every connection, then behaves as `script` says:
/// connection `i` follows `script[i]` (the last entry for the rest).
async fn scripted_node(script: Vec<After>) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use btcclient_manager::wire::{FrameReader, FrameWriter, WireConfig};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A v1-only node: a connection that does not open with a v1 `version` (a v2 key) is
    // closed, as Core with -v2transport=0 does, and does not take a step of the script.
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let script = Arc::new(script);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let script = script.clone();
            let handshakes = handshakes.clone();
            conns.spawn(async move {
                let config = WireConfig::new(btcclient_manager::bitcoin::Network::Regtest);
                let (r, w) = stream.into_split();
                let mut reader = FrameReader::new(r, &config);
                let mut writer = FrameWriter::new(w, &config);
                let Ok(Some(theirs)) = reader.read_frame().await else {
                    return;
                };
                let NetworkMessage::Version(mut v) = theirs.decode().unwrap() else {
                    panic!("expected version")
                };
                let i = handshakes.fetch_add(1, Ordering::SeqCst);
                let after = script[i.min(script.len() - 1)];
                v.nonce = v.nonce.wrapping_add(1);
                writer
                    .write_message(&NetworkMessage::Version(v))
                    .await
                    .unwrap();
                writer.write_message(&NetworkMessage::Verack).await.unwrap();
                match after {
                    After::Deaf => tokio::time::sleep(Duration::from_secs(30)).await,
                    After::DeafPinging => {
                        for n in 0..6_000u64 {
                            if writer
                                .write_message(&NetworkMessage::Ping(n))
                                .await
                                .is_err()
                            {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    After::ReadAll => while let Ok(Some(_)) = reader.read_frame().await {},
                }
                drop((reader, writer));
            });
        }
    });
    (addr, task)
}

/// Sends 1 MB frames to `peer` for `for_how_long`, every 10 ms; returns how many were refused
/// with `QueueFull`.
async fn flood(peer: &btcclient_manager::ManagedPeer, for_how_long: Duration) -> usize {
    let big = btcclient_manager::Frame::raw("junk", vec![0u8; 1_000_000]).unwrap();
    let start = std::time::Instant::now();
    let mut queue_full = 0;
    while start.elapsed() < for_how_long {
        match peer.send_frame(big.clone()) {
            Ok(()) => {}
            Err(btcclient_manager::Error::QueueFull(_)) => queue_full += 1,
            Err(btcclient_manager::Error::PeerNotConnected(_)) => break,
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    queue_full
}

#[tokio::test]
async fn a_peer_that_stops_reading_hits_the_write_timeout() {
    let (addr, node) = scripted_node(vec![After::Deaf]).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .write_timeout(Duration::from_millis(300))
            .send_queue_len(2)
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&addr.to_string()).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    let a = peer.addr().to_owned();
    let big = btcclient_manager::Frame::raw("junk", vec![0u8; 1_000_000]).unwrap();
    // Fill the socket buffers; the queue then holds the rest (bounded) until the timeout.
    let start = std::time::Instant::now();
    let mut queue_full = 0;
    while rec.disconnected(&a) == 0 && start.elapsed() < Duration::from_secs(10) {
        match peer.send_frame(big.clone()) {
            Ok(()) => {}
            Err(btcclient_manager::Error::QueueFull(_)) => queue_full += 1,
            Err(btcclient_manager::Error::PeerNotConnected(_)) => break,
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(eventually(Duration::from_secs(3), || rec.disconnected(&a) == 1).await);
    assert!(
        rec.all().contains(&Seen::Disconnected(
            a.clone(),
            btcclient_manager::DisconnectReason::WriteTimeout
        )),
        "{:?}",
        rec.all()
    );
    assert!(peer.failure_count() >= 1);
    // While the peer did not read, the bounded queue refused sends instead of growing.
    assert!(queue_full > 0, "the send queue never filled");
    client.stop(Duration::from_secs(5)).await.unwrap();
    node.abort();
}

#[tokio::test]
async fn send_queue_capacity_comes_back_after_a_reconnect() {
    // The first connection never reads: its queue fills and the write timeout ends it with
    // frames still queued. The second connection reads everything.
    let (addr, node) = scripted_node(vec![After::Deaf, After::ReadAll]).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .discovery(false)
            .write_timeout(Duration::from_millis(300))
            .send_queue_bytes(4_000_024)
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&addr.to_string()).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    let a = peer.addr().to_owned();
    let full = flood(&peer, Duration::from_secs(2)).await;
    assert!(full > 0, "the send queue never filled");
    assert!(eventually(Duration::from_secs(5), || rec.disconnected(&a) == 1).await);
    assert!(eventually(Duration::from_secs(5), || rec.connected(&a) == 2).await);
    // The new connection's queue is empty: a message of the largest size fits.
    let big = btcclient_manager::Frame::raw("junk", vec![0u8; 1_000_000]).unwrap();
    let mut sent = 0;
    for _ in 0..8 {
        match peer.send_frame(big.clone()) {
            Ok(()) => sent += 1,
            Err(e) => panic!(
                "send {sent} after the reconnect: {e} ({:?})",
                peer.snapshot()
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.stop(Duration::from_secs(5)).await.unwrap();
    node.abort();
}

#[tokio::test]
async fn stop_and_remove_end_in_time_when_deaf_peers_ping() {
    // Three peers stop reading and keep sending pings while our queues are full: answering
    // them must not hold up `remove_peer` or `stop`.
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(scripted_node(vec![After::DeafPinging]).await);
    }
    let rec = Recorder::default();
    let client = started(
        fast()
            .discovery(false)
            .send_queue_len(2)
            .listeners(rec.listeners()),
    );
    let mut peers = Vec::new();
    for (addr, _) in &nodes {
        let peer = client.add_peer(&addr.to_string()).unwrap();
        peer.wait_connected(Duration::from_secs(5)).await.unwrap();
        peers.push(peer);
    }
    let floods: Vec<_> = peers
        .iter()
        .map(|p| {
            let p = p.clone();
            tokio::spawn(async move { flood(&p, Duration::from_millis(1500)).await })
        })
        .collect();
    for f in floods {
        assert!(f.await.unwrap() > 0, "a send queue never filled");
    }
    // Let the pings pile up behind the full queues.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let removed = peers[0].addr().to_owned();
    client.remove_peer(&removed).unwrap();
    assert!(
        eventually(Duration::from_secs(1), || rec.disconnected(&removed) == 1).await,
        "remove_peer did not end the session"
    );
    let start = std::time::Instant::now();
    client.stop(Duration::from_secs(1)).await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(1500));
    for p in &peers {
        assert_eq!(rec.connected(p.addr()), rec.disconnected(p.addr()));
    }
    for (_, node) in nodes {
        node.abort();
    }
}
