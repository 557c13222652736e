//! Integration tests of the peer manager against simulated nodes (btcclient-simnet) on
//! 127.0.0.1. Every test stops by itself.
#![allow(clippy::unwrap_used, missing_docs)]

mod api;
mod book;
mod callbacks;
mod discovery;
mod faults;
mod lifecycle;
mod proxy;
mod transport;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use btcclient_manager::dns::{ResolveFuture, Resolver};
use btcclient_manager::{
    Backoff, Config, ConfigBuilder, DisconnectReason, FailureCause, Listeners, Network, PeerStatus,
};

/// A configuration with short timeouts, for loopback tests.
pub fn fast() -> ConfigBuilder {
    Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .reconnect_delay(Duration::from_millis(100))
        .backoff(Backoff::Fixed)
        .connection_timeout(Duration::from_secs(2))
        .handshake_timeout(Duration::from_secs(2))
        .health_check_interval(Duration::from_millis(50))
}

/// A started client built from `config`.
pub fn started(config: ConfigBuilder) -> btcclient_manager::BtcClient {
    let client = btcclient_manager::BtcClient::new(config.build().unwrap()).unwrap();
    client.start().unwrap();
    client
}

/// `n` simulated nodes that do not advertise each other (so no discovery happens unless a
/// test pushes addresses).
pub async fn quiet_net(n: usize) -> btcclient_simnet::Simnet {
    btcclient_simnet::Simnet::builder()
        .nodes(n)
        .advertise(btcclient_simnet::AddrAdvertise::None)
        .build()
        .await
        .unwrap()
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Adds `addr` and waits until both sides consider the handshake done: the client (its
/// peer is `Connected`) and the node (it received our verack), so pushes reach the client.
pub async fn connect(
    client: &btcclient_manager::BtcClient,
    node: &btcclient_simnet::SimNode,
) -> btcclient_manager::ManagedPeer {
    let before = node.connections();
    let peer = client.add_peer(&node.addr().to_string()).unwrap();
    peer.wait_connected(Duration::from_secs(5)).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || node.connections() > before).await);
    peer
}

/// What the listeners saw, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Connected(String),
    Disconnected(String, DisconnectReason),
    Headers(String, usize),
    Inv(String, usize),
    Block(String),
    Tx(String),
    Addr(String, usize),
    Other(String, String),
    /// An attempt failed: cause, consecutive failures, retry delay.
    Failed(String, FailureCause, u32, Duration),
    /// Status changed from, to.
    Status(String, PeerStatus, PeerStatus),
}

/// Listeners that record every event.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    pub fn listeners(&self) -> Listeners {
        let r = |s: &Recorder| s.0.clone();
        let (a, b, c, d, e, f, g, h, i, j) = (
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
            r(self),
        );
        Listeners::new()
            .on_peer_connected(move |p| a.lock().unwrap().push(Seen::Connected(p.addr().into())))
            .on_peer_disconnected(move |p, why| {
                b.lock()
                    .unwrap()
                    .push(Seen::Disconnected(p.addr().into(), why.clone()))
            })
            .on_headers(move |p, hs| {
                c.lock()
                    .unwrap()
                    .push(Seen::Headers(p.addr().into(), hs.len()))
            })
            .on_inv(move |p, inv| {
                d.lock()
                    .unwrap()
                    .push(Seen::Inv(p.addr().into(), inv.len()))
            })
            .on_block(move |p, _| e.lock().unwrap().push(Seen::Block(p.addr().into())))
            .on_tx(move |p, _| f.lock().unwrap().push(Seen::Tx(p.addr().into())))
            .on_addr(move |p, list| {
                g.lock()
                    .unwrap()
                    .push(Seen::Addr(p.addr().into(), list.len()))
            })
            .on_message(move |p, m| {
                h.lock()
                    .unwrap()
                    .push(Seen::Other(p.addr().into(), m.command.to_string()))
            })
            .on_attempt_failed(move |p, f| {
                i.lock().unwrap().push(Seen::Failed(
                    p.addr().into(),
                    f.cause.clone(),
                    f.failures,
                    f.retry_in,
                ))
            })
            .on_status_changed(move |p, c| {
                j.lock()
                    .unwrap()
                    .push(Seen::Status(p.addr().into(), c.old, c.new))
            })
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&Seen) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|s| pred(s)).count()
    }

    pub fn connected(&self, addr: &str) -> usize {
        self.count(|s| matches!(s, Seen::Connected(a) if a == addr))
    }

    pub fn disconnected(&self, addr: &str) -> usize {
        self.count(|s| matches!(s, Seen::Disconnected(a, _) if a == addr))
    }

    pub fn failed(&self, addr: &str) -> usize {
        self.count(|s| matches!(s, Seen::Failed(a, ..) if a == addr))
    }

    /// The status changes of `addr`, in order.
    pub fn statuses(&self, addr: &str) -> Vec<(PeerStatus, PeerStatus)> {
        self.all()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Status(a, old, new) if a == addr => Some((old, new)),
                _ => None,
            })
            .collect()
    }
}

/// A resolver that answers from a table and counts the questions.
#[derive(Default)]
pub struct FakeResolver {
    pub answers: HashMap<String, Vec<IpAddr>>,
    pub asked: Mutex<Vec<String>>,
}

impl Resolver for FakeResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        self.asked.lock().unwrap().push(host.to_owned());
        let answer = self.answers.get(host).cloned();
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}
