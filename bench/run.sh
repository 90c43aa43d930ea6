#!/usr/bin/env bash
# logcatch against `grep -v DEBUG`: throughput, peak memory and end-to-end latency.
# See bench/README.md. Runs from any directory; everything it makes is in a temp dir that is
# removed at the end. Progress goes to stderr, the results table to stdout.
#
# Environment:
#   BENCH_REPS=5           repetitions of each throughput case (best and median reported)
#   BENCH_LINES=1000000    lines in the generated file
#   BENCH_LAT_SECONDS=10   duration of the latency run
#   BENCH_LAT_RATE=10000   lines per second written during the latency run
#   BENCH_POLL_MS=1        how often the latency reader looks at the sink file
#   BENCH_STRICT=0         1: exit 1 when a target is missed
#   BENCH_KEEP=0           1: keep the temp dir (its path is printed)
set -euo pipefail

REPS=${BENCH_REPS:-5}
LINES=${BENCH_LINES:-1000000}
LAT_SECONDS=${BENCH_LAT_SECONDS:-10}
LAT_RATE=${BENCH_LAT_RATE:-10000}
POLL_MS=${BENCH_POLL_MS:-1}
STRICT=${BENCH_STRICT:-0}
KEEP=${BENCH_KEEP:-0}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for tool in cargo python3 grep /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $LINES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINES must be a positive integer"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-bench.XXXXXX")
DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [[ $KEEP == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ------------------------------------------------------------------------------
log "building logcatch (cargo build --release)"
cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
TARGET_DIR=$(cargo metadata --manifest-path "$ROOT/Cargo.toml" --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
LOGCATCH="$TARGET_DIR/release/logcatch"
[[ -x $LOGCATCH ]] || die "no binary at $LOGCATCH"
log "building the example plugins (scripts/build-guests)"
"$ROOT/scripts/build-guests" >&2
DROP_DEBUG="$ROOT/target/guests/wasm32-wasip2/release/drop_debug.wasm"
CACHE_DIR="$WORK/plugin-cache" # compiled once, before the timed runs (see below)

# --- input ------------------------------------------------------------------------------
INPUT="$WORK/input.log"
log "generating $LINES lines"
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$INPUT"
INPUT_BYTES=$(stat -c %s "$INPUT")
KEPT_LINES=$(grep -vc DEBUG "$INPUT" || true) # what grep -v must output
cat "$INPUT" >/dev/null                       # every case reads it from the page cache

# Writes a config for one logcatch case in directory $1 with sink $2 (YAML flow mapping)
# and optional filters $3 (YAML flow list).
write_config() {
    mkdir -p "$1"
    cat >"$1/logcatch.yaml" <<EOF
data_dir: ./data
cache_dir: $CACHE_DIR
pipelines:
  bench:
    sources:
      - { type: file, include: ["$INPUT"] }
    filters: ${3:-[]}
    sinks:
      - $2
EOF
}
DROP_FILTER="[{ wasm: \"$DROP_DEBUG\", config: { levels: [DEBUG] } }]"
GUESTS="$ROOT/target/guests/wasm32-wasip2/release"
PARSE_FILTER="[{ wasm: \"$GUESTS/parse_access.wasm\" }]"
REDACT_FILTER="[{ wasm: \"$GUESTS/redact.wasm\" }]"
# Compile the plugin into the cache once, so the timed runs measure filtering, not Cranelift
# (as a restarted daemon would: the cache is on disk).
for f in "$DROP_FILTER" "$PARSE_FILTER" "$REDACT_FILTER"; do
    write_config "$WORK/warm" '{ type: blackhole }' "$f"
    "$LOGCATCH" validate -c "$WORK/warm/logcatch.yaml" >/dev/null
done

RESULTS="$WORK/results.tsv" # case, rep, seconds, peak RSS in KiB
: >"$RESULTS"

# Runs one timed case: $1 = case name, $2 = rep, rest = command (stdout to $OUT_FILE).
# Wall time with bash's microsecond clock, peak RSS from GNU time (%M, KiB); every case
# goes through /usr/bin/time, so its small overhead is the same for all.
timed() {
    local name=$1 rep=$2
    shift 2
    sync # earlier output is written back now, not during the measurement
    local t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/rss" "$@" >"$OUT_FILE" 2>"$WORK/stderr" \
        || { cat "$WORK/stderr" >&2; die "$name failed (rep $rep)"; }
    local t1=$EPOCHREALTIME
    local secs
    secs=$(python3 -c "print(f'{$t1 - $t0:.6f}')")
    printf '%s\t%s\t%s\t%s\n' "$name" "$rep" "$secs" "$(tail -n1 "$WORK/rss")" >>"$RESULTS"
    log "  $name: ${secs}s"
}

# --- throughput -------------------------------------------------------------------------
# The cases alternate within each repetition, so slow phases of the machine spread
# over all of them.
for rep in $(seq 1 "$REPS"); do
    log "repetition $rep/$REPS"

    OUT_FILE="$WORK/grep.out"
    rm -f "$OUT_FILE"
    timed grep "$rep" grep -v DEBUG "$INPUT"
    got=$(wc -l <"$OUT_FILE")
    [[ $got -eq $KEPT_LINES ]] || die "grep wrote $got lines, expected $KEPT_LINES"
    rm -f "$OUT_FILE"

    dir="$WORK/file-$rep"
    write_config "$dir" '{ type: file, path: out.log, format: text }'
    OUT_FILE=/dev/null
    timed file "$rep" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
    cmp -s "$dir/out.log" "$INPUT" || die "logcatch's file sink output differs from the input"
    rm -rf "$dir"

    dir="$WORK/wasm-$rep"
    write_config "$dir" '{ type: file, path: out.log, format: text }' "$DROP_FILTER"
    OUT_FILE=/dev/null
    timed wasm "$rep" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
    got=$(wc -l <"$dir/out.log")
    [[ $got -eq $KEPT_LINES ]] || die "drop_debug kept $got lines, grep -v DEBUG keeps $KEPT_LINES"
    rm -rf "$dir"

    # The other examples, to a blackhole to time the filter: parse_access adds an attribute
    # to every line (these are not access lines: parse_error), the replace path; redact
    # finds nothing to mask in them, its keep-all path.
    for ex in parse redact; do
        dir="$WORK/$ex-$rep"
        [[ $ex == parse ]] && f=$PARSE_FILTER || f=$REDACT_FILTER
        write_config "$dir" '{ type: blackhole }' "$f"
        timed "$ex" "$rep" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
        rm -rf "$dir"
    done

    dir="$WORK/blackhole-$rep"
    write_config "$dir" '{ type: blackhole }'
    timed blackhole "$rep" "$LOGCATCH" run --once -c "$dir/logcatch.yaml"
    grep -q "component=sinks\[0\] events=$LINES " "$WORK/stderr" \
        || { cat "$WORK/stderr" >&2; die "the blackhole sink did not count $LINES events"; }
    rm -rf "$dir"
done

# --- latency ----------------------------------------------------------------------------
LAT="$WORK/latency"
mkdir -p "$LAT"
: >"$LAT/input.log"
cat >"$LAT/logcatch.yaml" <<EOF
data_dir: ./data
pipelines:
  bench:
    sources:
      - { type: file, include: ["$LAT/input.log"] }
    sinks:
      - { type: file, path: out.log, format: text }
EOF
log "latency: logcatch run (daemon), $LAT_RATE lines/s for ${LAT_SECONDS}s"
"$LOGCATCH" run -c "$LAT/logcatch.yaml" 2>"$LAT/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do # wait until it tails the file (at most 10 s)
    grep -q "tailing file" "$LAT/daemon.log" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$LAT/daemon.log" >&2; die "logcatch exited"; }
    sleep 0.1
done
grep -q "tailing file" "$LAT/daemon.log" || die "logcatch did not start tailing in 10 s"
LAT_OK=1
python3 "$BENCH_DIR/latency.py" run --input "$LAT/input.log" --output "$LAT/out.log" \
    --rate "$LAT_RATE" --seconds "$LAT_SECONDS" --poll-ms "$POLL_MS" \
    --json "$LAT/result.json" >"$LAT/report.txt" || LAT_OK=0
DAEMON_HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON_PID/status")
kill -TERM "$DAEMON_PID"
DAEMON_RC=0
wait "$DAEMON_PID" || DAEMON_RC=$?
DAEMON_PID=
[[ $DAEMON_RC -eq 0 ]] || { cat "$LAT/daemon.log" >&2; die "logcatch exited $DAEMON_RC after SIGTERM"; }
[[ -s $LAT/result.json ]] || { cat "$LAT/report.txt" >&2; die "the latency run failed"; }

# --- report -----------------------------------------------------------------------------
export RESULTS REPS LINES INPUT_BYTES KEPT_LINES LAT_SECONDS LAT_RATE DAEMON_HWM STRICT LAT_OK
export LAT_JSON="$LAT/result.json" LAT_REPORT="$LAT/report.txt"
export MACHINE="$(nproc) cores, $(uname -sr), $(grep --version | head -n1), LC_ALL=${LC_ALL:-unset} LANG=${LANG:-unset}"
python3 - <<'EOF'
import json, os, statistics

env = os.environ
lines = int(env["LINES"])
rows = {}
for rec in open(env["RESULTS"]):
    name, _rep, secs, rss = rec.split("\t")
    rows.setdefault(name, []).append((float(secs), int(rss)))

def stats(name):
    secs = [s for s, _ in rows[name]]
    return min(secs), statistics.median(secs), max(r for _, r in rows[name])

grep_best, grep_med, _ = stats("grep")
print(f"logcatch benchmark: {lines:,} lines, {int(env['INPUT_BYTES']) / 1e6:.1f} MB "
      f"({int(env['INPUT_BYTES']) / lines:.0f} B/line; grep keeps {int(env['KEPT_LINES']):,}), "
      f"{env['REPS']} repetitions")
print(f"machine: {env['MACHINE']}")
print()
print(f"{'case':<34} {'best s':>7} {'median s':>9} {'lines/s best':>13} {'lines/s med':>12} "
      f"{'vs grep best':>13} {'vs grep med':>12} {'peak RSS':>9}")
labels = {
    "grep": "grep -v DEBUG > file",
    "file": "logcatch --once file -> file text",
    "blackhole": "logcatch --once file -> blackhole",
    "wasm": "logcatch file -> drop_debug -> file",
    "parse": "file -> parse_access(replace) -> bh",
    "redact": "file -> redact(nothing) -> bh",
}
ratio = {}
for name in ("grep", "file", "wasm", "blackhole", "parse", "redact"):
    best, med, rss = stats(name)
    ratio[name] = (grep_best / best, grep_med / med)
    print(f"{labels[name]:<34} {best:>7.3f} {med:>9.3f} {lines / best / 1e6:>12.2f}M "
          f"{lines / med / 1e6:>11.2f}M {ratio[name][0]:>12.2f}x {ratio[name][1]:>11.2f}x "
          f"{rss / 1024:>6.1f} MB")
print("(lines/s = input lines / wall time, start-up included; vs grep = grep's time / this "
      "time, higher is better)")
print()
lat = json.load(open(env["LAT_JSON"]))
print(f"latency: logcatch run (daemon), file -> file text, {env['LAT_RATE']} lines/s "
      f"for {env['LAT_SECONDS']} s")
for l in open(env["LAT_REPORT"]):
    print("  " + l.rstrip())
hwm = int(env["DAEMON_HWM"])
print(f"  daemon peak RSS (VmHWM): {hwm / 1024:.1f} MB")
print()
file_rss = stats("file")[2] / 1024
checks = [
    ("logcatch file -> file >= 0.5x grep (median)", f"{ratio['file'][1]:.3f}x", ratio["file"][1] >= 0.5),
    ("logcatch file -> drop_debug -> file >= 0.4x grep", f"{ratio['wasm'][1]:.3f}x", ratio["wasm"][1] >= 0.4),
    ("drop_debug adds <= 30% to file -> file (median)", f"{stats('wasm')[1] / stats('file')[1] - 1:+.0%}",
     stats("wasm")[1] <= 1.3 * stats("file")[1]),
    ("logcatch peak RSS < 50 MB (--once, max)", f"{file_rss:.1f} MB", file_rss < 50),
    ("latency p99 < 50 ms", f"{lat['p99_ms']:.2f} ms", lat["p99_ms"] < 50),
    ("latency run lost no line", f"{lat['lost']} lost", lat["lost"] == 0 and env["LAT_OK"] == "1"),
]
print(f"{'target':<46} {'measured':>10}  result")
for what, got, ok in checks:
    print(f"{what:<46} {got:>10}  {'ok' if ok else 'MISSED'}")
missed = sum(not ok for _, _, ok in checks)
if missed and env["STRICT"] == "1":
    raise SystemExit(1)
EOF

# --- reload -----------------------------------------------------------------------------
# bench/reload.py: b's output pauses while pipeline a is reloaded, and rename → first line in
# a's new sink (see bench/README.md). Its own table follows the one above; BENCH_RELOAD=0
# skips it. With BENCH_STRICT=1 a target missed above ends the script before this runs.
if [[ ${BENCH_RELOAD:-1} == 1 ]]; then
    log "reload: bench/reload.py (${BENCH_RELOADS:-20} reloads, ${BENCH_RELOAD_RATE:-2000} lines/s per pipeline)"
    RELOAD_ARGS=(--logcatch "$LOGCATCH" --dir "$WORK/reload")
    [[ $STRICT == 1 ]] && RELOAD_ARGS+=(--strict)
    echo
    python3 "$BENCH_DIR/reload.py" "${RELOAD_ARGS[@]}"
    # The same with pipeline a as an etcd key (central config), when etcd is installed.
    if command -v etcd >/dev/null 2>&1; then
        echo
        python3 "$BENCH_DIR/reload.py" --logcatch "$LOGCATCH" --dir "$WORK/reload-etcd" --store etcd \
            $([[ $STRICT == 1 ]] && echo --strict)
    fi
fi

# --- tap --------------------------------------------------------------------------------
# bench/tap.py: the same input through file -> drop_debug -> blackhole on a running daemon,
# with nobody tapping, a slow `logcatch tap` after the sources, and one around the filter
# (see bench/README.md). BENCH_TAP=0 skips it.
if [[ ${BENCH_TAP:-1} == 1 ]]; then
    log "tap: bench/tap.py (${BENCH_REPS:-5} reps)"
    echo
    python3 "$BENCH_DIR/tap.py" --logcatch "$LOGCATCH" --plugin "$DROP_DEBUG" --input "$INPUT" \
        --dir "$WORK/tap" --reps "$REPS" $([[ $STRICT == 1 ]] && echo --strict)
fi

# --- multiline ---------------------------------------------------------------------------
# bench/multiline.py: a file of BENCH_LINES lines, 30% of them continuations, read with
# `--once` with and without `multiline: { continue: '^\s' }` (see bench/README.md).
# BENCH_MULTILINE=0 skips it.
if [[ ${BENCH_MULTILINE:-1} == 1 ]]; then
    log "multiline: bench/multiline.py (${BENCH_REPS:-5} reps)"
    echo
    python3 "$BENCH_DIR/multiline.py" --logcatch "$LOGCATCH" --dir "$WORK/multiline" --lines "$LINES" \
        --reps "$REPS" $([[ $STRICT == 1 ]] && echo --strict)
fi
