"""Memory: the feed's RSS over millions of events, as growth after warm-up.

Why: a feed runs for weeks. Every buffer in it is bounded (2000 bars per
symbol, ZeroMQ high-water marks, websockets ``max_size``), so after warm-up
its resident memory should stay flat however many events pass. The simulator
loops the TSLA replay at full speed (``--max --loop``), one subscriber process
counts events, and psutil samples the feed's RSS every 250 ms. Reported: RSS
at the end of warm-up (the first quarter of the events), at the end, and the
growth between. The UI process's RSS over the same kind of run is reported by
``bench.ui_ingest`` (its ``rss_*`` figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

from bench.common import REPO, bench_env, replay_dir, start, stop
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
    return {"title": f"memory: feed RSS over {target:,} events (TSLA --max --loop, one subscriber process)",
            "rows": [row],
            "notes": ["growth = RSS at the end minus RSS after the first quarter of the run",
                      "the UI process's RSS over 2M events is in the 'ui' table (bench.ui_ingest)"]}


if __name__ == "__main__":  # python -m bench.memory [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
