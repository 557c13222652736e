//! The benchmark commands refuse arguments they cannot use (exit status 2, the argument
//! named) instead of running with a default.

use std::process::Command;

fn refused(bin: &str, args: &[&str], named: &str) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("the benchmark binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {stderr}");
    assert!(
        stderr.contains(named),
        "{bin} {args:?} does not name {named}: {stderr}"
    );
}

#[test]
fn bad_numbers_and_unknown_flags_are_refused() {
    let scale = env!("CARGO_BIN_EXE_scale");
    refused(scale, &["--peers", "abc"], "--peers");
    refused(scale, &["--runs", "0.5"], "--runs");
    refused(scale, &["--transport", "v3"], "--transport");
    refused(scale, &["--no-such-flag"], "--no-such-flag");
    let throughput = env!("CARGO_BIN_EXE_throughput");
    refused(throughput, &["--blocks", "many"], "--blocks");
    refused(throughput, &["--only", "nothing"], "nothing");
    let soak = env!("CARGO_BIN_EXE_soak");
    refused(soak, &["ten"], "CYCLES");
}
