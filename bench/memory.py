"""Memory: the feed's RSS over millions of events, as growth after warm-up.

Why: a feed runs for weeks. Every buffer in it is bounded (2000 bars per
symbol, ZeroMQ high-water marks, websockets ``max_size``), so after warm-up
its resident memory should stay flat however many events pass. The simulator
loops the TSLA replay at full speed (``--max --loop``), one subscriber process
counts events, and psutil samples the feed's RSS every 250 ms. Reported: RSS
at the end of warm-up (the first quarter of the events), at the end, and the
growth between.

Then the figures issue #17 asks for, at 1, 10 and 50 symbols:

* **feed RSS with N symbols subscribed**: the synthetic market (virtual session
  at 10:00 New York, so each symbol has its morning of history, ~360 bars,
  backfilled from the simulator's REST), one subscriber process on all N
  symbols; sampled once every symbol's backfill is done (the feed's ``status``)
  and the stream has run 5 s more;
* **feed state per symbol at the full 2000 bars** (``max_bars``), measured in a
  fresh interpreter with the feed's modules loaded: RSS before and after 50
  symbols of 2000 bars each, so the cost of a day-long history is visible;
* **window RSS** (:mod:`bench.window_memory`): the real window (``live-monitor
  ui``, offscreen, a watchlist of N symbols and the chart on the first) over 2M
  events of the TSLA replay at ``--max`` (1M quick; the chart's worst case), and
  on the synthetic market with 1, 10 and 50 symbols (2M events each, 400k quick):
  RSS at every tenth of the run, growth after the warm-up quarter, and the slope
  over the second half (plateau or leak).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

from bench import window_memory
from bench.common import REPO, bench_env, replay_dir, start, stop, synthetic_feed
from bench.feed_throughput import _SUBSCRIBER, _feed


def measure(quick: bool) -> dict:
    d = replay_dir()
    if d is None:
        return {"title": "memory", "rows": [], "notes": ["replay data not found: skipped"]}
    target = 1_000_000 if quick else 2_000_000
    sim, line = start([sys.executable, "-m", "feed_process.sim", "--port", "0", "--replay",
                       str(d / "TSLA-2025-07-01.jsonl.gz"), "--max", "--loop", "--log-level", "WARNING"], "LISTENING")
    port = int(line.split()[1].rsplit(":", 1)[1])
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            sub = subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, ctl, "TSLA", str(target), "10"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env())
            proc = psutil.Process(feed.pid)
            samples: list[tuple[float, int]] = []
            try:
                sub.stdout.readline()  # READY
                t0 = time.monotonic()
                while sub.poll() is None and time.monotonic() - t0 < 600:
                    samples.append((time.monotonic() - t0, proc.memory_info().rss))
                    time.sleep(0.25)
                out, _ = sub.communicate(timeout=30)
            finally:
                stop(sub)
        finally:
            stop(feed)
    finally:
        stop(sim)
    r = json.loads(out.strip().splitlines()[-1])
    mib = 1 / 2**20
    warm = samples[len(samples) // 4][1] if samples else 0
    end = samples[-1][1] if samples else 0
    peak = max((s[1] for s in samples), default=0)
    row = {"name": "feed process", "events": r["events"], "events_per_s": r["events"] / r["seconds"] if r["seconds"] else 0,
           "rss_warm_mib": round(warm * mib, 1), "rss_end_mib": round(end * mib, 1),
           "growth_mib": round((end - warm) * mib, 1), "peak_mib": round(peak * mib, 1), "gaps": r["gaps"]}
    rows = [row] + [by_symbols(n) for n in SYMBOL_COUNTS] + [state_2000_bars(50)]
    rows.append(window_memory.replay_run(d, target))
    per_n = 400_000 if quick else 2_000_000
    rows += [window_memory.synthetic_run(list(SYMBOLS[:n]), per_n) for n in SYMBOL_COUNTS]
    return {"title": f"memory: feed and window RSS (TSLA --max --loop over {target:,} events; 1/10/50 symbols)",
            "rows": rows,
            "notes": ["growth = RSS at the end minus RSS after the first quarter of the run; slope = MiB per "
                      "million events over the second half (least squares): ~0 is a plateau, > 0 keeps growing",
                      "goals (#17): feed <= 60 MiB with 50 symbols subscribed; window RSS flat over 2M events",
                      "feed symbols rows: synthetic market at 10:00 New York (~360 bars each), RSS once every "
                      "backfill is done; the 2000-bar row is the feed's state alone, in-process",
                      f"window rows: the real window, a watchlist of N symbols + the chart on the first; curve_mib = "
                      f"RSS at every tenth of the events; synthetic rows: {window_memory.RATE:,} ev/s over the N "
                      f"symbols (as the simulator keeps up), virtual clock x{window_memory.SPEED}, {per_n:,} events"]}


SYMBOL_COUNTS = (1, 10, 50)
SYMBOLS = ("AAPL MSFT NVDA TSLA SPY AMZN GOOGL META AMD NFLX QQQ IWM INTC MU AVGO ORCL CRM ADBE PYPL UBER "
           "SHOP COIN PLTR SOFI RIVN F GM BA DIS NKE KO PEP WMT COST HD LOW JPM BAC GS MS C WFC XOM CVX "
           "PFE MRK JNJ UNH LLY ABBV").split()

# Subscribes md| of every symbol given, counts events until stdin closes; prints the count.
_MULTI = """
import sys, threading, msgpack, zmq
feed, syms = sys.argv[1], sys.argv[2].split(",")
ctx = zmq.Context(); d = ctx.socket(zmq.DEALER); d.setsockopt(zmq.LINGER, 0); d.connect(feed)
d.send(msgpack.packb({"v": 1, "type": "hello", "id": 1}))
if not d.poll(10000): sys.exit("no feed")
s = ctx.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM, 0); s.connect(msgpack.unpackb(d.recv())["data"])
for sym in syms: s.setsockopt(zmq.SUBSCRIBE, ("md|%s|" % sym).encode())
print("READY", flush=True)
stop = threading.Event(); threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
n = 0
while not stop.is_set():
    if s.poll(200):
        m = msgpack.unpackb(s.recv_multipart()[1])
        n += len(m.get("ev") or ()) if m.get("type") == "batch" else 0
print(n, flush=True)
"""


def by_symbols(n: int) -> dict:
    """Feed RSS with ``n`` symbols subscribed on the synthetic market, once their backfill is done."""
    from shared.feed_probe import request
    from shared.models import wire

    syms = SYMBOLS[:n]
    with synthetic_feed() as (ctl, feed):
        sub = subprocess.Popen([sys.executable, "-c", _MULTI, ctl, ",".join(syms)], cwd=REPO, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env())
        try:
            sub.stdout.readline()  # READY
            t0 = time.monotonic()
            done = False
            while time.monotonic() - t0 < 240 and not done:
                st = request(ctl, wire.status_request(1), 2.0) or {}
                bf = [v.get("backfill") for v in (st.get("symbols") or {}).values() if isinstance(v, dict)]
                done = len(bf) >= n and all(b == "done" for b in bf)
                time.sleep(0.5)
            settle = time.monotonic() + 5
            peak = 0
            while time.monotonic() < settle:
                peak = max(peak, psutil.Process(feed.pid).memory_info().rss)
                time.sleep(0.25)
            rss = psutil.Process(feed.pid).memory_info().rss
            out, _ = sub.communicate("", timeout=30)
        finally:
            stop(sub)
    return {"name": f"feed, {n} symbol{'s' if n > 1 else ''} subscribed", "rss_end_mib": round(rss / 2**20, 1),
            "peak_mib": round(peak / 2**20, 1), "events": int(out.split()[-1]) if out.split() else 0,
            "backfill_done": done, "backfill_s": round(time.monotonic() - t0 - 5, 1)}


_STATE = """
import gc, json, sys, psutil
import feed_process.main
from feed_process.state import FeedSymbol
p = psutil.Process(); gc.collect(); before = p.memory_info().rss
t0 = 1_764_000_000_000 // 60000 * 60000
keep = []
for i in range(int(sys.argv[1])):
    st = FeedSymbol("S%d" % i, 2000); px = 100.0 + i
    st.merge_history([[t0 + k * 60000, px + k % 7 * .01, px + .2 + k % 5 * .01, px - .2, px + k % 3 * .01,
                       1000 + k * 7 % 900, px + .003 * (k % 11), 10 + k % 40] for k in range(2000)])
    keep.append(st)
gc.collect()
print(json.dumps({"base": before, "after": p.memory_info().rss}))
"""


def state_2000_bars(n: int) -> dict:
    r = subprocess.run([sys.executable, "-c", _STATE, str(n)], cwd=REPO, capture_output=True, text=True,
                       env=bench_env(), timeout=120)
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return {"name": f"feed modules + {n} symbols x 2000 bars (in-process)", "rss_warm_mib": round(d["base"] / 2**20, 1),
            "rss_end_mib": round(d["after"] / 2**20, 1),
            "per_symbol_mib": round((d["after"] - d["base"]) / n / 2**20, 2)}


if __name__ == "__main__":  # python -m bench.memory [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
