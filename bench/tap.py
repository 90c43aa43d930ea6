#!/usr/bin/env python3
"""The tap's cost on a pipeline at full speed (stdlib only).

A running `logcatch run` with file source -> drop_debug -> blackhole reads a file of
--lines lines written at once; the time is from the file's rename into place to the sink's
`events_out` (read from `/pipelines` every 10 ms) reaching the kept lines. Three cases,
alternated --reps times on fresh daemons, in the same run:

  no tap            nobody watching (the tap's whole cost: one atomic load per batch and point)
  tap at source     `logcatch tap p --at source`, its output read slowly (4 KiB / 10 ms)
  tap at filters[0] the same around the filter (input and verdicts)

Reported: median and best seconds, the ratio of each tapped case's median to the untapped
one (target: within noise, <= 1.10), and the events the tap showed and skipped.

Usage: tap.py --logcatch BIN --plugin drop_debug.wasm --input FILE --dir DIR [--reps 5] [--strict]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def log(msg):
    print(f"tap: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.load(r)


def wait(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"tap: timed out waiting for {what}")


def slow_reader(stream, counts):
    """Reads 4 KiB every 10 ms, counting lines: a watcher slower than the pipeline."""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            return
        counts["shown"] += chunk.count(b"\n")
        time.sleep(0.01)


def stderr_reader(stream, counts, ready):
    for line in stream:
        line = line.decode(errors="replace")
        if line.startswith("tapping pipeline"):
            ready.set()
        elif line.startswith("… "):
            counts["skipped"] += int(line.split()[1])


def one(args, case, rep, kept):
    work = os.path.join(args.dir, f"{case.replace(' ', '_').replace('[', '').replace(']', '')}-{rep}")
    os.makedirs(work)
    port = free_port()
    cfg = os.path.join(work, "logcatch.yaml")
    with open(cfg, "w") as f:
        f.write(
            f"data_dir: {work}/data\n"
            f"api: {{ listen: \"127.0.0.1:{port}\" }}\n"
            "pipelines:\n  p:\n"
            f"    sources: [{{ type: file, include: [{work}/in.log], start_at: beginning }}]\n"
            f"    filters: [{{ wasm: {args.plugin}, config: {{ levels: [DEBUG] }} }}]\n"
            "    sinks: [{ type: blackhole }]\n"
        )
    daemon = subprocess.Popen([args.logcatch, "run", "-c", cfg], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "daemon.log"), "w"))
    tap = None
    counts = {"shown": 0, "skipped": 0}
    try:
        wait(lambda: get_json(port, "/pipelines")["pipelines"]["p"]["state"] == "running", 30, "the daemon")
        threads = []
        if case != "no tap":
            at = "source" if case == "tap at source" else "filters[0]"
            tap = subprocess.Popen([args.logcatch, "tap", "p", "--at", at, "--api", f"http://127.0.0.1:{port}"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            ready = threading.Event()
            threads = [threading.Thread(target=slow_reader, args=(tap.stdout, counts), daemon=True),
                       threading.Thread(target=stderr_reader, args=(tap.stderr, counts, ready), daemon=True)]
            for t in threads:
                t.start()
            if not ready.wait(30):
                raise SystemExit("tap: the tap did not start")
        tmp = os.path.join(work, "in.tmp")
        subprocess.run(["cp", args.input, tmp], check=True)
        subprocess.run(["sync"], check=True)
        began = time.monotonic()
        os.rename(tmp, os.path.join(work, "in.log"))

        def delivered():
            comps = get_json(port, "/pipelines")["pipelines"]["p"]["components"]
            return comps[-1]["events_out"] >= kept

        wait(delivered, 300, "every kept line delivered")
        took = time.monotonic() - began
        out = get_json(port, "/pipelines")["pipelines"]["p"]["components"][-1]["events_out"]
        if out != kept:
            raise SystemExit(f"tap: {case}: delivered {out}, expected {kept}")
        if tap:
            # One line more lets the tap report what it skipped last.
            with open(os.path.join(work, "in.log"), "a") as f:
                f.write("INFO last\n")
            wait(lambda: get_json(port, "/pipelines")["pipelines"]["p"]["components"][-1]["events_out"] == kept + 1,
                 30, "the last line")
            time.sleep(0.3)
        return took, counts
    finally:
        if tap:
            tap.terminate()
            tap.wait()
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--logcatch", required=True)
    p.add_argument("--plugin", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--strict", action="store_true")
    args = p.parse_args()
    with open(args.input, "rb") as f:
        data = f.read()
    lines = data.count(b"\n")
    kept = lines - sum(1 for l in data.split(b"\n") if b"DEBUG" in l)
    cases = ["no tap", "tap at source", "tap at filters[0]"]
    times = {c: [] for c in cases}
    seen = {c: {"shown": 0, "skipped": 0} for c in cases}
    for rep in range(args.reps):
        # The order turns each repetition, so no case always runs first (a cold cache, a
        # CPU that has not ramped up yet).
        for case in cases[rep % 3:] + cases[:rep % 3]:
            took, counts = one(args, case, rep, kept)
            times[case].append(took)
            for k in counts:
                seen[case][k] += counts[k]
            log(f"{case}: {took:.3f} s, shown {counts['shown']}, skipped {counts['skipped']}")
    base = statistics.median(times["no tap"])
    print(f"| case ({lines} lines, {args.reps} reps) | median s | best s | vs no tap | shown | skipped |")
    print("| --- | --- | --- | --- | --- | --- |")
    missed = False
    for case in cases:
        med = statistics.median(times[case])
        ratio = med / base
        if case != "no tap" and ratio > 1.10:
            missed = True
        shown = seen[case]["shown"] if case != "no tap" else "-"
        skipped = seen[case]["skipped"] if case != "no tap" else "-"
        print(f"| {case} | {med:.3f} | {min(times[case]):.3f} | {ratio:.2f}x | {shown} | {skipped} |")
    if missed and args.strict:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
