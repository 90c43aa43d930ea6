#!/usr/bin/env bash
# Builds the JavaScript parse-json filter into target/guests/js/parse_json_js.wasm (under the
# repository root) with componentize-js, from parse_json.js and the SDK in sdk/js, against
# wit/. Installs the pinned toolchain first if missing (sdk/js/install-tools). Skips the
# build when neither the sources, the WIT nor the toolchain changed. Works from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out_dir="$repo/target/guests/js"
out="$out_dir/parse_json_js.wasm"

"$repo/sdk/js/install-tools"
componentize="$repo/target/js-tools/node_modules/.bin/componentize-js"

# What the component is made of: the app, the SDK, the contract and the toolchain.
stamp="$( (
    cd "$repo"
    sha256sum examples/js-parse-json/build.sh examples/js-parse-json/parse_json.js sdk/js/src/*.js \
        sdk/js/package-lock.json wit/*.wit
) | sha256sum | cut -d' ' -f1)"
if [[ -f "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$stamp" ]]; then
    exit 0
fi

mkdir -p "$out_dir"
tmp="$(mktemp -d "$out_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# componentize-js sees only the directory it runs in: the app and the SDK go there, at the
# same relative places as in the repository, so the app's imports resolve in both.
mkdir -p "$tmp/examples/js-parse-json" "$tmp/sdk/js"
cp "$here/parse_json.js" "$tmp/examples/js-parse-json/"
cp -r "$repo/sdk/js/src" "$tmp/sdk/js/"
# The entry hands the host's log import to the SDK and re-exports the app's `filter`. The
# import names the contract's version, as the WIT file declares it.
version="$(sed -n 's/^package logcatch:plugin@\(.*\);$/\1/p' "$repo/wit/logcatch.wit")"
cat >"$tmp/entry.js" <<JS
import { log } from 'logcatch:plugin/host@$version';
import { setHostLog } from './sdk/js/src/host.js';
setHostLog(log);
export { filter } from './examples/js-parse-json/parse_json.js';
JS
echo "build-guests: building examples/js-parse-json (componentize-js)" >&2
# logcatch links WASI 0.2 without wasi:http: no fetch, no incoming handler.
(cd "$tmp" && "$componentize" entry.js --wit "$repo/wit" --world-name filter-plugin \
    --disable http fetch-event -o "$tmp/parse_json_js.wasm" >&2)
mv "$tmp/parse_json_js.wasm" "$out"
echo "$stamp" >"$out.stamp"
