//! Choosing peers through the address book: everything heard goes into the book, the client
//! keeps `target_outbound` discovered peers drawn from it, makes room for peers the user adds,
//! keeps network groups diverse, asks DNS seeds only when the book is short, and keeps the
//! book between runs.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use btcclient_manager::addrbook::{AddrBook, Position};
use btcclient_manager::bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::dns::SharedResolver;
use btcclient_manager::{
    network_group, BtcClient, DialFuture, Dialer, DisconnectReason, Error, Network,
};
use btcclient_simnet::{AddrAdvertise, Simnet};
use tokio::net::TcpStream;

use crate::{connect, eventually, fast, quiet_net, started, FakeResolver, Recorder, Seen};

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Node `from` tells the client about `addrs` in one `addr` message.
fn announce(net: &Simnet, from: usize, addrs: &[SocketAddr]) {
    let list = addrs
        .iter()
        .map(|a| (now(), Address::new(a, ServiceFlags::NETWORK)))
        .collect();
    assert_eq!(net.node(from).push(NetworkMessage::Addr(list)), 1);
}

fn discovered(client: &BtcClient) -> usize {
    client.peers().iter().filter(|p| p.discovered).count()
}

#[tokio::test]
async fn heard_addresses_go_into_the_book_and_target_outbound_are_connected() {
    let net = quiet_net(10).await;
    let client = started(fast().max_peers(10).target_outbound(Some(3)));
    connect(&client, net.node(0)).await;
    announce(&net, 0, &net.addrs()[1..]);
    // Nine addresses in the book; three discovered peers beside the user's one, all connected.
    assert!(
        eventually(Duration::from_secs(5), || client.connected_count() == 4).await,
        "{:?}",
        client.peers()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.peer_count(), 4, "{:?}", client.peers());
    assert_eq!(discovered(&client), 3);
    // Every connected peer is tried (the user-added one too); the rest wait in "new".
    let stats = client.address_book();
    assert_eq!(stats.tried, 4, "{stats:?}");
    // The others wait in "new": local addresses are bucketed each on its own, so none of
    // the ten pushed another out.
    assert_eq!(stats.new + stats.tried, 10, "{stats:?}");
    // Nodes the book was not asked for were never dialled.
    let dialled = net.nodes().iter().filter(|n| n.accepted() > 0).count();
    assert_eq!(dialled, 4);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_getaddr_reply_does_not_take_every_slot() {
    // 30 nodes, each answering with 6 others: the book fills, yet only target_outbound are
    // dialled, leaving room under max_peers for the user.
    let net = Simnet::builder()
        .nodes(30)
        .getaddr_delay(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let client = started(fast().max_peers(20).target_outbound(Some(4)));
    client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(eventually(Duration::from_secs(5), || client.connected_count() == 5).await);
    assert!(eventually(Duration::from_secs(5), || client.address_book().new > 0).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.peer_count(), 5);
    assert_eq!(discovered(&client), 4);
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_user_peer_evicts_a_discovered_one_and_max_peers_holds_against_user_peers() {
    let net = quiet_net(5).await;
    let rec = Recorder::default();
    let client = started(fast().max_peers(2).listeners(rec.listeners()));
    connect(&client, net.node(0)).await;
    announce(&net, 0, &net.addrs()[1..4]);
    assert!(eventually(Duration::from_secs(5), || discovered(&client) == 1).await);
    // Without the user's peer, discovered peers fill both slots.
    client.remove_peer(&net.addrs()[0].to_string()).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || discovered(&client) == 2
            && client.connected_count() == 2)
        .await
    );
    // A user peer takes a discovered peer's place.
    client
        .add_peer(&net.addrs()[4].to_string())
        .unwrap()
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(client.peer_count(), 2);
    assert_eq!(discovered(&client), 1);
    assert!(
        eventually(Duration::from_secs(5), || rec.count(|s| matches!(
            s,
            Seen::Disconnected(_, DisconnectReason::Evicted)
        )) == 1)
        .await
    );
    // And another one.
    client.add_peer(&net.addrs()[0].to_string()).unwrap();
    assert_eq!(client.peer_count(), 2);
    assert_eq!(discovered(&client), 0);
    // Only user peers left: the next one is refused.
    let third = client.add_peer(&net.addrs()[1].to_string());
    assert!(matches!(third, Err(Error::MaxPeersReached(2))), "{third:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        discovered(&client),
        0,
        "a discovered peer displaced a user one"
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[test]
fn target_outbound_above_max_peers_is_refused() {
    let e = btcclient_manager::Config::builder()
        .max_peers(4)
        .target_outbound(Some(5))
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid config: target_outbound: must be at most max_peers"
    );
}

/// Dials routable test addresses on loopback: each address (or a whole /16) maps to a simnet
/// node; the rest are refused. The client's network-group rules run on the routable addresses.
#[derive(Default)]
struct MapDialer {
    exact: Mutex<HashMap<SocketAddr, SocketAddr>>,
    group: Mutex<HashMap<Vec<u8>, SocketAddr>>,
    dials: AtomicUsize,
}

impl Dialer for MapDialer {
    fn connect(&self, addr: SocketAddr) -> DialFuture<'_> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let to = self.exact.lock().unwrap().get(&addr).copied().or_else(|| {
            self.group
                .lock()
                .unwrap()
                .get(&network_group(addr.ip()))
                .copied()
        });
        Box::pin(async move {
            match to {
                Some(to) => TcpStream::connect(to).await,
                None => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
            }
        })
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn attacker_addrs(count: u32, salt: u32) -> Vec<SocketAddr> {
    (0..count)
        .map(|i| {
            let n = i.wrapping_mul(7919).wrapping_add(salt) % 65_000 + 2;
            v4(60, 1, (n >> 8) as u8, n as u8, 18444)
        })
        .collect()
}

#[tokio::test]
async fn an_attacker_in_one_group_gets_one_peer_and_64_new_buckets() {
    // Node 0 is the attacker, every address of 60.1.0.0/16; nodes 1..=8 are honest, each one
    // every address of its own /16 (71.0.0.0/16 … 78.0.0.0/16).
    let net = Simnet::builder()
        .nodes(9)
        .advertise(AddrAdvertise::None)
        .getaddr_delay(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let dialer = Arc::new(MapDialer::default());
    let attacker = v4(60, 1, 0, 1, 18444);
    let attacker_group = network_group(attacker.ip());
    dialer
        .group
        .lock()
        .unwrap()
        .insert(attacker_group.clone(), net.addrs()[0]);
    let honest_groups: Vec<Vec<u8>> = (1..=8u8)
        .map(|i| network_group(v4(70 + i, 0, 0, 1, 18444).ip()))
        .collect();
    for (i, g) in honest_groups.iter().enumerate() {
        dialer
            .group
            .lock()
            .unwrap()
            .insert(g.clone(), net.addrs()[i + 1]);
    }
    // The attacker knows 5,000 addresses of its own /16 (its getaddr answer: 1,000); each
    // honest node knows 10 addresses in every honest group and 10 unreachable ones elsewhere
    // (its answer: 20 of those 90).
    net.node(0)
        .set_advertise(Some(AddrAdvertise::Fixed(attacker_addrs(5_000, 0))));
    for i in 1..=8u8 {
        let mut known: Vec<SocketAddr> = (1..=8u8)
            .flat_map(|g| (0..10u8).map(move |k| v4(70 + g, 0, i, k + 1, 18444)))
            .collect();
        known.extend((0..10u8).map(|j| v4(90 + j, i, 0, 1, 18444)));
        net.node(usize::from(i))
            .set_advertise(Some(AddrAdvertise::Fixed(known)));
    }
    let first_honest = v4(71, 0, 0, 1, 18444);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.dat");
    let client = started(
        fast()
            .allow_local_addresses(false)
            .max_peers(10)
            .target_outbound(Some(8))
            .dialer(dialer.clone())
            .address_book_path(Some(path.clone())),
    );
    client.add_peer(&attacker.to_string()).unwrap();
    client.add_peer(&first_honest.to_string()).unwrap();
    // The attacker keeps pushing fresh addresses of its group.
    let pusher = {
        let node = net.node(0).clone();
        tokio::spawn(async move {
            for round in 1..=20u32 {
                let list: Vec<AddrV2Message> = attacker_addrs(1_000, round * 101)
                    .into_iter()
                    .map(|a| AddrV2Message {
                        time: now(),
                        services: ServiceFlags::NETWORK,
                        addr: match a.ip() {
                            IpAddr::V4(ip) => AddrV2::Ipv4(ip),
                            IpAddr::V6(ip) => AddrV2::Ipv6(ip),
                        },
                        port: a.port(),
                    })
                    .collect();
                node.push(NetworkMessage::AddrV2(list));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    assert!(
        eventually(Duration::from_secs(8), || client.connected_count() >= 9).await,
        "{:?}",
        client.peers()
    );
    pusher.await.unwrap();
    let peers = client.peers();
    let in_attacker_group = peers
        .iter()
        .filter(|p| {
            p.addr
                .parse::<SocketAddr>()
                .is_ok_and(|a| network_group(a.ip()) == attacker_group)
        })
        .count();
    let stats = client.address_book();
    client.stop(Duration::from_secs(5)).await.unwrap();

    let book = AddrBook::load(&path, Network::Regtest);
    assert!(book.warning.is_none(), "{:?}", book.warning);
    let mut buckets = BTreeSet::new();
    let mut attacker_entries = 0;
    for entry in book.book.entries() {
        if entry.addr.net.group() == attacker_group {
            attacker_entries += 1;
            if let Some(Position::New { bucket, .. }) = book.book.position(&entry.addr) {
                buckets.insert(bucket);
            }
        }
    }
    let other_groups = stats
        .groups
        .keys()
        .filter(|g| **g != attacker_group)
        .count();
    let honest_peers = peers
        .iter()
        .filter(|p| {
            p.addr
                .parse::<SocketAddr>()
                .is_ok_and(|a| honest_groups.contains(&network_group(a.ip())))
        })
        .count();
    println!(
        "eclipse: {} peers ({} connected), {} in the attacker's group; book new {} tried {}; \
         attacker entries {} in {} of 1024 new buckets; {} other groups in the book; \
         {} honest peers; {} dials",
        peers.len(),
        peers.iter().filter(|p| p.info.is_some()).count(),
        in_attacker_group,
        stats.new,
        stats.tried,
        attacker_entries,
        buckets.len(),
        other_groups,
        honest_peers,
        dialer.dials.load(Ordering::SeqCst),
    );
    assert_eq!(in_attacker_group, 1, "{peers:?}");
    // It sent thousands; one source group reaches at most 64 of the 1,024 new buckets (one
    // bucket per address group it announces), so it holds at most 64 × 64 entries.
    assert!(attacker_entries > 0, "the attack did not reach the book");
    assert!(buckets.len() <= 64, "{} buckets", buckets.len());
    assert!(attacker_entries <= 64 * 64, "{attacker_entries} entries");
    // One peer in every honest group.
    assert_eq!(honest_peers, 8, "{peers:?}");
    net.shutdown().await;
}

/// Three simnet nodes reachable as 50.0.0.1, 51.0.0.1, 52.0.0.1 (port 18444, regtest's
/// default, which is what seeds' answers get); two seeds also name three unreachable hosts.
struct Seeded {
    net: Simnet,
    dialer: Arc<MapDialer>,
    resolver: Arc<FakeResolver>,
    reachable: Vec<SocketAddr>,
}

async fn seeded() -> Seeded {
    let net = quiet_net(3).await;
    let dialer = Arc::new(MapDialer::default());
    // Two IPv4 addresses (A records) and an IPv6 one (an AAAA record) are nodes.
    let reachable: Vec<SocketAddr> = vec![
        v4(50, 0, 0, 1, 18444),
        v4(51, 0, 0, 1, 18444),
        "[2a01:4f8::1]:18444".parse().unwrap(),
    ];
    for (i, a) in reachable.iter().enumerate() {
        dialer.exact.lock().unwrap().insert(*a, net.addrs()[i]);
    }
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let resolver = FakeResolver {
        answers: HashMap::from([
            (
                "seed-a.test".to_owned(),
                vec![ip("50.0.0.1"), ip("51.0.0.1"), ip("60.0.0.1")],
            ),
            (
                "seed-b.test".to_owned(),
                vec![ip("2a01:4f8::1"), ip("61.0.0.1"), ip("62.0.0.1")],
            ),
        ]),
        asked: Mutex::default(),
    };
    Seeded {
        net,
        dialer,
        resolver: Arc::new(resolver),
        reachable,
    }
}

fn seeded_config(s: &Seeded, book: Option<std::path::PathBuf>) -> btcclient_manager::ConfigBuilder {
    fast()
        .allow_local_addresses(false)
        .target_outbound(Some(3))
        .dns_seeds(Some(vec!["seed-a.test".into(), "seed-b.test".into()]))
        .resolver(SharedResolver(s.resolver.clone()))
        .dns_seed_delay(Duration::from_millis(300))
        .dialer(s.dialer.clone())
        .address_book_path(book)
}

#[tokio::test]
async fn an_empty_book_asks_every_dns_seed_at_once_and_connects_to_their_answers() {
    let s = seeded().await;
    let client = started(seeded_config(&s, None));
    assert!(
        eventually(Duration::from_secs(5), || client.connected_count() == 3).await,
        "{:?}",
        client.peers()
    );
    assert_eq!(
        *s.resolver.asked.lock().unwrap(),
        ["seed-a.test", "seed-b.test"]
    );
    let mut peers: Vec<String> = client.peers().into_iter().map(|p| p.addr).collect();
    peers.sort();
    let mut want: Vec<String> = s.reachable.iter().map(|a| a.to_string()).collect();
    want.sort();
    assert_eq!(peers, want);
    let stats = client.address_book();
    assert_eq!(stats.tried, 3, "{stats:?}");
    assert_eq!(stats.new + stats.tried, 6, "{stats:?}");
    client.stop(Duration::from_secs(5)).await.unwrap();
    s.net.shutdown().await;
}

/// Without `dns_seeds`, a client on mainnet asks Bitcoin Core's seeds for that network (here
/// through a resolver that knows none of them: nothing is dialled).
#[tokio::test]
async fn by_default_the_networks_dns_seeds_are_asked() {
    let resolver = Arc::new(FakeResolver {
        answers: HashMap::new(),
        asked: Mutex::default(),
    });
    let client = started(
        btcclient_manager::Config::builder()
            .network(Network::Mainnet)
            .resolver(SharedResolver(resolver.clone())),
    );
    let want = btcclient_manager::dns::default_dns_seeds(Network::Mainnet);
    assert!(want.len() >= 5, "{want:?}");
    assert!(
        eventually(Duration::from_secs(5), || {
            resolver.asked.lock().unwrap().len() >= want.len()
        })
        .await
    );
    let mut asked = resolver.asked.lock().unwrap().clone();
    asked.sort();
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(asked, want);
    assert_eq!(client.connected_count(), 0);
    client.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_restarted_client_asks_no_dns_seed_and_dials_its_tried_peers_first() {
    let s = seeded().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.book");
    let first = started(seeded_config(&s, Some(path.clone())));
    assert!(eventually(Duration::from_secs(5), || first.connected_count() == 3).await);
    first.stop(Duration::from_secs(5)).await.unwrap();
    drop(first);
    assert!(path.exists());
    let asked_before = s.resolver.asked.lock().unwrap().len();

    // A new client on the same file: three tried and three new addresses in its book.
    let dials_before = s.dialer.dials.load(Ordering::SeqCst);
    let second = started(seeded_config(&s, Some(path.clone())));
    let stats = second.address_book();
    assert_eq!((stats.new, stats.tried), (3, 3), "{stats:?}");
    assert!(eventually(Duration::from_secs(5), || second.connected_count() == 3).await);
    // Its first three dials were the tried peers: nothing failed, nothing else was dialled.
    assert_eq!(s.dialer.dials.load(Ordering::SeqCst) - dials_before, 3);
    // Past dns_seed_delay with 3 peers connected: no seed was asked.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.resolver.asked.lock().unwrap().len(), asked_before);
    second.stop(Duration::from_secs(5)).await.unwrap();
    s.net.shutdown().await;
}

#[tokio::test]
async fn a_damaged_book_file_is_moved_aside_and_the_client_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.book");
    std::fs::write(&path, b"not a book").unwrap();
    let client = started(fast().address_book_path(Some(path.clone())));
    assert_eq!(client.address_book().new + client.address_book().tried, 0);
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("peers.book.bad-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    client.stop(Duration::from_secs(5)).await.unwrap();
    // Stopping saved a good (empty) book in its place.
    let loaded = AddrBook::load(&path, Network::Regtest);
    assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
}

/// A `peers.dat` imported before the first `start` is kept when `start` loads the book file
/// (here there is none yet), saved at `stop` and loaded by the next client. Discovery is off:
/// the fixture's public addresses are never dialled.
#[tokio::test]
async fn a_peers_dat_imported_before_start_is_kept_with_a_book_file() {
    let dir = tempfile::tempdir().unwrap();
    let book_path = dir.path().join("peers.book");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/peers-core29-mainnet.dat"
    );
    let config = || {
        BtcClient::new(
            btcclient_manager::Config::builder()
                .network(Network::Mainnet)
                .discovery(false)
                .dns_seeds(Some(Vec::new()))
                .address_book_path(Some(book_path.clone()))
                .build()
                .unwrap(),
        )
        .unwrap()
    };
    let client = config();
    let imported = client.import_peers_dat(fixture).unwrap();
    let held = (imported.added_new, imported.added_tried);
    assert!(held.0 >= 3 && held.1 == 2, "{imported:?}");
    client.start().unwrap();
    let book = client.address_book();
    assert_eq!((book.new, book.tried), held, "the import survives start");
    client.stop(Duration::from_secs(5)).await.unwrap();

    let next = config();
    next.start().unwrap();
    let book = next.address_book();
    assert_eq!((book.new, book.tried), held, "and the book file");
    next.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn importing_something_that_is_not_a_peers_dat_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.dat");
    std::fs::write(&path, [0u8; 10]).unwrap();
    let client = started(fast());
    let e = client.import_peers_dat(&path).unwrap_err();
    assert!(matches!(e, Error::PeersDat(_)), "{e:?}");
    assert!(e.to_string().contains("peers.dat"), "{e}");
    let missing = client
        .import_peers_dat(dir.path().join("missing.dat"))
        .unwrap_err();
    let text = missing.to_string();
    assert!(
        text.starts_with("cannot read ") && text.contains("missing.dat"),
        "{missing}"
    );
    assert_eq!(client.address_book().new, 0);
    client.stop(Duration::from_secs(5)).await.unwrap();
}

/// Each seed's answer is reported: the addresses it added, or why it did not answer (a seed
/// that does not resolve, here one the fake resolver does not know).
#[tokio::test]
async fn dns_seed_answers_say_what_each_seed_gave() {
    let s = seeded().await;
    let client = started(
        seeded_config(&s, None).dns_seeds(Some(vec!["seed-a.test".into(), "gone.test".into()])),
    );
    assert!(
        eventually(Duration::from_secs(5), || client.dns_seed_answers().len()
            == 2)
        .await
    );
    let answers = client.dns_seed_answers();
    assert_eq!(answers[0].seed, "seed-a.test");
    assert_eq!(answers[0].result, Ok(3));
    assert_eq!(answers[1].seed, "gone.test");
    assert!(
        matches!(&answers[1].result, Err(e) if e.contains("no such host")),
        "{answers:?}"
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    s.net.shutdown().await;
}

/// With 1,000 addresses or more in its book and fewer than 2 peers connected, a client asks
/// the DNS seeds after 5 minutes, not after `dns_seed_delay`; and it writes its book every
/// 15 minutes while it runs, not only at `stop`. (On tokio's paused clock; every dial fails
/// at once through the dialer, nothing leaves the machine.)
#[tokio::test(start_paused = true)]
async fn a_full_book_waits_five_minutes_for_dns_seeds_and_is_saved_every_fifteen() {
    use btcclient_manager::addrbook::{NetAddr, Source};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.book");
    let mut book = AddrBook::new(Network::Regtest);
    // 1,200 addresses, one per /16, told by 120 sources of 120 groups.
    let addrs: Vec<AddrV2Message> = (0..1200u32)
        .map(|i| AddrV2Message {
            time: now(),
            services: ServiceFlags::NETWORK,
            addr: AddrV2::Ipv4(Ipv4Addr::new(20 + (i / 200) as u8, (i % 200) as u8, 0, 1)),
            port: 18444,
        })
        .collect();
    for (k, chunk) in addrs.chunks(10).enumerate() {
        let source = Source::Peer(NetAddr::from_ip(IpAddr::V4(Ipv4Addr::new(
            100 + (k / 100) as u8,
            (k % 100) as u8,
            0,
            9,
        ))));
        book.add(chunk, &source, u64::from(now()));
    }
    assert!(book.len() >= 1000, "{}", book.len());
    book.save(&path).unwrap();

    let resolver = Arc::new(FakeResolver {
        answers: HashMap::new(),
        asked: Mutex::default(),
    });
    let client = started(
        fast()
            .allow_local_addresses(false)
            .health_check_interval(Duration::from_secs(30))
            .target_outbound(Some(2))
            .dialer(Arc::new(MapDialer::default()))
            .dns_seeds(Some(vec!["seed-a.test".into()]))
            .resolver(SharedResolver(resolver.clone()))
            .address_book_path(Some(path.clone())),
    );
    assert!(client.address_book().new >= 1000);
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_secs(4 * 60 + 50)).await;
    assert!(
        resolver.asked.lock().unwrap().is_empty(),
        "asked before 5 minutes"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(*resolver.asked.lock().unwrap(), ["seed-a.test"]);
    assert!(!path.exists(), "saved before 15 minutes");
    tokio::time::sleep(Duration::from_secs(10 * 60 + 30)).await;
    // Real time from here: the book is written on a blocking thread, and a paused clock runs
    // ahead while the runtime waits for it (the write may still be under way, and `stop`'s
    // deadline would pass at once).
    tokio::time::resume();
    assert!(
        eventually(Duration::from_secs(5), || path.exists()).await,
        "not saved at 15 minutes"
    );
    let saved = AddrBook::load(&path, Network::Regtest);
    assert!(saved.warning.is_none(), "{:?}", saved.warning);
    assert!(saved.book.len() >= 1000, "{}", saved.book.len());
    client.stop(Duration::from_secs(5)).await.unwrap();
}
