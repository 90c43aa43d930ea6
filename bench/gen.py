#!/usr/bin/env python3
"""Writes a deterministic, realistic log file for the benchmark (stdlib only).

Each line is about 105 bytes: an RFC 3339 timestamp, a level (about 30% DEBUG, 45% INFO,
15% WARN, 10% ERROR), a component, a short message and key=value fields, e.g.

    2024-03-01T12:00:00.001Z DEBUG [api] parsed headers GET path=/v1/orders status=200 dur_ms=695 req=000001

Log time advances 1 ms a line (the date is fixed: meant for up to a few million lines).

Only DEBUG lines contain the string "DEBUG", so `grep -v DEBUG` drops exactly those.
The same --seed and --lines always give the same bytes.

With --format json each line is instead one JSON object with the same content (about 190
bytes), e.g.

    {"ts":"2024-03-01T12:00:00.001Z","level":"DEBUG","component":"api","msg":"parsed headers","method":"GET","path":"/v1/orders","status":200,"dur_ms":695,"req":"000001"}

for filters that parse JSON; only DEBUG lines contain "DEBUG" there too.

Usage: gen.py --lines 1000000 --out FILE [--seed 42] [--format text|json]
"""

import argparse
import random
import sys

LEVELS = ["DEBUG", "INFO ", "WARN ", "ERROR"]
LEVEL_WEIGHTS = [30, 45, 15, 10]
COMPONENTS = ["api", "db", "auth", "cache", "worker", "sched", "http", "queue"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
PATHS = ["/v1/users", "/v1/orders", "/v1/items", "/health", "/v1/login", "/v2/search"]
MESSAGES = {
    "DEBUG": ["cache lookup", "query plan chosen", "conn reused", "parsed headers"],
    "INFO ": ["request done", "job finished", "user logged in", "flushed buffer"],
    "WARN ": ["slow request", "retrying call", "pool near limit", "deprecated api"],
    "ERROR": ["request failed", "db timeout", "upstream refused", "bad payload"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--format", choices=["text", "json"], default="text")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    n = args.lines
    # Draw every random choice up front in bulk: much faster than per-line calls.
    levels = rng.choices(LEVELS, weights=LEVEL_WEIGHTS, k=n)
    comps = rng.choices(COMPONENTS, k=n)
    methods = rng.choices(METHODS, k=n)
    paths = rng.choices(PATHS, k=n)
    msg_idx = rng.choices(range(4), k=n)
    durs = rng.choices(range(1, 2000), k=n)
    statuses = {"DEBUG": 200, "INFO ": 200, "WARN ": 429, "ERROR": 503}

    base = 1_709_294_400  # 2024-03-01T12:00:00Z
    out = []
    with open(args.out, "w", encoding="ascii", newline="\n") as f:
        for i in range(n):
            # 1,000 lines per second of log time: timestamps move forward, as in a real log.
            ms = i  # milliseconds since base
            s = base + ms // 1000
            hh = (s // 3600) % 24
            mm = (s // 60) % 60
            ss = s % 60
            lvl = levels[i]
            ts = f"2024-03-01T{hh:02d}:{mm:02d}:{ss:02d}.{ms % 1000:03d}Z"
            if args.format == "json":
                out.append(
                    f'{{"ts":"{ts}","level":"{lvl.strip()}","component":"{comps[i]}",'
                    f'"msg":"{MESSAGES[lvl][msg_idx[i]]}","method":"{methods[i]}",'
                    f'"path":"{paths[i]}","status":{statuses[lvl]},"dur_ms":{durs[i]},'
                    f'"req":"{i:06x}"}}\n'
                )
            else:
                out.append(
                    f"{ts} {lvl} [{comps[i]}] "
                    f"{MESSAGES[lvl][msg_idx[i]]} {methods[i]} path={paths[i]} "
                    f"status={statuses[lvl]} dur_ms={durs[i]} req={i:06x}\n"
                )
            if len(out) == 65536:
                f.write("".join(out))
                out.clear()
        f.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
