#!/usr/bin/env bash
# Builds the Python redact filter into target/guests/python/redact_py.wasm (under the
# repository root), from this directory's redact.py and the SDK in sdk/python, against
# wit/. Installs the pinned toolchain first if missing (sdk/python/install-tools). Skips the
# build when neither the sources, the WIT nor the toolchain changed. Works from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out_dir="$repo/target/guests/python"
out="$out_dir/redact_py.wasm"

"$repo/sdk/python/install-tools"
cpy="$repo/target/python-tools/bin/componentize-py"

# What the component is made of: the app, the SDK, the contract and the toolchain.
stamp="$( (
    cd "$repo"
    "$cpy" --version
    sha256sum examples/python-redact/redact.py sdk/python/logcatch_plugin/*.py wit/*.wit
) | sha256sum | cut -d' ' -f1)"
if [[ -f "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$stamp" ]]; then
    exit 0
fi

mkdir -p "$out_dir"
tmp="$(mktemp -d "$out_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# The component's module path holds only the app and the SDK (copies): not the tests or
# caches beside them.
mkdir -p "$tmp/app"
cp "$here/redact.py" "$tmp/app/"
cp -r "$repo/sdk/python/logcatch_plugin" "$tmp/app/"
rm -rf "$tmp/app/logcatch_plugin/__pycache__"
echo "build-guests: building examples/python-redact (componentize-py)" >&2
(cd "$tmp" && "$cpy" -q -d "$repo/wit" -w filter-plugin componentize redact -p app -o "$tmp/redact_py.wasm")
mv "$tmp/redact_py.wasm" "$out"
echo "$stamp" >"$out.stamp"
