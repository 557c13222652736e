//! Listener delivery: order, re-entrancy (send, add, count from a callback), stop from a
//! callback, both delivery modes, and lazy decoding.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use btcclient_manager::bitcoin::blockdata::constants::genesis_block;
use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use btcclient_manager::bitcoin::{BlockHash, Txid};
use btcclient_manager::{BtcClient, Delivery, DisconnectReason, Error, Frame, Listeners};
use btcclient_simnet::{AddrAdvertise, Simnet};

use crate::{connect, eventually, fast, quiet_net, started, Recorder, Seen};

fn inv(n: usize) -> NetworkMessage {
    NetworkMessage::Inv(
        (0..n)
            .map(|i| Inventory::Transaction(Txid::from_byte_array([i as u8; 32])))
            .collect(),
    )
}

#[tokio::test]
async fn send_and_add_peer_from_inside_callbacks() {
    let net = Simnet::builder()
        .nodes(2)
        .chain_length(3000)
        .advertise(AddrAdvertise::None)
        .build()
        .await
        .unwrap();
    let client_cell: Arc<OnceLock<BtcClient>> = Arc::new(OnceLock::new());
    let headers = Arc::new(Mutex::new(0usize));
    let second = net.addrs()[1].to_string();
    let (c1, c2, h) = (client_cell.clone(), client_cell.clone(), headers.clone());
    let genesis = genesis_block(btcclient_manager::bitcoin::Network::Regtest).block_hash();
    let listeners = Listeners::new()
        .on_peer_connected(move |peer| {
            // Send from a callback.
            let msg = NetworkMessage::GetHeaders(GetHeadersMessage::new(
                vec![genesis],
                BlockHash::all_zeros(),
            ));
            peer.send(&msg).unwrap();
            // Add a peer and count peers from a callback: no deadlock.
            let client = c1.get().unwrap();
            let _ = client.add_peer(&second);
            assert!(client.peer_count() >= 1);
        })
        .on_headers(move |peer, hs| {
            *h.lock().unwrap() += hs.len();
            // Ask for the next batch, as a header sync does.
            if hs.len() == 2000 {
                let last = hs.last().unwrap().block_hash();
                let msg = NetworkMessage::GetHeaders(GetHeadersMessage::new(
                    vec![last],
                    BlockHash::all_zeros(),
                ));
                peer.send(&msg).unwrap();
            }
        })
        .on_peer_disconnected(move |_, _| {
            // The original called this listener under the peer-map lock: this deadlocked.
            let _ = c2.get().unwrap().peer_count();
        });
    let client = BtcClient::new(fast().listeners(listeners).build().unwrap()).unwrap();
    client_cell.set(client.clone()).unwrap();
    client.start().unwrap();
    client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(eventually(Duration::from_secs(5), || client.connected_count() == 2).await);
    // Both peers synced the whole chain (3000 headers after genesis each).
    assert!(
        eventually(Duration::from_secs(5), || *headers.lock().unwrap() == 6000).await,
        "{}",
        headers.lock().unwrap()
    );
    client.remove_peer(&net.addrs()[1].to_string()).unwrap();
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn stop_from_a_callback_is_an_error_not_a_deadlock() {
    let net = Simnet::builder().nodes(1).build().await.unwrap();
    let cell: Arc<OnceLock<BtcClient>> = Arc::new(OnceLock::new());
    let result: Arc<Mutex<Option<String>>> = Arc::default();
    let (c, r) = (cell.clone(), result.clone());
    let listeners = Listeners::new().on_peer_connected(move |_| {
        let client = c.get().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sync = client.stop_blocking(Duration::from_secs(1));
        let asynchronous = rt.block_on(client.stop(Duration::from_secs(1)));
        *r.lock().unwrap() = Some(format!("{sync:?} {asynchronous:?}"));
    });
    let client = BtcClient::new(fast().listeners(listeners).build().unwrap()).unwrap();
    cell.set(client.clone()).unwrap();
    client.start().unwrap();
    client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(eventually(Duration::from_secs(5), || result.lock().unwrap().is_some()).await);
    assert_eq!(
        result.lock().unwrap().as_deref(),
        Some("Err(CalledFromCallback) Err(CalledFromCallback)")
    );
    assert!(client.is_running());
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

async fn order_is_kept(delivery: Delivery) {
    let net = quiet_net(2).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .delivery(delivery)
            .event_queue_len(4)
            .listeners(rec.listeners()),
    );
    for node in net.nodes() {
        connect(&client, node).await;
    }
    for n in 1..=200 {
        net.node(0).push(inv(n % 50 + 1));
        net.node(1).push(inv((n + 7) % 50 + 1));
    }
    let total = || rec.count(|s| matches!(s, Seen::Inv(..)));
    assert!(
        eventually(Duration::from_secs(10), || total() == 400).await,
        "{}",
        total()
    );
    for (i, a) in net.addrs().iter().enumerate() {
        let sizes: Vec<usize> = rec
            .all()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Inv(p, n) if p == a.to_string() => Some(n),
                _ => None,
            })
            .collect();
        let expected: Vec<usize> = (1..=200)
            .map(|n| if i == 0 { n % 50 + 1 } else { (n + 7) % 50 + 1 })
            .collect();
        assert_eq!(sizes, expected, "peer {a} out of order");
    }
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn per_peer_order_serialized() {
    order_is_kept(Delivery::Serialized).await;
}

#[tokio::test]
async fn per_peer_order_concurrent() {
    order_is_kept(Delivery::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_delivery_a_slow_callback_slows_only_its_peer() {
    let net = quiet_net(2).await;
    let slow_addr = net.addrs()[0].to_string();
    let fast_seen = Arc::new(Mutex::new(0usize));
    let f = fast_seen.clone();
    let sa = slow_addr.clone();
    let listeners = Listeners::new().on_inv(move |peer, _| {
        if peer.addr() == sa {
            std::thread::sleep(Duration::from_millis(300));
        } else {
            *f.lock().unwrap() += 1;
        }
    });
    let client = started(fast().delivery(Delivery::Concurrent).listeners(listeners));
    for node in net.nodes() {
        connect(&client, node).await;
    }
    for _ in 0..10 {
        net.node(0).push(inv(1));
    }
    let start = Instant::now();
    for _ in 0..100 {
        net.node(1).push(inv(1));
    }
    assert!(eventually(Duration::from_secs(2), || *fast_seen.lock().unwrap() == 100).await);
    // The fast peer's 100 messages were delivered while the slow peer's ten (3 s) were not.
    assert!(start.elapsed() < Duration::from_millis(2500));
    client.stop(Duration::from_secs(10)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_message_nobody_listens_to_is_not_decoded() {
    let net = quiet_net(1).await;
    let garbage_block = Frame::raw("block", vec![0xff; 100]).unwrap();

    // No block listener: the malformed block is never decoded, the peer stays.
    let rec = Recorder::default();
    let l = rec.listeners();
    let without_block = Listeners::new().on_peer_disconnected({
        let r = rec.0.clone();
        move |p, why| {
            r.lock()
                .unwrap()
                .push(Seen::Disconnected(p.addr().into(), why.clone()))
        }
    });
    drop(l);
    let client = started(fast().listeners(without_block));
    let peer = connect(&client, net.node(0)).await;
    net.node(0).push_raw(garbage_block.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.status(), btcclient_manager::PeerStatus::Connected);
    client.stop(Duration::from_secs(5)).await.unwrap();

    assert!(eventually(Duration::from_secs(3), || net.node(0).connections() == 0).await);

    // With a block listener it is decoded, fails, and costs the peer its connection.
    let rec2 = Recorder::default();
    let client = started(fast().listeners(rec2.listeners()));
    let peer = connect(&client, net.node(0)).await;
    net.node(0).push_raw(garbage_block);
    let addr = peer.addr().to_owned();
    assert!(eventually(Duration::from_secs(3), || rec2.disconnected(&addr) == 1).await);
    assert!(rec2.all().iter().any(|s| matches!(s, Seen::Disconnected(_, DisconnectReason::ProtocolViolation(d)) if d.contains("block"))));
    assert!(peer.failure_count() >= 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn other_messages_reach_on_message_and_sends_are_bounded() {
    let net = quiet_net(1).await;
    let rec = Recorder::default();
    let client = started(fast().listeners(rec.listeners()));
    let addr = net.addrs()[0].to_string();
    connect(&client, net.node(0)).await;
    net.node(0)
        .push_raw(Frame::raw("custom", vec![1, 2, 3]).unwrap());
    net.node(0).push(NetworkMessage::FeeFilter(1000));
    assert!(
        eventually(Duration::from_secs(3), || rec
            .all()
            .contains(&Seen::Other(addr.clone(), "custom".into())))
        .await
    );
    assert!(
        eventually(Duration::from_secs(3), || rec
            .all()
            .contains(&Seen::Other(addr.clone(), "feefilter".into())))
        .await
    );
    // Raw and typed sends by address reach the node.
    client
        .send_frame(&addr, Frame::raw("hello", vec![9]).unwrap())
        .unwrap();
    client.send(&addr, &NetworkMessage::MemPool).unwrap();
    assert!(
        eventually(Duration::from_secs(3), || {
            let r = net.node(0).received();
            r.iter().any(|c| c == "hello") && r.iter().any(|c| c == "mempool")
        })
        .await
    );
    // Errors of send.
    assert!(matches!(
        client.send("127.0.0.1:1", &NetworkMessage::MemPool),
        Err(Error::PeerNotFound(_))
    ));
    let too_big = Frame::raw("big", vec![0u8; 4_000_001]).unwrap();
    assert!(matches!(
        client.send_frame(&addr, too_big),
        Err(Error::InvalidMessage(_))
    ));
    client.stop(Duration::from_secs(5)).await.unwrap();
    assert!(matches!(
        client.send(&addr, &NetworkMessage::MemPool),
        Err(Error::ClientNotStarted)
    ));
    net.shutdown().await;
}

/// Blocks reach `on_raw_block` (the bytes as sent, hash and header) and then `on_block`
/// (decoded, equal to the node's block), in both delivery modes; a block whose structure is
/// broken (its checksum right) disconnects the peer as a protocol violation and is never
/// delivered to either listener.
async fn blocks_raw_then_decoded(delivery: Delivery) {
    use btcclient_manager::bitcoin::consensus::serialize;
    use btcclient_manager::bitcoin::p2p::message_blockdata::Inventory;
    use btcclient_manager::bitcoin::Block;

    #[derive(Debug, PartialEq)]
    enum B {
        Raw(BlockHash, usize, Vec<u8>),
        Decoded(Block),
    }
    let net = Simnet::builder()
        .nodes(1)
        .chain_length(5)
        .advertise(AddrAdvertise::None)
        .build()
        .await
        .unwrap();
    let seen: Arc<Mutex<Vec<B>>> = Arc::default();
    let why: Arc<Mutex<Vec<DisconnectReason>>> = Arc::default();
    let (s1, s2, w) = (seen.clone(), seen.clone(), why.clone());
    let listeners = Listeners::new()
        .on_raw_block(move |_, raw| {
            assert_eq!(raw.header().block_hash(), raw.hash());
            s1.lock()
                .unwrap()
                .push(B::Raw(raw.hash(), raw.tx_count(), raw.bytes().to_vec()))
        })
        .on_block(move |_, block| s2.lock().unwrap().push(B::Decoded(block.clone())))
        .on_peer_disconnected(move |_, reason| w.lock().unwrap().push(reason.clone()));
    let client = started(fast().delivery(delivery).listeners(listeners));
    let node = net.node(0);
    let peer = connect(&client, node).await;
    let wanted: Vec<Block> = (1..=5)
        .map(|h| net.chain().block_at(h).unwrap().clone())
        .collect();
    peer.send(&NetworkMessage::GetData(
        wanted
            .iter()
            .map(|b| Inventory::Block(b.block_hash()))
            .collect(),
    ))
    .unwrap();
    assert!(eventually(Duration::from_secs(5), || seen.lock().unwrap().len() == 10).await);
    let expected: Vec<B> = wanted
        .iter()
        .flat_map(|b| {
            [
                B::Raw(b.block_hash(), b.txdata.len(), serialize(b)),
                B::Decoded(b.clone()),
            ]
        })
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);

    // A block cut short by one byte, its checksum computed over what is sent.
    let mut broken = serialize(&wanted[0]);
    broken.pop();
    node.push_raw(Frame::raw("block", broken).unwrap());
    assert!(eventually(Duration::from_secs(5), || !why.lock().unwrap().is_empty()).await);
    match &why.lock().unwrap()[0] {
        DisconnectReason::ProtocolViolation(detail) => {
            assert!(detail.contains("block"), "{detail}")
        }
        other => panic!("expected a protocol violation, got {other:?}"),
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        10,
        "the broken block was delivered"
    );
    assert_eq!(peer.snapshot().failure_count, 1);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn blocks_raw_then_decoded_serialized() {
    blocks_raw_then_decoded(Delivery::Serialized).await;
}

#[tokio::test]
async fn blocks_raw_then_decoded_concurrent() {
    blocks_raw_then_decoded(Delivery::Concurrent).await;
}
