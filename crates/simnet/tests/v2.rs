//! BIP324 v2 end to end: `btcclient_wire::open_v2` against simnet nodes over loopback.

use std::time::Duration;

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::BlockHash;
use btcclient_simnet::{node_services_with, Fault, SimNode, Simnet};
use btcclient_wire::{
    commands, open, open_v2, Frame, FrameReader, FrameWriter, HandshakeProgress, TransportKind,
    V2HandshakeCause, WireError,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

type Conn = (FrameReader<OwnedReadHalf>, FrameWriter<OwnedWriteHalf>);

const TIMEOUT: Duration = Duration::from_secs(10);

async fn v2_simnet() -> Simnet {
    Simnet::builder()
        .v2(true)
        .chain_length(20)
        .build()
        .await
        .expect("simnet")
}

async fn connect_v2(
    simnet: &Simnet,
    node: &SimNode,
) -> (Result<Conn, WireError>, HandshakeProgress) {
    let stream = TcpStream::connect(node.addr()).await.expect("connect");
    let (rd, wr) = stream.into_split();
    let mut progress = HandshakeProgress::default();
    let config = simnet.wire_config();
    let result = tokio::time::timeout(TIMEOUT, open_v2(rd, wr, &config, &mut progress))
        .await
        .expect("the handshake ends in time");
    (result, progress)
}

fn failed(result: Result<Conn, WireError>) -> WireError {
    match result {
        Ok(_) => panic!("the v2 handshake should fail"),
        Err(e) => e,
    }
}

fn version() -> NetworkMessage {
    let any = Address::new(&"0.0.0.0:0".parse().expect("addr"), ServiceFlags::NONE);
    let mut v = VersionMessage::new(ServiceFlags::NONE, 0, any.clone(), any, 7, "/t/".into(), 0);
    v.version = 70016;
    NetworkMessage::Version(v)
}

async fn next(reader: &mut FrameReader<OwnedReadHalf>) -> Frame {
    tokio::time::timeout(TIMEOUT, reader.read_frame())
        .await
        .expect("a frame in time")
        .expect("no error")
        .expect("not closed")
}

/// version/verack over an open connection; returns the node's version message.
async fn handshake(conn: &mut Conn) -> VersionMessage {
    conn.1
        .write_message(&version())
        .await
        .expect("send version");
    let mut theirs = None;
    loop {
        let frame = next(&mut conn.0).await;
        if let Ok(NetworkMessage::Version(v)) = frame.decode() {
            theirs = Some(v);
        }
        if frame.command == commands::VERACK {
            break;
        }
    }
    conn.1
        .write_message(&NetworkMessage::Verack)
        .await
        .expect("send verack");
    theirs.expect("a version before verack")
}

#[tokio::test]
async fn v2_handshake_ping_pong_and_session_id() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    let (conn, progress) = connect_v2(&simnet, node).await;
    let mut conn = conn.expect("v2 handshake");
    assert!(progress.received >= 64 + 16 + 20 && progress.sent >= 64 + 16 + 20);
    assert_eq!(conn.0.transport(), TransportKind::V2);
    assert_eq!(conn.1.transport(), TransportKind::V2);
    let id = conn.0.session_id().expect("a session id");
    assert_eq!(id.to_hex().len(), 64);

    let theirs = handshake(&mut conn).await;
    assert_eq!(theirs.services, node_services_with(true));
    assert!(theirs.services.has(ServiceFlags::P2P_V2));
    assert!(node.wait_for_connections(1, TIMEOUT).await);
    // Both ends derived the same session id (what getpeerinfo shows on each side).
    assert_eq!(node.v2_sessions(), vec![id]);
    conn.1
        .write_message(&NetworkMessage::Ping(0x1234_5678))
        .await
        .expect("ping");
    loop {
        let frame = next(&mut conn.0).await;
        if frame.decode().ok() == Some(NetworkMessage::Pong(0x1234_5678)) {
            break;
        }
    }
    assert_eq!(conn.0.buffer_capacity(), 0, "no buffer kept between frames");
    simnet.shutdown().await;
}

#[tokio::test]
async fn v2_headers_and_a_one_megabyte_block() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    let mut conn = connect_v2(&simnet, node).await.0.expect("v2 handshake");
    handshake(&mut conn).await;
    assert!(node.wait_for_connections(1, TIMEOUT).await);

    let genesis = genesis_block(bitcoin::Network::Regtest).block_hash();
    conn.1
        .write_message(&NetworkMessage::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: vec![genesis],
            stop_hash: BlockHash::all_zeros(),
        }))
        .await
        .expect("getheaders");
    let headers = loop {
        let frame = next(&mut conn.0).await;
        if let Ok(NetworkMessage::Headers(h)) = frame.decode() {
            if !h.is_empty() {
                break h;
            }
        }
    };
    assert_eq!(headers.len(), 20);
    assert_eq!(headers[0].prev_blockhash, genesis);

    // A 1 MB `block` frame (short id 2) arrives whole.
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        node.push_raw(Frame::new(commands::BLOCK, payload.clone())),
        1
    );
    let block = loop {
        let frame = next(&mut conn.0).await;
        if frame.command == commands::BLOCK {
            break frame;
        }
    };
    assert_eq!(&block.payload[..], &payload[..]);
    simnet.shutdown().await;
}

#[tokio::test]
async fn v2_node_still_speaks_v1() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    let stream = TcpStream::connect(node.addr()).await.expect("connect");
    let (rd, wr) = stream.into_split();
    let mut conn = open(rd, wr, &simnet.wire_config()).await.expect("v1");
    assert_eq!(conn.0.transport(), TransportKind::V1);
    assert_eq!(conn.0.session_id(), None);
    let theirs = handshake(&mut conn).await;
    assert!(theirs.services.has(ServiceFlags::P2P_V2));
    assert!(node.wait_for_connections(1, TIMEOUT).await);
    assert!(node.v2_sessions().is_empty());
    simnet.shutdown().await;
}

#[tokio::test]
async fn v1_only_node_hangs_up_and_core_rule_says_reconnect_v1() {
    let simnet = Simnet::builder().v2(false).build().await.expect("simnet");
    let node = simnet.node(0);
    let (result, progress) = connect_v2(&simnet, node).await;
    let err = failed(result);
    assert!(
        matches!(
            err,
            WireError::V2Handshake {
                received: 0,
                cause: V2HandshakeCause::Closed | V2HandshakeCause::Io(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.should_reconnect_v1(), "{err:?}");
    assert!(progress.should_reconnect_v1());
    assert!(!err.is_protocol_violation());

    // The retry over v1 works.
    let stream = TcpStream::connect(node.addr()).await.expect("connect");
    let (rd, wr) = stream.into_split();
    let mut conn = open(rd, wr, &simnet.wire_config()).await.expect("v1");
    let theirs = handshake(&mut conn).await;
    assert!(!theirs.services.has(ServiceFlags::P2P_V2));
    simnet.shutdown().await;
}

#[tokio::test]
async fn fault_close_during_key_exchange() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    node.set_fault(Some(Fault::V2CloseDuringKeyExchange));
    let (result, progress) = connect_v2(&simnet, node).await;
    let err = failed(result);
    assert!(
        matches!(
            err,
            WireError::V2Handshake {
                received: 32,
                cause: V2HandshakeCause::Closed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !err.should_reconnect_v1(),
        "the peer answered: it speaks v2"
    );
    assert_eq!(progress.received, 32);
    simnet.shutdown().await;
}

#[tokio::test]
async fn fault_bad_garbage_terminator() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    node.set_fault(Some(Fault::V2BadGarbageTerminator));
    let (result, _) = connect_v2(&simnet, node).await;
    let err = failed(result);
    assert!(
        matches!(
            err,
            WireError::V2Handshake {
                cause: V2HandshakeCause::NoGarbageTerminator,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_protocol_violation());
    assert!(!err.should_reconnect_v1());
    simnet.shutdown().await;
}

#[tokio::test]
async fn fault_decoy_flood_is_skipped() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    node.set_fault(Some(Fault::V2DecoyFlood));
    let mut conn = connect_v2(&simnet, node)
        .await
        .0
        .expect("v2 despite decoys");
    handshake(&mut conn).await;
    assert!(node.wait_for_connections(1, TIMEOUT).await);
    conn.1
        .write_message(&NetworkMessage::Ping(99))
        .await
        .expect("ping");
    loop {
        if next(&mut conn.0).await.decode().ok() == Some(NetworkMessage::Pong(99)) {
            break;
        }
    }
    simnet.shutdown().await;
}

#[tokio::test]
async fn fault_wrong_magic_is_its_own_error() {
    let simnet = v2_simnet().await;
    let node = simnet.node(0);
    node.set_fault(Some(Fault::V2WrongMagic(Magic::BITCOIN.to_bytes())));
    let (result, _) = connect_v2(&simnet, node).await;
    let err = failed(result);
    assert!(
        matches!(
            err,
            WireError::V2WrongNetwork { expected, got }
                if expected == Magic::REGTEST.to_bytes() && got == Magic::BITCOIN.to_bytes()
        ),
        "{err:?}"
    );
    assert!(err.is_protocol_violation());
    simnet.shutdown().await;
}
