#!/usr/bin/env python3
"""End-to-end latency of a running logcatch (stdlib only).

`latency.py run --input IN --output OUT` starts a writer process that appends lines to IN
at --rate lines/s for --seconds, each line carrying the wall-clock time it was written
(`t_ns=`, time.time_ns() taken just before the write(2) that adds it), while this process
follows OUT (the sink file of a `logcatch run` tailing IN) every --poll-ms and records, for
each line, (time it was seen in OUT - t_ns). Both processes use time.time_ns (the same
system clock), so the difference is meaningful across processes.

Error bound: a line is stamped with the time right after the read(2) that returned it, so
it was in OUT at that time or earlier: the figure is never too small, and too large by at
most the gap since the reader's previous look (its polling gap; about half a gap on
average). The gaps actually measured are printed next to the result.

`latency.py write ...` is the writer on its own (run by `run`).
"""

import argparse
import json
import os
import subprocess
import sys
import time

# A realistic line; the writer fills in seq and t_ns (about 100 bytes in all).
LINE = (
    "2024-03-01T12:00:00.000Z INFO  [api] request done GET path=/v1/users status=200 "
    "seq={seq} t_ns={t}\n"
)


def write(args: argparse.Namespace) -> int:
    """Appends rate*seconds lines to args.input at args.rate lines/s; prints a JSON summary."""
    total = int(args.rate * args.seconds)
    fd = os.open(args.input, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start = time.monotonic_ns()
    seq = 0
    writes = 0
    while seq < total:
        # Every line that is due by now goes out in one write(2), stamped with its time.
        due = min(total, (time.monotonic_ns() - start) * args.rate // 1_000_000_000 + 1)
        if due > seq:
            t = time.time_ns()
            os.write(fd, "".join(LINE.format(seq=s, t=t) for s in range(seq, due)).encode())
            seq = due
            writes += 1
        time.sleep(0.0005)
    elapsed = (time.monotonic_ns() - start) / 1e9
    os.close(fd)
    print(json.dumps({"lines": total, "writes": writes, "seconds": elapsed}), flush=True)
    return 0


def pct(sorted_vals: list, p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def run(args: argparse.Namespace) -> int:
    poll = args.poll_ms / 1000
    writer = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "write", "--input", args.input,
         "--rate", str(args.rate), "--seconds", str(args.seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    lat_ns = []          # one per line seen, in order
    seen = set()
    dups = 0
    gaps_ns = []         # time between two consecutive reads of OUT
    fd = None
    rest = b""
    total = None
    writer_done_at = None
    last_read = None
    try:
        while True:
            if fd is None:
                try:
                    fd = os.open(args.output, os.O_RDONLY)
                except FileNotFoundError:
                    pass
            if fd is not None:
                chunk = os.read(fd, 1 << 20)
                now = time.time_ns()
                if last_read is not None:
                    gaps_ns.append(now - last_read)
                last_read = now
                while chunk:
                    data = rest + chunk
                    cut = data.rfind(b"\n") + 1
                    rest = data[cut:]
                    for line in data[:cut].splitlines():
                        i = line.rfind(b" t_ns=")
                        j = line.rfind(b" seq=", 0, i)
                        if i < 0 or j < 0:
                            continue
                        seq = int(line[j + 5:i])
                        if seq in seen:
                            dups += 1
                            continue
                        seen.add(seq)
                        lat_ns.append(now - int(line[i + 6:]))
                    chunk = os.read(fd, 1 << 20)
                    now = time.time_ns()
            if total is None and writer.poll() is not None:
                summary = json.loads(writer.stdout.read() or "{}")
                total = summary.get("lines", 0)
                writer_summary = summary
                writer_done_at = time.monotonic()
            if total is not None and (
                len(seen) >= total or time.monotonic() - writer_done_at > args.grace
            ):
                break
            time.sleep(poll)
    finally:
        if writer.poll() is None:
            writer.terminate()
            writer.wait()
        if fd is not None:
            os.close(fd)
    if writer.returncode != 0:
        print(f"latency: the writer failed (exit {writer.returncode})", file=sys.stderr)
        return 1

    lat = sorted(v / 1e6 for v in lat_ns)
    gaps = sorted(v / 1e6 for v in gaps_ns)
    lost = total - len(seen)
    result = {
        "lines_written": total,
        "write_seconds": round(writer_summary["seconds"], 3),
        "write_calls": writer_summary["writes"],
        "lines_seen": len(seen),
        "lost": lost,
        "duplicates": dups,
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "p999_ms": pct(lat, 99.9),
        "max_ms": lat[-1] if lat else float("nan"),
        "mean_ms": sum(lat) / len(lat) if lat else float("nan"),
        "poll_ms": args.poll_ms,
        "gap_p50_ms": pct(gaps, 50),
        "gap_p99_ms": pct(gaps, 99),
        "gap_max_ms": gaps[-1] if gaps else float("nan"),
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    r = result
    print(f"lines: {r['lines_written']} written in {r['write_seconds']:.2f} s "
          f"({r['write_calls']} write calls), {r['lines_seen']} seen in the sink, "
          f"{r['lost']} lost, {r['duplicates']} duplicates")
    print(f"latency ms: p50 {r['p50_ms']:.2f}  p90 {r['p90_ms']:.2f}  p99 {r['p99_ms']:.2f}  "
          f"p99.9 {r['p999_ms']:.2f}  max {r['max_ms']:.2f}  mean {r['mean_ms']:.2f}")
    print(f"reader: polls every {args.poll_ms:g} ms; measured gaps p50 {r['gap_p50_ms']:.2f} / "
          f"p99 {r['gap_p99_ms']:.2f} / max {r['gap_max_ms']:.2f} ms. Each latency is at most "
          f"one gap too high (~half a gap on average), never too low.")
    return 0 if lost == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="append timestamped lines at a fixed rate")
    r = sub.add_parser("run", help="write and follow the sink; print percentiles")
    for p in (w, r):
        p.add_argument("--input", required=True, help="file logcatch tails")
        p.add_argument("--rate", type=int, default=10_000, help="lines per second")
        p.add_argument("--seconds", type=float, default=10.0)
    r.add_argument("--output", required=True, help="logcatch's sink file")
    r.add_argument("--poll-ms", type=float, default=1.0, help="reader polling interval")
    r.add_argument("--grace", type=float, default=10.0,
                   help="seconds to wait for the last lines after the writer ends")
    r.add_argument("--json", help="also write the results here as JSON")
    args = ap.parse_args()
    return write(args) if args.cmd == "write" else run(args)


if __name__ == "__main__":
    sys.exit(main())
