//! `simnet`: runs simulated Bitcoin nodes on 127.0.0.1 until killed or until stdin closes.
//!
//! Prints each node's address (`127.0.0.1:PORT`) on its own line, then flushes stdout.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use btcclient_simnet::{Fault, Simnet};
use clap::Parser;
use tokio::io::AsyncReadExt;

/// Starts simulated Bitcoin Core 29 nodes (regtest magic) on 127.0.0.1, prints each address on
/// its own line, and runs until SIGTERM/SIGINT or until standard input closes.
#[derive(Debug, Parser)]
#[command(name = "simnet", version)]
struct Options {
    /// Number of nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    nodes: u16,
    /// Blocks after genesis.
    #[arg(long, default_value_t = 100)]
    chain_length: u32,
    /// Delay before answering getaddr, in milliseconds.
    #[arg(long, default_value_t = 200)]
    getaddr_delay_ms: u64,
    /// The share of its known addresses a node answers getaddr with, in percent (Bitcoin
    /// Core: 23; with a few nodes that know only each other, 23 % is nothing).
    #[arg(long, default_value_t = 23, value_parser = clap::value_parser!(u8).range(1..=100))]
    getaddr_percent: u8,
    /// Fault on every node: close each connection after sending this many messages
    /// (`version`, `wtxidrelay`, `sendaddrv2`, `verack`, then Core's greeting); 4 closes
    /// right after the handshake.
    #[arg(long, value_name = "N")]
    disconnect_after: Option<usize>,
    /// Fault on every node: after the handshake stop reading, and this many milliseconds
    /// later close the connection with the client's bytes unread (the client's socket is
    /// reset under its writes).
    #[arg(long, value_name = "MS", conflicts_with = "disconnect_after")]
    reset_after_ms: Option<u64>,
    /// Nodes speak only the v1 transport (as Bitcoin Core with `-v2transport=0`): they close a
    /// connection that opens with a BIP324 key, and do not advertise `NODE_P2P_V2`. By
    /// default they answer both, as Core 27+ does.
    #[arg(long)]
    v1_only: bool,
}

async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1024];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminated() {
    let _ = tokio::signal::ctrl_c().await;
}

fn main() -> ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("simnet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let simnet = match Simnet::builder()
            .nodes(usize::from(options.nodes))
            .chain_length(options.chain_length)
            .getaddr_delay(Duration::from_millis(options.getaddr_delay_ms))
            .getaddr_percent(options.getaddr_percent)
            .v2(!options.v1_only)
            .build()
            .await
        {
            Ok(simnet) => simnet,
            Err(e) => {
                eprintln!("simnet: cannot start the nodes: {e}");
                return ExitCode::FAILURE;
            }
        };
        let fault = match (options.disconnect_after, options.reset_after_ms) {
            (Some(n), _) => Some(Fault::DisconnectAfter(n)),
            (None, Some(ms)) => Some(Fault::StopReadingThenReset(Duration::from_millis(ms))),
            (None, None) => None,
        };
        for node in simnet.nodes() {
            node.set_fault(fault.clone());
        }
        let mut stdout = std::io::stdout().lock();
        for addr in simnet.addrs() {
            let _ = writeln!(stdout, "{addr}");
        }
        let _ = stdout.flush();
        drop(stdout);
        tokio::select! {
            _ = stdin_closed() => {}
            _ = terminated() => {}
        }
        simnet.shutdown().await;
        ExitCode::SUCCESS
    });
    // The stdin reader sits in a blocking read: do not wait for it.
    runtime.shutdown_background();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::try_parse_from(std::iter::once("simnet").chain(args.iter().copied()))
    }

    #[test]
    fn parses_flags() {
        let o = parse(&[
            "--nodes",
            "3",
            "--chain-length=7",
            "--getaddr-delay-ms",
            "0",
            "--disconnect-after",
            "4",
        ])
        .expect("valid");
        assert_eq!((o.nodes, o.chain_length, o.getaddr_delay_ms), (3, 7, 0));
        assert_eq!(o.disconnect_after, Some(4));
        let o = parse(&[]).expect("defaults");
        assert_eq!((o.nodes, o.chain_length, o.getaddr_delay_ms), (1, 100, 200));
        assert_eq!(o.disconnect_after, None);
        assert!(!o.v1_only);
        let o = parse(&["--reset-after-ms", "150", "--v1-only"]).expect("valid");
        assert_eq!(o.reset_after_ms, Some(150));
        assert!(o.v1_only);
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            &["--nodes"][..],
            &["--nodes", "-1"],
            &["--nodes", "0"],
            &["--nodes", "abc"],
            &["--chain-length", "1.5"],
            &["--bogus"],
            &["--disconnect-after", "4", "--reset-after-ms", "100"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
