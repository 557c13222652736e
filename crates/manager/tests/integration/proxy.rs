//! Reaching peers through a SOCKS5 proxy: microsocks (a real proxy, started by the test)
//! relaying to simulated nodes, and a SOCKS5 server of the test's own that records what the
//! client asks for (domain-name requests, credentials) and shows that nothing is resolved
//! locally. Every proxy listens on 127.0.0.1 and every name it is asked for is mapped to a
//! simulated node by the test: no name reaches a real resolver.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use btcclient_manager::addrbook::{AddrBook, Admission, BookAddr, Source};
use btcclient_manager::bitcoin::blockdata::constants::genesis_block;
use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::address::{AddrV2, AddrV2Message};
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::message_blockdata::GetHeadersMessage;
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::bitcoin::BlockHash;
use btcclient_manager::dns::SharedResolver;
use btcclient_manager::{
    onion_host, Backoff, ConnectFailure, Error, FailureCause, Network, PeerStatus, Proxy,
};
use btcclient_simnet::{AddrAdvertise, Simnet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::{connect, eventually, fast, quiet_net, started, FakeResolver, Recorder, Seen};

/// A free port on 127.0.0.1 (nothing listens on it once this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// microsocks on 127.0.0.1 (`$MICROSOCKS`, else `microsocks` on the PATH), killed on drop.
struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Microsocks {
    async fn start(login: Option<(&str, &str)>) -> Microsocks {
        Microsocks::start_on(free_port(), login).await
    }

    async fn start_on(port: u16, login: Option<(&str, &str)>) -> Microsocks {
        let bin = std::env::var("MICROSOCKS").unwrap_or_else(|_| "microsocks".to_owned());
        let mut cmd = Command::new(&bin);
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((user, password)) = login {
            cmd.args(["-u", user, "-P", password]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {bin}: {e} (apt-get install microsocks, or set MICROSOCKS)")
            });
        let proxy = Microsocks {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        let addr = proxy.addr;
        assert!(
            eventually(Duration::from_secs(5), || std::net::TcpStream::connect(
                addr
            )
            .is_ok())
            .await,
            "microsocks does not listen on {addr}"
        );
        proxy
    }

    fn proxy(&self) -> Proxy {
        Proxy::parse(&self.addr.to_string()).unwrap()
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One CONNECT request the recording proxy received.
#[derive(Clone, Debug, PartialEq)]
struct Request {
    /// A domain-name request (ATYP 3): the name.
    domain: Option<String>,
    /// An address request (ATYP 1 or 4): the address.
    addr: Option<SocketAddr>,
    port: u16,
    /// The username, when the client authenticated.
    username: Option<String>,
}

/// A SOCKS5 server of the test's own: it takes username/password when offered (as Tor does),
/// records every request, connects domain names through its own table (an unknown name is
/// "host unreachable") and loopback addresses directly (any other is "not allowed"), or
/// answers every request with a fixed failure code.
struct RecordingProxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    names: Arc<Mutex<HashMap<String, SocketAddr>>>,
    fail_with: Arc<Mutex<Option<u8>>>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    async fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let names = Arc::new(Mutex::new(HashMap::new()));
        let fail_with = Arc::new(Mutex::new(None));
        let (r, n, f) = (requests.clone(), names.clone(), fail_with.clone());
        let task = tokio::spawn(async move {
            // Dropped with this task: every relay ends with the proxy.
            let mut relays = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                relays.spawn(serve(stream, r.clone(), n.clone(), f.clone()));
            }
        });
        RecordingProxy {
            addr,
            requests,
            names,
            fail_with,
            task,
        }
    }

    fn proxy(&self) -> Proxy {
        Proxy::parse(&self.addr.to_string()).unwrap()
    }

    fn map(&self, name: &str, to: SocketAddr) {
        self.names.lock().unwrap().insert(name.to_owned(), to);
    }

    fn fail_with(&self, code: Option<u8>) {
        *self.fail_with.lock().unwrap() = code;
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut client: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    names: Arc<Mutex<HashMap<String, SocketAddr>>>,
    fail_with: Arc<Mutex<Option<u8>>>,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    let mut username = None;
    if methods.contains(&2) {
        client.write_all(&[5, 2]).await?;
        let mut v = [0u8; 2];
        client.read_exact(&mut v).await?;
        let mut user = vec![0u8; usize::from(v[1])];
        client.read_exact(&mut user).await?;
        let mut plen = [0u8; 1];
        client.read_exact(&mut plen).await?;
        let mut password = vec![0u8; usize::from(plen[0])];
        client.read_exact(&mut password).await?;
        username = Some(String::from_utf8_lossy(&user).into_owned());
        client.write_all(&[1, 0]).await?;
    } else {
        client.write_all(&[5, 0]).await?;
    }
    let mut req = [0u8; 4];
    client.read_exact(&mut req).await?;
    let (mut domain, mut ip) = (None, None);
    match req[3] {
        1 => {
            let mut b = [0u8; 4];
            client.read_exact(&mut b).await?;
            ip = Some(IpAddr::from(b));
        }
        4 => {
            let mut b = [0u8; 16];
            client.read_exact(&mut b).await?;
            ip = Some(IpAddr::from(b));
        }
        _ => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            domain = Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    requests.lock().unwrap().push(Request {
        domain: domain.clone(),
        addr: ip.map(|ip| SocketAddr::new(ip, port)),
        port,
        username,
    });
    let reply = |code: u8| [5, code, 0, 1, 127, 0, 0, 1, 0, 0];
    let fixed = *fail_with.lock().unwrap();
    if let Some(code) = fixed {
        return client.write_all(&reply(code)).await;
    }
    let dest = match (domain, ip) {
        (Some(name), _) => {
            let mapped = names.lock().unwrap().get(&name).copied();
            match mapped {
                Some(to) => to,
                None => return client.write_all(&reply(4)).await,
            }
        }
        (None, Some(ip)) if ip.is_loopback() => SocketAddr::new(ip, port),
        _ => return client.write_all(&reply(2)).await,
    };
    let mut upstream = match TcpStream::connect(dest).await {
        Ok(s) => s,
        Err(_) => return client.write_all(&reply(5)).await,
    };
    client.write_all(&reply(0)).await?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// The attempt failures of `addr` recorded so far: cause, streak, retry delay.
fn failures(rec: &Recorder, addr: &str) -> Vec<(ConnectFailure, u32, Duration)> {
    rec.all()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Failed(a, FailureCause::Connect(c), n, d) if a == addr => Some((c, n, d)),
            _ => None,
        })
        .collect()
}

fn proxy_failures(rec: &Recorder, addr: &str) -> Vec<(ConnectFailure, u32, Duration)> {
    failures(rec, addr)
        .into_iter()
        .filter(|(c, ..)| c.is_proxy_failure())
        .collect()
}

#[tokio::test]
async fn through_microsocks_handshake_headers_reconnect_and_a_refused_target() {
    let net = quiet_net(1).await;
    let node = net.node(0);
    let socks = Microsocks::start(None).await;
    let rec = Recorder::default();
    let client = started(
        fast()
            .discovery(false)
            .stable_after(Duration::ZERO)
            .max_failure_count(2)
            .proxy(Some(socks.proxy()))
            .listeners(rec.listeners()),
    );
    let addr = node.addr().to_string();
    let peer = connect(&client, node).await;
    // Headers over the proxied connection.
    let genesis = genesis_block(btcclient_manager::bitcoin::Network::Regtest).block_hash();
    peer.send(&NetworkMessage::GetHeaders(GetHeadersMessage::new(
        vec![genesis],
        BlockHash::all_zeros(),
    )))
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || rec
            .all()
            .contains(&Seen::Headers(addr.clone(), 100)))
        .await
    );
    assert_eq!(peer.snapshot().resolved, Some(node.addr()));

    // The node goes away: microsocks answers "connection refused", the peer's failure.
    node.go_down();
    assert!(
        eventually(Duration::from_secs(5), || failures(&rec, &addr).iter().any(
            |(c, ..)| matches!(c, ConnectFailure::ProxyRefused { code: 5, .. })
        ))
        .await,
        "{:?}",
        rec.all()
    );
    let (refused, streak, _) = failures(&rec, &addr)
        .into_iter()
        .find(|(c, ..)| matches!(c, ConnectFailure::ProxyRefused { .. }))
        .unwrap();
    assert_eq!(streak, 1, "a refused target counts against the peer");
    let text = refused.to_string();
    assert!(
        text.contains(&format!("proxy {}", socks.addr))
            && text.contains("connection refused (SOCKS5 reply 0x05)"),
        "{text}"
    );
    // It comes back: the client reconnects through the proxy.
    node.come_up().await.unwrap();
    assert!(eventually(Duration::from_secs(5), || rec.connected(&addr) == 2).await);

    // The proxy goes away: the connection it carried ends, and the attempts after fail fast
    // as the proxy's fault, naming it, without counting against the peer.
    let proxy_addr = socks.addr;
    drop(socks);
    assert!(eventually(Duration::from_secs(5), || rec.disconnected(&addr) == 2).await);
    assert!(
        eventually(Duration::from_secs(5), || proxy_failures(&rec, &addr).len()
            >= 3)
        .await,
        "{:?}",
        rec.all()
    );
    for (cause, streak, _) in proxy_failures(&rec, &addr) {
        assert_eq!(streak, 0, "{cause}");
        let text = cause.to_string();
        assert!(
            text.starts_with(&format!("proxy {proxy_addr}: cannot connect to the proxy")),
            "{text}"
        );
    }
    assert_ne!(peer.status(), PeerStatus::Unhealthy);
    assert_eq!(peer.failure_count(), 0);
    let started_wait = Instant::now();
    let e = peer
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        started_wait.elapsed() < Duration::from_secs(2),
        "fails fast"
    );
    assert!(
        matches!(&e, Error::PeerConnection(p) if p.cause.is_proxy_failure()),
        "{e}"
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_proxy_outage_backs_off_leaves_the_address_book_alone_and_ends_when_it_comes_back() {
    let net = quiet_net(3).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.book");
    let entries: Vec<AddrV2Message> = net
        .addrs()
        .iter()
        .map(|a| AddrV2Message {
            time: now(),
            services: ServiceFlags::NETWORK,
            addr: AddrV2::Ipv4(Ipv4Addr::LOCALHOST),
            port: a.port(),
        })
        .collect();
    // One group and one source: one bucket, where two may meet in a slot; a book whose random
    // layout keeps all three is taken.
    let book = std::iter::repeat_with(|| {
        let mut book = AddrBook::new(Network::Regtest);
        book.set_admission(Admission {
            onion: false,
            local: true,
        });
        let added = book.add(&entries, &Source::Local, u64::from(now()));
        (added, book)
    })
    .find_map(|(added, book)| (added == 3).then_some(book))
    .unwrap();
    book.save(&path).unwrap();

    // Nothing listens on the proxy's port.
    let port = free_port();
    let rec = Recorder::default();
    let config = fast()
        .address_book_path(Some(path.clone()))
        .dns_seeds(Some(vec![]))
        .target_outbound(Some(3))
        .max_failure_count(2)
        .reconnect_delay(Duration::from_millis(40))
        .backoff(Backoff::Exponential {
            max: Duration::from_secs(5),
        })
        .proxy(Some(Proxy::parse(&format!("127.0.0.1:{port}")).unwrap()))
        .listeners(rec.listeners());
    let client = started(config);
    let addrs: Vec<String> = net.addrs().iter().map(|a| a.to_string()).collect();
    assert!(
        eventually(Duration::from_secs(5), || addrs
            .iter()
            .all(|a| proxy_failures(&rec, a).len() >= 3))
        .await,
        "{:?}",
        rec.all()
    );
    for a in &addrs {
        let seen = proxy_failures(&rec, a);
        // Never counted in the streak, so never unhealthy (nor replaced by another address).
        assert!(seen.iter().all(|(_, streak, _)| *streak == 0), "{seen:?}");
        assert!(!rec
            .statuses(a)
            .iter()
            .any(|(_, new)| *new == PeerStatus::Unhealthy));
        // Backing off: 40 ms, 80 ms, 160 ms (±25 %).
        let delays: Vec<Duration> = seen.iter().map(|f| f.2).take(3).collect();
        assert!(delays.windows(2).all(|w| w[1] > w[0]), "{delays:?}");
    }
    assert_eq!(client.peer_count(), 3);
    client.stop(Duration::from_secs(5)).await.unwrap();
    // The outage was not the addresses' fault: the book holds them untouched.
    let loaded = AddrBook::load(&path, Network::Regtest);
    assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
    for a in net.addrs() {
        let entry = loaded
            .book
            .get(&BookAddr::from(a))
            .expect("still in the book");
        assert_eq!((entry.attempts, entry.last_try), (0, 0), "{entry:?}");
    }

    // The proxy comes up on its port: the same client, started again, reaches all three.
    let _socks = Microsocks::start_on(port, None).await;
    client.start().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || client.connected_count() == 3).await,
        "{:?}",
        client.peers()
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn microsocks_with_a_login_takes_the_configured_credentials_only() {
    let net = quiet_net(1).await;
    let socks = Microsocks::start(Some(("alice", "s3cret"))).await;
    let client = started(
        fast()
            .discovery(false)
            .proxy(Some(socks.proxy().with_credentials("alice", "s3cret"))),
    );
    connect(&client, net.node(0)).await;
    client.stop(Duration::from_secs(5)).await.unwrap();
    // Random credentials (the default) are offered beside "no authentication", which this
    // proxy does not accept: it refuses them, the proxy's failure.
    let client = started(fast().discovery(false).proxy(Some(socks.proxy())));
    let peer = client.add_peer(&net.addrs()[0].to_string()).unwrap();
    let e = peer
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap_err();
    let Error::PeerConnection(failure) = &e else {
        panic!("{e}")
    };
    assert!(failure.cause.is_proxy_failure(), "{e}");
    assert!(
        failure.cause.to_string().contains("authentication failed"),
        "{e}"
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn host_names_and_onion_addresses_go_to_the_proxy_by_name_and_nothing_is_resolved_here() {
    let net = quiet_net(2).await;
    let proxy = RecordingProxy::start().await;
    let onion = onion_host(&[0x42; 32]);
    proxy.map("node.example.invalid", net.addrs()[0]);
    proxy.map(&onion, net.addrs()[1]);
    let resolver = Arc::new(FakeResolver::default());
    let client = started(
        fast()
            .discovery(false)
            .proxy(Some(proxy.proxy()))
            .resolver(SharedResolver(resolver.clone())),
    );
    let by_name = client.add_peer("node.example.invalid:18444").unwrap();
    let by_onion = client.add_peer(&format!("{onion}:8333")).unwrap();
    for peer in [&by_name, &by_onion] {
        peer.wait_connected(Duration::from_secs(5)).await.unwrap();
        assert_eq!(peer.snapshot().resolved, None, "no address known here");
    }
    // Once more for the name: a new connection.
    client.remove_peer("node.example.invalid:18444").unwrap();
    let again = client.add_peer("node.example.invalid:18444").unwrap();
    again.wait_connected(Duration::from_secs(5)).await.unwrap();

    let requests = proxy.requests();
    let asked: Vec<(Option<&str>, u16)> = requests
        .iter()
        .map(|r| (r.domain.as_deref(), r.port))
        .collect();
    let mut want = vec![
        (Some("node.example.invalid"), 18444),
        (Some(onion.as_str()), 8333),
        (Some("node.example.invalid"), 18444),
    ];
    let mut got = asked.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "domain-name requests only: {requests:?}");
    assert!(requests.iter().all(|r| r.addr.is_none()));
    // Fresh credentials on every connection (Tor: a circuit of its own for each).
    let mut users: Vec<String> = requests
        .iter()
        .map(|r| r.username.clone().unwrap())
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 3, "{requests:?}");
    // The local resolver was never asked.
    assert!(resolver.asked.lock().unwrap().is_empty());
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_proxy_named_by_host_name_is_the_only_name_resolved_here() {
    let net = quiet_net(1).await;
    let proxy = RecordingProxy::start().await;
    proxy.map("node.example.invalid", net.addrs()[0]);
    let resolver = Arc::new(FakeResolver {
        answers: HashMap::from([(
            "socks.example.invalid".to_owned(),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )]),
        ..FakeResolver::default()
    });
    let named = Proxy::parse(&format!("socks.example.invalid:{}", proxy.addr.port())).unwrap();
    let client = started(
        fast()
            .discovery(false)
            .proxy(Some(named))
            .resolver(SharedResolver(resolver.clone())),
    );
    let peer = client.add_peer("node.example.invalid:18444").unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    assert_eq!(*resolver.asked.lock().unwrap(), ["socks.example.invalid"]);
    assert_eq!(
        proxy.requests()[0].domain.as_deref(),
        Some("node.example.invalid")
    );
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn onion_addresses_need_an_onion_proxy_and_go_only_through_it() {
    let net = quiet_net(2).await;
    let key = [0x42; 32];
    let onion = onion_host(&key);
    let heard_onion = |port: u16| {
        NetworkMessage::AddrV2(vec![AddrV2Message {
            time: now(),
            services: ServiceFlags::NETWORK,
            addr: AddrV2::TorV3(key),
            port,
        }])
    };

    // Without a proxy: refused with a clear error, never resolved, not kept when heard.
    let resolver = Arc::new(FakeResolver::default());
    let client = started(fast().resolver(SharedResolver(resolver.clone())));
    let e = client.add_peer(&format!("{onion}:8333")).unwrap_err();
    assert!(matches!(e, Error::InvalidAddress { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("only through Tor") && text.contains("onion_proxy"),
        "{text}"
    );
    connect(&client, net.node(0)).await;
    assert_eq!(net.node(0).push(heard_onion(8333)), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!client.address_book().networks.contains_key("onion"));
    assert_eq!(client.peer_count(), 1);
    assert!(resolver.asked.lock().unwrap().is_empty());
    client.stop(Duration::from_secs(5)).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || net.node(0).connections() == 0).await);

    // A proxy for everything and another for onion services: an onion address heard from a
    // peer enters the book and is dialled through the onion proxy alone.
    let clearnet = RecordingProxy::start().await;
    let tor = RecordingProxy::start().await;
    tor.map(&onion, net.addrs()[1]);
    let rec = Recorder::default();
    let client = started(
        fast()
            .proxy(Some(clearnet.proxy()))
            .onion_proxy(Some(tor.proxy()))
            .resolver(SharedResolver(resolver.clone()))
            .listeners(rec.listeners()),
    );
    connect(&client, net.node(0)).await;
    assert_eq!(net.node(0).push(heard_onion(9333)), 1);
    let onion_peer = format!("{onion}:9333");
    assert!(
        eventually(Duration::from_secs(5), || rec.connected(&onion_peer) == 1).await,
        "{:?}",
        client.peers()
    );
    let snapshot = client.peer(&onion_peer).unwrap().snapshot();
    assert!(snapshot.discovered);
    let onions = client
        .address_book()
        .networks
        .get("onion")
        .copied()
        .unwrap();
    assert_eq!((onions.new, onions.tried), (0, 1));
    assert_eq!(
        tor.requests()
            .iter()
            .map(|r| (r.domain.clone(), r.port))
            .collect::<Vec<_>>(),
        [(Some(onion.clone()), 9333)]
    );
    let through_clearnet = clearnet.requests();
    assert_eq!(through_clearnet.len(), 1, "{through_clearnet:?}");
    assert_eq!(through_clearnet[0].addr, Some(net.addrs()[0]));
    assert!(resolver.asked.lock().unwrap().is_empty());
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn dns_seeds_are_asked_through_the_proxy_by_an_address_fetch_connection() {
    // The seed's node knows the five others and answers getaddr with all of them; the others
    // know nobody (so the book holds the seed's answer only).
    let net = Simnet::builder()
        .nodes(6)
        .advertise(AddrAdvertise::None)
        .getaddr_percent(100)
        .getaddr_delay(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    net.node(0).set_advertise(Some(AddrAdvertise::OtherNodes));
    let proxy = RecordingProxy::start().await;
    proxy.map("seed.example.invalid", net.addrs()[0]);
    let resolver = Arc::new(FakeResolver::default());
    let client = started(
        fast()
            .target_outbound(Some(2))
            .dns_seeds(Some(vec![
                "seed.example.invalid".into(),
                "gone.example.invalid".into(),
            ]))
            .proxy(Some(proxy.proxy()))
            .resolver(SharedResolver(resolver.clone())),
    );
    assert!(
        eventually(Duration::from_secs(5), || client.dns_seed_answers().len()
            == 2)
        .await,
        "{:?}",
        client.dns_seed_answers()
    );
    let answers: HashMap<String, Result<usize, String>> = client
        .dns_seed_answers()
        .into_iter()
        .map(|a| (a.seed, a.result))
        .collect();
    // The seed's node names the five others (local addresses: each bucketed on its own, so
    // none pushes another out).
    let added = answers["seed.example.invalid"].clone().unwrap();
    assert_eq!(added, 5, "{added} added");
    let book = client.address_book();
    assert_eq!(book.new + book.tried, added, "{book:?}");
    let gone = answers["gone.example.invalid"].clone().unwrap_err();
    assert!(
        gone.contains("host unreachable (SOCKS5 reply 0x04)"),
        "{gone}"
    );
    // Two discovered peers from the seed's answer, reached through the proxy by address.
    assert!(eventually(Duration::from_secs(5), || client.connected_count() == 2).await);
    let requests = proxy.requests();
    let mut names: Vec<(&str, u16)> = requests
        .iter()
        .filter_map(|r| r.domain.as_deref().map(|d| (d, r.port)))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("gone.example.invalid", 18444),
            ("seed.example.invalid", 18444)
        ]
    );
    let by_addr: Vec<SocketAddr> = requests.iter().filter_map(|r| r.addr).collect();
    assert_eq!(by_addr.len(), 2, "{requests:?}");
    assert!(by_addr.iter().all(|a| net.addrs()[1..].contains(a)));
    // The address-fetch connection was closed once the seed answered; no name was resolved
    // here.
    assert!(eventually(Duration::from_secs(5), || net.node(0).connections() == 0).await);
    assert!(resolver.asked.lock().unwrap().is_empty());
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}

#[tokio::test]
async fn a_reply_code_says_whether_the_proxy_or_the_peer_failed() {
    let net = quiet_net(1).await;
    let proxy = RecordingProxy::start().await;
    let client = started(fast().discovery(false).proxy(Some(proxy.proxy())));
    let addr = net.addrs()[0].to_string();
    for (code, proxys_fault, text) in [
        (0x01, true, "general failure (SOCKS5 reply 0x01)"),
        (0x04, false, "host unreachable (SOCKS5 reply 0x04)"),
        (0x06, false, "TTL expired (SOCKS5 reply 0x06)"),
    ] {
        proxy.fail_with(Some(code));
        let peer = client.add_peer(&addr).unwrap();
        let e = peer
            .wait_connected(Duration::from_secs(5))
            .await
            .unwrap_err();
        let Error::PeerConnection(failure) = &e else {
            panic!("{e}")
        };
        assert_eq!(failure.cause.is_proxy_failure(), proxys_fault, "{e}");
        let message = failure.cause.to_string();
        assert!(message.contains(text), "{message}");
        assert!(message.contains(&proxy.addr.to_string()), "{message}");
        assert_eq!(peer.failure_count(), u32::from(!proxys_fault), "{e}");
        client.remove_peer(&addr).unwrap();
    }
    client.stop(Duration::from_secs(5)).await.unwrap();
    net.shutdown().await;
}
