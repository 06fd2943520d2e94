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
import subprocess
import textwrap
import time

from tests.util import REPO, free_port, replay_dir, stop_process

__all__ = ["BARE_CLIENT", "REPO", "bench_env", "free_port", "replay_dir", "start", "stop"]

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
