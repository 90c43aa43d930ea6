#!/usr/bin/env python3
"""Reload benchmark for a running logcatch (stdlib only).

`reload.py --logcatch BIN` runs `BIN run` (a release build: bench/run.sh builds it and passes
it; `LOGCATCH=BIN` works too; this script builds nothing) on a config with two pipelines,
a and b, each tailing its own file that a writer process appends to at --rate lines/s, each
into a file sink, and measures:

1. b's output pauses while a is reloaded. A follower process reads b's sink file every
   --poll-ms and records when new lines arrive (CLOCK_MONOTONIC, shared by all processes).
   During --reloads reloads of a (each a new config renamed over the old one, as editors
   save, changing a's batch linger; the next one is written once the daemon has logged
   `pipeline changed pipeline=a` and --settle has passed), the longest gap between two
   consecutive arrivals is compared with the longest gap over an equal period without
   reloads. Target: at most b's batch linger plus that normal gap (b is not touched by a
   reload, not even paused). The follower's own polling gaps are reported: they are the
   resolution of every gap figure (a gap can be too long by one polling gap, never too short).

2. Reload latency: the time from the rename of a config that gives a a new sink path to
   the first complete line in that new file, over --reps repetitions (p50 and max). It
   includes the file watcher's debounce (about 200 ms). Target: under 500 ms.

Finally the writer stops, every line written must be in the sinks (a's lines are spread over
its successive sink files), and the daemon must stop cleanly on SIGTERM. A table of targets
with ok/MISSED is printed on stdout, progress on stderr; --json writes the figures.

With `--store etcd` pipeline a is a key of a real etcd (`etcd` and `etcdctl` on PATH, started
here on free loopback ports) instead of a part of the file, and every change of a is an
`etcdctl put` of its key: the same two figures measure the central config path (etcd watch →
validate → diff → apply). Its latency target is 200 ms (there is no debounce on that path);
the time is taken before `etcdctl` is started, so it includes that client's own start-up,
which is reported beside it (the median time of an `etcdctl put` against the same etcd).

`reload.py write ...` and `reload.py follow ...` are the writer and the follower on their
own (run by the benchmark).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# About 100 bytes, like bench/latency.py; the writer fills in the pipeline and seq.
LINE = (
    "2024-03-01T12:00:00.000Z INFO  [api] request done GET path=/v1/users status=200 "
    "p={p} seq={seq}\n"
)


def log(msg: str) -> None:
    print(f"reload: {msg}", file=sys.stderr, flush=True)


def pct(sorted_vals: list, p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


# --- writer ---------------------------------------------------------------------------------

def write(args: argparse.Namespace) -> int:
    """Appends numbered lines to each of --input at --rate lines/s each until --stop-file
    exists; prints a JSON summary (lines written per file)."""
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for p in args.input]
    names = [os.path.basename(p).split(".")[0] for p in args.input]
    start = time.monotonic_ns()
    seq = 0
    checks = 0
    while True:
        checks += 1
        if checks % 64 == 0 and os.path.exists(args.stop_file):
            break
        due = (time.monotonic_ns() - start) * args.rate // 1_000_000_000 + 1
        if due > seq:
            for fd, name in zip(fds, names):
                os.write(fd, "".join(LINE.format(p=name, seq=s) for s in range(seq, due)).encode())
            seq = due
        time.sleep(0.0005)
    for fd in fds:
        os.close(fd)
    print(json.dumps({"lines": seq, "seconds": (time.monotonic_ns() - start) / 1e9}), flush=True)
    return 0


# --- follower -------------------------------------------------------------------------------

def follow(args: argparse.Namespace) -> int:
    """Reads --output every --poll-ms until --stop-file exists; writes to --json the arrival
    times (monotonic ns of each read that found new complete lines, and the lines so far) and
    the time of every poll."""
    poll = args.poll_ms / 1000
    fd = None
    arrivals = []
    polls = []
    total = 0
    checks = 0
    while True:
        checks += 1
        if checks % 32 == 0 and os.path.exists(args.stop_file):
            break
        if fd is None:
            try:
                fd = os.open(args.output, os.O_RDONLY)
            except FileNotFoundError:
                pass
        if fd is not None:
            new = 0
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                new += chunk.count(b"\n")
            now = time.monotonic_ns()
            polls.append(now)
            if new:
                total += new
                arrivals.append((now, total))
        time.sleep(poll)
    if fd is not None:
        os.close(fd)
    with open(args.json, "w") as f:
        json.dump({"arrivals": arrivals, "polls": polls}, f)
    return 0


# --- the benchmark --------------------------------------------------------------------------

CONFIG = """\
data_dir: ./data
checkpoint: {{ interval: 1s }}
pipelines:
  a:
    sources:
      - {{ type: file, include: ["{dir}/a.log"], start_at: beginning }}
    batch: {{ linger: {a_linger} }}
    sinks:
      - {{ type: file, path: {a_sink} }}
  b:
    sources:
      - {{ type: file, include: ["{dir}/b.log"], start_at: beginning }}
    batch: {{ linger: {b_linger_ms}ms }}
    sinks:
      - {{ type: file, path: b-out.log }}
"""


A_DOC = """\
sources:
  - {{ type: file, include: ["{dir}/a.log"], start_at: beginning }}
batch: {{ linger: {a_linger} }}
sinks:
  - {{ type: file, path: {a_sink} }}
"""

REMOTE_CONFIG = """\
data_dir: ./data
checkpoint: {{ interval: 1s }}
remote:
  etcd: {{ endpoints: ["{endpoint}"], prefix: /bench/, host: bench }}
pipelines:
  b:
    sources:
      - {{ type: file, include: ["{dir}/b.log"], start_at: beginning }}
    batch: {{ linger: {b_linger_ms}ms }}
    sinks:
      - {{ type: file, path: b-out.log }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdStore:
    """A single-member etcd on free loopback ports with its data in `work`."""

    def __init__(self, work: str):
        self.port, peer = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        peer_url = f"http://127.0.0.1:{peer}"
        self.log = open(os.path.join(work, "etcd.log"), "w")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"bench={peer_url}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.ctl("endpoint", "health", check=False) == 0:
                return
            time.sleep(0.1)
        raise SystemExit("reload: etcd did not start")

    def ctl(self, *args: str, stdin: str = None, check: bool = True) -> int:
        env = dict(os.environ, ETCDCTL_API="3")
        r = subprocess.run(["etcdctl", "--endpoints", self.endpoint, *args], env=env,
                           input=stdin, text=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise SystemExit(f"reload: etcdctl {' '.join(args)}: {r.stderr}")
        return r.returncode

    def put(self, key: str, value: str) -> int:
        """`etcdctl put KEY` with the value on stdin; the monotonic ns before it started."""
        t = time.monotonic_ns()
        self.ctl("put", key, stdin=value)
        return t

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


class Bench:
    def __init__(self, args: argparse.Namespace, work: str):
        self.args = args
        self.store = None
        self.work = work
        self.cfg = os.path.join(work, "logcatch.yaml")
        self.daemon_log = os.path.join(work, "daemon.log")
        self.stop_file = os.path.join(work, "stop")
        self.a_sinks = []
        self.daemon = None
        self.writer = None
        self.follower = None

    def config(self, a_linger: str, a_sink: str) -> str:
        if a_sink not in self.a_sinks:
            self.a_sinks.append(a_sink)
        return CONFIG.format(dir=self.work, a_linger=a_linger, a_sink=a_sink,
                             b_linger_ms=self.args.b_linger_ms)

    def change_a(self, a_linger: str, a_sink: str) -> int:
        """Gives a a new definition (a renamed config file, or a put of its etcd key); the
        monotonic ns it was given at."""
        if self.store is None:
            return self.replace_config(self.config(a_linger, a_sink))
        if a_sink not in self.a_sinks:
            self.a_sinks.append(a_sink)
        doc = A_DOC.format(dir=self.work, a_linger=a_linger, a_sink=a_sink)
        return self.store.put("/bench/pipelines/a", doc)

    def replace_config(self, text: str) -> int:
        """Writes the config as editors save (temp file, rename); the monotonic ns of the
        rename."""
        tmp = os.path.join(self.work, ".logcatch.yaml.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        t = time.monotonic_ns()
        os.rename(tmp, self.cfg)
        return t

    def log_text(self) -> str:
        with open(self.daemon_log, errors="replace") as f:
            return f.read()

    def events(self, msg: str, pipeline: str) -> int:
        """How many `msg` lines (`pipeline changed`, ...) name `pipeline`."""
        pat = re.compile(r'(?:^|\s)pipeline="?' + re.escape(pipeline) + r'"?(?:\s|$)')
        return sum(1 for l in self.log_text().splitlines() if msg in l and pat.search(l))

    def wait(self, what: str, cond, timeout: float = 30.0, every: float = 0.002) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            if self.daemon is not None and self.daemon.poll() is not None:
                raise SystemExit(f"reload: logcatch exited ({self.daemon.returncode}) while "
                                 f"waiting for {what}:\n{self.log_text()}")
            time.sleep(every)
        raise SystemExit(f"reload: timed out after {timeout} s waiting for {what}\n"
                         f"{self.log_text()[-4000:]}")

    def start(self) -> None:
        a = self.args
        for name in ("a.log", "b.log"):
            open(os.path.join(self.work, name), "w").close()
        with open(self.cfg, "w") as f:
            if a.store == "etcd":
                self.store = EtcdStore(self.work)
                self.change_a("5ms", "a-out.log")
                f.write(REMOTE_CONFIG.format(dir=self.work, endpoint=self.store.endpoint,
                                             b_linger_ms=a.b_linger_ms))
            else:
                f.write(self.config("5ms", "a-out.log"))
        me = os.path.abspath(__file__)
        self.writer = subprocess.Popen(
            [sys.executable, me, "write", "--input", os.path.join(self.work, "a.log"),
             "--input", os.path.join(self.work, "b.log"), "--rate", str(a.rate),
             "--stop-file", self.stop_file],
            stdout=subprocess.PIPE, text=True)
        env = dict(os.environ, LOGCATCH_LOG=os.environ.get("LOGCATCH_LOG", "info"))
        with open(self.daemon_log, "w") as err:
            self.daemon = subprocess.Popen([a.logcatch, "run", "-c", self.cfg], env=env,
                                           stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=err)
        self.follower = subprocess.Popen(
            [sys.executable, me, "follow", "--output", os.path.join(self.work, "b-out.log"),
             "--poll-ms", str(a.poll_ms), "--stop-file", self.stop_file,
             "--json", os.path.join(self.work, "arrivals.json")])
        out = lambda p: os.path.join(self.work, p)
        self.wait("both pipelines delivering", lambda: all(
            os.path.exists(out(p)) and os.path.getsize(out(p)) > 0
            for p in ("a-out.log", "b-out.log")))

    def reloads(self) -> tuple:
        """Reloads a --reloads times; (start ns, end ns, per-reload apply times in ms)."""
        a = self.args
        changed0 = self.events("pipeline changed", "a")
        unchanged0 = self.events("pipeline unchanged", "b")
        applied_ms = []
        t_start = time.monotonic_ns()
        for i in range(1, a.reloads + 1):
            linger = "6ms" if i % 2 else "5ms"
            t = self.change_a(linger, "a-out.log")
            self.wait(f"reload {i} of a", lambda: self.events("pipeline changed", "a") >= changed0 + i)
            applied_ms.append((time.monotonic_ns() - t) / 1e6)
            time.sleep(a.settle)
        t_end = time.monotonic_ns()
        unchanged = self.events("pipeline unchanged", "b") - unchanged0
        changed_b = self.events("pipeline changed", "b")
        if unchanged != a.reloads or changed_b:
            log(f"warning: b logged `pipeline unchanged` {unchanged} times and `pipeline changed` "
                f"{changed_b} times over {a.reloads} reloads")
        return t_start, t_end, applied_ms

    def new_sink_latency(self) -> list:
        """Renames in configs that give a a new sink; ms from each rename to the first
        complete line in the new sink file."""
        a = self.args
        out = []
        changed0 = self.events("pipeline changed", "a")
        for rep in range(a.reps):
            sink = f"a-out-{rep}.log"
            path = os.path.join(self.work, sink)
            t = self.change_a("5ms", sink)

            def first_line() -> bool:
                try:
                    with open(path, "rb") as f:
                        return b"\n" in f.read(4096)
                except FileNotFoundError:
                    return False

            self.wait(f"a line in {sink}", first_line, every=0.0005)
            out.append((time.monotonic_ns() - t) / 1e6)
            self.wait(f"reload of a for {sink}",
                      lambda: self.events("pipeline changed", "a") >= changed0 + rep + 1)
            time.sleep(a.settle)
        return out

    def finish(self) -> dict:
        """Stops the writer and the follower, waits for every line, stops the daemon;
        returns what the audit found."""
        open(self.stop_file, "w").close()
        summary = json.loads(self.writer.communicate(timeout=60)[0] or "{}")
        self.follower.wait(timeout=60)
        written = summary["lines"]
        seq = re.compile(rb" seq=(\d+)$")

        def seen(paths) -> tuple:
            nums = set()
            total = 0
            for p in paths:
                try:
                    with open(os.path.join(self.work, p), "rb") as f:
                        for line in f:
                            m = seq.search(line.rstrip(b"\n"))
                            if m:
                                nums.add(int(m.group(1)))
                                total += 1
                except FileNotFoundError:
                    pass
            return nums, total

        def complete() -> bool:
            return all(len(seen(ps)[0]) >= written for ps in (self.a_sinks, ["b-out.log"]))

        try:
            self.wait("every line delivered", complete, timeout=60, every=0.1)
        except SystemExit as e:
            log(str(e).splitlines()[0])
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(timeout=60)
        result = {"written_per_pipeline": written, "daemon_exit": rc}
        for name, paths in (("a", self.a_sinks), ("b", ["b-out.log"])):
            nums, total = seen(paths)
            result[f"{name}_lost"] = sum(1 for s in range(written) if s not in nums)
            result[f"{name}_duplicates"] = total - len(nums)
        return result

    def stop_all(self) -> None:
        try:
            open(self.stop_file, "w").close()
        except OSError:
            pass
        for p in (self.writer, self.follower):
            if p is not None and p.poll() is None:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        if self.store is not None:
            self.store.stop()

    def client_ms(self, reps: int = 7) -> float:
        """The median time of one `etcdctl put` (the client's own share of each change)."""
        times = []
        for _ in range(reps):
            t = self.store.put("/bench/probe", "x")
            times.append((time.monotonic_ns() - t) / 1e6)
        return pct(sorted(times), 50)


def gaps_in(times: list, start: int, end: int) -> list:
    """Gaps (ms) between consecutive times whose later end lies in (start, end]."""
    return [(b - a) / 1e6 for a, b in zip(times, times[1:]) if start < b <= end]


def run(args: argparse.Namespace) -> int:
    if not args.logcatch:
        raise SystemExit("reload: give the logcatch binary with --logcatch or LOGCATCH")
    if not os.access(args.logcatch, os.X_OK):
        raise SystemExit(f"reload: {args.logcatch} is not an executable")
    work = args.dir or tempfile.mkdtemp(prefix="logcatch-reload.")
    os.makedirs(work, exist_ok=True)
    work = os.path.abspath(work)
    bench = Bench(args, work)
    try:
        log(f"daemon with pipelines a and b, {args.rate} lines/s each, in {work}")
        bench.start()
        time.sleep(args.warmup)
        log(f"{args.reloads} reloads of a")
        r_start, r_end, applied_ms = bench.reloads()
        span = r_end - r_start
        log(f"the same {span / 1e9:.2f} s without reloads")
        time.sleep(args.settle)
        n_start = time.monotonic_ns()
        time.sleep(span / 1e9)
        n_end = time.monotonic_ns()
        log(f"{args.reps} reloads giving a a new sink")
        new_sink_ms = bench.new_sink_latency()
        client_ms = bench.client_ms() if bench.store else 0.0
        audit = bench.finish()
    finally:
        bench.stop_all()

    with open(os.path.join(work, "arrivals.json")) as f:
        follow_data = json.load(f)
    arrivals = [t for t, _ in follow_data["arrivals"]]
    polls = follow_data["polls"]
    during = sorted(gaps_in(arrivals, r_start, r_end))
    normal = sorted(gaps_in(arrivals, n_start, n_end))
    poll_during = sorted(gaps_in(polls, r_start, r_end))
    poll_normal = sorted(gaps_in(polls, n_start, n_end))
    new_sink = sorted(new_sink_ms)
    applied = sorted(applied_ms)
    result = {
        "rate": args.rate,
        "reloads": args.reloads,
        "b_linger_ms": args.b_linger_ms,
        "window_s": span / 1e9,
        "b_gap_max_ms_reloading": during[-1] if during else float("nan"),
        "b_gap_p99_ms_reloading": pct(during, 99),
        "b_gap_p50_ms_reloading": pct(during, 50),
        "b_gap_max_ms_normal": normal[-1] if normal else float("nan"),
        "b_gap_p99_ms_normal": pct(normal, 99),
        "b_gap_p50_ms_normal": pct(normal, 50),
        "poll_gap_p50_ms": pct(poll_normal + poll_during, 50),
        "poll_gap_max_ms_reloading": poll_during[-1] if poll_during else float("nan"),
        "poll_gap_max_ms_normal": poll_normal[-1] if poll_normal else float("nan"),
        "reload_applied_ms_p50": pct(applied, 50),
        "reload_applied_ms_max": applied[-1] if applied else float("nan"),
        "new_sink_ms": new_sink_ms,
        "new_sink_ms_p50": pct(new_sink, 50),
        "new_sink_ms_max": new_sink[-1] if new_sink else float("nan"),
        "store": args.store,
        "etcdctl_put_ms_p50": client_ms,
        **audit,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    r = result
    target_gap = args.b_linger_ms + r["b_gap_max_ms_normal"]
    remote = args.store == "etcd"
    change = "`etcdctl put` of a's key" if remote else "rename"
    target_ms = 200 if remote else 500
    print(f"reload: pipelines a and b, {args.rate} lines/s each; {args.reloads} "
          f"{'remote changes (etcd)' if remote else 'reloads'} of a "
          f"over {r['window_s']:.2f} s, then as long without")
    print(f"  b's output gaps ms (arrival to arrival): while a reloads p50 "
          f"{r['b_gap_p50_ms_reloading']:.2f} p99 {r['b_gap_p99_ms_reloading']:.2f} max "
          f"{r['b_gap_max_ms_reloading']:.2f}; without reloads p50 {r['b_gap_p50_ms_normal']:.2f} "
          f"p99 {r['b_gap_p99_ms_normal']:.2f} max {r['b_gap_max_ms_normal']:.2f}")
    print(f"  resolution: the follower polls every {args.poll_ms:g} ms; measured polling gaps "
          f"p50 {r['poll_gap_p50_ms']:.2f} ms, max {r['poll_gap_max_ms_reloading']:.2f} ms "
          f"(reloading) / {r['poll_gap_max_ms_normal']:.2f} ms (normal): a gap is too long by "
          f"at most one polling gap")
    print(f"  {change} -> `pipeline changed` logged: p50 {r['reload_applied_ms_p50']:.1f} ms, "
          f"max {r['reload_applied_ms_max']:.1f} ms (seen by polling the log every 2 ms)")
    if remote:
        print(f"  of which the etcdctl client's own run: p50 {client_ms:.1f} ms")
    print(f"  {change} -> first line in a's new sink ({args.reps} reps): p50 "
          f"{r['new_sink_ms_p50']:.1f} ms, max {r['new_sink_ms_max']:.1f} ms "
          f"({', '.join(f'{v:.0f}' for v in new_sink_ms)})")
    print(f"  lines: {r['written_per_pipeline']} written per pipeline; a lost {r['a_lost']} "
          f"dup {r['a_duplicates']}, b lost {r['b_lost']} dup {r['b_duplicates']}; "
          f"daemon exit {r['daemon_exit']}")
    print()
    checks = [
        (f"b's longest gap reloading <= linger {args.b_linger_ms} + normal",
         f"{r['b_gap_max_ms_reloading']:.1f}/{target_gap:.1f} ms",
         r["b_gap_max_ms_reloading"] <= target_gap),
        (f"{'put' if remote else 'rename'} -> a's new sink, p50 < {target_ms} ms",
         f"{r['new_sink_ms_p50']:.1f} ms", r["new_sink_ms_p50"] < target_ms),
        (f"{'put' if remote else 'rename'} -> a's new sink, max < {target_ms} ms",
         f"{r['new_sink_ms_max']:.1f} ms", r["new_sink_ms_max"] < target_ms),
        ("no line lost, none duplicated, exit 0",
         f"{r['a_lost'] + r['b_lost']}/{r['a_duplicates'] + r['b_duplicates']}",
         r["a_lost"] == r["b_lost"] == r["a_duplicates"] == r["b_duplicates"] == 0
         and r["daemon_exit"] == 0),
    ]
    print(f"{'target':<46} {'measured':>16}  result")
    for what, got, ok in checks:
        print(f"{what:<46} {got:>16}  {'ok' if ok else 'MISSED'}")
    if args.dir:
        log(f"its files are in {work}")
    elif args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    missed = sum(not ok for _, _, ok in checks)
    return 1 if missed and args.strict else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd")
    w = sub.add_parser("write", help="append numbered lines to files at a fixed rate")
    w.add_argument("--input", action="append", required=True)
    w.add_argument("--rate", type=int, default=2000)
    w.add_argument("--stop-file", required=True)
    f = sub.add_parser("follow", help="record when lines arrive in a file")
    f.add_argument("--output", required=True)
    f.add_argument("--poll-ms", type=float, default=1.0)
    f.add_argument("--stop-file", required=True)
    f.add_argument("--json", required=True)
    env = os.environ.get
    ap.add_argument("--logcatch", default=env("LOGCATCH"),
                    help="the logcatch binary (default $LOGCATCH)")
    ap.add_argument("--rate", type=int, default=int(env("BENCH_RELOAD_RATE", "2000")),
                    help="lines per second into each pipeline's file")
    ap.add_argument("--reloads", type=int, default=int(env("BENCH_RELOADS", "20")),
                    help="reloads of a during the gap measurement")
    ap.add_argument("--reps", type=int, default=int(env("BENCH_RELOAD_REPS", "7")),
                    help="repetitions of the new-sink latency")
    ap.add_argument("--poll-ms", type=float, default=float(env("BENCH_POLL_MS", "1")),
                    help="how often the follower reads b's sink file")
    ap.add_argument("--b-linger-ms", type=int, default=5, help="b's batch linger")
    ap.add_argument("--settle", type=float, default=0.3,
                    help="seconds between a reload taking effect and the next edit")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    ap.add_argument("--store", choices=["file", "etcd"], default=env("BENCH_RELOAD_STORE", "file"),
                    help="where pipeline a is defined: the config file, or an etcd key")
    ap.add_argument("--dir", help="work here (kept) instead of a temp dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if args.cmd == "write":
        return write(args)
    if args.cmd == "follow":
        return follow(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
