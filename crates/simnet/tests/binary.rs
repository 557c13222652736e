//! The `simnet` command prints its nodes' addresses and stops when stdin closes.

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn prints_addresses_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(["--nodes", "2", "--chain-length", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn simnet");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let line = tokio::time::timeout(common::WAIT, lines.next_line())
            .await
            .expect("in time")
            .expect("read")
            .expect("a line");
        let addr: std::net::SocketAddr = line.parse().expect("an address");
        assert!(addr.ip().is_loopback());
        addrs.push(addr);
    }
    let mut client = common::Client::connect(addrs[1]).await;
    let got = client.handshake(false).await;
    assert_eq!(got.first().map(String::as_str), Some("version"));

    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert!(status.success());
}

#[test]
fn bad_flag_exits_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simnet"))
        .arg("--nodes=x")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes"));
}
