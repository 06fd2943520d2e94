"""Dashboard responsiveness: the real window while the feed plays the TSLA replay at full rate.

Why this shape: what a trader feels is the GUI thread's stalls, not
throughput. The setup is the production one - simulator (``--replay --max``)
-> feed process -> this process's ``TapeDataManager`` + ``MainWindow``
(offscreen, 1600x1000, shown) - and two probes run on the GUI thread:

* **stall**: a 5 ms precise ``QTimer``; each tick's lateness beyond 5 ms is
  time the event loop was busy (socket drain, signal slots, repaints).
  Percentiles over the whole run, from the first event to the last.
  Beside it the **CPU stall**: the GUI thread's own CPU time between two ticks
  beyond the 5 ms (``thread_time``) - the stall its work would cause on an idle
  machine. On a loaded one (other processes taking the cores) the wall stall
  measures the scheduler too; compare the CPU figure there.
* **GUI CPU per event**: the GUI thread's CPU time from the first event to
  the last over the events in between - drain, slots and repaints together.
* **frames/s**: paint events on the chart's viewport (what was actually
  drawn), plus the chart's coalesced renders and tape pulls.

Quick mode plays the AAPL file (50k events), the full run the TSLA file
(356k events). A second stream is paced: the TSLA file's events sent at
20k events/s in 50-event frames (:data:`_PACED_SERVER`, frames pre-encoded),
the rate the issue's window goal names. Its data clock runs as fast as the
file allows, so bars close many times a second - every frame scrolls the
chart, the harsh case of a live minute chart. Pan/zoom frame times are
:mod:`bench.chart_panzoom`'s. Returns figures; prints nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

from bench.common import bench_env, free_port, replay_dir, start, stop

TIMEOUT_S = 240.0
PACED_RATE = 20_000  # events/s of the paced stream
PACED_FRAME = 50  # events per frame of the paced stream

# A Polygon-protocol stand-in that sends a replay file's events at a fixed rate (argv: file rate frame
# seconds), every frame encoded before the first is sent, so pacing costs it almost nothing. It serves
# the stream once: the feed reconnects a silent upstream, and a second replay would double the run.
_PACED_SERVER = textwrap.dedent("""
    import asyncio, json, sys, time, websockets
    from feed_process.sim.replay import load_replay
    path, rate, size, seconds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    enc = load_replay(path).encoded
    frames = [b"[" + b",".join(enc[i:i + size]) + b"]" for i in range(0, len(enc), size)]
    served = []
    async def acks(ws, subscribed):
        async for raw in ws:  # every subscription is acknowledged, as Polygon does
            msg = json.loads(raw)
            if msg.get("action") == "subscribe":
                await ws.send(json.dumps([{"ev": "status", "status": "success", "message": f"subscribed to: {p}"}
                                          for p in str(msg.get("params", "")).split(",")]))
                subscribed.set()
    async def handler(ws):
        await ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        await ws.recv()
        await ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
        subscribed = asyncio.Event()
        reader = asyncio.ensure_future(acks(ws, subscribed))
        await subscribed.wait()
        period, nxt = size / rate, time.monotonic()
        t_end = nxt + seconds
        for f in frames if not served else []:  # once: a reconnect after the silence gets no replay
            served.append(1)
            if time.monotonic() >= t_end:
                break
            await ws.send(f)
            nxt += period
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        await reader
    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as srv:
            print("LISTENING", srv.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()
    asyncio.run(main())
""")
IDLE_END_S = 3.0  # no new events for this long after the first: the replay is over


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def _run_window(control: str, symbol: str, timeframe: str | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QAbstractEventDispatcher, QEvent, QObject, Qt, QTimer
    from PyQt6.QtWidgets import QApplication

    from shared.config import Settings
    from shared import market_hours
    from ui_process.app import freeze_startup_heap
    from ui_process.window import qt_log, theme
    from ui_process.window.main_window import MainWindow
    from ui_process.window.tape_manager import TapeDataManager

    app = QApplication.instance() or QApplication([])
    qt_log.install()
    theme.apply(app)
    market_hours.warm()
    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"lm-bench-ui-{os.getpid()}.ini"
    m = TapeDataManager(control, settings=Settings(feed=control), symbol=symbol)
    w = MainWindow(m, feed=control, symbol=symbol, restore=False, state_file=str(state), spawner=lambda *a: None,
                   timeframe=timeframe)
    w.resize(1600, 1000)
    w.show()

    class PaintCounter(QObject):
        n = 0

        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                self.n += 1
            return False

    paints = PaintCounter()
    w.chart.glw.viewport().installEventFilter(paints)
    gaps: list[float] = []
    cpu_gaps: list[float] = []
    probe = {"last": time.perf_counter(), "cpu": time.thread_time(), "first_event": None, "last_event": None,
             "last_n": 0, "paints0": 0, "renders0": 0, "md0": 0}

    turns: list[tuple[float, float]] = []  # (end, CPU seconds) of each turn while events flow
    turn = {"cpu": time.thread_time(), "on": False}

    def turn_start() -> None:  # one turn of the loop ended
        c = time.thread_time()
        if turn["on"]:
            turns.append((time.perf_counter(), c - turn["cpu"]))
        turn["cpu"] = c

    QAbstractEventDispatcher.instance().aboutToBlock.connect(turn_start)

    def tick() -> None:
        now = time.perf_counter()
        n = m.stats["events"]
        if n and probe["first_event"] is None:
            probe.update(first_event=now, paints0=paints.n, renders0=w.chart.renders,
                         md0=m.stats["market_data_emits"], n0=n, cpu0=time.thread_time())
            turn["on"] = True
        if n != probe["last_n"]:
            probe["last_n"], probe["last_event"], probe["cpu_last"] = n, now, time.thread_time()
        cpu = time.thread_time()
        if probe["first_event"] is not None:
            gaps.append(max(0.0, (now - probe["last"]) - 0.005))
            cpu_gaps.append(max(0.0, (cpu - probe["cpu"]) - 0.005))
        probe["last"], probe["cpu"] = now, cpu
        # The replay is over on silence (the window then has everything: event by event, or
        # folded into a snapshot when it fell behind and re-synced).
        done = probe["last_event"] is not None and now - probe["last_event"] > IDLE_END_S
        if done or now - started > TIMEOUT_S:
            turn["on"] = False
            app.quit()

    freeze_startup_heap()  # as run_ui does
    timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=5, timeout=tick)
    started = time.perf_counter()
    m.connect()
    timer.start()
    app.exec()
    timer.stop()
    end = probe["last_event"] or time.perf_counter()
    first = probe["first_event"] or end
    span = max(end - first, 1e-9)
    # only the stalls while events flowed (the idle tail is not load)
    keep = max(1, int(len(gaps) * span / max(time.perf_counter() - first, 1e-9)))
    busy, cpu_busy = gaps[:keep], cpu_gaps[:keep]
    QAbstractEventDispatcher.instance().aboutToBlock.disconnect(turn_start)
    busy_turns = [c for t, c in turns if t <= end]
    out = {
        "events": m.stats["events"],
        "seconds": round(span, 2),
        "events_per_s": m.stats["events"] / span,
        "frames_per_s": (paints.n - probe["paints0"]) / span,
        "chart_renders_per_s": (w.chart.renders - probe["renders0"]) / span,
        "market_data_hz": (m.stats["market_data_emits"] - probe["md0"]) / span,
        "stall_p50_ms": _pct(busy, 50) * 1000,
        "stall_p95_ms": _pct(busy, 95) * 1000,
        "stall_p99_ms": _pct(busy, 99) * 1000,
        "stall_max_ms": max(busy, default=0.0) * 1000,
        "cpu_stall_p95_ms": _pct(cpu_busy, 95) * 1000,
        "cpu_stall_p99_ms": _pct(cpu_busy, 99) * 1000,
        "turn_cpu_p95_ms": _pct(busy_turns, 95) * 1000,
        "turn_cpu_p99_ms": _pct(busy_turns, 99) * 1000,
        "turn_cpu_max_ms": max(busy_turns, default=0.0) * 1000,
        # the GUI thread's whole cost per event (drain, slots, repaints): load-independent throughput
        "gui_cpu_us_per_event": ((probe.get("cpu_last", 0.0) - probe.get("cpu0", 0.0)) * 1e6
                                 / max(1, probe["last_n"] - probe.get("n0", 0))),
        "resnapshots": m.feed_info().get("resnapshots"),
        "tape_prints": w.tape.total,
        "bars": len(w.chart.series),
    }
    w.close()
    with contextlib.suppress(OSError):
        state.unlink()
    return out


def _replay_run(path: Path, symbol: str, pinned: bool, timeframe: str | None = None) -> dict:
    """sim --replay --max -> feed -> this process's window; ``pinned``: producers on CPU 0, window on CPU 1."""
    env = bench_env()
    pin = ["taskset", "-c", "0"] if pinned else []
    sim, line = start([*pin, sys.executable, "-m", "feed_process.sim", "--port", "0", "--replay", str(path), "--max",
                       "--log-level", "WARNING"], env=env, new_session=True)
    upstream = line.split()[1] + "/stocks"
    control = f"tcp://127.0.0.1:{free_port()}"
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        feed, _ = start([*pin, sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())",
                         "feed", "--feed", control, "--upstream", upstream, "--log-level", "WARNING"],
                        env=env, new_session=True)
        try:
            if pinned:
                os.sched_setaffinity(0, {1})
            return _run_window(control, symbol, timeframe)
        finally:
            if before is not None:
                os.sched_setaffinity(0, before)
            stop(feed)
    finally:
        stop(sim)


def _paced_run(path: Path, symbol: str, seconds: float, timeframe: str | None = None) -> dict:
    """The file's events at PACED_RATE events/s -> feed -> this process's window (shared cores)."""
    env = bench_env()
    srv, line = start([sys.executable, "-c", _PACED_SERVER, str(path), str(PACED_RATE), str(PACED_FRAME),
                       str(seconds)], env=env, new_session=True)
    control = f"tcp://127.0.0.1:{free_port()}"
    try:
        feed, _ = start([sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())",
                         "feed", "--feed", control, "--upstream", f"ws://127.0.0.1:{line.split()[1]}/stocks",
                         "--protocol", "polygon", "--no-backfill", "--log-level", "WARNING"],
                        env=env, new_session=True)
        try:
            return _run_window(control, symbol, timeframe)
        finally:
            stop(feed)
    finally:
        stop(srv)


def _round(d: dict) -> dict:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in d.items()}


def measure(quick: bool) -> dict:
    title = "dashboard window (GUI thread) while the feed plays a replay at full rate"
    d = replay_dir()
    if d is None:
        return {"title": title, "rows": [], "notes": ["replay data not found: skipped"]}
    name, symbol = ("AAPL-2025-06-27-open.jsonl.gz", "AAPL") if quick else ("TSLA-2025-07-01.jsonl.gz", "TSLA")
    rows = [{"name": f"{symbol} shared cores", **_round(_replay_run(d / name, symbol, pinned=False))}]
    can_pin = (not quick and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
               and shutil.which("taskset") is not None)
    if can_pin:
        rows.append({"name": f"{symbol} window on its own core",
                     **_round(_replay_run(d / name, symbol, pinned=True))})
    rows.append({"name": f"TSLA at {PACED_RATE // 1000}k events/s", **_round(_paced_run(
        d / "TSLA-2025-07-01.jsonl.gz", "TSLA", 6.0 if quick else 15.0))})
    notes = [f"{r['name']}: main-thread stall p99 {r['stall_p99_ms']:.1f} ms (target <= 16 ms, one 60 Hz frame): "
             f"{'OK' if r['stall_p99_ms'] <= 16 else 'OVER'}" for r in rows if "stall_p99_ms" in r]
    notes += ["stall = lateness of a 5 ms GUI-thread timer; frames = chart viewport paint events",
              "shared cores: sim, feed and window compete for the machine's cores; own core: sim + feed pinned "
              "to CPU 0, the window to CPU 1 (the window's own cost, without its producers' contention)"]
    return {"title": title, "rows": rows, "notes": notes}


if __name__ == "__main__":  # a single run: python -m bench.ui_window [--quick]
    import json

    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
