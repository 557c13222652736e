//! Syncs the header chain of a simulated node, checking that each header links to the one
//! before it and meets its own proof-of-work target.
//!
//! ```sh
//! cargo run -p btcclient-manager --example sync_headers
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use btcclient_manager::bitcoin::block::Header;
use btcclient_manager::bitcoin::blockdata::constants::genesis_block;
use btcclient_manager::bitcoin::hashes::Hash;
use btcclient_manager::bitcoin::p2p::message::NetworkMessage;
use btcclient_manager::bitcoin::p2p::message_blockdata::GetHeadersMessage;
use btcclient_manager::bitcoin::BlockHash;
use btcclient_manager::{BtcClient, Config, Listeners, ManagedPeer, Network};
use btcclient_simnet::Simnet;

/// Our best chain: the hashes of every header we accepted, genesis first.
struct Chain {
    hashes: Vec<BlockHash>,
}

fn getheaders(tip: BlockHash) -> NetworkMessage {
    NetworkMessage::GetHeaders(GetHeadersMessage::new(vec![tip], BlockHash::all_zeros()))
}

fn on_headers(chain: &Mutex<Chain>, peer: &ManagedPeer, headers: &[Header]) {
    let mut chain = chain.lock().expect("chain lock");
    for header in headers {
        let tip = *chain.hashes.last().expect("genesis");
        if header.prev_blockhash != tip {
            eprintln!(
                "{}: header does not link to our tip; ignoring the rest",
                peer.addr()
            );
            return;
        }
        if header.validate_pow(header.target()).is_err() {
            eprintln!("{}: header fails its proof of work", peer.addr());
            return;
        }
        chain.hashes.push(header.block_hash());
    }
    println!(
        "{}: +{} headers, height {}",
        peer.addr(),
        headers.len(),
        chain.hashes.len() - 1
    );
    if headers.len() == btcclient_manager::wire::MAX_HEADERS_ENTRIES {
        let tip = *chain.hashes.last().expect("genesis");
        let _ = peer.send(&getheaders(tip));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let net = Simnet::builder()
        .nodes(1)
        .chain_length(10_000)
        .build()
        .await?;
    let genesis = genesis_block(btcclient_manager::bitcoin::Network::Regtest).block_hash();
    let chain = Arc::new(Mutex::new(Chain {
        hashes: vec![genesis],
    }));

    let (c1, c2) = (chain.clone(), chain.clone());
    let listeners = Listeners::new()
        .on_peer_connected(move |peer| {
            let tip = *c1
                .lock()
                .expect("chain lock")
                .hashes
                .last()
                .expect("genesis");
            println!(
                "{} connected: {:?}",
                peer.addr(),
                peer.info().map(|i| i.user_agent)
            );
            let _ = peer.send(&getheaders(tip));
        })
        .on_headers(move |peer, headers| on_headers(&c2, peer, headers));
    let config = Config::builder()
        .network(Network::Regtest)
        .allow_local_addresses(true)
        .listeners(listeners)
        .build()?;
    let client = BtcClient::new(config)?;
    client.start()?;
    let started = Instant::now();
    client.add_peer(&net.addrs()[0].to_string())?;

    let target = net.chain().height() as usize;
    while chain.lock().expect("chain lock").hashes.len() - 1 < target {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("sync did not finish within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("synced {target} headers in {:?}", started.elapsed());
    client.stop(Duration::from_secs(5)).await?;
    net.shutdown().await;
    Ok(())
}
