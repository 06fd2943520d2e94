"""The command-line tools against a running feed: ``tap --json`` events/s beside the official
``massive`` client, and how long ``status`` / ``tap`` take to answer, in one table.

Why this shape (issue 17's goals for the CLI):

* **Throughput, same stream, each consumer its own process.** The simulator replays a real file
  at ``--max`` (Polygon protocol); ``massive`` reads it directly (counting the events its parser
  hands over, as ``bench.feed_throughput`` runs it), then ``live-monitor tap SYM --json`` reads the
  same file through a fresh feed. A tap's events/s counts the JSON lines that reach the reading
  end of its stdout pipe, first line to last (its start-up is not in the rate); the reader only
  counts newlines in 1 MiB reads, so it costs almost nothing. Both runs alternate ``repeats``
  times in the same minute; the ratio is of the best of each.
* **Answer times are wall clock of the whole command** (interpreter start, imports, request,
  output) as a user sees them: ``status`` with a feed up, ``status`` with no feed (a free
  loopback port: nothing listens), ``tap SYM --count 1`` to its first event on a live feed
  (the simulator's synthetic market at x30: events always flowing). Median of ``n`` runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, bench_env, free_port, replay_dir, start, stop
from bench.feed_throughput import _MASSIVE  # the one way the official client is run in the benches

PY = sys.executable
CLI = [PY, "-m", "supervisor"]


def _sim(*args: str) -> tuple[subprocess.Popen, int]:
    proc, line = start([PY, "-m", "feed_process.sim", "--port", "0", "--log-level", "WARNING", *args], "LISTENING")
    return proc, int(line.split()[1].rsplit(":", 1)[1])


def _feed(sim_port: int) -> tuple[subprocess.Popen, str]:
    ctl = f"tcp://127.0.0.1:{free_port()}"
    proc, _ = start([*CLI, "feed", "--feed", ctl, "--upstream", f"ws://127.0.0.1:{sim_port}/stocks",
                     "--protocol", "polygon", "--no-backfill", "--hwm", "100000", "--log-level", "WARNING"],
                    "LISTENING")
    return proc, ctl


def _massive(path: Path, topics: str, expected: int) -> dict:
    sim, port = _sim("--replay", str(path), "--max", "--keep-time")
    try:
        out = subprocess.run([PY, "-c", _MASSIVE, f"127.0.0.1:{port}", topics, str(expected), "0"],
                             capture_output=True, text=True, timeout=180, cwd=REPO, env=bench_env())
        if out.returncode != 0:
            raise RuntimeError(f"massive client failed: {out.stderr.strip().splitlines()[-1:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        stop(sim)


def _count_lines(proc: subprocess.Popen, expected: int, idle: float) -> dict:
    """Newlines read from ``proc``'s stdout until ``expected`` or ``idle`` seconds of silence."""
    import selectors

    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    n, first, last = 0, None, None
    while n < expected:
        if not sel.select(idle):
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        now = time.perf_counter()
        if first is None:
            first = now
        last = now
        n += chunk.count(b"\n")
    sel.close()
    return {"events": n, "seconds": (last - first) if first is not None and last is not None else 0.0}


def _tap(path: Path, symbol: str, expected: int) -> dict:
    sim, port = _sim("--replay", str(path), "--max", "--keep-time")
    try:
        feed, ctl = _feed(port)
        try:
            tap = subprocess.Popen([*CLI, "tap", symbol, "--json", "--feed", ctl], cwd=REPO, env=bench_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                r = _count_lines(tap, expected, 5.0)
                import psutil

                t = psutil.Process(tap.pid).cpu_times()
                r["cpu_s"] = t.user + t.system
            finally:
                stop(tap)
            return r
        finally:
            stop(feed)
    finally:
        stop(sim)


def _wall(cmd: list[str], n: int) -> tuple[float, int, str]:
    """Median wall seconds of ``cmd`` over ``n`` runs, its last exit code and last stderr line."""
    times, rc, err = [], 0, ""
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO, env=bench_env())
        times.append(time.perf_counter() - t0)
        rc, err = r.returncode, (r.stderr.strip().splitlines() or [""])[-1]
    return statistics.median(times), rc, err


def _answer_times(n: int) -> list[dict]:
    rows = []
    sim, port = _sim("--speed", "30")
    try:
        feed, ctl = _feed(port)
        try:
            s, rc, _ = _wall([*CLI, "status", "--feed", ctl], n)
            rows.append({"name": "status, feed up (wall)", "seconds": round(s, 3), "exit": rc, "target_s": 0.3})
            s, rc, _ = _wall([*CLI, "tap", "TSLA", "--count", "1", "--feed", ctl], n)
            rows.append({"name": "tap TSLA --count 1, first event (wall)", "seconds": round(s, 3), "exit": rc,
                         "target_s": 0.3})
        finally:
            stop(feed)
    finally:
        stop(sim)
    s, rc, err = _wall([*CLI, "status", "--feed", f"tcp://127.0.0.1:{free_port()}"], n)
    rows.append({"name": "status, no feed (wall)", "seconds": round(s, 3), "exit": rc, "target_s": 1.0,
                 "says": err[:60]})
    s, _, _ = _wall([PY, "-c", "pass"], n)
    rows.append({"name": "python -c pass (the floor)", "seconds": round(s, 3)})
    return rows


def measure(quick: bool) -> dict:
    files = replay_dir()
    name = "TSLA-2025-06-27.jsonl.gz"
    path = files.find(name)
    if path is None:
        name = "AAPL-2025-06-27-open.jsonl.gz"
        path = files.find(name)
    if path is None:
        return {"title": "cli", "rows": [], "notes": ["replay data not found: skipped"]}
    symbol = name.split("-")[0]
    from feed_process.sim.replay import load_replay

    expected = len(load_replay(path, keep_time=True))
    topics = f"T.{symbol},Q.{symbol},AM.{symbol}"
    repeats = 1 if quick else 3
    massive, taps = [], []
    for _ in range(repeats):
        massive.append(_massive(path, topics, expected))
        taps.append(_tap(path, symbol, expected))

    def rate(r: dict) -> float:
        return r["events"] / r["seconds"] if r.get("seconds") else 0.0

    bm, bt = max(massive, key=rate), max(taps, key=rate)
    ratio = rate(bt) / rate(bm) if rate(bm) else 0.0
    rows = [
        {"name": "massive client (json), direct", "events": bm["events"], "events_per_s": rate(bm),
         "runs_events_per_s": " ".join(f"{rate(r):,.0f}" for r in massive)},
        {"name": f"live-monitor tap {symbol} --json via feed", "events": bt["events"], "events_per_s": rate(bt),
         "runs_events_per_s": " ".join(f"{rate(r):,.0f}" for r in taps), "x_massive": round(ratio, 2),
         "cpu_s": round(bt.get("cpu_s", 0.0), 2)},
    ]
    rows += _answer_times(3 if quick else 7)
    return {"title": f"cli: tap --json vs massive on {name} --max; status / tap answer times", "rows": rows,
            "notes": [f"tap --json delivers {ratio:.2f}x the official massive client's events/s (target >= 1.0)",
                      "tap events = JSON lines read from its stdout pipe, first to last; massive = events its "
                      "parser handed over; both alternate in the same run, best of each",
                      "answer times: wall clock of the whole command, median; targets 0.3 s (feed up), 1 s (no feed)"],
            "ratio_vs_massive": ratio}


if __name__ == "__main__":  # python -m bench.cli [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
