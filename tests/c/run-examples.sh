#!/usr/bin/env bash
# Runs the built examples (headers, sync in both modes) against a simnet node and checks
# that each synced the whole chain. Usage: run-examples.sh BUILD_DIR (BTCCLIENT_SIMNET set).
set -euo pipefail
dir=$1
chain=2500
coproc SIM { exec "$BTCCLIENT_SIMNET" --nodes 1 --chain-length "$chain"; }
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT
read -r addr <&"${SIM[0]}"
run() {
  echo "== examples: $*"
  out=$("$dir"/"$@")
  echo "$out" | tail -n 2
  grep -q "synced: $chain headers" <<<"$out" || { echo "FAIL: $* did not sync $chain headers"; exit 1; }
}
# The README's minimal program is examples-c/minimal.c, word for word.
readme=$(dirname "$0")/../../crates/ffi/README.md
minimal=$(dirname "$0")/../../examples-c/minimal.c
if ! diff <(sed -n '/^## Minimal program/,/^## /p' "$readme" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d') "$minimal"; then
  echo "FAIL: the minimal program in crates/ffi/README.md differs from examples-c/minimal.c"; exit 1
fi
echo "== examples: minimal $addr"
"$dir"/minimal "$addr" | tail -n 1 | grep -q "headers from $addr" || { echo "FAIL: minimal"; exit 1; }
run headers "$addr" regtest -t 30
# Pointed at a node of another network, headers says why it cannot connect: the v2 handshake
# (simnet answers v2, as Bitcoin Core) shows the node's keys are another network's.
echo "== examples: headers $addr mainnet -t 2 (wrong network)"
if err=$("$dir"/headers "$addr" mainnet -t 2 2>&1 >/dev/null); then
  echo "FAIL: headers against a node of another network succeeded"; exit 1
fi
grep -q "attempt failed (1 in a row): wrong network: v2 peer is on another network: expected magic \[f9, be, b4, d9\], its handshake uses \[fa, bf, b5, da\]; retrying in" <<<"$err" || { echo "FAIL: headers did not say why: $err"; exit 1; }
run sync "$addr" regtest -t 30
run sync "$addr" regtest --poll -t 30
# Linked through pkg-config: shared (found through its SONAME in the staged lib directory),
# then static with the shared library moved away.
run headers-pkgconfig "$addr" regtest -t 30
so=("$dir"/lib/libbtcclient.so.*)
mv "${so[0]}" "${so[0]}.away"
trap 'mv "${so[0]}.away" "${so[0]}" 2>/dev/null || true; kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT
if "$dir"/headers-pkgconfig --help >/dev/null 2>&1; then
  echo "FAIL: the shared build still runs without its library (the test proves nothing)"; exit 1
fi
run headers-pkgconfig-static "$addr" regtest -t 30
echo "examples: 8 passed, 0 failed"
