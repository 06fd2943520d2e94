"""The command-line tools against a running feed: ``tap --json`` events/s beside the official
``massive`` client, and how long ``status`` / ``tap`` take to answer, in one table.

Why this shape (issue 17's goals for the CLI):

* **Throughput, same stream, each consumer its own process.** The simulator replays a real file
  at ``--max`` (Polygon protocol); ``massive`` reads it directly (counting the events its parser
  hands over, run as ``bench.feed_throughput`` runs it), then ``live-monitor tap SYM --json`` reads
  the same file through a fresh feed. A tap's events/s counts the JSON lines that reach the reading
  end of its stdout pipe, first line to last (its start-up is not in the rate); the reader only
  counts newlines in 1 MiB reads, so it costs almost nothing. The two alternate ``repeats`` times
  in the same run and the ratio is of the best of each; ``cpu_us_per_event`` (the consumer's own
  CPU, start-up included) is the figure that load on the machine disturbs least. With a simulator
  that has ``--frame-events`` the run is repeated at 50-event frames (real frames are small).
* **Answer times are wall clock of the whole command** (interpreter start, imports, request,
  output) as a user sees them, median of ``n`` runs, beside ``python -c pass`` (the floor):
  ``status`` with a feed up; ``status`` with no feed (a free loopback port: nothing listens);
  ``tap SYM --count 1`` to its first event on a feed whose symbol already flows (the simulator's
  synthetic market at x30, another subscriber holding the symbol, as a window would).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, bench_env, free_port, replay_dir, start, stop
from bench.feed_throughput import _MASSIVE  # the one way the benches run the official client

PY = sys.executable
CLI = [PY, "-m", "supervisor"]
REPLAY = "TSLA-2025-06-27.jsonl.gz"


def _sim(*args: str) -> tuple[subprocess.Popen, int]:
    proc, line = start([PY, "-m", "feed_process.sim", "--port", "0", "--log-level", "WARNING", *args], "LISTENING")
    return proc, int(line.split()[1].rsplit(":", 1)[1])


def _replay_sim(path: Path, frame: int | None) -> tuple[subprocess.Popen, int]:
    return _sim("--replay", str(path), "--max", "--keep-time", *(["--frame-events", str(frame)] if frame else []))


def _feed(sim_port: int) -> tuple[subprocess.Popen, str]:
    ctl = f"tcp://127.0.0.1:{free_port()}"
    proc, _ = start([*CLI, "feed", "--feed", ctl, "--upstream", f"ws://127.0.0.1:{sim_port}/stocks",
                     "--protocol", "polygon", "--no-backfill", "--hwm", "100000", "--log-level", "WARNING"],
                    "LISTENING")
    return proc, ctl


def _sim_has_frames() -> bool:
    r = subprocess.run([PY, "-m", "feed_process.sim", "--help"], capture_output=True, text=True, cwd=REPO,
                       env=bench_env(), timeout=60)
    return "--frame-events" in r.stdout


def _massive(path: Path, topics: str, expected: int, frame: int | None) -> dict:
    sim, port = _replay_sim(path, frame)
    try:
        out = subprocess.run([PY, "-c", _MASSIVE, f"127.0.0.1:{port}", topics, str(expected), "0"],
                             capture_output=True, text=True, timeout=300, cwd=REPO, env=bench_env())
        if out.returncode != 0:
            raise RuntimeError(f"massive client failed: {out.stderr.strip().splitlines()[-1:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        stop(sim)


def _count_lines(proc: subprocess.Popen, expected: int, idle: float) -> dict:
    """Newlines read from ``proc``'s stdout until ``expected`` or ``idle`` seconds of silence."""
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
        last = time.perf_counter()
        first = first or last
        n += chunk.count(b"\n")
    sel.close()
    return {"events": n, "seconds": (last - first) if first and last else 0.0}


def _cpu_of(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _tap(path: Path, symbol: str, expected: int, frame: int | None) -> dict:
    sim, port = _replay_sim(path, frame)
    try:
        feed, ctl = _feed(port)
        try:
            tap = subprocess.Popen([*CLI, "tap", symbol, "--json", "--feed", ctl], cwd=REPO, env=bench_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                r = _count_lines(tap, expected, 5.0)
                r["cpu_s"] = _cpu_of(tap.pid)
            finally:
                stop(tap)
            return r
        finally:
            stop(feed)
    finally:
        stop(sim)


def _wall(cmd: list[str], n: int) -> tuple[float, float, int, str]:
    """Median wall and CPU seconds of ``cmd`` over ``n`` runs, its last exit code and last stderr line."""
    walls, cpus, rc, err = [], [], 0, ""
    for _ in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, env=bench_env())
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        rc, err = r.returncode, (r.stderr.strip().splitlines() or [""])[-1]
    return statistics.median(walls), statistics.median(cpus), rc, err


def _answer_times(n: int) -> list[dict]:
    rows = []

    def row(name: str, cmd: list[str], target: float | None) -> dict:
        wall, cpu, rc, err = _wall(cmd, n)
        r = {"name": name, "seconds": round(wall, 3), "cpu_s": round(cpu, 3), "exit": rc}
        if target is not None:
            r["target_s"] = target
        rows.append(r)
        return r

    floor = row("python -c pass (the floor)", [PY, "-c", "pass"], None)
    sim, port = _sim("--speed", "30", "--clock", "virtual")
    try:
        feed, ctl = _feed(port)
        try:
            row("status, feed up", [*CLI, "status", "--feed", ctl], 0.3)
            holder = subprocess.Popen([*CLI, "tap", "TSLA", "--feed", ctl], cwd=REPO, env=bench_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                if not _count_lines(holder, 1, 30.0)["events"]:  # TSLA flows upstream now
                    raise RuntimeError("no TSLA event within 30 s on the synthetic feed")
                row("tap TSLA --count 1, to its first event", [*CLI, "tap", "TSLA", "--count", "1", "--feed", ctl],
                    0.3)
            finally:
                stop(holder)
        finally:
            stop(feed)
    finally:
        stop(sim)
    absent = row("status, no feed (nothing listens)", [*CLI, "status", "--feed", f"tcp://127.0.0.1:{free_port()}"],
                 1.0)
    for r in rows[1:]:
        r["over_floor_s"] = round(r["seconds"] - floor["seconds"], 3)
    if absent["exit"] == 0:
        absent["name"] += " - EXIT 0?"
    return rows


def measure(quick: bool) -> dict:
    files = replay_dir()
    name = REPLAY if files.find(REPLAY) else "AAPL-2025-06-27-open.jsonl.gz"
    path = files.find(name)
    if path is None:
        return {"title": "cli", "rows": [], "notes": ["replay data not found: skipped"]}
    symbol = name.split("-")[0]
    from feed_process.sim.replay import load_replay

    expected = len(load_replay(path, keep_time=True))
    topics = f"T.{symbol},Q.{symbol},AM.{symbol}"
    repeats = 1 if quick else 3
    frames: list[int | None] = [None] + ([50] if not quick and _sim_has_frames() else [])

    def rate(r: dict) -> float:
        return r["events"] / r["seconds"] if r.get("seconds") else 0.0

    def us(r: dict) -> float:
        return round(r["cpu_s"] / r["events"] * 1e6, 2) if r.get("events") and r.get("cpu_s") else 0.0

    rows, ratios = [], {}
    for frame in frames:
        massive, taps = [], []
        for _ in range(repeats):
            massive.append(_massive(path, topics, expected, frame))
            taps.append(_tap(path, symbol, expected, frame))
        bm, bt = max(massive, key=rate), max(taps, key=rate)
        ratio = rate(bt) / rate(bm) if rate(bm) else 0.0
        label = f"{frame}-event frames" if frame else "sim's default frames"
        ratios[label] = round(ratio, 2)
        rows.append({"name": f"massive client (json), direct, {label}", "events": bm["events"],
                     "events_per_s": rate(bm), "cpu_us_per_event": us(bm),
                     "runs_events_per_s": " ".join(f"{rate(r):,.0f}" for r in massive)})
        rows.append({"name": f"tap {symbol} --json via the feed, {label}", "events": bt["events"],
                     "events_per_s": rate(bt), "cpu_us_per_event": us(bt),
                     "runs_events_per_s": " ".join(f"{rate(r):,.0f}" for r in taps), "x_massive": round(ratio, 2)})
    rows += _answer_times(3 if quick else 7)
    return {"title": f"cli: tap --json vs massive on {name} --max; status / tap answer times", "rows": rows,
            "notes": [f"tap --json events/s over massive's, same stream, same run: {ratios} (target >= 1.0)",
                      "tap events = JSON lines read from its stdout pipe, first to last; massive = events its "
                      "parser handed over; alternating runs, best of each; cpu_us_per_event = the consumer "
                      "process's own CPU per event (start-up included)",
                      "answer times: wall clock of the whole command, median; targets 0.3 s (feed up), "
                      "1 s (no feed); over_floor_s = minus python -c pass"],
            "ratio_vs_massive": ratios}


if __name__ == "__main__":  # python -m bench.cli [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
