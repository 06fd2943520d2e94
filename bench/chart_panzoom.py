"""Pan and zoom over 2000 bars: the chart's frame times while the user drags and wheels.

Why this shape: a trader pans back through the day and zooms out to the whole
history; each step must be one 60 Hz frame (16.7 ms) or the chart judders. The
chart (:class:`ui_process.window.chart.ChartWidget`, offscreen, 1170x700 - its
size in the 1600x1000 dashboard) holds 2000 bars with every indicator, at 1m
and at 5m. Each step moves the view as pyqtgraph's mouse handlers do
(``translateBy`` / ``scaleBy`` then ``sigRangeChangedManually``, so the chart's
own reaction - y fit, follow state - is in the frame) and the frame time is
that call plus the event loop's paint of the viewport (``processEvents``; the
viewport's paint events are counted to make sure every step painted). The
frame's CPU time (``thread_time``: the paint runs on this thread) is given
beside its wall time: on a loaded machine it is the figure to compare.

Steps: *pan* drags a 120-bar view from the oldest bar to the newest in
24-bar steps; *zoom* wheels out from 120 bars to all 2000 and back in
(x1.12 per step, anchored at the right edge).
"""

from __future__ import annotations

import os
import time

T0 = 1750939200000  # 2025-06-26 08:00 ET


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))] if s else 0.0


def _bars(tf_min: int, n: int = 2000) -> tuple[list[dict], list[dict]]:
    import numpy as np

    rng = np.random.default_rng(7)
    closes = 200 + np.cumsum(rng.normal(0, 0.2, n))
    bars, ind = [], []
    for i, c in enumerate(closes):
        c = float(c)
        ts = T0 + i * tf_min * 60_000
        bars.append({"timestamp": ts, "open": c - 0.05, "high": c + 0.15, "low": c - 0.2, "close": c,
                     "volume": int(1000 + abs(rng.normal(0, 4000)))})
        ind.append({"timestamp": ts, "vwap": c - 0.3, "ema_9": c + 0.05, "ema_21": c - 0.1,
                    "rsi_14": 50 + 20 * float(np.sin(i / 9))})
    return bars, ind


def _run(tf: str, tf_min: int, rounds: int) -> list[dict]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QEvent, QObject, QPointF
    from PyQt6.QtWidgets import QApplication

    from shared import market_hours
    from ui_process.window import theme
    from ui_process.window.chart import ChartWidget

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    market_hours.warm()
    chart = ChartWidget()
    chart.resize(1170, 700)
    chart.show()
    bars, ind = _bars(tf_min)
    chart.set_timeframe(tf)
    chart.on_chart_data({"bars": bars, "is_update": False, "timeframe": tf, "indicators": ind})
    chart.render()
    app.processEvents()

    class Paints(QObject):
        n = 0

        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                self.n += 1
            return False

    paints = Paints()
    chart.glw.viewport().installEventFilter(paints)
    vb = chart.price.getViewBox()
    base, last = chart.series.base, chart.series.last_x
    out = []
    for mode in ("pan", "zoom"):
        times: list[float] = []
        cpu: list[float] = []
        painted = 0
        for _ in range(rounds):
            vb.setXRange(base, base + 120, padding=0) if mode == "pan" else vb.setXRange(last - 120, last + 3,
                                                                                         padding=0)
            chart._on_manual_range()
            app.processEvents()
            if mode == "pan":
                steps = [("t", 24.0)] * ((last - base - 120) // 24)
            else:
                k = 0
                w = 123.0
                while w < last - base:
                    w *= 1.12
                    k += 1
                steps = [("s", 1.12)] * k + [("s", 1 / 1.12)] * k
            for kind, v in steps:
                n0 = paints.n
                t, c = time.perf_counter(), time.thread_time()
                if kind == "t":
                    vb.translateBy(x=v)
                else:
                    (x0, x1), _ = vb.viewRange()
                    vb.scaleBy(x=v, center=QPointF(x1, 0))
                vb.sigRangeChangedManually.emit([True, False])
                app.processEvents()
                times.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c)
                painted += paints.n > n0
        out.append({"name": f"{tf} {mode}, 2000 bars", "frames": len(times), "painted": painted,
                    "frames_per_s": len(times) / sum(times), "frame_p50_ms": _pct(times, 50) * 1000,
                    "frame_p99_ms": _pct(times, 99) * 1000, "frame_max_ms": max(times) * 1000,
                    "cpu_p50_ms": _pct(cpu, 50) * 1000, "cpu_p99_ms": _pct(cpu, 99) * 1000})
    chart.close()
    return out


def measure(quick: bool) -> dict:
    rounds = 1 if quick else 4
    rows = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
            for tf, m in (("1m", 1), ("5m", 5)) for r in _run(tf, m, rounds)]
    notes = [f"{r['name']}: {r['frames_per_s']:.0f} frames/s, p99 {r['frame_p99_ms']:.1f} ms "
             f"(target 60 frames/s, p99 <= 16.7 ms): "
             f"{'OK' if r['frames_per_s'] >= 60 and r['frame_p99_ms'] <= 16.7 else 'OVER'}; "
             f"CPU p99 {r['cpu_p99_ms']:.1f} ms (the wall time on an idle core)" for r in rows]
    notes.append("frame = the view change as the mouse handlers make it + the event loop's paint (offscreen)")
    return {"title": "chart pan and zoom over 2000 bars (frame times)", "rows": rows, "notes": notes}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
