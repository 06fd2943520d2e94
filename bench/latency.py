"""Latency at 1k, 5k and 20k events/s: the official client alone, a bare loop, and the feed -> subscriber hop.

Why this shape (issue 17: "the extra process hop is free"): a paced
Polygon-protocol stand-in (:mod:`bench.paced`) sends frames of 5 trades and
logs each frame's send time (``time.monotonic_ns``, one clock for every
process of the machine). Three consumers, each its own process, one after the
other on the same stand-in, in the same run:

* ``massive``: the official client as shipped (stdlib json, its dataclasses),
* ``bare``: a websockets + orjson receive loop (what any Python client costs at least),
* ``feed``: the stand-in -> feed process -> ZeroMQ -> a subscriber process
  (what a window gets; the trade id arrives as wire index 8, ``q``).

Each reports ``(q, receive ns)`` per trade; the bench matches them with the
send log, drops the first ``WARM_S`` (connection warm-up), and reports p50 /
p99 per consumer per rate, and the CPU of every process (% of one core over
the stream). Rounds repeat the three consumers in turn, so a noisy moment
hits all of them; the table gives the median of the rounds and their spread.
``--variant`` (also ``python -m bench.latency --variant ui``) adds the old
figure: feed -> ``PolygonDataManager`` on the GUI thread of a Qt process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil

from bench.common import REPO, bench_env, cpu_s, free_port, start, stop_all, temp_path
from bench.paced import BARE, MASSIVE, RELAY, RELAY_SUB, STANDIN, SUBSCRIBER

PY = sys.executable
RATES = (1_000.0, 5_000.0, 20_000.0)
BATCH = 5  # trades per frame
WARM_S = 0.4
# A p99 needs samples: each consumer gets at least this many frames per rate and round in the full run
# (25 s at 1k ev/s, 200 frames/s), and the p50 / p99 are taken over every round's frames pooled.
MIN_FRAMES = 5_000
MIN_SECONDS = 5.0
IDLE_S = 1.5  # a consumer on the feed stops this long after its last trade (the direct ones at the close)

# The Qt variant: the manager's core applies the events on the GUI thread; q read from the typed trade there.
_UI = textwrap.dedent("""
    import json, sys, time
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    from ui_process.polygon_data_manager import PolygonDataManager
    from shared import market_hours
    from ui_process.app import freeze_startup_heap
    from shared.models.messages import TradeEv
    ctl, expected, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    app = QApplication([])
    market_hours.warm()
    qs, ns = [], []
    m = PolygonDataManager(ctl)
    apply_events = m._core.apply_events
    mono = time.monotonic_ns
    def probe(arrays, start, stop):
        now = mono()
        for a in arrays[start:stop]:
            if type(a) is TradeEv and a.q is not None:
                qs.append(a.q); ns.append(now)
        apply_events(arrays, start, stop)
        quiet.start(int(idle * 1000))  # ends idle seconds after the last event
        if len(qs) >= expected:
            app.quit()
    m._core.apply_events = probe
    quiet = QTimer(); quiet.setSingleShot(True); quiet.timeout.connect(app.quit)
    freeze_startup_heap()
    m.connect()
    print("READY", flush=True)
    m.change_symbol("LAT")
    quiet.start(30000)  # the first events
    app.exec()
    print(json.dumps({"q": qs, "ns": ns, "cpu_s": time.process_time(), "wall_s": 0.0}))
""")


def feed_cmd(ctl: str, upstream: str, extra: list[str] = (), pre: str = "") -> list[str]:
    """The feed as ``live-monitor feed`` runs it; ``pre``: code run first (an experiment's local patch)."""
    return [PY, "-c", pre + "\nimport sys; from shared.cli import main; sys.exit(main())", "feed", "--feed", ctl,
            "--upstream", upstream, "--protocol", "polygon", "--no-backfill",
            "--log-level", "WARNING", *extra]


def run_one(consumer: str, rate: float, seconds: float, *, compression: str | None = "deflate",
            feed_env: dict | None = None, feed_args: list[str] = (), feed_pre: str = "") -> dict:
    """One consumer on a fresh stand-in: latency quantiles (ms) and CPU % of one core per process."""
    log = temp_path("lat-")
    cfg = {"rate": rate, "batch": BATCH, "seconds": seconds, "compression": compression, "log": log,
           "close_after": consumer in ("massive", "bare")}
    srv, line = start([PY, "-c", STANDIN, json.dumps(cfg)], "LISTENING")
    procs: list[subprocess.Popen] = []
    try:
        port = line.split()[1]
        feed = None
        idle = str(IDLE_S)
        if consumer in ("feed", "ui"):
            ctl = f"tcp://127.0.0.1:{free_port()}"
            env = {**bench_env(), **(feed_env or {})}
            feed, _ = start(feed_cmd(ctl, f"ws://127.0.0.1:{port}/stocks", list(feed_args), feed_pre), "LISTENING",
                            env=env)
            procs.append(feed)
            script, args = (SUBSCRIBER, [ctl]) if consumer == "feed" else (_UI, [ctl])
        elif consumer == "relay":  # the floor of the hop: bytes forwarded, nothing decoded (bench.paced.RELAY)
            feed, line2 = start([PY, "-c", RELAY, port], "LISTENING")
            procs.append(feed)
            script, args = RELAY_SUB, [line2.split()[1]]
        else:
            script, args = {"massive": MASSIVE, "bare": BARE}[consumer], [port]
        env = {**bench_env(), "QT_QPA_PLATFORM": "offscreen"}
        extra = ["none"] if consumer == "bare" and compression is None else []
        c = subprocess.Popen([PY, "-c", script, *args, str(10**9), idle, *extra], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env)
        procs.append(c)
        c.stdout.readline()  # READY
        ps = {"server": psutil.Process(srv.pid), "feed": psutil.Process(feed.pid) if feed else None}
        cpu0, t0 = {k: cpu_s(p) for k, p in ps.items()}, time.monotonic()
        out, _ = c.communicate(timeout=seconds + 90)  # a lagging feed still works after the stand-in stops
        cpu1, t1 = {k: cpu_s(p) for k, p in ps.items()}, time.monotonic() - IDLE_S
        t_end = time.monotonic() + seconds + 10
        while not os.path.exists(log) and time.monotonic() < t_end:  # a consumer that ended early
            time.sleep(0.02)
        with open(log) as f:
            sent = json.load(f)
    finally:
        stop_all([srv, *procs], log, log + ".part")
    r = json.loads(out.strip().splitlines()[-1])
    busy = max(sent["seconds"], t1 - t0 if consumer in ("feed", "ui", "relay") else 0.0)
    used = {k: cpu1[k] - cpu0[k] for k in cpu0}
    return summarize(consumer, rate, sent, r, {k: v / busy for k, v in used.items()}, used["feed"])


def summarize(consumer: str, rate: float, sent: dict, r: dict, cpu: dict, hop_cpu_s: float = 0.0) -> dict:
    """Quantiles of one run; ``cpu``: each process's share of a core, ``hop_cpu_s``: the feed's (relay's) CPU."""
    fq, fns = np.asarray(sent["q"], dtype=np.int64), np.asarray(sent["ns"], dtype=np.int64)
    q, ns = np.asarray(r["q"], dtype=np.int64), np.asarray(r["ns"], dtype=np.int64)
    wall = sent["seconds"] or 1e-9
    row = {"consumer": consumer, "rate": rate, "sent": sent["events"], "received": int(len(q))}
    if not len(q) or not len(fq):
        return row
    idx = np.searchsorted(fq, q, side="right") - 1
    lat = (ns - fns[idx]) / 1e6
    keep = fns[idx] >= fns[0] + int(WARM_S * 1e9)
    lat = np.sort(lat[keep])
    if len(lat) < 50:
        return row
    row.update(p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)), max_ms=float(lat[-1]),
               frames=int(len(lat) // BATCH),
               cpu_consumer=100 * r["cpu_s"] / (r["wall_s"] or wall) if consumer != "ui" else None,
               cpu_server=100 * cpu["server"], cpu_feed=100 * cpu["feed"] if cpu["feed"] else None,
               # CPU-us per event received, of the consumer's processes (the GUI process is not measured)
               cpu_us_ev=1e6 * (r["cpu_s"] + hop_cpu_s) / len(q) if consumer != "ui" else None,
               _lat=lat.astype(np.float32))  # every matched trade, for the pooled quantiles (not saved)
    return row


def _spread(vals: list[float]) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals), max(vals)
    return f"{lo:.2f}" if len(vals) == 1 or hi - lo < 0.005 else f"{lo:.2f}-{hi:.2f}"


def table(runs: list[dict], consumers: list[str], rates=RATES) -> list[dict]:
    """One row per consumer and rate: p50 / p99 over every round's trades pooled (a p99 of 3 rounds of
    5,000 frames rests on 150 frames, not 50), the rounds' own p50 / p99 spread, CPU medians."""
    rows = []
    for rate in rates:
        base = None
        for cons in consumers:
            rs = [r for r in runs if r["consumer"] == cons and r["rate"] == rate and "p50_ms" in r]
            if not rs:
                rows.append({"name": f"{cons} @ {rate / 1000:g}k ev/s", "p50_ms": None})
                continue
            med = {k: statistics.median([r[k] for r in rs if r.get(k) is not None] or [0.0])
                   for k in ("p50_ms", "p99_ms", "max_ms", "cpu_consumer", "cpu_feed", "cpu_server", "cpu_us_ev")}
            lats = [r["_lat"] for r in rs if r.get("_lat") is not None]
            if len(lats) == len(rs):
                pooled = np.concatenate(lats)
                med["p50_ms"], med["p99_ms"] = (float(np.percentile(pooled, q)) for q in (50, 99))
            hop = cons in ("feed", "ui", "relay")
            row = {"name": f"{cons} @ {rate / 1000:g}k ev/s", "rounds": len(rs),
                   "frames": sum(r.get("frames", 0) for r in rs),
                   "p50_ms": med["p50_ms"], "p99_ms": med["p99_ms"],
                   "p50_spread": _spread([r["p50_ms"] for r in rs]), "p99_spread": _spread([r["p99_ms"] for r in rs]),
                   "max_ms": med["max_ms"], "lost": sum(r["sent"] - r["received"] for r in rs),
                   "cpu_consumer_pct": round(med["cpu_consumer"], 1) if cons != "ui" else None,
                   "cpu_feed_pct": round(med["cpu_feed"], 1) if hop else None,
                   "cpu_server_pct": round(med["cpu_server"], 1),
                   # issue 17: the feed path costs 1.5x massive's CPU (feed or relay + its subscriber)
                   "cpu_us_per_event": round(med["cpu_us_ev"], 1) if cons != "ui" else None}
            if cons == "massive":
                base = med
            elif base is not None:
                row["p50_vs_massive_ms"] = round(med["p50_ms"] - base["p50_ms"], 3)
                row["p99_vs_massive_ms"] = round(med["p99_ms"] - base["p99_ms"], 3)
            rows.append(row)
    return rows


def seconds_for(rate: float, quick: bool) -> float:
    """A consumer's stream at ``rate``: the quick run's 1.2 s, else MIN_FRAMES frames (>= MIN_SECONDS)."""
    return 1.2 if quick else max(MIN_SECONDS, MIN_FRAMES * BATCH / rate)


CONSUMERS = ["massive", "bare", "relay", "feed"]


def measure(quick: bool, variant: bool = False, compression: str | None = "deflate",
            rounds: int | None = None, seconds: float | None = None, consumers: list[str] | None = None) -> dict:
    rounds = rounds or (1 if quick else 3)
    consumers = list(consumers or CONSUMERS) + (["ui"] if variant else [])
    runs = []
    for i in range(rounds):
        order = consumers[i % len(consumers):] + consumers[:i % len(consumers)]  # no consumer always first
        for rate in RATES:
            for cons in order:
                runs.append(run_one(cons, rate, seconds or seconds_for(rate, quick), compression=compression))
    load = os.getloadavg()[0]
    for r in runs:
        r.pop("_lat", None)
    secs = ", ".join(f"{seconds or seconds_for(rate, quick):g} s at {rate / 1000:g}k" for rate in RATES)
    return {"title": "latency: paced stand-in (frames of 5 trades) -> consumer process, matched by trade id",
            "rows": table(runs, consumers),
            "notes": [f"{rounds} round(s) per consumer per rate ({secs}); consumers in turn, the order rotated "
                      f"each round; first {WARM_S} s dropped; p50_ms / p99_ms over every round's trades pooled, "
                      "*_spread the rounds' own min-max; frames: frames matched over the rounds",
                      f"stand-in compression: {compression or 'off'} (clients as shipped negotiate what is offered)",
                      "relay: the floor of the hop - a process that forwards each frame's bytes on a ZeroMQ PUB "
                      "from picows' frame callback (no decode) to a subscriber process (orjson); the same four "
                      "thread wake-ups per frame as the feed path",
                      "cpu_*_pct: % of one core over the stream; cpu_feed is the feed (or relay) process (Python + "
                      "ZeroMQ I/O threads), cpu_consumer the subscriber/client process; cpu_us_per_event: both",
                      "goal (issue 17): feed p50 within +0.1 ms of massive, p99 at or below it",
                      f"load average at the end: {load:.1f} on {os.cpu_count()} cores (noisy if > 1)"],
            "runs": runs}


if __name__ == "__main__":  # python -m bench.latency [--quick] [--variant] [--no-compression] [--rounds N]
    # [--consumers massive,feed]
    a = sys.argv[1:]
    rounds = int(a[a.index("--rounds") + 1]) if "--rounds" in a else None
    only = a[a.index("--consumers") + 1].split(",") if "--consumers" in a else None
    res = measure("--quick" in a, variant="--variant" in a or "ui" in a,
                  compression=None if "--no-compression" in a else "deflate", rounds=rounds, consumers=only)
    from bench.__main__ import print_table

    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
