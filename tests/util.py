"""Small helpers for tests: free ports, condition waits, processes that print LISTENING, process cleanup,
a manager signal recorder."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]


def replay_dir() -> Path | None:
    """../shared/data/replay beside the repo (CI clones next to shared/), or $LIVE_MONITOR_REPLAY_DIR."""
    env = os.environ.get("LIVE_MONITOR_REPLAY_DIR")
    for p in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "replay"]:
        if p.is_dir():
            return p
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``cond`` until it returns a truthy value; return it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
    """SIGTERM, wait, then SIGKILL the process (and its group when it leads one)."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        return proc.wait(timeout)


def _drain(stream, sink: list[str], keep: int) -> None:
    # Keep the pipe empty so the child never blocks on a full pipe; remember the first ``keep`` lines.
    for line in iter(stream.readline, ""):
        if len(sink) < keep:
            sink.append(line.rstrip("\n"))


@contextlib.contextmanager
def listening_process(cmd: list[str], *, env: dict, timeout: float, what: str, keep_stderr: int = 2000,
                      stderr_tail: int = 5) -> Iterator[tuple[subprocess.Popen, str, list[str]]]:
    """Start ``cmd`` (own session, cwd REPO), wait up to ``timeout`` for its first stdout line to be
    ``LISTENING ...``; yield ``(proc, line, stderr_lines)``. Always stopped on exit (SIGTERM, wait,
    SIGKILL) and its pipes closed, also when the test fails. Both pipes are drained in threads."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err: list[str] = []
    threading.Thread(target=_drain, args=(proc.stderr, err, keep_stderr), daemon=True).start()
    try:
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = box[0].strip() if box else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"{what} did not start (got {line!r}); stderr: {' | '.join(err[-stderr_tail:])}")
        threading.Thread(target=_drain, args=(proc.stdout, [], 0), daemon=True).start()
        yield proc, line, err
    finally:
        stop_process(proc)
        for s in (proc.stdout, proc.stderr):
            with contextlib.suppress(Exception):
                s.close()


class Recorder:
    """Every PolygonDataManager signal appended to a list (duck-typed: no Qt import here)."""

    def __init__(self, m) -> None:
        self.market: list[dict] = []
        self.chart: list[dict] = []
        self.calc: list[dict] = []
        self.entry: list[dict] = []
        self.exit: list[dict] = []
        self.conn: list[bool] = []
        self.errors: list[str] = []
        m.market_data_updated.connect(self.market.append)
        m.chart_data_updated.connect(self.chart.append)
        m.calculation_updated.connect(self.calc.append)
        m.entry_signal_generated.connect(self.entry.append)
        m.exit_signal_generated.connect(self.exit.append)
        m.connection_status_changed.connect(self.conn.append)
        m.error_occurred.connect(self.errors.append)

    def refreshes(self) -> list[dict]:
        """chart_data_updated payloads that are full refreshes (not live updates)."""
        return [c for c in self.chart if not c["is_update"]]


@contextlib.contextmanager
def recorded_manager(control: str, symbol: str = "AAPL") -> Iterator[tuple[object, Recorder]]:
    """A PolygonDataManager on ``control`` with a :class:`Recorder` on its signals; disconnected on exit."""
    from ui_process.polygon_data_manager import PolygonDataManager  # Qt: only for the tests that use it

    m = PolygonDataManager(control, symbol=symbol)
    rec = Recorder(m)
    try:
        yield m, rec
    finally:
        m.disconnect()
