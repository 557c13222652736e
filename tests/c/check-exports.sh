#!/usr/bin/env bash
# Checks libbtcclient.so as a C program meets it:
#   - its dynamic symbol table defines btcclient_* functions and nothing else;
#   - every function the header declares is exported;
#   - its SONAME is libbtcclient.so.<BTCCLIENT_ABI_VERSION>, and a program linked with
#     -lbtcclient records that name and runs with the library found under it.
# Usage: check-exports.sh LIB.so HEADER BUILD_DIR
set -euo pipefail
lib=$1 header=$2 build=$3
fail=0 passed=0
ok() { passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
others=$(grep -v '^btcclient_' <<<"$exported" || true)
if [ -z "$others" ]; then ok; else bad "exports besides btcclient_*:"$'\n'"$others"; fi

declared=$(sed -n 's/^[a-z0-9_ *]*[ *]\(btcclient_[a-z0-9_]*\)(.*/\1/p' "$header" | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$declared" ] && [ -z "$missing" ]; then ok; else bad "declared but not exported: $missing"; fi
echo "exports: $(wc -l <<<"$exported") symbols, all btcclient_*; $(wc -l <<<"$declared") declared in the header"

abi=$(sed -n 's/^#define BTCCLIENT_ABI_VERSION \([0-9]*\)$/\1/p' "$header")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -n "$abi" ] && [ "$soname" = "libbtcclient.so.$abi" ]; then ok; else bad "SONAME '$soname', expected libbtcclient.so.$abi"; fi

# A program linked the usual way (-lbtcclient) needs the SONAME at run time: install-like
# directory with the versioned file and the development symlink.
dir="$build/shared-lib"
rm -rf "$dir" && mkdir -p "$dir"
cp "$lib" "$dir/$soname"
ln -s "$soname" "$dir/libbtcclient.so"
printf '#include <stdio.h>\n#include "btcclient.h"\nint main(void) { printf("%%s\\n", btcclient_version()); return btcclient_status_str(0)[0] ? 0 : 1; }\n' >"$build/soname.c"
${CC:-cc} -std=c99 -I"$(dirname "$header")" "$build/soname.c" -L"$dir" -lbtcclient -Wl,-rpath,"$dir" -o "$build/soname"
needed=$(readelf -d "$build/soname" | sed -n 's/.*(NEEDED).*\[\(libbtcclient[^]]*\)\].*/\1/p')
if [ "$needed" = "$soname" ]; then ok; else bad "program needs '$needed', expected $soname"; fi
if "$build/soname" >/dev/null; then ok; else bad "program linked against the shared library does not run"; fi
rm "$dir/libbtcclient.so"
if "$build/soname" >/dev/null; then ok; else bad "program does not run with only $soname present"; fi

echo "exports: $passed passed, $fail failed"
[ "$fail" -eq 0 ]
