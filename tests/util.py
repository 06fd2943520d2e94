"""Small helpers for tests: free ports, condition waits, process cleanup, a manager signal recorder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

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
