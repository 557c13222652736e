//! `btcclient`: the command-line face of btcclient.
//!
//! - `btcclient` (or `btcclient demo`): a simulated network on 127.0.0.1 and a client that
//!   discovers its nodes, syncs their headers and survives their faults, shown live.
//! - `btcclient connect --network NET HOST:PORT...`: the same against real nodes, syncing
//!   headers from the network's genesis block.
//!
//! `--json` prints one JSON object per line instead. See `btcclient --help`.

mod chain;
mod cli;
mod demo;
mod output;
mod session;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitcoin::blockdata::constants::genesis_block;
use btcclient_manager::{BtcClient, Network};
use clap::Parser;
use tokio::sync::mpsc;

use crate::cli::{Cli, Command, ConnectArgs, DemoArgs};
use crate::output::{Event, Output};
use crate::session::{NoFlapper, Plan, Session};

/// Why a run could not go ahead.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments or configuration (exit status 2).
    Usage(String),
    /// Something failed at run time (exit status 1).
    Run(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Demo(DemoArgs::default()));
    let verbose = match &command {
        Command::Demo(a) => a.run.verbose,
        Command::Connect(a) => a.run.verbose,
    };
    init_tracing(verbose);
    let start = Instant::now();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Demo(args) => demo::run(args, start).await,
            Command::Connect(args) => connect(*args, start).await,
        }
    });
    // Nothing of ours is left running; do not wait for stray blocking tasks.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            eprintln!("\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "btcclient_manager={level},btcclient_wire={level}"
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `btcclient connect`.
async fn connect(args: ConnectArgs, start: Instant) -> Result<bool, Failure> {
    let network = args.network.0;
    let Some(btc_network) = network.bitcoin_network() else {
        return Err(Failure::Usage(format!(
            "network {network:?} has no genesis block to sync from"
        )));
    };
    let peers: Vec<String> = args
        .peers
        .iter()
        .map(|p| cli::with_default_port(p, network.default_port()))
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    // The address book's file: DATA_DIR/NETWORK/addrbook.dat.
    let book_path = if args.no_data_dir {
        None
    } else {
        args.data_dir
            .clone()
            .or_else(cli::default_data_dir)
            .map(|dir| dir.join(network_name(network)).join("addrbook.dat"))
    };
    if let Some(dir) = book_path.as_ref().and_then(|p| p.parent()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::Run(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let config = args
        .config
        .apply(network)
        .address_book_path(book_path.clone())
        .listeners(session::listeners(tx))
        .build()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Check every address before anything starts, so that a typo is a usage error.
    for p in &peers {
        check_address(p, &config)?;
    }
    let seeds = config.dns_seed_list();
    let first_connect_timeout =
        config.connection_timeout + config.handshake_timeout + Duration::from_secs(1);
    let max_peers = config.max_peers;
    let client = BtcClient::new(config).map_err(|e| Failure::Run(e.to_string()))?;
    let out = Output::new(args.run.json, start);
    if let Some(path) = &args.import_peers_dat {
        let imported = client
            .import_peers_dat(path)
            .map_err(|e| Failure::Run(format!("importing {}: {e}", path.display())))?;
        out.emit(&Event::Imported {
            path: path.display().to_string(),
            new: imported.added_new,
            tried: imported.added_tried,
        });
    }
    client.start().map_err(|e| Failure::Run(e.to_string()))?;
    let book = client.address_book();
    out.emit(&Event::AddressBook {
        path: book_path.map(|p| p.display().to_string()),
        new: book.new,
        tried: book.tried,
    });

    let plan = Plan {
        duration: (!args.run.duration.is_zero()).then_some(args.run.duration),
        exit_when_synced: args.exit_when_synced,
        sync_timeout: args.sync_timeout.max(Duration::from_millis(100)),
        target_height: 0,
        genesis: genesis_block(btc_network).header,
        max_target: Some(bitcoin::consensus::Params::new(btc_network).max_attainable_target),
        first_connect_timeout,
        bootstrap: peers.is_empty().then_some(seeds),
    };
    let session = Session::new(client, out, plan, tokio::time::Instant::from_std(start));
    session.emit(Event::Start {
        mode: "connect",
        network: network_name(network).into(),
        peers: peers.clone(),
        max_peers,
    });
    let summary = session.run(&peers, rx, None::<NoFlapper>).await;
    Ok(summary.ok)
}

/// Refuses an address the client of `config` would refuse, with the client's own words.
fn check_address(addr: &str, config: &btcclient_manager::Config) -> Result<(), Failure> {
    // A stopped client is enough to parse: add_peer checks the address before the state
    // (and whether an onion address has a proxy to go through).
    let probe = BtcClient::with_runtime(
        btcclient_manager::Config {
            proxy: config.proxy.clone(),
            onion_proxy: config.onion_proxy.clone(),
            ..btcclient_manager::Config::default()
        },
        tokio::runtime::Handle::current(),
    )
    .map_err(|e| Failure::Run(e.to_string()))?;
    match probe.add_peer(addr) {
        Err(e @ btcclient_manager::Error::InvalidAddress { .. }) => {
            Err(Failure::Usage(e.to_string()))
        }
        _ => Ok(()),
    }
}

fn network_name(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "mainnet",
        Network::Testnet3 => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        _ => "custom",
    }
}
