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
import threading
from dataclasses import dataclass, field
from typing import Iterator

from tests.util import REPO, free_port, stop_process

_spec = importlib.util.spec_from_file_location("example_subscriber", REPO / "examples" / "subscriber.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)  # type: ignore[union-attr]
Subscriber = example.Subscriber

CLI = [sys.executable, "-c", "import sys; from shared.cli import main; sys.exit(main())"]


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LIVE_MONITOR_") and k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    env["LIVE_MONITOR_CONFIG"] = os.devnull  # never read the user's config file
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


def _drain(stream, sink: list[str]) -> None:
    for line in iter(stream.readline, ""):
        if len(sink) < 20000:
            sink.append(line.rstrip("\n"))


def cli(*args: str, env: dict | None = None, timeout: float = 30.0, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=REPO, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, **kw)


@contextlib.contextmanager
def run_feed(*args: str, env: dict | None = None, timeout: float = 20.0, port: int | None = None,
             host: str = "127.0.0.1") -> Iterator[FeedProc]:
    port = port or free_port()
    control = f"tcp://{host}:{port}"
    proc = subprocess.Popen([*CLI, "feed", "--feed", control, *args], cwd=REPO, env=env or clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: list[str] = []
    threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True).start()
    try:
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = box[0].strip() if box else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"feed did not start (got {line!r}); stderr: {' | '.join(err[-8:])}")
        threading.Thread(target=_drain, args=(proc.stdout, []), daemon=True).start()
        parts = dict(p.split("=", 1) for p in line.split()[2:])
        yield FeedProc(control=line.split()[1], data=parts["data"], epoch=int(parts["epoch"]), pid=int(parts["pid"]),
                       proc=proc, stderr_lines=err)
    finally:
        stop_process(proc)
        for s in (proc.stdout, proc.stderr):
            with contextlib.suppress(Exception):
                s.close()


def fast_reconnect() -> list[str]:
    return ["--reconnect-delay", "0.05", "--max-reconnect-delay", "0.2"]
