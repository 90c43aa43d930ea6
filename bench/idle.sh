#!/usr/bin/env bash
# What idle files cost a running logcatch: CPU share of one core while it tails N unchanged
# files (default 5,000), against the same daemon tailing one file, in the same run.
# Usage: bench/idle.sh [LOGCATCH...]   (default: this checkout's release build; give several
# binaries, e.g. an older build, to compare them in one run.)
# Environment: IDLE_FILES=5000, IDLE_SECONDS=10 (measured after a 5 s settle), IDLE_REPS=2.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${IDLE_FILES:-5000}
SECONDS_MEASURED=${IDLE_SECONDS:-10}
REPS=${IDLE_REPS:-2}
if [[ $# -eq 0 ]]; then
    cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
    set -- "$ROOT/target/release/logcatch"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-idle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/many" "$WORK/one"
for ((i = 0; i < FILES; i++)); do echo "file $i" > "$WORK/many/f$i.log"; done
echo "file 0" > "$WORK/one/f0.log"
for dir in many one; do
    cat > "$WORK/$dir.yaml" <<YAML
data_dir: ./data-$dir
pipelines:
  p:
    sources: [{ type: file, include: ["$dir/*.log"] }]
    sinks: [{ type: file, path: out-$dir.log }]
YAML
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks (1/100 s) the daemon uses over the measured seconds, after settling.
measure() {
    local bin=$1 dir=$2
    rm -rf "$WORK/data-$dir" "$WORK/out-$dir.log"
    (cd "$WORK" && exec "$bin" run -c "$dir.yaml" 2>/dev/null) &
    local pid=$!
    sleep 5
    local a b
    a=$(ticks "$pid")
    sleep "$SECONDS_MEASURED"
    b=$(ticks "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo $((b - a))
}
printf '%-50s %10s %10s %8s\n' "binary" "1 file" "$FILES files" "ratio"
for bin in "$@"; do
    bin=$(realpath "$bin")
    for ((r = 0; r < REPS; r++)); do
        one=$(measure "$bin" one)
        many=$(measure "$bin" many)
        share() { echo "scale=1; $1 / $SECONDS_MEASURED" | bc; }
        printf '%-50s %9s%% %9s%% %7sx\n' "$bin" "$(share "$one")" "$(share "$many")" \
            "$(echo "scale=1; $many / ($one + 1)" | bc)"
    done
done
echo "(% of one core; ratio = $FILES files against 1, +1 tick to avoid dividing by 0)"
