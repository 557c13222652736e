//! `simnet`: runs simulated Bitcoin nodes on 127.0.0.1 until killed or until stdin closes.
//!
//! Prints each node's address (`127.0.0.1:PORT`) on its own line, then flushes stdout.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use btcclient_simnet::Simnet;
use tokio::io::AsyncReadExt;

const USAGE: &str = "\
usage: simnet [--nodes N] [--chain-length N] [--getaddr-delay-ms N]

Starts N simulated Bitcoin Core 29 nodes (regtest magic) on 127.0.0.1, prints each address
on its own line, and runs until SIGTERM/SIGINT or until standard input closes.

  --nodes N             number of nodes (default 1)
  --chain-length N      blocks after genesis (default 100)
  --getaddr-delay-ms N  delay before answering getaddr, in ms (default 200)
  -h, --help            this text";

#[derive(Debug)]
struct Options {
    nodes: usize,
    chain_length: u32,
    getaddr_delay_ms: u64,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        nodes: 1,
        chain_length: 100,
        getaddr_delay_ms: 200,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !matches!(flag, "--nodes" | "--chain-length" | "--getaddr-delay-ms") {
            return Err(format!("unknown argument `{arg}`"));
        }
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) => v,
            None => return Err(format!("`{flag}` needs a value")),
        };
        let bad = |_| format!("`{flag}` needs a non-negative integer, got `{value}`");
        match flag {
            "--nodes" => options.nodes = value.parse().map_err(bad)?,
            "--chain-length" => options.chain_length = value.parse().map_err(bad)?,
            _ => options.getaddr_delay_ms = value.parse().map_err(bad)?,
        }
    }
    Ok(Some(options))
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("simnet: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse(&args(&[
            "--nodes",
            "3",
            "--chain-length=7",
            "--getaddr-delay-ms",
            "0",
        ]))
        .expect("valid")
        .expect("not help");
        assert_eq!((o.nodes, o.chain_length, o.getaddr_delay_ms), (3, 7, 0));
        assert!(parse(&args(&["--help"])).expect("valid").is_none());
        assert!(parse(&args(&["--nodes"])).is_err());
        assert!(parse(&args(&["--nodes", "-1"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }
}
