"""Dashboard responsiveness: the real window while the feed plays the TSLA replay at full rate.

Why this shape: what a trader feels is the GUI thread's stalls, not
throughput. The setup is the production one - simulator (``--replay --max``)
-> feed process -> this process's ``TapeDataManager`` + ``MainWindow``
(offscreen, 1600x1000, shown) - and two probes run on the GUI thread:

* **stall**: a 5 ms precise ``QTimer``; each tick's lateness beyond 5 ms is
  time the event loop was busy (socket drain, signal slots, repaints).
  Percentiles over the whole run, from the first event to the last.
* **frames/s**: paint events on the chart's viewport (what was actually
  drawn), plus the chart's coalesced renders and tape pulls.

Quick mode plays the AAPL file (50k events), the full run the TSLA file
(356k events). Returns figures; prints nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from bench.common import bench_env, free_port, replay_dir, start, stop

TIMEOUT_S = 240.0
IDLE_END_S = 3.0  # no new events for this long after the first: the replay is over


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def _run_window(control: str, symbol: str, timeframe: str | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
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
    probe = {"last": time.perf_counter(), "first_event": None, "last_event": None, "last_n": 0,
             "paints0": 0, "renders0": 0, "md0": 0}

    def tick() -> None:
        now = time.perf_counter()
        n = m.stats["events"]
        if n and probe["first_event"] is None:
            probe.update(first_event=now, paints0=paints.n, renders0=w.chart.renders,
                         md0=m.stats["market_data_emits"])
        if n != probe["last_n"]:
            probe["last_n"], probe["last_event"] = n, now
        if probe["first_event"] is not None:
            gaps.append(max(0.0, (now - probe["last"]) - 0.005))
        probe["last"] = now
        # The replay is over on silence (the window then has everything: event by event, or
        # folded into a snapshot when it fell behind and re-synced).
        done = probe["last_event"] is not None and now - probe["last_event"] > IDLE_END_S
        if done or now - started > TIMEOUT_S:
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
    busy = gaps[: max(1, int(len(gaps) * span / max(time.perf_counter() - first, 1e-9)))]
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
        "resnapshots": m.feed_info().get("resnapshots"),
        "tape_prints": w.tape.total,
        "bars": len(w.chart.series),
    }
    w.close()
    with contextlib.suppress(OSError):
        state.unlink()
    return out


def _pan_zoom(steps: int) -> dict:
    """Frame times while panning and zooming a 2000-bar chart (full repaint each step)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PyQt6.QtWidgets import QApplication

    from ui_process.window import theme
    from ui_process.window.chart import ChartWidget

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    rng = np.random.default_rng(7)
    closes = 200 + np.cumsum(rng.normal(0, 0.2, 2000))
    t0 = 1751031000000
    bars = [{"timestamp": t0 + i * 60_000, "open": c - 0.05, "high": c + 0.15, "low": c - 0.2, "close": c,
             "volume": int(1000 + abs(rng.normal(0, 4000)))} for i, c in enumerate(closes)]
    chart = ChartWidget()
    chart.resize(1300, 750)
    chart.show()
    chart.on_chart_data({"bars": bars, "is_update": False})
    chart.render()
    chart.grab()
    vb = chart.price.getViewBox()
    times: list[float] = []
    for i in range(steps):
        if i < steps // 2:  # pan 120-bar windows across the history
            x0 = (i * 37) % 1880
            vb.setXRange(x0, x0 + 120, padding=0)
        else:  # zoom out to all 2000 bars and back
            k = i - steps // 2
            w = 120 + (k * 1880 // max(1, steps // 2 - 1))
            vb.setXRange(2000 - w, 2000, padding=0)
        chart._fit_y()
        t = time.perf_counter()
        chart.grab()  # renders the whole chart: the worst case of one frame
        times.append(time.perf_counter() - t)
    chart.close()
    return {"frames": steps, "frame_p50_ms": _pct(times, 50) * 1000, "frame_p99_ms": _pct(times, 99) * 1000,
            "frame_max_ms": max(times) * 1000, "frames_per_s": steps / sum(times)}


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
    rows.append({"name": "pan/zoom 2000 bars", **_round(_pan_zoom(40 if quick else 200))})
    notes = [f"{r['name']}: main-thread stall p99 {r['stall_p99_ms']:.1f} ms (target < 50 ms): "
             f"{'OK' if r['stall_p99_ms'] < 50 else 'OVER'}" for r in rows if "stall_p99_ms" in r]
    notes += ["stall = lateness of a 5 ms GUI-thread timer; frames = chart viewport paint events",
              "shared cores: sim, feed and window compete for the machine's cores; own core: sim + feed pinned "
              "to CPU 0, the window to CPU 1 (the window's own cost, without its producers' contention)"]
    return {"title": title, "rows": rows, "notes": notes}


if __name__ == "__main__":  # a single run: python -m bench.ui_window [--quick]
    import json

    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
