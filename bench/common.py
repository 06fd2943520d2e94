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
import time

from tests.util import REPO, free_port, replay_dir, stop_process

__all__ = ["REPO", "bench_env", "free_port", "replay_dir", "start", "stop"]


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
