//! Faults, and a node going down and coming back on the same port.

mod common;

use std::time::Duration;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_simnet::{Fault, Simnet};
use btcclient_wire::WireError;
use common::{version, Client, WAIT};
use tokio::net::TcpStream;

#[tokio::test]
async fn accept_then_close() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::AcceptThenClose));
    let mut client = Client::connect(node.addr()).await;
    assert!(matches!(
        client.try_recv().await,
        Ok(None) | Err(WireError::Io(_))
    ));
    assert_eq!(node.accepted(), 1);
    assert_eq!(node.connections(), 0);
}

#[tokio::test]
async fn refuse_connections_then_accept_again() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::RefuseConnections));
    assert!(TcpStream::connect(node.addr()).await.is_err());
    node.set_fault(None);
    let mut client = Client::connect(node.addr()).await;
    client.handshake(false).await;
    assert_eq!(node.accepted(), 1);
}

#[tokio::test]
async fn wrong_checksum_after_handshake() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::WrongChecksum));
    let mut client = Client::connect(node.addr()).await;
    client.handshake(false).await;
    loop {
        match client.try_recv().await {
            Ok(Some(_)) => continue,
            Err(WireError::ChecksumMismatch { command, .. }) => {
                assert_eq!(command, "ping");
                break;
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn garbage_in_place_of_version() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::DuringHandshake(Box::new(Fault::SendGarbage))));
    let mut client = Client::connect(node.addr()).await;
    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    assert!(matches!(
        client.try_recv().await,
        Err(WireError::WrongMagic { .. })
    ));
}

#[tokio::test]
async fn oversized_length_and_stall() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::OversizedLength));
    let mut client = Client::connect(node.addr()).await;
    client.handshake(false).await;
    assert!(matches!(
        client.try_recv().await,
        Err(WireError::PayloadTooLarge {
            len: 33_000_000,
            ..
        })
    ));

    node.set_fault(Some(Fault::StallMidMessage));
    let mut client = Client::connect(node.addr()).await;
    client.handshake(false).await;
    // Half a frame, then silence; the socket stays open.
    assert!(client
        .recv_within(Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn never_answer_version() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::NeverAnswerVersion));
    let mut client = Client::connect(node.addr()).await;
    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    assert!(client
        .recv_within(Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(node.received(), ["version"]);
}

#[tokio::test]
async fn disconnect_after_n_messages() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::DisconnectAfter(2)));
    let mut client = Client::connect(node.addr()).await;
    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    assert_eq!(client.recv().await.command, "version");
    assert_eq!(client.recv().await.command, "wtxidrelay");
    assert!(matches!(
        client.try_recv().await,
        Ok(None) | Err(WireError::Io(_))
    ));
}

#[tokio::test]
async fn flood_addr() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let node = simnet.node(0);
    node.set_fault(Some(Fault::FloodAddr));
    let mut client = Client::connect(node.addr()).await;
    client.handshake(true).await;
    let mut total = 0;
    for _ in 0..20 {
        let NetworkMessage::AddrV2(list) = client.recv_cmd("addrv2").await else {
            panic!("addrv2");
        };
        assert_eq!(list.len(), 1_000);
        assert!(list
            .iter()
            .all(|a| a.socket_addr().is_ok_and(|s| s.ip().is_loopback())));
        total += list.len();
    }
    assert_eq!(total, 20_000);
    client.sync().await;
}

#[tokio::test]
async fn go_down_and_come_up_on_the_same_port() {
    let simnet = Simnet::builder().nodes(2).build().await.expect("simnet");
    let node = simnet.node(1);
    let addr = node.addr();
    let mut client = Client::connect(addr).await;
    client.handshake(false).await;
    assert!(node.wait_for_connections(1, WAIT).await);

    node.go_down();
    assert_eq!(node.connections(), 0);
    assert!(client.closed_by_node().await);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "refused while down"
    );

    node.come_up().await.expect("up again");
    assert_eq!(node.addr(), addr);
    let mut client = Client::connect(addr).await;
    client.handshake(false).await;
    assert!(node.wait_for_connections(1, WAIT).await);
    assert_eq!(node.accepted(), 2);
    // The other node was never affected.
    let mut other = Client::connect(simnet.node(0).addr()).await;
    other.handshake(false).await;
}

#[tokio::test]
async fn dropping_the_simnet_closes_everything() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let addr = simnet.node(0).addr();
    let mut client = Client::connect(addr).await;
    client.handshake(false).await;
    drop(simnet);
    assert!(client.closed_by_node().await);
    assert!(TcpStream::connect(addr).await.is_err());
}
