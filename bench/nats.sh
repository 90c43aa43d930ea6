#!/usr/bin/env bash
# Shipping through NATS JetStream on the benchmark's 1,000,000-line file, in one run:
#   - file -> file (the baseline) and file -> nats sink, each `logcatch run --once`;
#   - end to end: a consumer logcatch (nats source -> file) running while an agent logcatch
#     (file -> nats sink) ships the file, timed until the consumer's file holds every line.
#   - the server's own limit: a minimal async-nats publisher (bench/nats_baseline.rs, the
#     plugins crate's example `nats_baseline`) publishing the same lines, one message each,
#     with a Nats-Msg-Id, 1024 at a time, each batch waiting for its acks on one reply
#     subject, as the sink does (mode inbox1).
# Lines/s, the ratio to file -> file, and the peak RSS of each process. A real nats-server
# (-js, file storage in a temp dir) on a free loopback port; everything is removed at the end.
# See bench/README.md ("NATS"). Progress on stderr, the table on stdout.
#
# Environment: BENCH_REPS=3, BENCH_LINES=1000000, BENCH_KEEP=0 (1 keeps the temp dir),
# LOGCATCH=path (a binary to measure; default: build the release one), NATS_BASELINE=path
# (the baseline publisher; default: built with logcatch, or next to LOGCATCH in examples/).
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
command -v nats-server >/dev/null || die "nats-server not found (scripts/setup installs it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-nats.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${LOGCATCH:-} ]]; then # LOGCATCH=path uses that binary and builds nothing
    log "building logcatch (release)"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
    LOGCATCH="$ROOT/target/release/logcatch"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" -p logcatch-plugins --example nats_baseline >&2
fi
NATS_BASELINE=${NATS_BASELINE:-$(dirname "$LOGCATCH")/examples/nats_baseline}
[[ -x $NATS_BASELINE ]] || { log "no baseline publisher at $NATS_BASELINE: that row is left out"; NATS_BASELINE=; }
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$WORK/input.log"
cat "$WORK/input.log" >/dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$PORT" -js -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q "Server is ready" "$WORK/nats.log" && break
    sleep 0.1
done
grep -q "Server is ready" "$WORK/nats.log" || die "nats-server did not start: $(cat "$WORK/nats.log")"
URL="nats://127.0.0.1:$PORT"

RESULTS="$WORK/results.tsv" # case, seconds, peak RSS KiB
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; log "  $1: ${2}s"; }

# Writes a config into directory $1 with sources $2 and sinks $3 (YAML flow lists).
config() {
    mkdir -p "$1"
    printf 'data_dir: ./data\npipelines:\n  bench:\n    sources: %s\n    sinks: %s\n' "$2" "$3" \
        >"$1/logcatch.yaml"
}
# Runs `logcatch run --once` on the config in $2, recorded as case $1.
once() {
    local t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/rss" "$LOGCATCH" run --once -c "$2/logcatch.yaml" 2>"$WORK/stderr" \
        || { cat "$WORK/stderr" >&2; die "$1 failed"; }
    record "$1" "$(python3 -c "print($EPOCHREALTIME - $t0)")" "$(tail -n1 "$WORK/rss")"
}
count() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

FILE_SRC="[{ type: file, include: [\"$WORK/input.log\"] }]"
for rep in $(seq 1 "$REPS"); do
    log "repetition $rep/$REPS"
    config "$WORK/file-$rep" "$FILE_SRC" '[{ type: file, path: out.log, format: json }]'
    once file "$WORK/file-$rep"
    rm -rf "$WORK/file-$rep"

    if [[ -n $NATS_BASELINE ]]; then # prints: mode messages seconds messages/s
        out=$("$NATS_BASELINE" "$URL" B$rep "b$rep.x" "$WORK/input.log" inbox1 1024 2>"$WORK/stderr") \
            || { cat "$WORK/stderr" >&2; die "the baseline publisher failed"; }
        record baseline "$(echo "$out" | awk '{print $3}')" 0
    fi

    # A stream of its own each time: JetStream would take a repeat of the same messages
    # (same Nats-Msg-Id) for duplicates and drop them without storing.
    sink="[{ type: nats, url: \"$URL\", stream: S$rep, subject: \"s$rep.{pipeline}\" }]"
    config "$WORK/nats-$rep" "$FILE_SRC" "$sink"
    once nats "$WORK/nats-$rep"

    # End to end: the consumer runs, the agent ships a fresh stream, timed until the
    # consumer's file has every line.
    src="[{ type: nats, url: \"$URL\", stream: E$rep, consumer: c, filter_subject: \"e$rep.>\" }]"
    config "$WORK/consumer-$rep" "$src" '[{ type: file, path: out.log, format: json }]'
    sink="[{ type: nats, url: \"$URL\", stream: E$rep, subject: \"e$rep.{pipeline}\" }]"
    config "$WORK/agent-$rep" "$FILE_SRC" "$sink"
    # The consumer starts first and finds the stream once the agent's first batch made it
    # (it retries with a short backoff meanwhile: part of the end-to-end time).
    "$LOGCATCH" run -c "$WORK/consumer-$rep/logcatch.yaml" 2>"$WORK/consumer.log" &
    consumer=$!
    PIDS+=("$consumer")
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/agent-rss" "$LOGCATCH" run --once -c "$WORK/agent-$rep/logcatch.yaml" \
        2>"$WORK/agent.log" || { cat "$WORK/agent.log" >&2; die "agent failed"; }
    agent_done=$EPOCHREALTIME
    for _ in $(seq 6000); do # at most 10 minutes
        [[ $(count "$WORK/consumer-$rep/out.log") -ge $LINES ]] && break
        sleep 0.1
    done
    t1=$EPOCHREALTIME
    got=$(count "$WORK/consumer-$rep/out.log")
    [[ $got -ge $LINES ]] || { tail -20 "$WORK/consumer.log" >&2; die "the consumer has $got of $LINES lines"; }
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$consumer/status")
    kill -TERM "$consumer"
    wait "$consumer" || die "the consumer exited non-zero after SIGTERM"
    record agent "$(python3 -c "print($agent_done - $t0)")" "$(tail -n1 "$WORK/agent-rss")"
    record e2e "$(python3 -c "print($t1 - $t0)")" "$hwm"
    rm -rf "$WORK/consumer-$rep" "$WORK/agent-$rep" "$WORK/nats-$rep"
done

export RESULTS LINES REPS
python3 - <<'EOF'
import os, statistics
rows = {}
for rec in open(os.environ["RESULTS"]):
    name, secs, rss = rec.split("\t")
    rows.setdefault(name, []).append((float(secs), int(rss)))
lines = int(os.environ["LINES"])
med = lambda n: statistics.median(s for s, _ in rows[n])
base = med("file")
print(f"NATS JetStream: {lines:,} lines, medians of {os.environ['REPS']}")
print(f"{'case':<44} {'median s':>9} {'lines/s':>9} {'vs file':>8} {'peak RSS':>9}")
labels = {
    "file": "file -> file (json)",
    "baseline": "server limit: minimal publisher, no logcatch",
    "nats": "file -> nats sink (acked by JetStream)",
    "agent": "agent: file -> nats, while a consumer runs",
    "e2e": "end to end: agent -> NATS -> consumer -> file",
}
for name in ("file", "baseline", "nats", "agent", "e2e"):
    if name not in rows:
        continue
    t = med(name)
    rss = max(r for _, r in rows[name]) / 1024
    who = " (consumer)" if name == "e2e" else ""
    rss = f"{rss:>6.1f} MB" if rss else "     -   "
    print(f"{labels[name]:<44} {t:>9.3f} {lines / t / 1e6:>8.2f}M {base / t:>7.2f}x {rss}{who}")
print("vs file: file -> file's time / this time (higher is faster); peak RSS from GNU time, the "
      "consumer's from VmHWM.")
EOF
