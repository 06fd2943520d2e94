"""What every bench module needs around its processes: the replay files, a clean environment, start a
process and wait for its ``LISTENING`` line, stop it.

Why here: the benchmarks run the same simulator and feed processes the tests do, so the replay-file
lookup, the free port and the stop sequence (SIGTERM, wait, SIGKILL) are the tests' own
(``tests/util.py``); only the start differs - benchmarks throw stderr away and read stdout until the
wanted line, since a bench run has no test to report the output to.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterator

from tests.util import REPO, free_port, replay_dir, stop_process

__all__ = ["BARE_CLIENT", "FEED_SUB", "REPO", "bench_env", "cpu_s", "free_port", "median_rows", "repeat",
           "replay_dir", "start", "stop", "stop_all", "temp_path", "thread_cpu"]

# The cheapest honest Polygon consumer, the yardstick of the feed and simulator benchmarks: a bare
# websockets receive loop in its own process, from the first data frame until `expected` events.
# argv: url topics expected [count]; with "count" the events are counted in the raw bytes (one
# '"ev":' per event) instead of parsed with orjson, which isolates the transport from the JSON work.
BARE_CLIENT = textwrap.dedent("""
    import asyncio, json, sys, time, orjson, websockets
    async def main(url, topics, expected, count_only):
        async with websockets.connect(url, max_size=2**26, compression=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"action": "auth", "params": "bench"}))
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "params": topics}))
            n = frames = 0; first = None
            while n < expected:
                raw = await asyncio.wait_for(ws.recv(decode=False), 30)
                if raw.startswith(b'[{"ev":"status"'):
                    continue
                if first is None:
                    first = time.perf_counter(); cpu0 = time.process_time()
                n += raw.count(b'"ev":') if count_only else len(orjson.loads(raw)); frames += 1
            print(json.dumps({"events": n, "seconds": time.perf_counter() - first,
                              "cpu_s": time.process_time() - cpu0, "frames": frames}))
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["count"]))
""")


# The first lines of every subscriber script: the window's handshake (DEALER ``hello`` on the control
# endpoint -> the data endpoint) and a SUB socket on it that never drops on its side (RCVHWM 0).
FEED_SUB = textwrap.dedent("""
    import json, sys, time, msgpack, zmq
    def data_endpoint(ctx, ctl, timeout_ms):
        d = ctx.socket(zmq.DEALER); d.setsockopt(zmq.LINGER, 0); d.connect(ctl)
        d.send(msgpack.packb({"v": 1, "type": "hello", "id": 1}))
        if not d.poll(timeout_ms): sys.exit("no feed")
        return msgpack.unpackb(d.recv())["data"]
    def sub_socket(ctx, endpoint):
        s = ctx.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM, 0); s.setsockopt(zmq.LINGER, 0); s.connect(endpoint)
        return s
""")


def bench_env() -> dict:
    """This environment without LIVE_MONITOR_* settings, unbuffered, no config file, a dummy API key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")}
    env.update(PYTHONUNBUFFERED="1", POLYGON_API_KEY="bench", LIVE_MONITOR_CONFIG=os.devnull)
    return env


def start(cmd: list[str], prefix: str = "LISTENING", *, env: dict | None = None, timeout: float = 60.0,
          new_session: bool = False) -> tuple[subprocess.Popen, str]:
    """Start ``cmd`` (stderr discarded) and read stdout until a line starts with ``prefix``; return
    ``(proc, that line stripped)``. ``env`` defaults to :func:`bench_env`. Stopped and raised on EOF."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=bench_env() if env is None else env, start_new_session=new_session)
    t_end = time.monotonic() + timeout
    line = ""
    while time.monotonic() < t_end:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        if line.startswith(prefix):
            return proc, line.strip()
    stop(proc)
    raise RuntimeError(f"{cmd[:4]} did not start: {line.strip()!r}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, wait, SIGKILL (``tests.util.stop_process``), then close its stdout pipe."""
    stop_process(proc)
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            proc.stdout.close()



@contextlib.contextmanager
def synthetic_feed(*sim_args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A simulator on its virtual clock (``sim_args`` added) and a feed on it with its own history
    store (never the user's); yields ``(the feed's control address, the feed process)``, both
    stopped and the store removed on exit."""
    with tempfile.TemporaryDirectory() as data:
        env = bench_env()
        env["LIVE_MONITOR_DATA_DIR"] = data
        sim, line = start([sys.executable, "-m", "feed_process.sim", "--port", "0", "--clock", "virtual",
                           *sim_args, "--log-level", "WARNING"], "LISTENING")
        try:
            port = int(line.split()[1].rsplit(":", 1)[1])
            ctl = f"tcp://127.0.0.1:{free_port()}"
            feed, _ = start([sys.executable, "-m", "supervisor", "feed", "--feed", ctl, "--upstream",
                             f"ws://127.0.0.1:{port}/stocks", "--protocol", "polygon", "--log-level", "WARNING"],
                            "LISTENING", env=env)
            try:
                yield ctl, feed
            finally:
                stop(feed)
        finally:
            stop(sim)

def stop_all(procs: list, *paths: str) -> None:
    """Stop ``procs`` last first (consumers before what feeds them), then remove ``paths`` that exist."""
    for p in procs[::-1]:
        stop(p)
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)


def temp_path(prefix: str, suffix: str = ".json") -> str:
    """A fresh path in the temp directory that does not exist yet (for a child to write)."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    os.close(fd)
    os.unlink(path)
    return path


def cpu_s(p) -> float:
    """CPU seconds (user + system) of a ``psutil.Process``; 0 for None or a process gone."""
    import psutil

    if p is None:
        return 0.0
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def thread_cpu(p) -> dict[str, float]:
    """CPU seconds per thread of a ``psutil.Process``, keyed by role: ``python`` (the main thread) and
    ZeroMQ's threads by their kernel names (``ZMQbg/IO/0``, ``ZMQbg/Reaper``); other threads under
    their own names (``name#tid`` when two share one)."""
    import psutil

    out: dict[str, float] = {}
    for _ in range(3):  # a thread that ends while /proc is read fails the whole listing: read again
        try:
            threads = p.threads()
            break
        except psutil.Error:
            threads = []
    for t in threads:
        if t.id == p.pid:
            name = "python"
        else:
            try:
                with open(f"/proc/{p.pid}/task/{t.id}/comm") as f:
                    name = f.read().strip()
            except OSError:
                name = "thread"
            if name in out:
                name = f"{name}#{t.id}"
        out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


def median_rows(runs: list[dict]) -> list[dict]:
    """One row per step of repeated runs (``{step: seconds}``): the median, the worst, how many runs had it."""
    keys = list(dict.fromkeys(k for r in runs for k in r))
    return [{"name": k, "median_s": round(statistics.median(r[k] for r in runs if k in r), 2),
             "max_s": round(max(r[k] for r in runs if k in r), 2), "runs": sum(k in r for r in runs)} for k in keys]


def repeat(one_run: Callable[[Path], dict], n: int, *, warmup: int = 0, fresh_dir: bool = True) -> list[dict]:
    """``n`` results of ``one_run(directory)`` after ``warmup`` discarded runs (page cache, .pyc), each run in
    a fresh temporary directory, or all in one (``fresh_dir=False``); removed at the end."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(warmup + n):
            d = Path(tmp) / f"run{i}" if fresh_dir else Path(tmp)
            d.mkdir(exist_ok=True)
            r = one_run(d)
            if i >= warmup:
                out.append(r)
    return out
