#!/usr/bin/env bash
# Indexing into a search server on the benchmark's 1,000,000-line file, in one run:
#   - file -> file (json, the baseline) and file -> elasticsearch sink, each `logcatch run --once`;
#   - the server's limit: a minimal _bulk client with no logcatch (bench/es_baseline.rs, the
#     plugins crate's example `es_baseline`) sending what the sink sends (1,024 documents per
#     request, one in flight, 22-character ids spread as the sink's), and the same without ids
#     (the server generates them: what a client that gives up deduplication pays).
# Documents/s, the ratio to file -> file, and the peak RSS of each process. The server is
# noida-db's Elasticsearch 8 (from scripts/setup), started fresh on a free loopback port for
# each case, into its own index (`message` mapped as text), its documents
# counted with `_count`; everything is removed at the end. BENCH_SERVER=osmem uses
# osmem-server (OpenSearch API, in memory; about 3x slower). Progress on stderr, the table on
# stdout.
#
# Environment: BENCH_REPS=3, BENCH_LINES=1000000, BENCH_SERVER=noida, BENCH_KEEP=0,
# LOGCATCH=path (default: build the release binary), ES_BASELINE=path.
set -euo pipefail

REPS=${BENCH_REPS:-3}
LINES=${BENCH_LINES:-1000000}
SERVER=${BENCH_SERVER:-noida}
KEEP=${BENCH_KEEP:-0}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BIN="$ROOT/target/test-servers/$SERVER/server"

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $LINES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINES must be a positive integer"
[[ $SERVER == noida || $SERVER == osmem ]] || die "BENCH_SERVER is noida or osmem"
[[ -x $BIN ]] || die "$BIN not found (scripts/setup installs it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/logcatch-es.XXXXXX")
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${LOGCATCH:-} ]]; then
    log "building logcatch (release)"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin logcatch >&2
    LOGCATCH="$ROOT/target/release/logcatch"
    cargo build --release --manifest-path "$ROOT/Cargo.toml" -p logcatch-plugins --example es_baseline >&2
fi
ES_BASELINE=${ES_BASELINE:-$(dirname "$LOGCATCH")/examples/es_baseline}
[[ -x $ES_BASELINE ]] || die "no baseline client at $ES_BASELINE"
python3 "$BENCH_DIR/gen.py" --lines "$LINES" --out "$WORK/input.log"
cat "$WORK/input.log" >/dev/null

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_server() {
    PORT=$(free_port)
    rm -rf "$WORK/server-data"
    if [[ $SERVER == noida ]]; then
        "$BIN" start --data-dir "$WORK/server-data" --host 127.0.0.1 --only elasticsearch \
            --elasticsearch-port "$PORT" >"$WORK/server.log" 2>&1 &
    else
        "$BIN" -no-stdin-watch -no-ja -addr "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    URL="http://127.0.0.1:$PORT"
    for _ in $(seq 100); do
        curl -sf "$URL/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "the server did not start: $(cat "$WORK/server.log")"
}
stop_server() { # noida-db stops on SIGINT (its Ctrl-C), not on SIGTERM
    kill -INT "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
create_index() {
    curl -sf -XPUT "$URL/$1" -H 'Content-Type: application/json' \
        -d '{"mappings":{"properties":{"message":{"type":"text"}}}}' >/dev/null || die "cannot create $1"
}
check_count() {
    curl -sf -XPOST "$URL/$1/_refresh" >/dev/null
    local got
    got=$(curl -sf "$URL/$1/_count" | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')
    [[ $got == "$LINES" ]] || die "$1 holds $got of $LINES documents"
}

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
baseline() { # case, index, extra args; the client prints: documents seconds documents/s
    local out
    create_index "$2"
    out=$(/usr/bin/time -f %M -o "$WORK/rss" "$ES_BASELINE" ${3:+"$3"} "$URL" "$2" "$WORK/input.log" 2>"$WORK/stderr") \
        || { cat "$WORK/stderr" >&2; die "the baseline client failed"; }
    record "$1" "$(echo "$out" | awk '{print $2}')" "$(tail -n1 "$WORK/rss")"
    check_count "$2"
}

FILE_SRC="[{ type: file, include: [\"$WORK/input.log\"] }]"
for rep in $(seq 1 "$REPS"); do
    log "repetition $rep/$REPS"
    config "$WORK/file-$rep" "$FILE_SRC" '[{ type: file, path: out.log, format: json }]'
    once file "$WORK/file-$rep"
    rm -rf "$WORK/file-$rep"

    # A fresh server for each case (one slows down as it fills: 1M documents in, the next
    # million took half as long again), in an order that turns with each repetition.
    cases=(sink baseline auto)
    for k in 0 1 2; do
        start_server
        case ${cases[$(((k + rep) % 3))]} in
        sink)
            create_index "sink$rep"
            config "$WORK/es-$rep" "$FILE_SRC" "[{ type: elasticsearch, endpoints: [\"$URL\"], index: sink$rep }]"
            once elasticsearch "$WORK/es-$rep"
            check_count "sink$rep"
            rm -rf "$WORK/es-$rep"
            ;;
        baseline) baseline baseline "base$rep" ;;
        auto) baseline auto "auto$rep" --ids=none ;;
        esac
        stop_server
    done
done

export RESULTS LINES REPS SERVER
python3 - <<'PY'
import os, statistics
rows = {}
for rec in open(os.environ["RESULTS"]):
    name, secs, rss = rec.split("\t")
    rows.setdefault(name, []).append((float(secs), int(rss)))
lines = int(os.environ["LINES"])
med = lambda n: statistics.median(s for s, _ in rows[n])
base = med("file")
server = {"noida": "noida-db 0.2.3, Elasticsearch 8.15", "osmem": "osmem-server 0.1.6, OpenSearch 3.8"}[os.environ["SERVER"]]
print(f"Elasticsearch ({server}): {lines:,} lines, medians of {os.environ['REPS']}")
print(f"{'case':<56} {'median s':>9} {'docs/s':>9} {'vs file':>8} {'peak RSS':>9}")
labels = {
    "file": "file -> file (json)",
    "baseline": "limit: minimal _bulk client, ids as the sink's",
    "auto": "minimal _bulk client, server-generated ids",
    "elasticsearch": "file -> elasticsearch sink (every document confirmed)",
}
for name in labels:
    if name not in rows:
        continue
    t = med(name)
    rss = max(r for _, r in rows[name]) / 1024
    print(f"{labels[name]:<56} {t:>9.3f} {lines / t / 1e3:>8.1f}k {base / t:>7.3f}x {rss:>6.1f} MB")
print(f"elasticsearch sink / minimal _bulk client: {med('baseline') / med('elasticsearch'):.2f}x (target >= 0.8x)")
print(f"elasticsearch sink / client with server ids: {med('auto') / med('elasticsearch'):.2f}x")
PY
