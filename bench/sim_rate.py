"""Simulator send rate: ``--max`` replay to one Polygon client in another process.

Why this shape: the simulator is the source of every other benchmark, so it
must out-run their consumers. The client is the cheapest honest one - a bare
``websockets`` receive loop that parses every frame with orjson and counts
events - in its own process, as a real consumer would be. The rate is events
over the time from the first to the last data frame. Quick mode replays the
AAPL file (50k events); the full run the TSLA file (356k events), repeated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CLIENT = textwrap.dedent("""
    import asyncio, json, sys, time, orjson, websockets
    async def main(url, topics, expected):
        async with websockets.connect(url, max_size=2**26, compression=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "auth", "params": "bench"}))
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "params": topics}))
            n = 0; first = None; frames = 0
            while n < expected:
                raw = await asyncio.wait_for(ws.recv(), 30)
                evs = orjson.loads(raw)
                if evs and evs[0].get("ev") == "status":
                    continue
                if first is None:
                    first = time.perf_counter()
                n += len(evs); frames += 1
            dt = time.perf_counter() - first
            print(json.dumps({"events": n, "seconds": dt, "frames": frames}))
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


def _replay_dir() -> Path | None:
    env = os.environ.get("LIVE_MONITOR_REPLAY_DIR")
    for p in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "replay"]:
        if p.is_dir():
            return p
    return None


def _count(path: Path) -> tuple[int, str]:
    from feed_process.sim.replay import load_replay

    data = load_replay(path)
    syms = sorted(data.symbols)
    return len(data), ",".join(f"{c}.{s}" for s in syms for c in ("T", "Q", "AM"))


def _start_sim(path: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "feed_process.sim", "--port", "0", "--replay", str(path), "--max",
                             "--log-level", "WARNING"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()  # the sim prints LISTENING once loaded
    if not line.startswith("LISTENING"):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, int(line.split()[1].rsplit(":", 1)[1])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(quick: bool) -> dict:
    d = _replay_dir()
    if d is None:
        return {"title": "simulator --max replay", "rows": [], "notes": ["replay data not found: skipped"]}
    name = "AAPL-2025-06-27-open.jsonl.gz" if quick else "TSLA-2025-07-01.jsonl.gz"
    path = d / name
    expected, topics = _count(path)
    import psutil

    rows = []
    for run in range(1 if quick else 3):
        proc, port = _start_sim(path)
        try:
            ps = psutil.Process(proc.pid)
            cpu0 = sum(ps.cpu_times()[:2])
            out = subprocess.run([sys.executable, "-c", _CLIENT, f"ws://127.0.0.1:{port}/stocks", topics,
                                  str(expected)], capture_output=True, text=True, timeout=120, cwd=REPO)
            if out.returncode != 0:
                raise RuntimeError(f"bench client failed: {out.stderr.strip().splitlines()[-1:]}")
            r = json.loads(out.stdout)
            server_cpu = sum(ps.cpu_times()[:2]) - cpu0
        finally:
            _stop(proc)
        rows.append({"name": f"{name} run {run + 1}", "events": r["events"],
                     "seconds": round(r["seconds"], 3), "events_per_s": r["events"] / r["seconds"],
                     "server_cpu_s": round(server_cpu, 3),
                     "server_events_per_cpu_s": r["events"] / max(server_cpu, 1e-6),
                     "frames": r["frames"]})
    best = max(r["events_per_s"] for r in rows)
    return {"title": "simulator --max replay -> one Polygon client (bare websockets + orjson, own process)",
            "rows": rows,
            "notes": [f"best {best:,.0f} events/s delivered (target >= 500,000)",
                      "client and server share the machine's 2 cores; the client's parse is part of the figure",
                      "server_events_per_cpu_s: the simulator's own capacity (events per CPU second it spent "
                      "sending, connection setup included)"]}


if __name__ == "__main__":  # handy for a single run: python -m bench.sim_rate [--quick]
    t = time.perf_counter()
    res = measure("--quick" in sys.argv)
    print(json.dumps(res, indent=1, default=str))
