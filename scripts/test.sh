#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust workspace (unit,
# integration, doc tests), the C tests under AddressSanitizer and valgrind, and the Go
# module's tests. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings (broken or private links in the API docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo test (Rust: unit, integration, doc)"
cargo test --workspace --locked

if [ -f tests/c/Makefile ]; then
  step "C header drift, C tests under ASan/UBSan and valgrind"
  make -C tests/c check
fi

if [ -f bindings/go/go.mod ]; then
  step "Go module: go test -race"
  make -C bindings/go test PROFILE=debug
fi

step "all tests passed"
