"""The window's RSS over a long stream: at 1, 10 and 50 symbols, and whether it grows or plateaus.

Why these runs: a trader's window is a chart plus a watchlist, open for a
whole session. Each run starts the real window (``live-monitor ui``,
offscreen) with a watchlist of N symbols (``watchlists.json`` in its own
config directory) and the chart on the first of them; a subscriber process
counts the feed's events on the same N symbols, and psutil samples the
window's RSS every 250 ms. Reported: RSS at 10 points of the run (by events
counted), the growth from the end of the warm-up quarter to the end, and the
slope over the second half (a least-squares line through the samples, MiB per
million events): memory that climbs after a burst and stays is the
allocator's high-water mark (slope ~0), memory that keeps climbing is a leak.

* ``TSLA --max`` (1 symbol): the TSLA replay at full speed (``--max --loop``),
  every event of it on the chart: the worst case for the chart's buffers and
  the ZeroMQ receive queue (the window can fall behind and drop at its HWM).
* ``N symbols, synthetic`` (1, 10, 50): the simulator's market at a fixed
  total rate (``--rate``) spread over the N symbols, its virtual clock at 10x so
  bars form (a bar every 6 s per symbol, after the history backfill of 10:00 New
  York), the feed with backfill as a trader runs it.

``LM_BENCH_WINDOW_TRACE=<frames>`` in the bench's environment runs the
window under :mod:`bench.window_probe` with tracemalloc and writes its probes
(``bench/results/window-probe-<run>.jsonl``): where the growth is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import REPO, bench_env, start, stop, synthetic_feed

RATE = 20_000  # events/s over the N symbols, synthetic runs
SPEED = 10     # virtual clock: a bar every 6 s per symbol (at 60x, 50 symbols' seconds cost the simulator more)
POINTS = 10    # curve points (by events counted)
PROBE_AT = (0.1, 0.3, 0.5, 0.75)  # with LM_BENCH_WINDOW_TRACE: probes at these fractions of the run, and at its end

# Counts md| events of the symbols given up to a target; prints progress lines "P <n>", then a JSON line.
_COUNT = """
import json, sys, time, msgpack, zmq
feed, syms, target, idle = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
ctx = zmq.Context(); d = ctx.socket(zmq.DEALER); d.setsockopt(zmq.LINGER, 0); d.connect(feed)
d.send(msgpack.packb({"v": 1, "type": "hello", "id": 1}))
if not d.poll(10000): sys.exit("no feed")
s = ctx.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM, 0); s.connect(msgpack.unpackb(d.recv())["data"])
for sym in syms: s.setsockopt(zmq.SUBSCRIBE, ("md|%s|" % sym).encode())
print("READY", flush=True)
n = 0; step = max(1, target // 100); nxt = step; t0 = None
while n < target:
    if not s.poll(int((idle if t0 else 180) * 1000)):  # the first events may wait for the symbols' backfill
        break
    m = msgpack.unpackb(s.recv_multipart()[1])
    if m.get("type") == "batch":
        t0 = t0 or time.perf_counter()
        n += len(m.get("ev") or ())
        if n >= nxt:
            print("P", n, flush=True); nxt += step
print(json.dumps({"events": n, "seconds": time.perf_counter() - t0 if t0 else 0.0}), flush=True)
"""


def _slope(pts: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    if len(pts) < 2:
        return 0.0
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else 0.0


def curve(samples: list[tuple[int, int]], total: int) -> dict:
    """Figures of (events counted, RSS bytes) samples: points, growth after warm-up, second-half slope."""
    mib = 1 / 2**20
    if not samples or total <= 0:
        return {"curve_mib": [], "rss_warm_mib": 0.0, "rss_end_mib": 0.0, "growth_mib": 0.0,
                "slope_mib_per_m": 0.0, "peak_mib": 0.0}

    def at(frac: float) -> float:
        want = frac * total
        best = min(samples, key=lambda s: abs(s[0] - want))
        return round(best[1] * mib, 1)

    pts = [at((i + 1) / POINTS) for i in range(POINTS)]
    half = [(e / 1e6, r * mib) for e, r in samples if e >= total / 2]
    return {"curve_mib": pts, "rss_warm_mib": at(0.25), "rss_end_mib": round(samples[-1][1] * mib, 1),
            "growth_mib": round(samples[-1][1] * mib - at(0.25), 1),
            "slope_mib_per_m": round(_slope(half), 2), "peak_mib": round(max(s[1] for s in samples) * mib, 1)}


def _window(ctl: str, syms: list[str], tmp: str, trace_out: str | None) -> subprocess.Popen:
    env = bench_env()
    env.update(QT_QPA_PLATFORM="offscreen", LIVE_MONITOR_UI_STATE_FILE=f"{tmp}/ui.ini",
               LIVE_MONITOR_DATA_DIR=tmp, XDG_CONFIG_HOME=tmp)
    Path(tmp, "watchlists.json").write_text(json.dumps({"current": "Bench", "lists": {"Bench": syms}}))
    args = ["ui", "--feed", ctl, "--symbol", syms[0], "--no-restore", "--log-level", "INFO"]
    if trace_out:
        env["LM_BENCH_TRACEMALLOC"] = os.environ.get("LM_BENCH_WINDOW_TRACE", "1")
        cmd = [sys.executable, "-m", "bench.window_probe", trace_out] + args
    else:
        cmd = [sys.executable, "-m", "supervisor"] + args
    cmd = os.environ.get("LM_BENCH_WINDOW_WRAP", "").split() + cmd  # e.g. "heaptrack -o FILE": the window under a tool
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _painted(ui: subprocess.Popen, log: str | None) -> threading.Event:
    """Set once the window logs its first chart painted; its log is read to the end (kept in ``log``)."""
    ev = threading.Event()

    def read() -> None:
        with open(log or os.devnull, "w", encoding="utf-8") as keep:
            for line in ui.stderr:
                keep.write(line)
                if "first chart of" in line:
                    ev.set()
        ev.set()  # exited: don't wait
    threading.Thread(target=read, daemon=True).start()
    return ev


def _probe(ui: subprocess.Popen, out: str, timeout: float = 120.0) -> None:
    """Ask the window for one probe (SIGUSR1) and wait for its line: a snapshot of a big heap takes seconds."""
    def lines() -> int:
        try:
            return Path(out).read_text().count("\n")
        except OSError:
            return 0
    n = lines()
    ui.send_signal(signal.SIGUSR1)
    t_end = time.monotonic() + timeout
    while lines() == n and ui.poll() is None and time.monotonic() < t_end:
        time.sleep(0.2)


def _run(ctl: str, syms: list[str], target: int, trace_out: str | None) -> tuple[dict, list[tuple[int, int]]]:
    """Window + counting subscriber on ``syms``; samples (events, RSS) until ``target`` events passed."""
    with tempfile.TemporaryDirectory() as tmp:
        ui = _window(ctl, syms, tmp, trace_out)
        # count from a window that is up: its start-up is not the question here
        painted = _painted(ui, trace_out and trace_out + ".log").wait(180)
        sub = subprocess.Popen([sys.executable, "-c", _COUNT, ctl, ",".join(syms), str(target), "20"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env())
        seen = {"n": 0, "last": ""}

        def read() -> None:
            for line in sub.stdout:
                if line.startswith("P "):
                    seen["n"] = int(line.split()[1])
                else:
                    seen["last"] = line
        samples: list[tuple[int, int]] = []
        try:
            proc = psutil.Process(ui.pid)
            kids = [k for k in proc.children(recursive=True) if "python" in k.name()]
            proc = kids[0] if kids and os.environ.get("LM_BENCH_WINDOW_WRAP") else proc
            assert sub.stdout is not None and sub.stdout.readline().startswith("READY")
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            t0, probes = time.monotonic(), list(PROBE_AT)
            while sub.poll() is None and ui.poll() is None and time.monotonic() - t0 < 1200:
                samples.append((seen["n"], proc.memory_info().rss))
                if trace_out and probes and seen["n"] >= probes[0] * target:
                    probes.pop(0)
                    _probe(ui, trace_out)
                time.sleep(0.25)
            if trace_out and ui.poll() is None:
                _probe(ui, trace_out)
            reader.join(timeout=30)
        finally:
            stop(sub)
            alive = ui.poll() is None
            try:
                left = psutil.Process(ui.pid).children(recursive=True)
            except psutil.Error:
                left = []  # it ended meanwhile
            for k in left:  # a tool's wrapper may not pass SIGTERM on: its child ends here, and waits
                k.terminate()
            psutil.wait_procs(left, timeout=30)
            stop(ui)
    r = json.loads(seen["last"]) if seen["last"].startswith("{") else {"events": seen["n"], "seconds": 0.0}
    r["window_alive"], r["painted"] = alive, painted
    return r, samples


def replay_run(d: Path, target: int) -> dict:
    """The window on the TSLA replay at full speed (1 symbol: watchlist and chart)."""
    from bench.feed_throughput import _feed

    sim, line = start([sys.executable, "-m", "feed_process.sim", "--port", "0", "--replay",
                       str(d / "TSLA-2025-07-01.jsonl.gz"), "--max", "--loop", "--log-level", "WARNING"], "LISTENING")
    port = int(line.split()[1].rsplit(":", 1)[1])
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            r, samples = _run(ctl, ["TSLA"], target, _trace_path("tsla"))
        finally:
            stop(feed)
    finally:
        stop(sim)
    return _row("window, TSLA --max, 1 symbol", r, samples, target)


def synthetic_run(syms: list[str], target: int) -> dict:
    """The window on the synthetic market, a watchlist of ``syms`` and the chart on the first."""
    with synthetic_feed("--speed", str(SPEED), "--rate", str(RATE)) as (ctl, _feed):
        r, samples = _run(ctl, syms, target, _trace_path(f"{len(syms)}sym"))
    n = len(syms)
    return _row(f"window, {n} symbol{'s' if n > 1 else ''} (synthetic, {RATE // 1000}k ev/s)", r, samples, target)


def _trace_path(tag: str) -> str | None:
    if not os.environ.get("LM_BENCH_WINDOW_TRACE"):
        return None
    out = REPO / "bench" / "results" / f"window-probe-{time.strftime('%Y%m%d-%H%M%S')}-{tag}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    return str(out)


def _row(name: str, r: dict, samples: list[tuple[int, int]], target: int) -> dict:
    events = int(r.get("events") or 0)
    row = {"name": name, "events": events, "events_per_s": round(events / r["seconds"]) if r.get("seconds") else 0}
    row.update(curve(samples, events or target))
    if not r.get("window_alive", True):
        row["error"] = "the window exited during the run"
    elif not r.get("painted", True):
        row["error"] = "the window painted no chart within 180 s"
    elif not events:
        row["error"] = "no events counted"
    return row
