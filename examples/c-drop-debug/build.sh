#!/usr/bin/env bash
# Builds the C drop_debug filter into target/guests/c/drop_debug_c.wasm (under the repository
# root), from this directory's sources and the SDK in sdk/c, against wit/logcatch.wit, with
# clang -O2 -msimd128 -flto (sdk/c/build-component). Installs the pinned toolchain first if
# missing (sdk/c/install-tools). Skips the build when neither the sources, the SDK, the
# contract nor the toolchain changed. Works from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out_dir="$repo/target/guests/c"
out="$out_dir/drop_debug_c.wasm"

"$repo/sdk/c/install-tools"
export LOGCATCH_C_TOOLS="$repo/target/c-tools"

# What the component is made of: the filter, the SDK, the contract and the toolchain.
stamp="$( (
    cd "$repo"
    clang-14 --version | head -n1
    wasm-ld-14 --version
    "$LOGCATCH_C_TOOLS/bin/wasm-component-ld" --version
    dpkg-query -W -f='${Version}\n' wasi-libc
    sha256sum examples/c-drop-debug/{drop_debug,levels,scan}.[ch] \
        sdk/c/logcatch.h sdk/c/src/* sdk/c/gen/* sdk/c/build-component wit/*.wit
) | sha256sum | cut -d' ' -f1)"
if [[ -f "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$stamp" ]]; then
    exit 0
fi

echo "build-guests: building examples/c-drop-debug (clang, wasm-component-ld)" >&2
mkdir -p "$out_dir"
tmp="$(mktemp "$out_dir/.drop_debug_c.XXXXXX.wasm")"
trap 'rm -f "$tmp"' EXIT
"$repo/sdk/c/build-component" --wit "$repo/wit/logcatch.wit" -o "$tmp" \
    "$here/drop_debug.c" "$here/levels.c" "$here/scan.c" -- -I "$here"
chmod 644 "$tmp"
mv "$tmp" "$out"
echo "$stamp" >"$out.stamp"
