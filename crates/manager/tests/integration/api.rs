//! The client's operations and every error of the specification's error table.

use std::time::Duration;

use btcclient_manager::{BtcClient, Config, Error, PeerStatus};
use btcclient_simnet::Simnet;

use crate::{eventually, fast, started};

#[tokio::test]
async fn invalid_config_names_the_field() {
    let cases: Vec<(Config, &str)> = vec![
        (
            Config {
                max_peers: 0,
                ..Config::default()
            },
            "max_peers",
        ),
        (
            Config {
                max_failure_count: 0,
                ..Config::default()
            },
            "max_failure_count",
        ),
        (
            Config {
                health_check_interval: Duration::ZERO,
                ..Config::default()
            },
            "health_check_interval",
        ),
        (
            Config {
                connection_timeout: Duration::ZERO,
                ..Config::default()
            },
            "connection_timeout",
        ),
        (
            Config {
                handshake_timeout: Duration::from_secs(999_999),
                ..Config::default()
            },
            "handshake_timeout",
        ),
        (
            Config {
                user_agent: "a\nb".into(),
                ..Config::default()
            },
            "user_agent",
        ),
        (
            Config {
                max_message_size: 10,
                ..Config::default()
            },
            "max_message_size",
        ),
        (
            Config {
                send_queue_len: 0,
                ..Config::default()
            },
            "send_queue_len",
        ),
    ];
    for (config, field) in cases {
        match BtcClient::new(config) {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn errors_of_the_specification() {
    let net = Simnet::builder().nodes(2).build().await.unwrap();
    let client = BtcClient::new(fast().max_peers(1).discovery(false).build().unwrap()).unwrap();
    let a = net.addrs()[0].to_string();
    let b = net.addrs()[1].to_string();

    // Before start.
    assert!(matches!(client.add_peer(&a), Err(Error::ClientNotStarted)));
    assert!(matches!(
        client.remove_peer(&a),
        Err(Error::ClientNotStarted)
    ));
    assert!(matches!(
        client.remove_peer_by_id(1),
        Err(Error::ClientNotStarted)
    ));
    assert!(matches!(
        client.stop(Duration::from_secs(1)).await,
        Err(Error::ClientNotStarted)
    ));
    assert_eq!(client.peer_count(), 0);

    client.start().unwrap();
    assert!(matches!(client.start(), Err(Error::ClientAlreadyStarted)));

    // Malformed addresses are refused with the address in the message.
    for bad in [
        "",
        "nonsense",
        "1.2.3.4",
        "1.2.3.4:0",
        "[::1]",
        "::1:8333",
        "300.1.1.1:8333",
    ] {
        match client.add_peer(bad) {
            Err(Error::InvalidAddress { addr, .. }) => assert_eq!(addr, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
    }

    client.add_peer(&a).unwrap();
    assert!(matches!(client.add_peer(&a), Err(Error::PeerAlreadyExists(x)) if x == a));
    assert!(matches!(
        client.add_peer(&b),
        Err(Error::MaxPeersReached(1))
    ));
    assert_eq!(client.peer_count(), 1);

    assert!(matches!(
        client.remove_peer(&b),
        Err(Error::PeerNotFound(_))
    ));
    client.remove_peer(&a).unwrap();
    assert!(matches!(
        client.remove_peer(&a),
        Err(Error::PeerNotFound(_))
    ));
    assert!(matches!(
        client.remove_peer_by_id(u64::MAX),
        Err(Error::PeerNotFound(_))
    ));
    assert_eq!(client.peer_count(), 0);

    client.stop(Duration::from_secs(5)).await.unwrap();
    assert!(matches!(
        client.stop(Duration::from_secs(1)).await,
        Err(Error::ClientNotStarted)
    ));
    net.shutdown().await;
}

#[tokio::test]
async fn peer_connection_error_carries_address_and_cause() {
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let client = started(fast());
    let peer = client.add_peer(&addr).unwrap();
    match peer.wait_connected(Duration::from_secs(5)).await {
        Err(Error::PeerConnection(e)) => {
            assert_eq!(e.addr, addr);
            assert!(
                matches!(e.cause, btcclient_manager::ConnectFailure::Dial(_)),
                "{e}"
            );
            assert!(e.to_string().contains(&addr));
        }
        other => panic!("{other:?}"),
    }
    assert!(peer.failure_count() >= 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn snapshot_reports_the_handshake() {
    let net = Simnet::builder()
        .nodes(1)
        .chain_length(50)
        .build()
        .await
        .unwrap();
    let client = started(fast().discovery(false));
    let addr = net.addrs()[0].to_string();
    let peer = client.add_peer(&addr).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    let snap = client.peers();
    assert_eq!(snap.len(), 1);
    let s = &snap[0];
    assert_eq!(s.addr, addr);
    assert_eq!(s.status, PeerStatus::Connected);
    assert_eq!(s.failure_count, 0);
    assert!(!s.discovered);
    let info = s.info.clone().unwrap();
    assert_eq!(info.protocol_version, 70016);
    assert_eq!(info.user_agent, "/Satoshi:29.2.0/");
    assert_eq!(info.start_height, 50);
    assert!(s.connected_since.is_some());
    assert!(s.bytes_in > 0 && s.bytes_out > 0 && s.messages_in >= 2 && s.messages_out >= 2);
    assert_eq!(s.resolved, Some(net.addrs()[0]));
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn handshake_sends_sendaddrv2_before_verack_and_advertises_no_services() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let client = started(fast());
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || net
            .node(0)
            .received()
            .iter()
            .any(|c| c == "getaddr"))
        .await
    );
    let got = net.node(0).received();
    let pos = |c: &str| {
        got.iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c} not sent: {got:?}"))
    };
    assert_eq!(pos("version"), 0);
    assert!(pos("sendaddrv2") < pos("verack"), "{got:?}");
    assert!(pos("verack") < pos("getaddr"), "{got:?}");
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn hostname_peers_resolve_when_dialled() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let client = started(fast());
    let addr = format!("LocalHost:{}", net.addrs()[0].port());
    let peer = client.add_peer(&addr).unwrap();
    assert_eq!(peer.addr(), format!("localhost:{}", net.addrs()[0].port()));
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn restart_after_stop() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let client = BtcClient::new(fast().build().unwrap()).unwrap();
    let addr = net.addrs()[0].to_string();
    for _ in 0..3 {
        client.start().unwrap();
        let peer = client.add_peer(&addr).unwrap();
        peer.wait_connected(Duration::from_secs(5)).await.unwrap();
        client.stop(Duration::from_secs(5)).await.unwrap();
        assert_eq!(client.peer_count(), 0);
    }
    net.shutdown().await;
}

#[test]
fn usable_without_a_runtime_and_from_many_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<BtcClient>();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt.block_on(Simnet::builder().nodes(4).build()).unwrap();
    let addrs: Vec<String> = net.addrs().iter().map(|a| a.to_string()).collect();
    // Created outside any runtime: the client owns one.
    let client = started(fast().discovery(false));
    std::thread::scope(|s| {
        for a in &addrs {
            let c = client.clone();
            s.spawn(move || c.add_peer(a).unwrap());
        }
    });
    assert_eq!(client.peer_count(), 4);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while client.connected_count() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(client.connected_count(), 4);
    client.stop_blocking(Duration::from_secs(5)).unwrap();
    rt.block_on(net.shutdown());
}
