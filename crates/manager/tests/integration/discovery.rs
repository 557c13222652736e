//! Peer discovery from addr and addrv2, up to max_peers, skipping duplicates and addresses
//! the client must not dial.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use btcclient_manager::bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_simnet::Simnet;

use crate::{connect, eventually, fast, quiet_net, started, Recorder, Seen};

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

#[tokio::test]
async fn cascade_reaches_max_peers_from_one_seed() {
    // Each node answers getaddr with 23 % of the 29 others (6), as Bitcoin Core does.
    let net = Simnet::builder().nodes(30).build().await.unwrap();
    let rec = Recorder::default();
    let client = started(fast().max_peers(8).listeners(rec.listeners()));
    client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || client.connected_count() == 8).await,
        "{:?}",
        client.peers()
    );
    // Never more than max_peers, and no address twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peers = client.peers();
    assert_eq!(peers.len(), 8);
    let mut addrs: Vec<_> = peers.iter().map(|p| p.addr.clone()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 8);
    assert_eq!(peers.iter().filter(|p| p.discovered).count(), 7);
    // Simnet answers in addrv2, as Bitcoin Core does after our sendaddrv2; the listener saw it.
    assert!(rec.count(|s| matches!(s, Seen::Addr(_, n) if *n > 0)) >= 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn discovery_from_v1_addr_and_duplicates_skipped() {
    let net = quiet_net(3).await;
    let rec = Recorder::default();
    let client = started(fast().listeners(rec.listeners()));
    connect(&client, net.node(0)).await;
    let entry = |a: SocketAddr| (now(), Address::new(&a, ServiceFlags::NETWORK));
    let list = vec![
        entry(net.addrs()[1]),
        entry(net.addrs()[2]),
        entry(net.addrs()[1]),
        entry(net.addrs()[0]),
    ];
    assert_eq!(net.node(0).push(NetworkMessage::Addr(list)), 1);
    assert!(eventually(Duration::from_secs(5), || client.connected_count() == 3).await);
    assert_eq!(client.peer_count(), 3);
    assert!(rec
        .all()
        .contains(&Seen::Addr(net.addrs()[0].to_string(), 4)));
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn local_and_undialable_addresses_are_not_dialled_by_default() {
    let net = quiet_net(2).await;
    // Local addresses not allowed: the client must not be steered to 127.0.0.1:6379.
    let client = started(fast().allow_local_addresses(false));
    connect(&client, net.node(0)).await;
    let v2 = |addr: AddrV2, port: u16| AddrV2Message {
        time: now(),
        services: ServiceFlags::NETWORK,
        addr,
        port,
    };
    let list = vec![
        v2(AddrV2::Ipv4(Ipv4Addr::LOCALHOST), 6379),
        v2(
            AddrV2::Ipv4(net.addrs()[1].ip().to_string().parse().unwrap()),
            net.addrs()[1].port(),
        ),
        v2(AddrV2::Ipv4(Ipv4Addr::new(10, 0, 0, 1)), 8333),
        v2(AddrV2::Ipv4(Ipv4Addr::new(192, 168, 1, 1)), 8333),
        v2(AddrV2::Ipv4(Ipv4Addr::new(169, 254, 0, 1)), 8333),
        v2(AddrV2::Ipv4(Ipv4Addr::new(224, 0, 0, 1)), 8333),
        v2(AddrV2::Ipv4(Ipv4Addr::UNSPECIFIED), 8333),
        v2(AddrV2::Ipv6("::1".parse().unwrap()), 8333),
        v2(AddrV2::Ipv6("fe80::1".parse().unwrap()), 8333),
        v2(AddrV2::TorV3([7; 32]), 8333),
        v2(AddrV2::I2p([7; 32]), 0),
        v2(AddrV2::Cjdns("fc00::1".parse().unwrap()), 8333),
    ];
    assert_eq!(net.node(0).push(NetworkMessage::AddrV2(list)), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.peer_count(), 1, "{:?}", client.peers());
    assert_eq!(net.node(1).accepted(), 0);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn addr_flood_is_rate_limited_and_capped() {
    let net = quiet_net(1).await;
    let client = started(fast().max_peers(5));
    connect(&client, net.node(0)).await;
    net.node(0)
        .set_fault(Some(btcclient_simnet::Fault::FloodAddr));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(client.peer_count() <= 5);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_removed_peer_is_not_rediscovered_but_can_be_added_again() {
    let net = quiet_net(2).await;
    let client = started(fast());
    connect(&client, net.node(0)).await;
    let second = net.addrs()[1].to_string();
    let announce = || {
        let entry = (now(), Address::new(&net.addrs()[1], ServiceFlags::NETWORK));
        net.node(0).push(NetworkMessage::Addr(vec![entry]))
    };
    announce();
    assert!(eventually(Duration::from_secs(5), || client.peer(&second).is_some()).await);
    client.remove_peer(&second).unwrap();
    announce();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        client.peer(&second).is_none(),
        "removed peer came back through discovery"
    );
    // The user can still add it explicitly.
    client
        .add_peer(&second)
        .unwrap()
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}
