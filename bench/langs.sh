#!/usr/bin/env bash
# The example filters of every guest language on the same 1,000,000-line file, in one run:
# lines/s as ratios to the Rust example of the same filter and to `grep -v DEBUG`, the
# wasmtime compile time of each component, and the memory an instance costs. See
# bench/README.md ("Guest languages"). Progress goes to stderr, the table to stdout.
#
# Environment:
#   BENCH_REPS=3           repetitions of each throughput case (median reported)
#   BENCH_LINES=1000000    lines in the generated files
#   BENCH_KEEP=0           1: keep the temp dir (its path is printed)
set -euo pipefail

REPS=${BENCH_REPS:-3}
LINES=${BENCH_LINES:-1000000}
KEEP=${BENCH_KEEP:-0}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $LINES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINES must be a positive integer"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-langs.XXXXXX")
cleanup() { if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building logcatch (release) and the guests"
cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
LOGCATCH="$ROOT/target/release/logcatch"
"$ROOT/scripts/build-guests" >&2
G="$ROOT/target/guests"

log "generating $LINES lines (text and JSON)"
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$WORK/text.log"
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$WORK/json.log" --format json
cat "$WORK/text.log" "$WORK/json.log" >/dev/null # both from the page cache from now on

# Each case: name, input, filter list (YAML flow), and the case it is compared with.
# Filters run to a blackhole sink, so the figures are the filter's, not the disk's.
CASES=(
    "none|text|[]|"
    "drop_debug.rust|text|[{ wasm: \"$G/wasm32-wasip2/release/drop_debug.wasm\", config: { levels: [DEBUG] } }]|"
    "drop_debug.c|text|[{ wasm: \"$G/c/drop_debug_c.wasm\", config: { levels: [DEBUG] } }]|drop_debug.rust"
    "redact.rust|text|[{ wasm: \"$G/wasm32-wasip2/release/redact.wasm\" }]|"
    "redact.python|text|[{ wasm: \"$G/python/redact_py.wasm\" }]|redact.rust"
    "parse_json.rust|json|[{ wasm: \"$G/wasm32-wasip2/release/parse_json.wasm\" }]|"
    "parse_json.js|json|[{ wasm: \"$G/js/parse_json_js.wasm\" }]|parse_json.rust"
)

# Writes the config of case $1 (input $2, filters $3) into directory $4 with cache dir $5.
write_config() {
    mkdir -p "$4"
    cat >"$4/logcatch.yaml" <<EOF
data_dir: ./data
cache_dir: $5
pipelines:
  bench:
    sources: [{ type: file, include: ["$WORK/$2.log"] }]
    filters: $3
    sinks: [{ type: blackhole }]
EOF
}

RESULTS="$WORK/results.tsv" # kind, case, seconds, peak RSS KiB
: >"$RESULTS"
# Times a command: $1 kind, $2 case, rest the command; peak RSS from GNU time.
timed() {
    local kind=$1 name=$2
    shift 2
    local t0=$EPOCHREALTIME
    # Output to a real file: GNU grep stops at the first match when it sees /dev/null.
    /usr/bin/time -f %M -o "$WORK/rss" "$@" >"$WORK/stdout" 2>"$WORK/stderr" \
        || { cat "$WORK/stderr" >&2; die "$name ($kind) failed"; }
    local t1=$EPOCHREALTIME
    printf '%s\t%s\t%s\t%s\n' "$kind" "$name" "$(python3 -c "print($t1 - $t0)")" \
        "$(tail -n1 "$WORK/rss")" >>"$RESULTS"
}

# Compile time: `validate` compiles the component into an empty cache, then (cached) only
# loads it and runs init; both are timed. The peak RSS of a one-line run is the memory an
# instance costs, once the no-filter run's is taken off.
echo "one line" >"$WORK/one.log"
for c in "${CASES[@]}"; do
    IFS='|' read -r name input filters _ <<<"$c"
    [[ $name == none ]] && continue
    log "compiling $name"
    dir="$WORK/compile-$name"
    write_config "$name" "$input" "$filters" "$dir" "$dir/cache"
    timed compile "$name" "$LOGCATCH" validate -c "$dir/logcatch.yaml"
    timed cached "$name" "$LOGCATCH" validate -c "$dir/logcatch.yaml"
done
for c in "${CASES[@]}"; do
    IFS='|' read -r name _ filters _ <<<"$c"
    dir="$WORK/mem-$name"
    write_config "$name" one "$filters" "$dir" "$WORK/compile-$name/cache"
    timed memory "$name" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
done

# Throughput: the cases alternate within each repetition, so slow phases of the machine
# spread over all of them; grep is timed in the same repetitions.
for rep in $(seq 1 "$REPS"); do
    log "repetition $rep/$REPS"
    timed run grep grep -v DEBUG "$WORK/text.log"
    for c in "${CASES[@]}"; do
        IFS='|' read -r name input filters _ <<<"$c"
        dir="$WORK/run-$name-$rep"
        write_config "$name" "$input" "$filters" "$dir" "$WORK/compile-$name/cache"
        timed run "$name" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
        rm -rf "$dir"
    done
done

export RESULTS LINES REPS
export CASES_TEXT="$(printf '%s\n' "${CASES[@]}")"
python3 - <<'EOF'
import os, statistics
rows = {}
for rec in open(os.environ["RESULTS"]):
    kind, name, secs, rss = rec.rstrip("\n").split("\t")
    rows.setdefault((kind, name), []).append((float(secs), int(rss)))
med = lambda k, n: statistics.median(s for s, _ in rows[(k, n)])
rss = lambda k, n: max(r for _, r in rows[(k, n)]) / 1024
lines = int(os.environ["LINES"])
cases = [l.split("|") for l in os.environ["CASES_TEXT"].splitlines()]
grep = med("run", "grep")
print(f"guest languages: {lines:,} lines, medians of {os.environ['REPS']}, to a blackhole sink")
print(f"{'case':<18} {'median s':>9} {'lines/s':>9} {'vs grep':>8} {'vs rust':>8} "
      f"{'compile s':>10} {'start s':>8} {'instance MB':>12}")
base_mem = rss("memory", "none")
print(f"{'grep -v DEBUG':<18} {grep:>9.3f} {lines / grep / 1e6:>8.2f}M {1:>7.2f}x")
for name, _, _, rust in cases:
    t = med("run", name)
    vs_rust = f"{med('run', rust) / t:.2f}x" if rust else ""
    comp = f"{med('compile', name):.2f}" if name != "none" else ""
    start = f"{med('cached', name):.2f}" if name != "none" else ""
    mem = f"{rss('memory', name) - base_mem:.1f}" if name != "none" else f"({base_mem:.1f} base)"
    print(f"{name:<18} {t:>9.3f} {lines / t / 1e6:>8.2f}M {grep / t:>7.2f}x {vs_rust:>8} "
          f"{comp:>10} {start:>8} {mem:>12}")
print("vs grep / vs rust: that time / this time (higher is faster). compile: `validate` into an "
      "empty cache; start: `validate` from the cache (load + init); instance: peak RSS of a "
      "one-line run minus the no-filter run's.")
EOF
