#!/usr/bin/env bash
# Generates include/btcclient.h from crates/ffi with the pinned cbindgen.
#
#   scripts/ffi-header.sh            rewrite include/btcclient.h
#   scripts/ffi-header.sh --verify   fail (exit 1, with a diff) when the committed header
#                                    differs from what the sources generate
#
# The generator is pinned: cbindgen 0.29.4 (also noted in crates/ffi/cbindgen.toml). When it
# is missing or another version, it is installed with `cargo install --locked` unless
# BTCCLIENT_NO_INSTALL=1.
set -euo pipefail

CBINDGEN_VERSION=0.29.4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mode=write
case "${1:-}" in
  --verify) mode=verify ;;
  "") ;;
  *) echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac

cbindgen_bin=${CBINDGEN:-cbindgen}
have=$("$cbindgen_bin" --version 2>/dev/null || true)
if [ "$have" != "cbindgen $CBINDGEN_VERSION" ]; then
  if [ "${BTCCLIENT_NO_INSTALL:-0}" = 1 ]; then
    echo "error: cbindgen $CBINDGEN_VERSION is required (found: ${have:-none})" >&2
    exit 1
  fi
  echo "installing cbindgen $CBINDGEN_VERSION (found: ${have:-none})" >&2
  cargo install cbindgen --locked --version "$CBINDGEN_VERSION" >&2
  cbindgen_bin="$(cargo_home=${CARGO_HOME:-$HOME/.cargo}; echo "$cargo_home/bin/cbindgen")"
fi

tmp=$(mktemp "${TMPDIR:-/tmp}/btcclient.h.XXXXXX")
trap 'rm -f "$tmp"' EXIT
"$cbindgen_bin" --quiet --config crates/ffi/cbindgen.toml --crate btcclient-ffi \
  --output "$tmp" crates/ffi

if [ "$mode" = verify ]; then
  if ! diff -u include/btcclient.h "$tmp"; then
    echo "error: include/btcclient.h differs from the header generated from crates/ffi;" >&2
    echo "       run scripts/ffi-header.sh and commit the result" >&2
    exit 1
  fi
  echo "include/btcclient.h is up to date (cbindgen $CBINDGEN_VERSION)"
else
  mkdir -p include
  cp "$tmp" include/btcclient.h
  echo "wrote include/btcclient.h (cbindgen $CBINDGEN_VERSION)"
fi
