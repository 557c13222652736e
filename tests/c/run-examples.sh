#!/usr/bin/env bash
# Runs the built examples (headers, sync in both modes) against a simnet node and checks
# that each synced the whole chain. Usage: run-examples.sh BUILD_DIR (BTCCLIENT_SIMNET set).
set -euo pipefail
dir=$1
chain=2500
coproc SIM { exec "$BTCCLIENT_SIMNET" --nodes 1 --chain-length "$chain"; }
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT
read -r addr <&"${SIM[0]}"
for cmd in "headers $addr regtest -t 30" "sync $addr regtest -t 30" "sync $addr regtest --poll -t 30"; do
  echo "== examples: $cmd"
  out=$("$dir"/$cmd)
  echo "$out" | tail -n 2
  grep -q "synced: $chain headers" <<<"$out" || { echo "FAIL: $cmd did not sync $chain headers"; exit 1; }
done
echo "examples: 3 passed, 0 failed"
