//! The transport policy against simulated nodes: BIP324 v2 where the peer speaks it, v1
//! otherwise, Bitcoin Core's fallback rule, and the v2 faults.

use std::time::Duration;

use btcclient_manager::addrbook::{AddrBook, BookAddr};
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::{ConnectFailure, Error, FailureCause, Network, Transport, TransportKind};
use btcclient_simnet::{AddrAdvertise, Fault, Simnet};

use crate::{connect, eventually, fast, started, Recorder, Seen};

async fn net(v2: bool) -> Simnet {
    Simnet::builder()
        .advertise(AddrAdvertise::None)
        .v2(v2)
        .build()
        .await
        .unwrap()
}

/// The causes of the failed attempts of `addr`, in order.
fn failures(rec: &Recorder, addr: &str) -> Vec<FailureCause> {
    rec.all()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Failed(a, cause, ..) if a == addr => Some(cause),
            _ => None,
        })
        .collect()
}

/// The cause `wait_connected` reports for a peer that cannot connect.
async fn connect_failure(peer: &btcclient_manager::ManagedPeer) -> ConnectFailure {
    match peer.wait_connected(Duration::from_secs(5)).await {
        Err(Error::PeerConnection(e)) => e.cause,
        other => panic!("expected a connection failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_v2_node_is_spoken_to_over_v2_with_the_nodes_session_id() {
    let net = net(true).await;
    let client = started(fast());
    let peer = connect(&client, net.node(0)).await;
    let snap = peer.snapshot();
    assert_eq!(snap.transport, Some(TransportKind::V2));
    let id = snap.session_id.expect("a v2 session id");
    // What Core's getpeerinfo shows as session_id on its side of the same connection.
    assert_eq!(net.node(0).v2_sessions(), vec![id]);
    assert_eq!(id.to_hex().len(), 64);
    assert_eq!(net.node(0).accepted(), 1, "one connection, no fallback");
    // Messages flow both ways over it.
    let before = peer.snapshot().messages_in;
    net.node(0)
        .push(btcclient_manager::bitcoin::p2p::message::NetworkMessage::Ping(7));
    assert!(
        eventually(Duration::from_secs(5), || peer.snapshot().messages_in
            > before)
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || net
            .node(0)
            .received()
            .iter()
            .any(|c| c == "pong"))
        .await
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_v1_only_node_is_retried_over_v1_at_once_not_as_a_failure_and_remembered() {
    let net = net(false).await;
    let rec = Recorder::default();
    let client = started(fast().listeners(rec.listeners()));
    let peer = connect(&client, net.node(0)).await;
    let addr = peer.addr().to_owned();
    let snap = peer.snapshot();
    assert_eq!(snap.transport, Some(TransportKind::V1));
    assert_eq!(snap.session_id, None);
    // The v2 attempt (closed by the node on our key) and the v1 one.
    assert_eq!(net.node(0).accepted(), 2);
    assert_eq!(
        failures(&rec, &addr),
        vec![],
        "the fallback is not a failure"
    );
    assert_eq!(peer.failure_count(), 0);

    // Remembered for the client's lifetime: added again, the peer is dialled over v1 at once.
    client.remove_peer(&addr).unwrap();
    assert!(eventually(Duration::from_secs(5), || net.node(0).connections() == 0).await);
    let peer = connect(&client, net.node(0)).await;
    assert_eq!(peer.snapshot().transport, Some(TransportKind::V1));
    assert_eq!(net.node(0).accepted(), 3, "no second v2 attempt");
    client.stop(Duration::from_secs(5)).await.unwrap();

    // Another client does not know it yet.
    assert!(eventually(Duration::from_secs(5), || net.node(0).connections() == 0).await);
    let other = started(fast());
    connect(&other, net.node(0)).await;
    assert_eq!(net.node(0).accepted(), 5);
    other.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn v2_only_fails_against_a_v1_node_with_a_clear_cause() {
    let net = net(false).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .transport(Transport::V2Only)
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let addr = peer.addr().to_owned();
    assert_eq!(connect_failure(&peer).await, ConnectFailure::V2NotSupported);
    assert!(ConnectFailure::V2NotSupported
        .to_string()
        .contains("does not speak the v2 transport"));
    assert!(eventually(Duration::from_secs(5), || failures(&rec, &addr).len() >= 2).await);
    assert!(failures(&rec, &addr)
        .iter()
        .all(|c| *c == FailureCause::Connect(ConnectFailure::V2NotSupported)));
    assert_eq!(rec.connected(&addr), 0);
    // Every attempt is one connection: never a v1 one.
    let attempts = failures(&rec, &addr).len();
    assert!(net.node(0).accepted() <= attempts + 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn v1_only_speaks_v1_to_a_v2_node() {
    let net = net(true).await;
    let client = started(fast().transport(Transport::V1Only));
    let peer = connect(&client, net.node(0)).await;
    assert_eq!(peer.snapshot().transport, Some(TransportKind::V1));
    assert_eq!(peer.snapshot().session_id, None);
    assert!(net.node(0).v2_sessions().is_empty());
    assert_eq!(net.node(0).accepted(), 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// Each v2 fault fails the attempt with its own cause, counted as a failure, and is never
/// retried over v1 (something was received, so Core's rule does not apply): a v1 attempt
/// would connect, since simnet's v2 nodes answer v1 too.
#[tokio::test]
async fn v2_handshake_faults_are_failures_without_fallback() {
    type Expected = fn(&ConnectFailure) -> bool;
    let cases: Vec<(Fault, Expected)> = vec![
        (
            Fault::V2WrongMagic([0xf9, 0xbe, 0xb4, 0xd9]),
            |c| matches!(c, ConnectFailure::WrongNetwork(m) if m.contains("f9, be, b4, d9")),
        ),
        (Fault::V2CloseDuringKeyExchange, |c| {
            *c == ConnectFailure::ClosedDuringHandshake
        }),
        (
            Fault::V2BadGarbageTerminator,
            |c| matches!(c, ConnectFailure::V2Handshake(m) if m.contains("garbage terminator")),
        ),
    ];
    for (fault, expected) in cases {
        let net = net(true).await;
        net.node(0).set_fault(Some(fault.clone()));
        let rec = Recorder::default();
        let client = started(fast().listeners(rec.listeners()));
        let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
        let addr = peer.addr().to_owned();
        let cause = connect_failure(&peer).await;
        assert!(expected(&cause), "{fault:?}: {cause:?}");
        assert!(
            eventually(Duration::from_secs(5), || failures(&rec, &addr).len() >= 2).await,
            "{fault:?}"
        );
        assert_eq!(
            rec.connected(&addr),
            0,
            "{fault:?}: never connected over v1"
        );
        assert!(peer.failure_count() >= 2, "{fault:?}");
        client.stop(Duration::from_secs(5)).await.unwrap();
        net.shutdown().await;
    }
}

#[tokio::test]
async fn a_silent_v2_peer_is_a_handshake_timeout_not_a_fallback() {
    let net = net(true).await;
    net.node(0).set_fault(Some(Fault::NeverAnswerVersion));
    let rec = Recorder::default();
    let client = started(
        fast()
            .handshake_timeout(Duration::from_millis(300))
            .listeners(rec.listeners()),
    );
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let addr = peer.addr().to_owned();
    assert_eq!(
        connect_failure(&peer).await,
        ConnectFailure::HandshakeTimeout
    );
    assert!(eventually(Duration::from_secs(5), || failures(&rec, &addr).len() >= 2).await);
    // One connection per attempt: no v1 retry after the timeout.
    let attempts = failures(&rec, &addr).len();
    assert!(net.node(0).accepted() <= attempts + 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn decoys_are_skipped() {
    let net = net(true).await;
    net.node(0).set_fault(Some(Fault::V2DecoyFlood));
    let client = started(fast());
    let peer = connect(&client, net.node(0)).await;
    assert_eq!(peer.snapshot().transport, Some(TransportKind::V2));
    let before = peer.snapshot().messages_in;
    for i in 0..5 {
        net.node(0)
            .push(btcclient_manager::bitcoin::p2p::message::NetworkMessage::Ping(i));
    }
    assert!(
        eventually(Duration::from_secs(5), || peer.snapshot().messages_in
            >= before + 5)
        .await
    );
    assert_eq!(peer.status(), btcclient_manager::PeerStatus::Connected);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

/// A discovered address is dialled over v2 only when the book records `NODE_P2P_V2` for it.
/// Here a v2 node advertises a v1-only node as v2-capable: the client tries v2, falls back,
/// and its address book stops recording `NODE_P2P_V2` for that address.
#[tokio::test]
async fn a_discovered_v1_only_node_is_recorded_without_p2p_v2() {
    let v1 = net(false).await;
    let seed = Simnet::builder()
        .advertise(AddrAdvertise::Fixed(v1.addrs()))
        .getaddr_percent(100)
        .getaddr_delay(Duration::ZERO)
        .v2(true)
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.dat");
    let client = started(
        fast()
            .discovery(true)
            .dns_seeds(Some(vec![]))
            .address_book_path(Some(path.clone())),
    );
    let seed_peer = connect(&client, seed.node(0)).await;
    assert_eq!(seed_peer.snapshot().transport, Some(TransportKind::V2));
    let target = v1.addrs()[0].to_string();
    assert!(
        eventually(Duration::from_secs(10), || client
            .peer(&target)
            .is_some_and(
                |p| p.status() == btcclient_manager::PeerStatus::Connected
            ))
        .await,
        "{:?}",
        client.peers()
    );
    let found = client.peer(&target).unwrap();
    assert!(found.is_discovered());
    assert_eq!(found.snapshot().transport, Some(TransportKind::V1));
    assert_eq!(found.failure_count(), 0);
    assert_eq!(v1.node(0).accepted(), 2, "one v2 attempt, then v1");
    client.stop(Duration::from_secs(5)).await.unwrap();

    let book = AddrBook::load(&path, Network::Regtest).book;
    let entry = book
        .get(&BookAddr::from(v1.addrs()[0]))
        .expect("the v1 node is in the book");
    assert!(
        !entry.services.has(ServiceFlags::P2P_V2),
        "{:?}",
        entry.services
    );
    assert!(entry.services.has(ServiceFlags::NETWORK));
    let seed_entry = book
        .get(&BookAddr::from(seed.addrs()[0]))
        .expect("the seed");
    assert!(seed_entry.services.has(ServiceFlags::P2P_V2));
    seed.shutdown().await;
    v1.shutdown().await;
}
