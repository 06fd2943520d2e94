"""One UI process ingesting the TSLA replay at the feed's full rate.

Why this shape: the question is whether a window keeps up with a busy symbol
and stays responsive while doing so. So the real chain runs as separate
processes - simulator (``--replay TSLA --max --loop``), feed, and a UI process
holding one ``PolygonDataManager`` on a real Qt event loop (no widgets: the
window's own cost is ``bench.ui_window``). In the UI process:

* **events/s ingested** - events that went through the hooks
  (``_process_trade/_quote/_aggregate``), from the first event to the target;
* **main-thread stall** - a 5 ms precise ``QTimer`` records when it actually
  fires; a stall is how late a tick was (p50/p99/max). This is what a user
  feels as a frozen window;
* **market_data_updated rate** - emissions per second over the run and the
  most in any one-second window (the cap is ``ui_update_hz``, 30);
* **RSS** - sampled every 250 ms; growth from the end of the warm-up (the
  first quarter of the events) to the end. With ``max_bars`` and bounded
  buffers it should be flat;
* re-snapshots and gaps - when the UI falls behind, the feed's PUB drops at
  the high-water mark and the UI re-snapshots (by design; the count shows how
  often).

Quick mode: 500k events; full: 2M events (the TSLA file is 356k events, the
simulator loops it with minute-aligned re-stamped times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _replay_file() -> Path | None:
    env = os.environ.get("LIVE_MONITOR_REPLAY_DIR")
    for d in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "replay"]:
        f = d / "TSLA-2025-07-01.jsonl.gz"
        if f.is_file():
            return f
    return None


def measure(quick: bool) -> dict:
    sys.path.insert(0, str(REPO))
    from tests.feed_process_util import clean_env, run_feed
    from tests.sim_process import run_sim

    replay = _replay_file()
    if replay is None:
        return {"title": "UI ingest", "rows": [], "notes": ["TSLA replay file not found; skipped"]}
    target = 500_000 if quick else 2_000_000
    with run_sim("--replay", str(replay), "--max", "--loop", timeout=120) as sim:
        with run_feed("--upstream", sim.url_polygon, env=clean_env(POLYGON_API_KEY="bench"), timeout=60) as feed:
            p = subprocess.run([sys.executable, "-m", "bench.ui_ingest", "--child", feed.control,
                                "--events", str(target)], cwd=REPO, capture_output=True, text=True,
                               timeout=600, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    if p.returncode != 0:
        raise RuntimeError(f"UI process failed: {p.stderr.strip()[-500:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    row = {"name": "1 UI, TSLA replay --max", "events": r["events"], "events/s": r["events_per_s"],
           "stall p50 ms": r["stall_p50_ms"], "stall p99 ms": r["stall_p99_ms"], "stall max ms": r["stall_max_ms"],
           "slice p99 ms": r["slice_p99_ms"], "slice CPU p99 ms": r["slice_cpu_p99_ms"],
           "md Hz": r["md_hz"], "md max/s": r["md_max_per_s"], "RSS MiB": r["rss_end_mib"],
           "RSS growth MiB": r["rss_growth_mib"], "resnapshots": r["resnapshots"]}
    return {"title": "UI ingest (sim -> feed -> PolygonDataManager, one process each)", "rows": [row],
            "notes": [f"market_data_updated cap {r['hz']:.0f} Hz; stall = lateness of a 5 ms timer on the GUI thread; "
                      f"slice = one GUI-thread work item of the manager, wall and CPU time (max {r['slice_max_ms']} / "
                      f"{r['slice_cpu_max_ms']} ms); "
                      f"load average during the run {r['load_avg']:.1f} on {os.cpu_count()} cores",
                      f"RSS at 25/50/75/100% of the events: {r['rss_warm_mib']:.1f} / {r['rss_mid_mib']:.1f} / "
                      f"{r['rss_3q_mib']:.1f} / {r['rss_end_mib']:.1f} MiB; "
                      f"gaps {r['gaps']}, re-snapshots {r['resnapshots']} (PUB drops when the UI lags)",
                      f"wall {r['seconds']:.1f} s"],
            "raw": r}


def _child(control: str, target: int, timeout: float) -> dict:
    import psutil
    from PyQt6.QtCore import QCoreApplication, Qt, QTimer

    from shared import market_hours
    from ui_process.app import freeze_startup_heap
    from ui_process.feed_transport import FeedTransport
    from ui_process.polygon_data_manager import PolygonDataManager

    app = QCoreApplication([])
    market_hours.warm()  # the process starts as the app's run_ui does: calendar built, start-up heap frozen
    proc = psutil.Process()
    # Time each GUI-thread work item the manager runs (drains, display and safety ticks): this
    # separates our own slices from the OS not scheduling the process on a busy machine.
    slices: list[float] = []      # wall time of each work item
    cpu_slices: list[float] = []  # CPU time of the same (wall - CPU = time the OS gave to others)
    depth = [0]
    first: list[float] = []

    def timed(cls, name: str):
        def run(self, *a):
            depth[0] += 1
            t, c = time.perf_counter(), time.thread_time()
            try:
                return getattr(cls, name)(self, *a)
            finally:
                depth[0] -= 1
                if depth[0] == 0 and first:  # from the first event on (not the start-up)
                    slices.append((time.perf_counter() - t) * 1000)
                    cpu_slices.append((time.thread_time() - c) * 1000)
        return run

    TimedTransport = type("TimedTransport", (FeedTransport,), {n: timed(FeedTransport, n) for n in (
        "drain_all", "drain_data", "drain_control", "safety_tick")})
    Timed = type("Timed", (PolygonDataManager,), {n: timed(PolygonDataManager, n) for n in (
        "_on_display_tick", "check_data_flow")} | {"_transport_class": TimedTransport})
    m = Timed(control, symbol="TSLA")
    emits: list[float] = []
    ticks: list[float] = []
    rss: list[tuple[int, float]] = []  # (events, MiB)
    m.market_data_updated.connect(lambda _d: emits.append(time.perf_counter()))

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(5)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    t_start = time.perf_counter()
    done: dict = {}

    def sample() -> None:
        ev = m.stats["events"]
        now = time.perf_counter()
        if ev and not first:
            first.append(now)
            first.append(ev)
        rss.append((ev, proc.memory_info().rss / 2**20))
        if ev >= target or now - t_start > timeout:
            done["t"] = now
            done["events"] = ev
            app.quit()

    sampler = QTimer()
    sampler.setInterval(250)
    sampler.timeout.connect(sample)
    freeze_startup_heap()
    m.connect()
    probe.start()
    sampler.start()
    app.exec()
    info = m.feed_info()
    m.disconnect()

    t0, ev0 = (first[0], first[1]) if first else (t_start, 0)
    dur = max(1e-9, done["t"] - t0)
    gaps = sorted(max(0.0, (b - a) - 0.005) * 1000 for a, b in zip(ticks, ticks[1:]) if a >= t0)

    def pct(q: float) -> float:
        return round(gaps[min(len(gaps) - 1, int(q * len(gaps)))], 2) if gaps else 0.0

    slices.sort()
    cpu_slices.sort()
    em = [e for e in emits if e >= t0]
    per_s: dict[int, int] = {}
    for e in em:
        k = int(e - t0)
        per_s[k] = per_s.get(k, 0) + 1
    def rss_at(frac: float) -> float:
        return next((mib for ev, mib in rss if ev >= target * frac), rss[-1][1] if rss else 0.0)

    warm = rss_at(0.25)
    end = rss[-1][1] if rss else 0.0
    return {"events": done["events"], "events_per_s": round((done["events"] - ev0) / dur),
            "seconds": round(done["t"] - t_start, 1), "stall_p50_ms": pct(0.50), "stall_p99_ms": pct(0.99),
            "stall_max_ms": round(gaps[-1], 1) if gaps else 0.0,
            "slice_p99_ms": round(slices[int(0.99 * (len(slices) - 1))], 2) if slices else 0.0,
            "slice_max_ms": round(slices[-1], 1) if slices else 0.0,
            "slice_cpu_p99_ms": round(cpu_slices[int(0.99 * (len(cpu_slices) - 1))], 2) if cpu_slices else 0.0,
            "slice_cpu_max_ms": round(cpu_slices[-1], 1) if cpu_slices else 0.0, "load_avg": os.getloadavg()[0], "md_hz": round(len(em) / dur, 1),
            "md_max_per_s": max(per_s.values()) if per_s else 0, "hz": m.ui_update_hz,
            "rss_warm_mib": round(warm, 1), "rss_mid_mib": round(rss_at(0.5), 1),
            "rss_3q_mib": round(rss_at(0.75), 1), "rss_end_mib": round(end, 1), "rss_growth_mib": round(end - warm, 1),
            "resnapshots": info["resnapshots"], "gaps": info["gaps"], "bad": info["bad_messages"]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="UI ingest benchmark (child process: run via python -m bench)")
    ap.add_argument("--child", metavar="FEED", help="run the UI side against this feed address")
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child, a.events, a.timeout)))
    else:
        print(json.dumps(measure(a.quick), indent=2))
