#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust workspace (unit,
# integration, doc tests), the C tests under AddressSanitizer and valgrind, and the Go
# module's tests. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# What the run needs besides Rust, checked first so that a fresh machine hears exactly what
# to install (.ci/run installs these on Debian, then runs this script).
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need cc gcc
need g++ g++
need clang++ clang
need make make
need valgrind valgrind
need pkg-config pkg-config
need readelf binutils
need nm binutils
need microsocks microsocks
if [ -f bindings/go/go.mod ]; then need go golang-go; fi
# Publishing several packages in one `cargo publish` (the dry run below) came with cargo 1.90.
cargo_minor=$(cargo --version | sed -n 's/^cargo 1\.\([0-9][0-9]*\).*/\1/p')
if [ -z "$cargo_minor" ] || [ "$cargo_minor" -lt 90 ]; then
  echo "error: this test run needs cargo 1.90 or later (found: $(cargo --version 2>&1))." >&2
  echo "       Install or update Rust with rustup: rustup update stable" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "error: this test run needs commands that are not installed." >&2
  echo "       On Debian/Ubuntu: sudo apt-get install $pkgs" >&2
  echo "       (or run 'bash .ci/run' as root: it installs them, then runs this script)" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings (broken or private links in the API docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo publish --dry-run (the library crates package and build on their own)"
# Cargo treats a registry crate of a given name and version as immutable: the dry run's
# local registry unpacks our crates into cargo's registry cache and builds them once, and a
# later run would reuse both even though the sources changed. So the check gets its own
# target directory, and this project's crates (and only they) are cleared from the registry
# cache and from that directory's build state before each run.
publish_target=${CARGO_TARGET_DIR:-target}/publish-check
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/btcclient-{wire,manager,simnet}-[0-9]*
rm -rf "$publish_target"/debug/.fingerprint/btcclient-* "$publish_target"/debug/deps/*btcclient_*
CARGO_TARGET_DIR=$publish_target \
  cargo publish --dry-run --locked --allow-dirty -p btcclient-wire -p btcclient-manager -p btcclient-simnet

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
