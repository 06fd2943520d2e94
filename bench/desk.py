"""A desk of a hundred screens: one feed, 100 SUB sockets in 4 processes, 20 symbols + one burst symbol.

Why this shape (issue 17): a team shares one daemon. What it must show is the
feed's CPU, every screen's latency and gaps, and where one feed stops
keeping up. The upstream is the paced stand-in (:mod:`bench.paced`, ``stamp``
mode: each trade's id is its frame's send time in ns, so a subscriber reads
its own latency from wire index 6 - upstream send -> subscriber receive, the
feed's whole path and both hops). It streams

* 20 symbols at intraday rates of a liquid watchlist (trades + quotes, Poisson,
  ``SYMBOL_RATES``: 400 events/s for the busiest down to 4; 1,635 events/s together), and
* ``BURST``, a hot name, at 20k events/s in frames of 5 (4,000 frames/s; above
  that the frames grow, as Polygon's do, at the same frame rate).

Subscribers: 4 processes x 25 SUB sockets (each socket is one screen: its own
connection to the feed's XPUB). Screen ``g`` watches 4 of the 20 symbols
(each symbol has 20 watchers) and every 5th screen also watches the burst
symbol (20 watchers). A probe (one more process, one socket, the burst only)
is light enough to be scheduled at once: its latency is the feed's delivery,
the screens' adds their own queueing. Each process drains its sockets with one poller, checks
every batch's ``seq`` (a gap = the feed's high-water mark dropped for that
screen) and keeps one latency per message (its first trade), after a 1 s warm-up.

Saturation: the burst rate is raised (full mode) until a limit shows (:func:`limit`):
the feed's (a screen sees gaps, or one of its threads fills a core) or the
machine's (the stand-in cannot keep its pace, or the latency runs away while
the feed is below a core: every process queues for the shared CPUs). On this
2-core machine the stand-in and the 100 screens share the cores with the
feed, so the rows also give the feed's CPU per upstream event and per
delivered message, from which its own limit follows.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import psutil

from bench.common import REPO, bench_env, free_port, start, stop
from bench.latency import feed_cmd
from bench.paced import STANDIN

PY = sys.executable
SYMBOLS = [f"S{i:02d}" for i in range(20)]
SYMBOL_RATES = [400, 300, 200, 150, 120, 100, 80, 60, 50, 40, 30, 25, 20, 15, 12, 10, 8, 6, 5, 4]
PROCS, PER_PROC, WATCH, BURST_EVERY = 4, 25, 4, 5
IDLE_S = 2.0  # a screen stops this long after its last message

_SCREENS = textwrap.dedent("""
    import json, sys, time, msgpack, zmq
    ctl, first, n, symbols, watch, burst_every, idle = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                       sys.argv[4].split(","), int(sys.argv[5]), int(sys.argv[6]),
                                                       float(sys.argv[7]))
    ctx = zmq.Context()
    d = ctx.socket(zmq.DEALER); d.setsockopt(zmq.LINGER, 0); d.connect(ctl)
    d.send(msgpack.packb({"v": 1, "type": "hello", "id": 1}))
    if not d.poll(20000): sys.exit("no feed")
    data = msgpack.unpackb(d.recv())["data"]
    socks, poller = [], zmq.Poller()
    for g in range(first, first + n):
        s = ctx.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM, 0); s.setsockopt(zmq.LINGER, 0); s.connect(data)
        for k in range(watch):
            s.setsockopt(zmq.SUBSCRIBE, ("md|%s|" % symbols[(g * watch + k) % len(symbols)]).encode())
        if g % burst_every == 0:
            s.setsockopt(zmq.SUBSCRIBE, b"md|BURST|")
        socks.append(s); poller.register(s, zmq.POLLIN)
    print("READY", flush=True)
    unpackb, mono, NB = msgpack.unpackb, time.monotonic_ns, zmq.NOBLOCK
    st = [{"lat": [], "gaps": 0, "events": 0, "msgs": 0, "next": {}} for _ in socks]
    index = {s: i for i, s in enumerate(socks)}
    t_first = None; warm_ns = 1_000_000_000; cpu0 = 0.0
    wait = 30000
    while True:
        ready = poller.poll(wait)
        if not ready:
            break
        wait = int(idle * 1000)
        for s, _ in ready:
            me = st[index[s]]
            lat, nxt = me["lat"], me["next"]
            while True:
                try:
                    topic, payload = s.recv_multipart(NB)
                except zmq.Again:
                    break
                now = mono()
                m = unpackb(payload)
                if m.get("type") != "batch":
                    continue
                if t_first is None:
                    t_first = now; cpu0 = time.process_time()
                ev = m["ev"]
                sym = m["sym"]
                want = nxt.get(sym)
                if want is not None and m["seq"] != want:
                    me["gaps"] += 1
                nxt[sym] = m["seq"] + len(ev)
                me["events"] += len(ev); me["msgs"] += 1
                if now - t_first < warm_ns:
                    continue
                for a in ev:  # one sample per message: its first trade (frames carry one send time)
                    if a[0] == "T" and a[6] is not None:
                        lat.append((now - int(a[6])) / 1e6)
                        break
    cpu = time.process_time() - cpu0
    out = []
    for me in st:
        lat = sorted(me["lat"])
        q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]) if lat else (lambda p: None)
        out.append({"events": me["events"], "msgs": me["msgs"], "gaps": me["gaps"], "samples": len(lat),
                    "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": lat[-1] if lat else None})
    print(json.dumps({"screens": out, "cpu_s": cpu}))
""")


def run_desk(burst_rate: float, seconds: float, *, compression: str | None = None, feed_env: dict | None = None,
             feed_args: list[str] = (), feed_pre: str = "") -> dict:
    fd, log = tempfile.mkstemp(prefix="desk-", suffix=".json")
    os.close(fd)
    os.unlink(log)
    cfg = {"rate": burst_rate, "batch": 5, "seconds": seconds, "compression": compression, "log": log,
           "mode": "stamp", "burst": "BURST", "symbols": dict(zip(SYMBOLS, SYMBOL_RATES)), "max_fps": 4000}
    srv, line = start([PY, "-c", STANDIN, json.dumps(cfg)], "LISTENING")
    procs: list[subprocess.Popen] = []
    try:
        port = line.split()[1]
        ctl = f"tcp://127.0.0.1:{free_port()}"
        feed, _ = start(feed_cmd(ctl, f"ws://127.0.0.1:{port}/stocks", list(feed_args), feed_pre), "LISTENING",
                        env={**bench_env(), **(feed_env or {})})
        procs.append(feed)
        for p in range(PROCS):
            procs.append(subprocess.Popen(
                [PY, "-c", _SCREENS, ctl, str(p * PER_PROC), str(PER_PROC), ",".join(SYMBOLS), str(WATCH),
                 str(BURST_EVERY), str(IDLE_S)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env=bench_env()))
        # the probe: one more process, one socket, the burst symbol only - light enough to be scheduled at
        # once, so its latency is the feed's delivery while the 100 screens' shows their own queueing too
        procs.append(subprocess.Popen(
            [PY, "-c", _SCREENS, ctl, "0", "1", ",".join(SYMBOLS), "0", "1", str(IDLE_S)], cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env()))
        for p in procs[1:]:
            p.stdout.readline()  # READY: every socket subscribed
        fp, sp = psutil.Process(feed.pid), psutil.Process(srv.pid)
        c0, t0, th0 = (fp.cpu_times(), sp.cpu_times()), time.monotonic(), _threads(fp)
        # Until every screen is done (2 s after its last message): a feed that fell behind still works
        # after the stand-in stops, and that work is part of the load it was given.
        outs = [json.loads(p.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1]) for p in procs[1:]]
        c1, t1, th1 = (fp.cpu_times(), sp.cpu_times()), time.monotonic() - IDLE_S, _threads(fp)
        with open(log) as f:
            sent = json.load(f)
    finally:
        for p in procs[::-1]:
            stop(p)
        stop(srv)
        if os.path.exists(log):
            os.unlink(log)
    wall = sent["seconds"] or 1e-9
    busy = max(wall, t1 - t0)  # the stream, or longer when the feed or the screens fell behind
    cpu = [100 * (b.user + b.system - a.user - a.system) / busy for a, b in zip(c0, c1)]
    feed_s = c1[0].user + c1[0].system - c0[0].user - c0[0].system
    py_s = th1.get(feed.pid, 0.0) - th0.get(feed.pid, 0.0)  # the asyncio thread; the rest is ZeroMQ's
    py = 100 * py_s / busy
    msgs = sum(s["msgs"] for o in outs for s in o["screens"])
    probe = outs.pop()["screens"][0]
    screens = [s for o in outs for s in o["screens"]]
    p99 = sorted(s["p99_ms"] for s in screens if s["p99_ms"] is not None)
    p50 = sorted(s["p50_ms"] for s in screens if s["p50_ms"] is not None)
    sub_cpu = sum(o["cpu_s"] for o in outs) / busy * 100
    return {"name": f"burst {burst_rate / 1000:g}k ev/s", "sent_per_s": sent["events"] / wall,
            "screens": len(screens), "screens_with_data": sum(1 for s in screens if s["events"]),
            "delivered_events": sum(s["events"] for s in screens),
            "gaps": sum(s["gaps"] for s in screens), "screens_with_gaps": sum(1 for s in screens if s["gaps"]),
            "feed_cpu_pct": round(cpu[0], 1), "feed_python_pct": round(py, 1), "feed_zmq_io_pct": round(cpu[0] - py, 1),
            "standin_cpu_pct": round(cpu[1], 1), "delivered_msgs": msgs,
            # CPU cost per unit of work: robust where the load stretches every wall-clock figure
            "py_us_per_upstream_event": 1e6 * py_s / max(1, sent["events"]),
            "zmq_us_per_delivered_msg": 1e6 * (feed_s - py_s) / max(1, msgs),
            "screens_cpu_pct": round(sub_cpu, 1),
            "p50_ms_median": statistics.median(p50) if p50 else None,
            "p99_ms_median": statistics.median(p99) if p99 else None,
            "p99_ms_worst": p99[-1] if p99 else None,
            "max_ms_worst": max((s["max_ms"] for s in screens if s["max_ms"] is not None), default=None),
            "probe_p50_ms": probe["p50_ms"], "probe_p99_ms": probe["p99_ms"], "probe_gaps": probe["gaps"]}


def _threads(p: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in p.threads()}


def limit(row: dict, asked: float) -> str:
    """Why this rate is the last one worth trying: the feed's limit, the machine's, or "" (go on)."""
    if row["gaps"]:
        return "feed: gaps (a screen's high-water mark)"
    if row["feed_python_pct"] >= 95 or row["feed_zmq_io_pct"] >= 95:
        return "feed: a thread at 100 % of a core"
    if row["sent_per_s"] < 0.9 * asked:
        return "machine: the stand-in could not keep its pace"
    if (row["probe_p99_ms"] or 0) > 50:
        return "machine: the probe's latency runs away with the feed below a core (CPU shared)"
    return ""


def measure(quick: bool, rates: list[float] | None = None) -> dict:
    seconds = 4.0 if quick else 8.0
    rates = rates or ([20_000.0] if quick else [20_000.0, 40_000.0, 80_000.0, 160_000.0, 320_000.0])
    rows = []
    for r in rates:
        row = run_desk(r, seconds)
        row["limit"] = limit(row, r + sum(SYMBOL_RATES))
        rows.append(row)
        if row["limit"]:
            break
    sat = next((f'{r["name"]}: {r["limit"]}' for r in rows if r["limit"]), None)
    py_us = max(r["py_us_per_upstream_event"] for r in rows)
    io_us = max(r["zmq_us_per_delivered_msg"] for r in rows)
    return {"title": f"desk: one feed, {PROCS * PER_PROC} screens ({PROCS} processes x {PER_PROC} SUB sockets), "
                     f"20 symbols ({sum(SYMBOL_RATES):,} ev/s) + one burst symbol",
            "rows": rows,
            "notes": [f"{seconds:g} s per burst rate; each screen watches {WATCH} symbols, every {BURST_EVERY}th "
                      "also the burst; latency = upstream send -> screen receive (trades, per frame), after 1 s",
                      "p99_ms_median / _worst: the median and the worst of the 100 screens' own p99; probe_*: "
                      "one extra socket in its own process, the burst symbol only (the feed's delivery)",
                      "cpu: % of one core over the stream (feed: Python + ZeroMQ I/O thread); every process of "
                      f"the run shares {os.cpu_count()} cores",
                      f"stopped at: {sat or 'no limit reached'}",
                      f"from the CPU per unit of work: the feed's asyncio thread fills a core at ~{1e6 / py_us:,.0f} "
                      f"upstream events/s in these frames, its ZeroMQ I/O thread at ~{1e6 / io_us:,.0f} delivered "
                      "messages/s",
                      f"load average at the end: {os.getloadavg()[0]:.1f}"]}


if __name__ == "__main__":  # python -m bench.desk [--quick] [--rates 20000,80000]
    a = sys.argv[1:]
    rates = [float(x) for x in a[a.index("--rates") + 1].split(",")] if "--rates" in a else None
    res = measure("--quick" in a, rates)
    from bench.__main__ import print_table

    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
