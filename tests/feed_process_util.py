"""Test helpers for the feed: run ``live-monitor feed`` / ``tap`` as real processes, and a Clone subscriber.

``run_feed(*args)`` starts the feed on a free control port, waits for its
``LISTENING`` line and always stops it (SIGTERM, wait, SIGKILL), also when the
test fails. ``Subscriber`` is the one in ``examples/subscriber.py`` (so the
documented example is what the tests exercise).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Iterator

from tests.util import REPO, free_port, listening_process

_spec = importlib.util.spec_from_file_location("example_subscriber", REPO / "examples" / "subscriber.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)  # type: ignore[union-attr]
Subscriber = example.Subscriber

CLI = [sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())"]


def _data_dir() -> str:
    """The temporary user data dir of this run: conftest's under pytest; one of its own for the
    benchmarks, which reuse these helpers outside pytest (removed at exit)."""
    if not os.environ.get("LIVE_MONITOR_DATA_DIR"):
        import atexit
        import shutil
        import tempfile

        os.environ["LIVE_MONITOR_DATA_DIR"] = tempfile.mkdtemp(prefix="live-monitor-bench-data-")
        atexit.register(shutil.rmtree, os.environ["LIVE_MONITOR_DATA_DIR"], True)
    return os.environ["LIVE_MONITOR_DATA_DIR"]


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LIVE_MONITOR_") and k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    env["LIVE_MONITOR_CONFIG"] = os.devnull  # never read the user's config file
    env["LIVE_MONITOR_HISTORY_DB"] = "off"   # no history store unless a test names one (never the user's)
    env["LIVE_MONITOR_DATA_DIR"] = _data_dir()  # the run's temporary one (conftest), never the user's
    env["LIVE_MONITOR_SIM_CLOCK"] = "virtual"  # a simulator a daemon / private feed starts: a fixed session
    env.update(extra)
    return env


@dataclass
class FeedProc:
    control: str
    data: str
    epoch: int
    pid: int
    proc: subprocess.Popen
    stderr_lines: list[str] = field(default_factory=list)

    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)


def cli(*args: str, env: dict | None = None, timeout: float = 30.0, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=REPO, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, **kw)


@contextlib.contextmanager
def run_feed(*args: str, env: dict | None = None, timeout: float = 20.0, port: int | None = None,
             host: str = "127.0.0.1") -> Iterator[FeedProc]:
    port = port or free_port()
    control = f"tcp://{host}:{port}"
    cmd = [*CLI, "feed", "--feed", control, *args]
    with listening_process(cmd, env=env or clean_env(), timeout=timeout, what="feed", keep_stderr=20000,
                           stderr_tail=8) as (proc, line, err):
        parts = dict(p.split("=", 1) for p in line.split()[2:])
        yield FeedProc(control=line.split()[1], data=parts["data"], epoch=int(parts["epoch"]), pid=int(parts["pid"]),
                       proc=proc, stderr_lines=err)


def fast_reconnect() -> list[str]:
    return ["--reconnect-delay", "0.05", "--max-reconnect-delay", "0.2"]
