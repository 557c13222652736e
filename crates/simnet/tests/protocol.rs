//! A simnet node speaks the protocol as Bitcoin Core 29 does with an inbound peer.

mod common;

use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::p2p::ServiceFlags;
use bitcoin::{BlockHash, Txid};
use btcclient_simnet::{node_services_with, AddrAdvertise, Simnet};
use btcclient_wire::Frame;
use common::{version, Client};

#[tokio::test]
async fn handshake_sequence_and_core_greeting() {
    let simnet = Simnet::builder()
        .chain_length(20)
        .build()
        .await
        .expect("simnet");
    let node = simnet.node(0);
    let mut client = Client::connect(node.addr()).await;

    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    let NetworkMessage::Version(v) = client.recv_msg().await else {
        panic!("version first");
    };
    assert_eq!(v.version, 70016);
    // A Core 29 node with its default -v2transport=1 advertises NODE_P2P_V2 (3081).
    assert_eq!(v.services, node_services_with(true));
    assert!(v.services.has(ServiceFlags::NETWORK) && v.services.has(ServiceFlags::WITNESS));
    assert_eq!(v.user_agent, "/Satoshi:29.2.0/");
    assert_eq!(v.start_height, 20);
    assert!(v.relay);
    assert_ne!(v.nonce, 0);
    for expected in ["wtxidrelay", "sendaddrv2", "verack"] {
        assert_eq!(client.recv().await.command, expected);
    }
    // Not connected before our verack.
    assert_eq!(node.connections(), 0);
    client.send(NetworkMessage::Verack).await;
    assert!(node.wait_for_connections(1, Duration::from_secs(5)).await);

    // Core's greeting after verack.
    assert!(
        matches!(client.recv_msg().await, NetworkMessage::SendCmpct(c) if !c.send_compact && c.version == 2)
    );
    let NetworkMessage::Ping(nonce) = client.recv_msg().await else {
        panic!("ping");
    };
    client.send(NetworkMessage::Pong(nonce)).await;
    assert_eq!(client.recv_msg().await, NetworkMessage::FeeFilter(100));

    client.sync().await;
    assert_eq!(node.received(), ["version", "verack", "pong", "ping"]);
    assert_eq!(node.accepted(), 1);
    simnet.shutdown().await;
}

#[tokio::test]
async fn old_client_gets_no_bip339_bip155_and_obsolete_is_dropped() {
    let simnet = Simnet::builder()
        .core_greeting(false)
        .build()
        .await
        .expect("simnet");
    let mut client = Client::connect(simnet.node(0).addr()).await;
    let mut v = version(ServiceFlags::NONE);
    v.version = 70015;
    assert_eq!(client.handshake_with(v, false).await, ["version", "verack"]);

    let mut client = Client::connect(simnet.node(0).addr()).await;
    let mut v = version(ServiceFlags::NONE);
    v.version = 31799;
    client.send(NetworkMessage::Version(v)).await;
    assert!(client.closed_by_node().await);
}

#[tokio::test]
async fn ping_pong_and_messages_before_handshake_ignored() {
    // A v1-only node: a v2 node (as Core) takes a first message other than `version` for the
    // start of a v2 key.
    let simnet = Simnet::builder()
        .v2(false)
        .core_greeting(false)
        .build()
        .await
        .expect("simnet");
    let node = simnet.node(0);
    let mut client = Client::connect(node.addr()).await;
    // Before version: ignored, not answered.
    client.send(NetworkMessage::Ping(1)).await;
    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    // Between version and verack: ignored too.
    client.send(NetworkMessage::Ping(2)).await;
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("verack") {
        got.push(client.recv().await.command.to_string());
    }
    client.send(NetworkMessage::Verack).await;
    client.send(NetworkMessage::Ping(42)).await;
    assert_eq!(client.recv_msg().await, NetworkMessage::Pong(42));
    // A second version is ignored (Core 28+), the connection stays.
    client
        .send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    client.send(NetworkMessage::Ping(43)).await;
    assert_eq!(client.recv_msg().await, NetworkMessage::Pong(43));
    assert_eq!(node.connections(), 1);
}

#[tokio::test]
async fn getaddr_answered_once_in_addrv2_after_sendaddrv2() {
    // 9 other nodes known: 23 % of them is 2.
    let simnet = Simnet::builder()
        .nodes(10)
        .getaddr_delay(Duration::from_millis(50))
        .build()
        .await
        .expect("simnet");
    let mut client = Client::connect(simnet.node(0).addr()).await;
    client.handshake(true).await;
    client.send(NetworkMessage::GetAddr).await;
    client.send(NetworkMessage::GetAddr).await;
    let NetworkMessage::AddrV2(list) = client.recv_cmd("addrv2").await else {
        panic!("addrv2");
    };
    let mut got: Vec<_> = list.iter().map(|a| a.socket_addr().expect("ip")).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter().all(|a| simnet.addrs()[1..].contains(a)),
        "{got:?}"
    );
    assert!(list.iter().all(|a| a.services == node_services_with(true)));
    // The second getaddr is ignored: nothing more within several delays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = client.sync().await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, NetworkMessage::Addr(_) | NetworkMessage::AddrV2(_))),
        "{rest:?}"
    );
}

#[tokio::test]
async fn getaddr_answered_in_addr_without_sendaddrv2() {
    // 20 known addresses: 23 % of them is 4.
    let fixed: Vec<std::net::SocketAddr> = (0..20u16)
        .map(|i| match i % 2 {
            0 => format!("127.0.0.1:{}", 18444 + i),
            _ => format!("[fd00::{i}]:18445"),
        })
        .map(|s| s.parse().expect("addr"))
        .collect();
    let simnet = Simnet::builder()
        .getaddr_delay(Duration::from_millis(10))
        .advertise(AddrAdvertise::Fixed(fixed.clone()))
        .build()
        .await
        .expect("simnet");
    let mut client = Client::connect(simnet.node(0).addr()).await;
    client.handshake(false).await;
    client.send(NetworkMessage::GetAddr).await;
    let NetworkMessage::Addr(list) = client.recv_cmd("addr").await else {
        panic!("addr");
    };
    let mut got: Vec<_> = list
        .iter()
        .map(|(_, a)| a.socket_addr().expect("ip"))
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|a| fixed.contains(a)), "{got:?}");
}

#[tokio::test]
async fn getaddr_answer_is_at_most_23_percent_and_1000_of_a_node_own_list() {
    let simnet = Simnet::builder()
        .nodes(2)
        .getaddr_delay(Duration::from_millis(10))
        .build()
        .await
        .expect("simnet");
    let known: Vec<std::net::SocketAddr> = (0..5_000u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            std::net::SocketAddr::new(ip.into(), 8333)
        })
        .collect();
    simnet
        .node(0)
        .set_advertise(Some(AddrAdvertise::Fixed(known.clone())));
    let ask = |node: usize| {
        let addr = simnet.node(node).addr();
        async move {
            let mut client = Client::connect(addr).await;
            client.handshake(true).await;
            client.send(NetworkMessage::GetAddr).await;
            client
        }
    };
    // 23 % of 5,000 is 1,150: capped at 1,000, all distinct and all known.
    let mut client = ask(0).await;
    let NetworkMessage::AddrV2(list) = client.recv_cmd("addrv2").await else {
        panic!("addrv2");
    };
    let mut got: Vec<_> = list.iter().map(|a| a.socket_addr().expect("ip")).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1_000);
    assert!(got.iter().all(|a| known.contains(a)));
    // The other node knows one address (node 0): 23 % of 1 is 0, so no answer at all.
    let mut other = ask(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rest = other.sync().await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, NetworkMessage::Addr(_) | NetworkMessage::AddrV2(_))),
        "{rest:?}"
    );
}

#[tokio::test]
async fn sendaddrv2_after_verack_disconnects() {
    let simnet = Simnet::builder().build().await.expect("simnet");
    let mut client = Client::connect(simnet.node(0).addr()).await;
    client.handshake(false).await;
    client.sync().await;
    client.send(NetworkMessage::SendAddrV2).await;
    assert!(client.closed_by_node().await);
}

#[tokio::test]
async fn getheaders_from_genesis_2000_then_the_rest() {
    let simnet = Simnet::builder()
        .chain_length(2_500)
        .build()
        .await
        .expect("simnet");
    let chain = simnet.chain();
    assert_eq!(chain.height(), 2_500);
    let mut client = Client::connect(simnet.node(0).addr()).await;
    client.handshake(false).await;

    let getheaders = |from: BlockHash| {
        NetworkMessage::GetHeaders(GetHeadersMessage {
            version: 70016,
            locator_hashes: vec![from],
            stop_hash: BlockHash::all_zeros(),
        })
    };
    client.send(getheaders(chain.genesis_hash())).await;
    let NetworkMessage::Headers(first) = client.recv_cmd("headers").await else {
        panic!("headers");
    };
    assert_eq!(first.len(), 2_000);
    assert_eq!(first[0].prev_blockhash, chain.genesis_hash());
    let last = first[1_999].block_hash();
    client.send(getheaders(last)).await;
    let NetworkMessage::Headers(rest) = client.recv_cmd("headers").await else {
        panic!("headers");
    };
    assert_eq!(rest.len(), 500);
    assert_eq!(rest.last().map(|h| h.block_hash()), Some(chain.tip()));

    // They link and meet their proof of work.
    let mut prev = chain.genesis_hash();
    for header in first.iter().chain(&rest) {
        assert_eq!(header.prev_blockhash, prev);
        prev = header.validate_pow(header.target()).expect("valid pow");
    }
    // From the tip: an empty headers message, as Core sends.
    client.send(getheaders(chain.tip())).await;
    assert_eq!(
        client.recv_cmd("headers").await,
        NetworkMessage::Headers(vec![])
    );
}

#[tokio::test]
async fn getdata_block_tx_and_notfound() {
    let simnet = Simnet::builder()
        .chain_length(5)
        .build()
        .await
        .expect("simnet");
    let chain = simnet.chain();
    let node = simnet.node(0);
    let mut client = Client::connect(node.addr()).await;
    client.handshake(false).await;
    client.sync().await;

    let hash = chain.hash_at(3).expect("height 3");
    client
        .send(NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]))
        .await;
    let NetworkMessage::Block(block) = client.recv_cmd("block").await else {
        panic!("block");
    };
    assert_eq!(block.block_hash(), hash);
    assert_eq!(Some(&block), chain.block(&hash));
    assert!(block.check_merkle_root());

    // Confirmed transactions are not served (Core serves the mempool only).
    let coinbase = chain.block(&hash).expect("block").txdata[0].compute_txid();
    let unknown = Txid::all_zeros();
    client
        .send(NetworkMessage::GetData(vec![
            Inventory::Transaction(coinbase),
            Inventory::Transaction(unknown),
        ]))
        .await;
    assert_eq!(
        client.recv_cmd("notfound").await,
        NetworkMessage::NotFound(vec![
            Inventory::Transaction(coinbase),
            Inventory::Transaction(unknown)
        ])
    );

    // A mempool transaction is announced, then served.
    let tx = chain.blocks()[1].txdata[0].clone();
    node.add_tx(tx.clone());
    let NetworkMessage::Inv(inv) = client.recv_cmd("inv").await else {
        panic!("inv");
    };
    assert_eq!(inv, vec![Inventory::Transaction(tx.compute_txid())]);
    client.send(NetworkMessage::GetData(inv)).await;
    assert_eq!(client.recv_cmd("tx").await, NetworkMessage::Tx(tx));
}

#[tokio::test]
async fn push_reaches_handshaked_clients_only() {
    let simnet = Simnet::builder()
        .core_greeting(false)
        .build()
        .await
        .expect("simnet");
    let node = simnet.node(0);
    let mut done = Client::connect(node.addr()).await;
    done.handshake(false).await;
    let mut half = Client::connect(node.addr()).await;
    half.send(NetworkMessage::Version(version(ServiceFlags::NONE)))
        .await;
    assert!(node.wait_for_connections(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        node.push(NetworkMessage::Inv(vec![Inventory::Block(
            simnet.chain().tip()
        )])),
        1
    );
    assert!(matches!(done.recv_msg().await, NetworkMessage::Inv(_)));
    let raw = Frame::raw("custom", vec![1, 2, 3]).expect("frame");
    assert_eq!(node.push_raw(raw.clone()), 1);
    assert_eq!(done.recv().await, raw);
}

#[tokio::test]
async fn bad_checksum_and_bad_command_dropped_wrong_magic_disconnects() {
    let simnet = Simnet::builder()
        .core_greeting(false)
        .build()
        .await
        .expect("simnet");
    let node = simnet.node(0);
    let stream = tokio::net::TcpStream::connect(node.addr())
        .await
        .expect("connect");
    let (rd, mut wr) = stream.into_split();
    let mut reader = btcclient_wire::FrameReader::new(rd, &common::config());
    let frame = |m: &NetworkMessage| {
        let mut buf = bytes::BytesMut::new();
        btcclient_wire::V1Codec::new(&common::config())
            .encode_frame(&Frame::from_message(m).expect("frame"), &mut buf)
            .expect("encode");
        buf.to_vec()
    };
    use tokio::io::AsyncWriteExt;
    let mut bytes = frame(&NetworkMessage::Version(version(ServiceFlags::NONE)));
    bytes.extend(frame(&NetworkMessage::Verack));
    let mut bad_sum = frame(&NetworkMessage::Ping(1));
    bad_sum[20] ^= 0xff;
    bytes.extend(bad_sum);
    let mut bad_cmd = frame(&NetworkMessage::Ping(2));
    bad_cmd[9] = 0x01;
    bytes.extend(bad_cmd);
    bytes.extend(frame(&NetworkMessage::Ping(3)));
    wr.write_all(&bytes).await.expect("write");
    let mut pongs = Vec::new();
    while pongs.is_empty() {
        let f = tokio::time::timeout(common::WAIT, reader.read_frame())
            .await
            .expect("in time")
            .expect("ok")
            .expect("open");
        if let Ok(NetworkMessage::Pong(n)) = f.decode() {
            pongs.push(n);
        }
    }
    assert_eq!(pongs, [3]);
    assert_eq!(node.received(), ["version", "verack", "ping"]);

    let mut wrong_magic = frame(&NetworkMessage::Ping(4));
    wrong_magic[0] ^= 0xff;
    wr.write_all(&wrong_magic).await.expect("write");
    let end = tokio::time::timeout(common::WAIT, reader.read_frame())
        .await
        .expect("in time");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
}

#[tokio::test]
async fn periodic_pings_wait_for_the_pong() {
    let simnet = Simnet::builder()
        .core_greeting(false)
        .ping_interval(Some(Duration::from_millis(100)))
        .build()
        .await
        .expect("simnet");
    let mut client = Client::connect(simnet.node(0).addr()).await;
    client.handshake(false).await;
    let NetworkMessage::Ping(first) = client.recv_msg().await else {
        panic!("ping");
    };
    // No new ping while this one is unanswered.
    assert!(client
        .recv_within(Duration::from_millis(300))
        .await
        .is_none());
    client.send(NetworkMessage::Pong(first)).await;
    let NetworkMessage::Ping(second) = client.recv_msg().await else {
        panic!("ping");
    };
    assert_ne!(first, second);
}

#[tokio::test]
async fn getheaders_greeting_only_to_one_client_offering_blocks() {
    let simnet = Simnet::builder()
        .chain_length(30)
        .build()
        .await
        .expect("simnet");
    let chain = simnet.chain();
    let node = simnet.node(0);
    let mut serving = Client::connect(node.addr()).await;
    serving
        .handshake_with(
            version(ServiceFlags::NETWORK | ServiceFlags::WITNESS),
            false,
        )
        .await;
    let NetworkMessage::GetHeaders(request) = serving.recv_cmd("getheaders").await else {
        panic!("getheaders");
    };
    // Core's locator starts at the best header's parent.
    assert_eq!(request.locator_hashes.first().copied(), chain.hash_at(29));
    assert_eq!(
        request.locator_hashes.last().copied(),
        Some(chain.genesis_hash())
    );

    let mut second = Client::connect(node.addr()).await;
    second
        .handshake_with(version(ServiceFlags::NETWORK), false)
        .await;
    let rest = second.sync().await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, NetworkMessage::GetHeaders(_))),
        "{rest:?}"
    );
}
