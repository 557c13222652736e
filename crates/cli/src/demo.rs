//! `btcclient demo`: a simulated network on 127.0.0.1 with a flapping node and a node that
//! sends garbage, and a client pointed at its first node.

use std::time::Duration;

use btcclient_manager::{Backoff, BtcClient, Config, Network};
use btcclient_simnet::{AddrAdvertise, Fault, SimNode, Simnet};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::DemoArgs;
use crate::output::{Event, Output};
use crate::session::{self, Flapper, Plan, Session};
use crate::Failure;

/// When the flapping node first goes down.
const FIRST_FLAP: Duration = Duration::from_secs(3);

/// Takes a node down and brings it back, every `every`.
struct NodeFlapper {
    node: SimNode,
    name: String,
    down: bool,
    next: Instant,
    every: Duration,
}

impl Flapper for NodeFlapper {
    fn next_change(&self) -> Instant {
        self.next
    }

    async fn change(&mut self) -> Event {
        self.next = Instant::now() + self.every;
        if self.down {
            self.down = false;
            match self.node.come_up().await {
                Ok(()) => Event::Fault {
                    node: self.name.clone(),
                    what: "came back up".into(),
                },
                Err(e) => Event::Error {
                    peer: Some(self.name.clone()),
                    message: format!("simulated node could not come back up: {e}"),
                },
            }
        } else {
            self.down = true;
            self.node.go_down();
            Event::Fault {
                node: self.name.clone(),
                what: "went down".into(),
            }
        }
    }
}

/// Runs the demo; the summary's `ok` tells the exit status.
pub async fn run(args: DemoArgs, start: std::time::Instant) -> Result<bool, Failure> {
    let nodes = usize::from(args.nodes);
    let simnet = Simnet::builder()
        .nodes(nodes)
        .chain_length(args.chain_length)
        .network(bitcoin::Network::Regtest)
        .getaddr_delay(Duration::from_millis(200))
        .advertise(AddrAdvertise::OtherNodes)
        // A real node knows thousands of addresses and answers getaddr with 23 % of them; a
        // demo node knows only the other demo nodes, so it tells all of them.
        .getaddr_percent(100)
        .ping_interval(None)
        .build()
        .await
        .map_err(|e| Failure::Run(format!("cannot start the simulated network: {e}")))?;
    let addrs = simnet.addrs();
    let first = addrs
        .first()
        .map(|a| a.to_string())
        .ok_or_else(|| Failure::Run("the simulated network has no node".into()))?;

    // The last node flaps; the one before it sends garbage after each handshake.
    let flapping = (nodes >= 2).then(|| simnet.node(nodes - 1).clone());
    let garbage = (nodes >= 3).then(|| simnet.node(nodes - 2).clone());

    let max_peers = args.max_peers.unwrap_or(nodes);
    let (tx, rx) = mpsc::unbounded_channel();
    let config = Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .max_peers(max_peers)
        .reconnect_delay(Duration::from_secs(1))
        .backoff(Backoff::Fixed)
        .connection_timeout(Duration::from_secs(2))
        .handshake_timeout(Duration::from_secs(3))
        .health_check_interval(Duration::from_secs(1))
        .max_failure_count(5)
        .ping_interval(Duration::from_secs(5))
        .pong_timeout(Duration::from_secs(10))
        .listeners(session::listeners(tx))
        .build()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let client = BtcClient::new(config).map_err(|e| Failure::Run(e.to_string()))?;
    client.start().map_err(|e| Failure::Run(e.to_string()))?;

    let out = Output::new(args.run.json, start);
    let chain = simnet.chain();
    let plan = Plan {
        duration: (!args.run.duration.is_zero()).then_some(args.run.duration),
        exit_when_synced: false,
        sync_timeout: Duration::from_secs(5),
        target_height: chain.height(),
        genesis: chain.headers()[0],
        max_target: Some(
            bitcoin::consensus::Params::new(bitcoin::Network::Regtest).max_attainable_target,
        ),
        first_connect_timeout: Duration::from_secs(6),
        bootstrap: None,
    };
    let tip = chain.tip().to_string();
    let session = Session::new(client, out, plan, Instant::from_std(start));
    session.emit(Event::Start {
        mode: "demo",
        network: "regtest".into(),
        peers: vec![first.clone()],
        max_peers,
    });
    session.emit(Event::Simnet {
        nodes,
        height: chain.height(),
        tip,
        flapping: flapping.as_ref().map(|n| n.addr().to_string()),
        garbage: garbage.as_ref().map(|n| n.addr().to_string()),
    });
    if let Some(node) = &garbage {
        node.set_fault(Some(Fault::SendGarbage));
        session.emit(Event::Fault {
            node: node.addr().to_string(),
            what: "sends garbage after every handshake".into(),
        });
    }
    let flapper = flapping.map(|node| NodeFlapper {
        name: node.addr().to_string(),
        node,
        down: false,
        next: Instant::now() + FIRST_FLAP,
        every: args.flap_every.max(Duration::from_millis(100)),
    });
    let summary = session.run(&[first], rx, flapper).await;
    simnet.shutdown().await;
    Ok(summary.ok)
}
