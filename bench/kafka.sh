#!/usr/bin/env bash
# Shipping through Kafka on the benchmark's 1,000,000-line file, in one run:
#   - file -> file (json, the baseline) and file -> kafka sink, each `logcatch run --once`;
#   - the broker-and-client limit: a minimal rdkafka producer with no logcatch
#     (bench/kafka_baseline.rs, the plugins crate's example `kafka_baseline`), configured as
#     the sink is (idempotent, acks=all, lz4, linger.ms 5);
#   - end to end: a consumer logcatch (kafka source -> file) running while an agent logcatch
#     (file -> kafka) ships the file, timed until the consumer's file holds every line;
#   - file -> nats sink against a nats-server -js, for the issue's "5x the nats sink" target.
# Lines/s, the ratio to file -> file, and the peak RSS of each process. The broker is tansu
# (memory storage, from scripts/setup) on a free loopback port, a fresh topic per case;
# everything is removed at the end. Progress on stderr, the table on stdout.
#
# Environment: BENCH_REPS=3, BENCH_LINES=1000000, BENCH_KEEP=0, LOGCATCH=path (default:
# build the release binary), KAFKA_BASELINE=path.
set -euo pipefail

REPS=${BENCH_REPS:-3}
LINES=${BENCH_LINES:-1000000}
KEEP=${BENCH_KEEP:-0}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TANSU="$ROOT/target/test-servers/tansu/server"

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $LINES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINES must be a positive integer"
[[ -x $TANSU ]] || die "$TANSU not found (scripts/setup installs it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-kafka.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${LOGCATCH:-} ]]; then
    log "building logcatch (release)"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
    LOGCATCH="$ROOT/target/release/logcatch"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" -p logcatch-plugins --example kafka_baseline >&2
fi
KAFKA_BASELINE=${KAFKA_BASELINE:-$(dirname "$LOGCATCH")/examples/kafka_baseline}
[[ -x $KAFKA_BASELINE ]] || { log "no baseline producer at $KAFKA_BASELINE: that row is left out"; KAFKA_BASELINE=; }
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$WORK/input.log"
cat "$WORK/input.log" >/dev/null

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
env -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u CLUSTER_ID -u STORAGE_ENGINE \
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ --silent >"$WORK/tansu.log" 2>&1 &
TANSU_PID=$!
PIDS+=("$TANSU_PID")
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
kill -0 "$TANSU_PID" 2>/dev/null || die "tansu did not start: $(cat "$WORK/tansu.log")"
BROKER="127.0.0.1:$PORT"

NATS=
if command -v nats-server >/dev/null; then
    NPORT=$(free_port)
    nats-server -a 127.0.0.1 -p "$NPORT" -js -sd "$WORK/jetstream" >"$WORK/nats.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q "Server is ready" "$WORK/nats.log" && break; sleep 0.1; done
    grep -q "Server is ready" "$WORK/nats.log" && NATS="nats://127.0.0.1:$NPORT"
fi
[[ -n $NATS ]] || log "no nats-server: the nats row is left out"

RESULTS="$WORK/results.tsv" # case, seconds, peak RSS KiB
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; log "  $1: ${2}s"; }
config() {
    mkdir -p "$1"
    printf 'data_dir: ./data\npipelines:\n  bench:\n    sources: %s\n    sinks: %s\n' "$2" "$3" \
        >"$1/logcatch.yaml"
}
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

    if [[ -n $KAFKA_BASELINE ]]; then # prints: messages seconds messages/s
        out=$("$KAFKA_BASELINE" "$BROKER" "base$rep" "$WORK/input.log" 2>"$WORK/stderr") \
            || { cat "$WORK/stderr" >&2; die "the baseline producer failed"; }
        record baseline "$(echo "$out" | awk '{print $2}')" 0
    fi

    config "$WORK/kafka-$rep" "$FILE_SRC" "[{ type: kafka, brokers: [\"$BROKER\"], topic: sink$rep }]"
    once kafka "$WORK/kafka-$rep"

    if [[ -n $NATS ]]; then
        config "$WORK/nats-$rep" "$FILE_SRC" "[{ type: nats, url: \"$NATS\", stream: S$rep, subject: \"s$rep.{pipeline}\" }]"
        once nats "$WORK/nats-$rep"
    fi

    # End to end: the consumer runs, the agent ships into a fresh topic.
    config "$WORK/consumer-$rep" "[{ type: kafka, brokers: [\"$BROKER\"], topics: [e2e$rep], group: g$rep, options: { session.timeout.ms: \"6000\" } }]" \
        '[{ type: file, path: out.log, format: json }]'
    config "$WORK/agent-$rep" "$FILE_SRC" "[{ type: kafka, brokers: [\"$BROKER\"], topic: e2e$rep }]"
    "$LOGCATCH" run -c "$WORK/consumer-$rep/logcatch.yaml" 2>"$WORK/consumer.log" &
    consumer=$!
    PIDS+=("$consumer")
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/agent-rss" "$LOGCATCH" run --once -c "$WORK/agent-$rep/logcatch.yaml" \
        2>"$WORK/agent.log" || { cat "$WORK/agent.log" >&2; die "agent failed"; }
    agent_done=$EPOCHREALTIME
    for _ in $(seq 6000); do
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
    rm -rf "$WORK/consumer-$rep" "$WORK/agent-$rep" "$WORK/kafka-$rep" "$WORK/nats-$rep"
done

export RESULTS LINES REPS
python3 - <<'PY'
import os, statistics
rows = {}
for rec in open(os.environ["RESULTS"]):
    name, secs, rss = rec.split("\t")
    rows.setdefault(name, []).append((float(secs), int(rss)))
lines = int(os.environ["LINES"])
med = lambda n: statistics.median(s for s, _ in rows[n])
base = med("file")
print(f"Kafka (tansu, memory): {lines:,} lines, medians of {os.environ['REPS']}")
print(f"{'case':<46} {'median s':>9} {'lines/s':>9} {'vs file':>8} {'peak RSS':>9}")
labels = {
    "file": "file -> file (json)",
    "baseline": "limit: minimal rdkafka producer, no logcatch",
    "kafka": "file -> kafka sink (confirmed by the broker)",
    "nats": "file -> nats sink (acked by JetStream)",
    "agent": "agent: file -> kafka, while a consumer runs",
    "e2e": "end to end: agent -> kafka -> consumer -> file",
}
for name in labels:
    if name not in rows:
        continue
    t = med(name)
    rss = max(r for _, r in rows[name]) / 1024
    who = " (consumer)" if name == "e2e" else ""
    rss = f"{rss:>6.1f} MB" if rss else "     -   "
    print(f"{labels[name]:<46} {t:>9.3f} {lines / t / 1e6:>8.2f}M {base / t:>7.2f}x {rss}{who}")
if "baseline" in rows:
    print(f"kafka sink / minimal producer: {med('baseline') / med('kafka'):.2f}x (target >= 0.8x)")
if "nats" in rows:
    print(f"kafka sink / nats sink: {med('nats') / med('kafka'):.2f}x (target >= 5x)")
PY
