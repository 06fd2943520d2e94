"""A desk of a hundred screens: one feed, 100 SUB sockets, 20 symbols + one burst symbol, raised to saturation.

Why this shape (issue 17): a team shares one daemon. What it must show is the
feed's CPU, every screen's latency and gaps, and **where one feed stops keeping
up** - and on a 2-core machine that the feed shares with its stand-in and its
100 screens, which of them runs out first. The upstream is the paced stand-in
(:mod:`bench.paced`, ``stamp`` mode: each trade's id is its frame's send time in
ns, so a screen reads its own latency from wire index 6). It streams

* 20 symbols at intraday rates of a liquid watchlist (trades + quotes, Poisson,
  ``SYMBOL_RATES``: 400 events/s for the busiest down to 4; 1,635 events/s together), and
* ``BURST``, a hot name, at 20k events/s in frames of 5 (4,000 frames/s; above
  that the frames grow, as Polygon's do, at the same frame rate).

Screens (:mod:`bench.desk_procs`): 4 processes x 25 SUB sockets, each socket one
screen with its own connection to the feed's XPUB, drained by one poller per
process. Screen ``g`` watches 4 of the 20 symbols (each symbol has 20 watchers)
and every 5th screen also the burst symbol (20 watchers). A screen checks every
message's ``seq`` (a gap = the feed's high-water mark dropped for it) from the
batch header without decoding it, and decodes every ``EVERY``-th message for a
latency sample: cheap screens, so the limit found is the feed's. A probe (one
more process, one socket, the burst only, every message decoded) gives the
feed's delivery apart from the screens' queueing.

Saturation (:func:`limit`): the burst rate is doubled (full mode 20k -> 1.28M)
until the first limit shows, then one rate between is tried; the limit is named
after the part that hit it, from per-thread CPU (psutil + the kernel's thread
names: the feed's Python thread, its ``ZMQbg/IO`` thread; the stand-in; each
screens process's own thread time): gaps, a thread at a core, the stand-in's
offer falling short (its thread full: it cannot offer more; or not: the feed
pushes back), delivery below 95 % (the screens at a core; or every core busy:
``busiest`` names the part closest to a core). Full mode then ramps 5-event
frames (the frame rate rises) and the feed alone (one screen and the probe: the
screens elsewhere, as on a real desk), and sets side by side, with every screen
on the burst, ``io_threads=2`` on the feed's context (a bench-side patch of
``zmq.Context``; the product keeps 1) and two ZeroMQ proxies in front of the feed.
The desk's processes run first in CPU order (:func:`_nice`): on a machine others
load, the limit found is then the desk's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import psutil

from bench.common import REPO, bench_env, free_port, start, stop_all, temp_path, thread_cpu
from bench.desk_procs import PROXY, SCREENS
from bench.latency import feed_cmd
from bench.paced import STANDIN

PY = sys.executable
SYMBOLS = [f"S{i:02d}" for i in range(20)]
SYMBOL_RATES = [400, 300, 200, 150, 120, 100, 80, 60, 50, 40, 30, 25, 20, 15, 12, 10, 8, 6, 5, 4]
PROCS, PER_PROC, WATCH, BURST_EVERY = 4, 25, 4, 5
EVERY = 8  # a screen decodes every 8th message (the latency sample); the others it counts and checks
NAP_MS = 1.0  # a screens process drains its 25 sockets at most every 1 ms (the probe at once)
IDLE_S = 2.0  # a screen stops this long after its last message
FULL = 90.0  # % of a core: a thread this busy is out of CPU
NICE = (-10, -10, -5)  # the feed; its stand-in and the proxies; the screens (see _nice; -20 for the feed starves
# the screens into gaps: the machine's cores are shared, whatever the order)
FPS, BATCH = 4000, 5  # the stand-in's burst frames: 5 events at up to 4,000 frames/s, then larger frames


def _nice(proc: subprocess.Popen, nice: int) -> bool:
    """``proc``'s scheduling group at ``nice``. Linux groups CPU time by session (autogroup) and shares it
    fairly between sessions, whatever a process's own nice; so each process of the desk starts in a session of
    its own (``start_new_session``) and that session's group gets the priority: the feed and its stand-in first,
    the screens next, the machine's other work last. On a shared machine the feed then gets the CPU it asks for,
    so a limit found is its own; on a quiet one nothing changes. Needs root or CAP_SYS_NICE (False otherwise)."""
    try:
        with open(f"/proc/{proc.pid}/autogroup", "w") as f:
            f.write(str(nice))
        return True
    except OSError:
        return False


def io_threads_pre(n: int) -> str:
    """Feed start-up code giving its ZeroMQ context ``n`` I/O threads (bench-side; the product keeps 1)."""
    return ("import zmq\nclass _Ctx(zmq.Context):\n    def __init__(self, io_threads=%d, **kw):\n"
            "        super().__init__(io_threads, **kw)\nzmq.Context = _Ctx\n" % n)


def _screens(ctl: str, data: str, first: int, n: int, burst_every: int, every: int, watch: int = WATCH,
             nap_ms: float = NAP_MS):
    return subprocess.Popen([PY, "-c", SCREENS, ctl, data, str(first), str(n), ",".join(SYMBOLS), str(watch),
                             str(burst_every), str(IDLE_S), str(every), str(nap_ms)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=bench_env(), start_new_session=True)


def run_desk(burst_rate: float, seconds: float, *, burst_every: int = BURST_EVERY, io_threads: int = 1,
             proxies: int = 0, name: str | None = None, procs_n: int = PROCS, per_proc: int = PER_PROC,
             max_fps: float = FPS) -> dict:
    log = temp_path("desk-")
    cfg = {"rate": burst_rate, "batch": BATCH, "seconds": seconds, "compression": None, "log": log,
           "mode": "stamp", "burst": "BURST", "symbols": dict(zip(SYMBOLS, SYMBOL_RATES)), "max_fps": max_fps}
    srv, line = start([PY, "-c", STANDIN, json.dumps(cfg)], "LISTENING", new_session=True)
    procs: list[subprocess.Popen] = [srv]
    try:
        ctl = f"tcp://127.0.0.1:{free_port()}"
        feed, _ = start(feed_cmd(ctl, f"ws://127.0.0.1:{line.split()[1]}/stocks", [],
                                 io_threads_pre(io_threads) if io_threads != 1 else ""), "LISTENING", env=bench_env(),
                        new_session=True)
        procs.append(feed)
        eps = ["-"]  # "-": the data endpoint the feed's hello names
        if proxies:
            from shared.feed_probe import request
            from shared.models import wire

            data = request(ctl, wire.hello_request(), 10.0)["data"]
            eps = []
            for _ in range(proxies):
                px, pl = start([PY, "-c", PROXY, data], "LISTENING", new_session=True)
                procs.append(px)
                eps.append(pl.split()[1])
        screens = [_screens(ctl, eps[p % len(eps)], p * per_proc, per_proc, burst_every, EVERY)
                   for p in range(procs_n)]
        probe = _screens(ctl, eps[0], 0, 1, 1, 1, watch=0, nap_ms=0)
        procs += screens + [probe]
        for p in screens + [probe]:
            p.stdout.readline()  # READY: every socket subscribed
        niced = all([_nice(feed, NICE[0]), _nice(srv, NICE[1]), *(_nice(p, NICE[1]) for p in procs[2:2 + proxies]),
                     *(_nice(p, NICE[2]) for p in screens + [probe])])
        # the screens report their own CPU (they have exited when the threads are read again)
        ps = {"feed": feed, "standin": srv, **{f"proxy{i}": p for i, p in enumerate(procs[2:2 + proxies])}}
        ps = {k: psutil.Process(p.pid) for k, p in ps.items()}
        th0, sys0, t0 = {k: thread_cpu(p) for k, p in ps.items()}, psutil.cpu_times(), time.monotonic()
        # until every screen is done (IDLE_S after its last message): a feed that fell behind still works
        # after the stand-in stops, and that work is part of the load it was given
        outs = [json.loads(p.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1])
                for p in screens + [probe]]
        th1, sys1, t1 = {k: thread_cpu(p) for k, p in ps.items()}, psutil.cpu_times(), time.monotonic()
        with open(log) as f:
            sent = json.load(f)
    finally:
        stop_all(procs, log)
    machine = sum(getattr(sys1, f) - getattr(sys0, f) for f in ("user", "system", "nice", "irq", "softirq"))
    return summarize(name or f"burst {burst_rate / 1000:g}k ev/s", burst_rate, sent, outs, th0, th1,
                     t1 - IDLE_S - t0, 100 * machine / (t1 - t0), proxies, max_fps) | {"niced": niced}



def summarize(name: str, burst_rate: float, sent: dict, outs: list[dict], th0: dict, th1: dict, span: float,
              machine_pct: float, proxies: int, max_fps: float = FPS) -> dict:
    wall = sent["seconds"] or 1e-9
    busy = max(wall, span)  # the stream, or longer when the feed or the screens fell behind
    cpu = {k: {t: v - th0[k].get(t, 0.0) for t, v in th1[k].items()} for k in th1}
    pct = {k: {t: 100 * v / busy for t, v in c.items()} for k, c in cpu.items()}
    feed_py_s = cpu["feed"].get("python", 0.0)
    feed_io_s = sum(v for t, v in cpu["feed"].items() if t.startswith("ZMQbg/IO"))
    feed_s = sum(cpu["feed"].values())
    probe_out = outs.pop()
    probe = probe_out["screens"][0]
    screens = [s for o in outs for s in o["screens"]]
    msgs = sum(s["msgs"] for s in screens) + probe["msgs"]
    p99 = sorted(s["p99_ms"] for s in screens if s["p99_ms"] is not None)
    p50 = sorted(s["p50_ms"] for s in screens if s["p50_ms"] is not None)
    per = max(1, round(burst_rate / min(burst_rate / BATCH, max_fps))) if burst_rate else 0
    burst_sent = len(sent["q"]) * per
    burst_got = sorted(s["burst_events"] for s in screens if s["burst_events"])
    # delivered: a burst screen's events over its process's first-to-last message - longer than the stream
    # when the feed falls behind (a steady latency cancels out)
    rates = sorted(s["burst_events"] * 1e9 / max(1, o["last_ns"] - o["first_ns"])
                   for o in outs for s in o["screens"] if s["burst_events"] and o["first_ns"])
    last_ns = max(o["last_ns"] or 0 for o in outs + [probe_out])
    total = sum(sum(c.values()) for c in pct.values()) + 100 * sum(o["cpu_s"] for o in outs + [probe_out]) / busy
    row = {"name": name, "asked_ev_s": burst_rate + sum(SYMBOL_RATES), "offered_ev_s": sent["events"] / wall,
           "burst_offered_ev_s": burst_sent / wall,
           "burst_frame_events": per,
           "burst_delivered_ev_s": statistics.median(rates) if rates else 0.0,
           "delivered_pct": round(100 * statistics.median(rates) * wall / burst_sent, 1) if rates and burst_sent else None,
           "received_pct": round(100 * statistics.median(burst_got) / burst_sent, 1) if burst_got and burst_sent else None,
           "lag_s": round(max(0.0, (last_ns - sent["ns"][-1]) / 1e9), 2) if sent["ns"] and last_ns else None,
           "screens": len(screens), "gaps": sum(s["gaps"] for s in screens) + probe["gaps"],
           "screens_with_gaps": sum(1 for s in screens if s["gaps"]), "misread": sum(o["misread"] for o in outs),
           "feed_cpu_pct": round(100 * feed_s / busy, 1), "feed_python_pct": round(100 * feed_py_s / busy, 1),
           "feed_zmq_io_pct": round(100 * feed_io_s / busy, 1),
           "standin_pct": round(sum(pct["standin"].values()), 1),
           "proxies_pct": round(sum(sum(pct[f"proxy{i}"].values()) for i in range(proxies)), 1) if proxies else None,
           "screens_pct": round(100 * sum(o["cpu_s"] for o in outs) / busy, 1),
           "screens_python_max_pct": round(100 * max(o["py_s"] for o in outs) / busy, 1),
           "ours_pct": round(total, 1), "machine_pct": round(machine_pct, 1),
           "delivered_msgs": msgs,
           # CPU cost per unit of work: robust where the load stretches every wall-clock figure
           "py_us_per_upstream_event": round(1e6 * feed_py_s / max(1, sent["events"]), 2),
           "zmq_us_per_delivered_msg": round(1e6 * feed_io_s / max(1, msgs), 3),
           "p50_ms_median": statistics.median(p50) if p50 else None,
           "p99_ms_median": statistics.median(p99) if p99 else None,
           "p99_ms_worst": p99[-1] if p99 else None,
           "max_ms_worst": max((s["max_ms"] for s in screens if s["max_ms"] is not None), default=None),
           "probe_p50_ms": probe["p50_ms"], "probe_p99_ms": probe["p99_ms"]}
    threads = {"feed Python thread": row["feed_python_pct"], "feed ZeroMQ I/O thread": row["feed_zmq_io_pct"],
               "stand-in": row["standin_pct"], "a screens process": row["screens_python_max_pct"]}
    top = max(threads, key=threads.get)
    row["busiest"] = f"{top} {threads[top]:.0f} %"
    row["limit"] = limit(row)
    return row


def limit(row: dict) -> str:
    """The part that ran out first at this rate, or "" (keeps up: go on)."""
    cores = 100.0 * (os.cpu_count() or 1)
    if row["gaps"]:  # by design the feed drops for a screen 1,000 messages behind rather than wait for it
        return f"gaps: the feed's high-water mark dropped for screens behind (busiest {row['busiest']})"
    if row["feed_python_pct"] >= FULL:
        return "feed: its Python thread at a core"
    if row["feed_zmq_io_pct"] >= FULL:
        return "feed: its ZeroMQ I/O thread at a core"
    short = row["offered_ev_s"] < 0.95 * row["asked_ev_s"]
    behind = (row["delivered_pct"] or 0) < 95
    if not (short or behind):
        return ""
    if row["standin_pct"] >= FULL:
        return "stand-in: its sending thread at a core (cannot offer more)"
    if row["screens_python_max_pct"] >= FULL:
        return "screens: a screens process at a core"
    if row["machine_pct"] >= 0.9 * cores:
        return f"machine: every core busy, busiest {row['busiest']} (other work counts)"
    return "feed: reads slower than offered (pushes back on the stand-in)" if short else "feed: delivers behind the stream"


def variants(seconds: float) -> list[dict]:
    """The fan-out's options side by side with every screen on the burst (100 copies of each burst message)."""
    rows = []
    for io, px, how in ((1, 0, "direct"), (2, 0, "io_threads=2"), (1, 2, "2 proxies")):
        rows.append(run_desk(20_000.0, seconds, burst_every=1, io_threads=io, proxies=px,
                             name=f"20k, all 100 screens on the burst, {how}"))
    return rows


def ramp(rates: list[float], seconds: float, small: bool = False, alone: bool = False) -> list[dict]:
    """Rows at rising burst rates until the first limit; then one more between the last that kept up and it.
    ``small``: 5-event frames at a rising frame rate; ``alone``: the feed with one screen and the probe."""
    rows: list[dict] = []

    def one(r: float) -> dict:
        name = ("feed alone (1 screen + probe), " if alone else "") + f"burst {r / 1000:g}k ev/s"
        return run_desk(r, seconds, max_fps=r / BATCH if small else FPS, procs_n=1 if alone else PROCS,
                        per_proc=1 if alone else PER_PROC, name=name + (", 5-event frames" if small else ""))

    for r in rates:
        rows.append(one(r))
        if rows[-1]["limit"]:
            if len(rows) > 1 and len(rates) > 2:
                rows.insert(-1, one(round((rates[len(rows) - 2] * r) ** 0.5, -3)))
            break
    return rows


def saturation(rows: list[dict]) -> dict:
    """The first row with a limit, and the highest rate kept up below it."""
    hit = next((r for r in rows if r["limit"]), None)
    ok = [r for r in rows if not r["limit"] and (hit is None or r["asked_ev_s"] < hit["asked_ev_s"])]
    best = max(ok, key=lambda r: r["asked_ev_s"]) if ok else None
    return {"at": hit["name"] if hit else None, "limit": hit["limit"] if hit else None,
            "offered_ev_s": round(hit["offered_ev_s"]) if hit else None,
            "kept_up": best["name"] if best else None,
            "kept_up_ev_s": round(best["offered_ev_s"]) if best else None}


def measure(quick: bool, rates: list[float] | None = None, with_variants: bool | None = None) -> dict:
    seconds = 4.0 if quick else 8.0
    full = not quick and rates is None
    big = rates or ([20_000.0] if quick else [20_000.0 * 2 ** i for i in range(7)])  # to 1.28M
    rows = ramp(big, seconds)
    sat = saturation(rows)
    more = {}
    if full:  # the same with 5-event frames; the feed with its screens elsewhere (as on a desk: their own PCs)
        for key, kw, rs in (("5-event frames", {"small": True}, [80_000.0, 160_000.0, 320_000.0]),
                            ("feed alone", {"alone": True}, [320_000.0, 640_000.0, 1_280_000.0])):
            part = ramp(rs, seconds, **kw)
            more[key] = saturation(part)
            rows += part
    if with_variants if with_variants is not None else full:
        rows += variants(seconds)
    top = max((r for r in rows if not r["limit"] and r["screens"] == PROCS * PER_PROC), key=lambda r: r["asked_ev_s"],
              default=rows[0])  # the desk's own ramp (the variants' and the feed alone's costs differ)
    py_us, io_us = top["py_us_per_upstream_event"] or 1e-9, top["zmq_us_per_delivered_msg"] or 1e-9

    def said(s: dict | None) -> str:
        if not s or not s["at"]:
            return "no limit reached"
        return f"{s['at']}: {s['limit']}" + (f" (kept up at {s['kept_up']})" if s["kept_up"] else "")

    return {"title": f"desk: one feed, {PROCS * PER_PROC} screens ({PROCS} processes x {PER_PROC} SUB sockets), "
                     f"20 symbols ({sum(SYMBOL_RATES):,} ev/s) + one burst symbol",
            "rows": rows, "saturation": sat, "saturation_more": more,
            "notes": [f"{seconds:g} s per row; each screen watches {WATCH} symbols, every {BURST_EVERY}th also the "
                      f"burst; every message's seq checked, every {EVERY}th decoded for its latency (upstream send "
                      f"-> screen receive, after 1 s; a screens process drains every {NAP_MS:g} ms); probe_*: one "
                      "extra socket in its own process, burst only, every message",
                      f"burst frames: {BATCH} events at up to {FPS:,} frames/s, then larger (Polygon's way); "
                      "'5-event frames' rows: the frame rate rises instead (the feed's per-message worst case)",
                      "offered: what the stand-in sent (ev/s, all symbols); burst_delivered: the median burst "
                      "screen's burst events over its first-to-last message; lag_s: last message after the stream",
                      "cpu: % of one core over the busy time, per thread (psutil, kernel thread names); "
                      f"machine_pct: the whole machine's ({os.cpu_count()} cores, other work included), ours_pct: "
                      "this run's processes; niced: the feed and stand-in ran first (see _nice)",
                      f"saturation (frames grow): {said(sat)}",
                      *(f"saturation ({k}): {said(v)}" for k, v in more.items()),
                      f"CPU per unit of work at the top rate kept up: the feed's Python thread {py_us:.2f} us per "
                      f"upstream event (a core at ~{1e6 / py_us:,.0f} ev/s in those frames), its ZeroMQ I/O thread "
                      f"{io_us:.2f} us per delivered message (a core at ~{1e6 / io_us:,.0f} messages/s); lower "
                      "rates cost more per unit (one loop wake-up per frame)",
                      f"load average at the end: {os.getloadavg()[0]:.1f}"]}


if __name__ == "__main__":  # python -m bench.desk [--quick] [--rates 20000,80000] [--variants]
    a = sys.argv[1:]
    rates = [float(x) for x in a[a.index("--rates") + 1].split(",")] if "--rates" in a else None
    res = measure("--quick" in a, rates, True if "--variants" in a else None)
    from bench.__main__ import print_table

    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
