#!/usr/bin/env python3
"""What joining multiline events costs the file source (stdlib only).

A file of --lines lines, 30% of them continuation lines (Java-style `\tat ...` frames after
an ERROR line, in runs of 1 to 5), is read by `logcatch run --once` (file source ->
blackhole) twice per repetition, alternated, in the same run:

  lines       no `multiline:`: one event a line
  multiline   `multiline: { continue: '^\\s' }`: one event per line plus its frames

The time is the whole `--once` run (start-up included in both). Reported: median and best
seconds, events delivered, and the ratio of the medians (target: <= 1.30).

Usage: multiline.py --logcatch BIN --dir DIR [--lines 1000000] [--reps 5] [--strict]
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time


def log(msg):
    print(f"multiline: {msg}", file=sys.stderr, flush=True)


def generate(path, lines):
    """`lines` lines, 30% continuations; returns (lines, events with multiline)."""
    rng = random.Random(7)
    written = events = 0
    with open(path, "w") as f:
        while written < lines:
            events += 1
            written += 1
            if rng.random() < 0.15:
                f.write(f"2026-12-04T10:00:00.{written % 1000:03d}Z ERROR request {written} failed: "
                        f"java.lang.IllegalStateException: user {rng.randrange(10**6)}\n")
                # 15% of events carry on average 2.86 frames: about 30% of all lines.
                for _ in range(min(rng.choice([1, 2, 3, 4, 5]) + 0, lines - written)):
                    f.write(f"\tat com.example.service.Handler{rng.randrange(50)}.handle(Handler.java:{rng.randrange(900)})\n")
                    written += 1
            else:
                f.write(f"2026-12-04T10:00:00.{written % 1000:03d}Z INFO GET /api/items/{rng.randrange(10**6)} "
                        f"200 {rng.randrange(5000)}us\n")
    return written, events


def one(args, case, rep, input_path):
    work = os.path.join(args.dir, f"{case}-{rep}")
    os.makedirs(work)
    cfg = os.path.join(work, "logcatch.yaml")
    multiline = ", multiline: { continue: '^\\s' }" if case == "multiline" else ""
    with open(cfg, "w") as f:
        f.write(
            f"data_dir: {work}/data\n"
            "pipelines:\n  p:\n"
            f"    sources: [{{ type: file, include: [{input_path}]{multiline} }}]\n"
            "    sinks: [{ type: blackhole }]\n"
        )
    began = time.monotonic()
    out = subprocess.run([args.logcatch, "run", "--once", "-c", cfg], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    took = time.monotonic() - began
    stderr = out.stderr.decode(errors="replace")
    m = re.search(r"component=sinks\[0\] events=(\d+)", stderr)
    if not m:
        raise SystemExit(f"multiline: no sink summary in the log:\n{stderr}")
    shutil.rmtree(work, ignore_errors=True)
    return took, int(m.group(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--logcatch", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--strict", action="store_true")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    input_path = os.path.join(args.dir, "multiline.log")
    lines, events = generate(input_path, args.lines)
    continuations = lines - events
    log(f"{lines} lines, {continuations} continuations ({100 * continuations / lines:.1f}%)")
    cases = ["lines", "multiline"]
    times = {c: [] for c in cases}
    delivered = {}
    for rep in range(args.reps):
        for case in cases[rep % 2:] + cases[:rep % 2]:
            took, n = one(args, case, rep, input_path)
            times[case].append(took)
            delivered[case] = n
            log(f"{case}: {took:.3f} s, {n} events")
    want = {"lines": lines, "multiline": events}
    for case in cases:
        if delivered[case] != want[case]:
            raise SystemExit(f"multiline: {case}: {delivered[case]} events, expected {want[case]}")
    base = statistics.median(times["lines"])
    print(f"| case ({lines} lines, {100 * continuations / lines:.0f}% continuations, {args.reps} reps) "
          "| median s | best s | events | vs lines |")
    print("| --- | --- | --- | --- | --- |")
    for case in cases:
        med = statistics.median(times[case])
        print(f"| {case} | {med:.3f} | {min(times[case]):.3f} | {delivered[case]} | {med / base:.2f}x |")
    ratio = statistics.median(times["multiline"]) / base
    os.remove(input_path)
    if ratio > 1.30 and args.strict:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
