"""Fan-out: 1, 4 and 8 subscriber processes on one feed at full rate.

Why: the feed's promise is that windows share one upstream connection and
never slow each other down. Here the simulator replays the file ``--max``
(Polygon protocol), one feed serves N subscriber *processes* (each unpacks
and counts every batch, as ``bench.feed_throughput``'s subscriber does), and
we report each subscriber's rate and gaps, and the feed's CPU (psutil,
percent of one core over the run). Gaps mean the feed's PUB dropped at the
high-water mark for a subscriber that could not keep up - by design the feed
never waits for a subscriber; 2 cores shared by sim + feed + N subscribers is
the limit being measured.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

from bench.common import REPO, bench_env, replay_dir, stop
from bench.feed_throughput import _SUBSCRIBER, _feed, _sim


def _run(path, symbol: str, expected: int, n_subs: int) -> dict:
    sim, port = _sim(path)
    subs: list[subprocess.Popen] = []
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            for _ in range(n_subs):
                subs.append(subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, ctl, symbol, str(expected), "5"],
                                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                             env=bench_env()))
            for s in subs:
                s.stdout.readline()  # READY: subscribed before the first event flows
            fp = psutil.Process(feed.pid)
            cpu0 = fp.cpu_times()
            outs = []
            for s in subs:
                out, _ = s.communicate(timeout=300)
                outs.append(json.loads(out.strip().splitlines()[-1]))
            cpu1 = fp.cpu_times()
        finally:
            stop(feed)
    finally:
        for s in subs:
            stop(s)
        stop(sim)
    rates = [o["events"] / o["seconds"] if o["seconds"] else 0.0 for o in outs]
    wall = max(o["seconds"] for o in outs) or 1e-9
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall * 100
    return {"name": f"{n_subs} subscriber{'s' if n_subs > 1 else ''}",
            "min_events_per_s": min(rates), "max_events_per_s": max(rates),
            "total_events_per_s": sum(rates), "events_each": min(o["events"] for o in outs),
            "gaps": sum(o["gaps"] for o in outs), "feed_cpu_pct": round(cpu, 1)}


def measure(quick: bool) -> dict:
    d = replay_dir()
    if d is None:
        return {"title": "fan-out", "rows": [], "notes": ["replay data not found: skipped"]}
    name, symbol = ("AAPL-2025-06-27-open.jsonl.gz", "AAPL") if quick else ("TSLA-2025-07-01.jsonl.gz", "TSLA")
    from feed_process.sim.replay import load_replay

    expected = len(load_replay(d / name, keep_time=True))
    rows = [_run(d / name, symbol, expected, n) for n in (1, 4, 8)]
    return {"title": f"fan-out: {name} --max replay, N subscriber processes on one feed", "rows": rows,
            "notes": ["rates are per subscriber (first to last event); feed CPU is % of one core over the run",
                      "every process (sim, feed, N subscribers) shares the same 2 cores"]}


if __name__ == "__main__":  # python -m bench.fanout [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
