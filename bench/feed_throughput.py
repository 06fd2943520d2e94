"""Feed throughput and latency, side by side with the official ``massive`` client, in one run.

Why this shape (the issue's benchmark): the same stream - the simulator's
``--max`` replay of a real file over the Polygon protocol - is consumed, one
after the other in the same minute, by

* a bare ``websockets`` + orjson receive loop (the ceiling for any Python client),
* the official ``massive`` ``WebSocketClient`` (as shipped: stdlib json; and with
  ``custom_json=orjson``), counting the events its parser hands over,
* the feed: sim -> feed process -> ZeroMQ -> a subscriber *process* that
  unpacks every batch and counts events (what a window gets).

Every consumer is its own process, rates are events over first-to-last event
time. Latency is measured separately at ~5k events/s: a small Polygon-protocol
server (in this module) stamps each trade's id with its send time in ns; the
subscriber process subtracts it from its receive time (same machine clock).
So the figure covers WebSocket hop + feed + ZeroMQ hop + msgpack decode.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.common import BARE_CLIENT, FEED_SUB, REPO, bench_env, free_port, replay_dir, start, stop

PY = sys.executable

_MASSIVE = textwrap.dedent("""
    import asyncio, json, sys, time
    from massive import WebSocketClient
    host, topics, expected, use_orjson = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    class OrjsonStr:  # massive sends dumps() output as a text frame: give it str
        import orjson as _o
        loads = staticmethod(_o.loads)
        dumps = staticmethod(lambda o: OrjsonStr._o.dumps(o).decode())
    c = WebSocketClient(api_key="bench", feed=host, market="stocks", secure=False,
                        subscriptions=topics.split(","), custom_json=OrjsonStr if use_orjson else None,
                        max_reconnects=0)
    state = {"n": 0, "first": None}
    class Done(Exception): pass
    async def handle(msgs):
        if state["first"] is None:
            state["first"] = time.perf_counter(); state["cpu0"] = time.process_time()
        state["n"] += len(msgs)
        if state["n"] >= expected:
            raise Done()
    async def main():
        try:
            await asyncio.wait_for(c.connect(handle, max_size=2**26, compression=None), 120)
        except Done:
            pass
        print(json.dumps({"events": state["n"], "seconds": time.perf_counter() - state["first"],
                          "cpu_s": time.process_time() - state["cpu0"]}))
    asyncio.run(main())
""")

_SUBSCRIBER = FEED_SUB + textwrap.dedent("""
    feed, sym, expected, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    latency = len(sys.argv) > 5 and sys.argv[5] == "latency"
    ctx = zmq.Context()
    s = sub_socket(ctx, data_endpoint(ctx, feed, 5000))
    s.setsockopt(zmq.SUBSCRIBE, ("md|%s|" % sym).encode())
    print("READY", flush=True)
    unpackb = msgpack.unpackb
    n = 0; first = last = None; nxt = None; gaps = 0; lat = []
    while n < expected:
        if not s.poll(int(idle * 1000)):
            break
        topic, payload = s.recv_multipart()
        now = time.time_ns()
        m = unpackb(payload)
        if m["type"] != "batch":
            continue
        if nxt is not None and m["seq"] != nxt:
            gaps += 1
        nxt = m["seq"] + len(m["ev"])
        if first is None:
            first = time.perf_counter(); cpu0 = time.process_time()
        last = time.perf_counter()
        n += len(m["ev"])
        if latency:
            for a in m["ev"]:
                if a[0] == "T" and a[6]:
                    lat.append((now - int(a[6])) / 1e6)
    print(json.dumps({"events": n, "seconds": (last - first) if first else 0.0, "gaps": gaps, "latency_ms": lat,
                      "cpu_s": (time.process_time() - cpu0) if first else 0.0}))
""")

# A minimal Polygon-protocol server for the latency run: ~rate events/s in frames of `batch`,
# each trade's id is its send time in ns.
_LAT_SERVER = textwrap.dedent("""
    import asyncio, json, sys, time, websockets
    rate, batch, seconds = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    async def handler(ws):
        await ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        await ws.recv()
        await ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
        await ws.recv()
        period = batch / rate
        t_end = time.monotonic() + seconds
        nxt = time.monotonic()
        base_ms = int(time.time() * 1000)
        i = 0
        while time.monotonic() < t_end:
            now_ns = time.time_ns()
            evs = [{"ev": "T", "sym": "LAT", "x": 4, "i": str(now_ns), "z": 3, "p": 100.0 + (i % 7) * 0.01,
                    "s": 100, "t": base_ms + i, "q": i} for _ in range(batch)]
            i += batch
            await ws.send(json.dumps(evs))
            nxt += period
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        await asyncio.sleep(30)
    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as srv:
            print("LISTENING", srv.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()
    asyncio.run(main())
""")


SIZES = (5, 50, 1000)  # events per upstream frame: real frames for a few symbols are small (issue #17)


def _sim(path: Path, frame_events: int = 1000) -> tuple[subprocess.Popen, int]:
    proc, line = start([PY, "-m", "feed_process.sim", "--port", "0", "--replay", str(path), "--max", "--keep-time",
                        "--frame-events", str(frame_events), "--log-level", "WARNING"], "LISTENING")
    return proc, int(line.split()[1].rsplit(":", 1)[1])


def _run_json(cmd: list[str], timeout: float = 180) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=bench_env())
    if out.returncode != 0:
        raise RuntimeError(f"bench client failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _feed(upstream: str) -> tuple[subprocess.Popen, str]:
    ctl = f"tcp://127.0.0.1:{free_port()}"
    proc, _ = start([PY, "-c", "import sys; from shared.cli import main; sys.exit(main())", "feed", "--feed", ctl,
                     "--upstream", upstream, "--protocol", "polygon", "--no-backfill", "--hwm", "100000",
                     "--log-level", "WARNING"], "LISTENING")
    return proc, ctl


def _cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _through_feed(path: Path, symbol: str, expected: int, frame_events: int) -> dict:
    sim, port = _sim(path, frame_events)
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            sub = subprocess.Popen([PY, "-c", _SUBSCRIBER, ctl, symbol, str(expected), "10"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env())
            try:
                sub.stdout.readline()  # READY
                cpu0 = _cpu(feed.pid)
                out, _ = sub.communicate(timeout=180)
                feed_cpu = _cpu(feed.pid) - cpu0
            finally:
                stop(sub)
            r = json.loads(out.strip().splitlines()[-1])
            r["sub_cpu_s"], r["cpu_s"] = r.get("cpu_s", 0.0), feed_cpu
            return r
        finally:
            stop(feed)
    finally:
        stop(sim)


def _direct(path: Path, script: str, args: list[str], frame_events: int) -> dict:
    sim, port = _sim(path, frame_events)
    try:
        return _run_json([PY, "-c", script, *[a.replace("PORT", str(port)) for a in args]])
    finally:
        stop(sim)


def _latency(rate: float, seconds: float) -> dict:
    srv, line = start([PY, "-c", _LAT_SERVER, str(rate), "5", str(seconds + 3)], "LISTENING")
    port = int(line.split()[1])
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            expected = int(rate * seconds)
            sub = subprocess.Popen([PY, "-c", _SUBSCRIBER, ctl, "LAT", str(expected), "5", "latency"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=bench_env())
            try:
                sub.stdout.readline()
                out, _ = sub.communicate(timeout=seconds + 60)
            finally:
                stop(sub)
            r = json.loads(out.strip().splitlines()[-1])
        finally:
            stop(feed)
    finally:
        stop(srv)
    lat = sorted(r["latency_ms"][len(r["latency_ms"]) // 10:])  # drop the first 10% (connection warm-up)
    if not lat:
        return {"events": r["events"]}
    q = statistics.quantiles(lat, n=100)
    return {"events": r["events"], "rate": r["events"] / r["seconds"] if r["seconds"] else 0.0,
            "p50_ms": q[49], "p99_ms": q[98], "max_ms": lat[-1]}


def measure(quick: bool) -> dict:
    d = replay_dir()
    if d is None:
        return {"title": "feed throughput", "rows": [], "notes": ["replay data not found: skipped"]}
    name, symbol = ("AAPL-2025-06-27-open.jsonl.gz", "AAPL") if quick else ("TSLA-2025-07-01.jsonl.gz", "TSLA")
    path = d / name
    from feed_process.sim.replay import load_replay

    expected = len(load_replay(path, keep_time=True))
    topics = f"T.{symbol},Q.{symbol},AM.{symbol}"
    rows = []

    def row(label: str, size: int, r: dict, **extra) -> dict:
        rate = r["events"] / r["seconds"] if r.get("seconds") else 0.0
        cpu = r.get("cpu_s") or 0.0
        out = {"name": label, "frame_events": size, "events": r["events"], "seconds": round(r.get("seconds", 0.0), 3),
               "events_per_s": rate, "cpu_s": round(cpu, 3),
               "events_per_cpu_s": r["events"] / cpu if cpu else 0.0, **extra}
        rows.append(out)
        return out

    def best_of(runs: list[dict]) -> dict:  # other work on the machine only ever slows a run down
        return max(runs, key=lambda r: r["events"] / r["seconds"] if r["seconds"] else 0)

    repeats = 1 if quick else 2
    ratios: dict[int, dict] = {}
    for size in SIZES:
        direct = lambda script, a: best_of([_direct(path, script, a, size) for _ in range(repeats)])  # noqa: E731
        bare = row("bare websockets + orjson", size,
                   direct(BARE_CLIENT, ["ws://127.0.0.1:PORT/stocks", topics, str(expected)]))
        official = row("massive client (json)", size, direct(_MASSIVE, ["127.0.0.1:PORT", topics, str(expected), "0"]))
        if not quick:
            row("massive client (orjson)", size, direct(_MASSIVE, ["127.0.0.1:PORT", topics, str(expected), "1"]))
        best = best_of([_through_feed(path, symbol, expected, size) for _ in range(repeats)])
        feed = row("feed -> ZeroMQ -> subscriber process", size, best, gaps=best["gaps"],
                   subscriber_cpu_s=round(best.get("sub_cpu_s", 0.0), 3))
        ratio = feed["events_per_s"] / official["events_per_s"] if official["events_per_s"] else 0.0
        cpu_ratio = (feed["events_per_cpu_s"] / official["events_per_cpu_s"]) if official["events_per_cpu_s"] else 0.0
        feed["x_massive"] = round(ratio, 2)
        feed["x_massive_cpu"] = round(cpu_ratio, 2)
        feed["of_bare"] = round(feed["events_per_s"] / bare["events_per_s"], 2) if bare["events_per_s"] else 0.0
        ratios[size] = {"x_massive": feed["x_massive"], "x_massive_cpu": feed["x_massive_cpu"],
                        "of_bare": feed["of_bare"]}
    lat = _latency(5000.0, 3.0 if quick else 8.0)
    rows.append({"name": "latency at ~5k ev/s (upstream send -> subscriber recv)", "events": lat["events"],
                 "events_per_s": lat.get("rate", 0.0), "p50_ms": lat.get("p50_ms"), "p99_ms": lat.get("p99_ms"),
                 "max_ms": lat.get("max_ms")})
    return {"title": f"feed throughput: {name} --max replay, Polygon protocol, every consumer its own process",
            "rows": rows,
            "notes": [*(f"{n}-event frames: feed {r['of_bare']:.2f}x the bare loop, {r['x_massive']:.2f}x massive "
                        f"({r['x_massive_cpu']:.2f}x per CPU-second)" for n, r in ratios.items()),
                      "targets (issue #17): feed >= 1.0x the bare websockets+orjson loop at every frame size",
                      "events_per_cpu_s: of the consuming process, robust when other work shares the cores",
                      f"best of {repeats} run(s) per consumer and frame size (the sim's --frame-events N)",
                      "feed figure = events unpacked by a separate subscriber process over ZeroMQ",
                      "all processes share the machine's 2 cores with the simulator"],
            "ratio_vs_massive": ratios[1000]["x_massive"], "cpu_ratio_vs_massive": ratios[1000]["x_massive_cpu"],
            "ratios": ratios}


if __name__ == "__main__":  # python -m bench.feed_throughput [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
