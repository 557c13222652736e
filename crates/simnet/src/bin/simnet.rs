//! `simnet`: runs simulated Bitcoin nodes on 127.0.0.1 until killed or until stdin closes.
//!
//! Prints each node's address (`127.0.0.1:PORT`) on its own line, then flushes stdout.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use btcclient_simnet::Simnet;
use clap::Parser;
use tokio::io::AsyncReadExt;

/// Starts simulated Bitcoin Core 29 nodes (regtest magic) on 127.0.0.1, prints each address
/// on its own line, and runs until SIGTERM/SIGINT or until standard input closes.
#[derive(Debug, Parser)]
#[command(name = "simnet")]
struct Options {
    /// Number of nodes.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Blocks after genesis.
    #[arg(long, default_value_t = 100)]
    chain_length: u32,
    /// Delay before answering getaddr, in ms.
    #[arg(long, default_value_t = 200)]
    getaddr_delay_ms: u64,
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
    // Help exits 0; a bad argument exits 2 with a message naming it.
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
            .nodes(options.nodes)
            .chain_length(options.chain_length)
            .getaddr_delay(Duration::from_millis(options.getaddr_delay_ms))
            .build()
            .await
        {
            Ok(simnet) => simnet,
            Err(e) => {
                eprintln!("simnet: cannot start the nodes: {e}");
                return ExitCode::FAILURE;
            }
        };
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

    #[test]
    fn parses_flags() {
        let o = Options::try_parse_from([
            "simnet",
            "--nodes",
            "3",
            "--chain-length=7",
            "--getaddr-delay-ms",
            "0",
        ])
        .expect("valid");
        assert_eq!((o.nodes, o.chain_length, o.getaddr_delay_ms), (3, 7, 0));
        let help = Options::try_parse_from(["simnet", "--help"]).expect_err("help");
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        for bad in [
            &["simnet", "--nodes"][..],
            &["simnet", "--nodes", "-1"],
            &["simnet", "--nodes", "abc"],
            &["simnet", "--bogus"],
        ] {
            assert!(Options::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
