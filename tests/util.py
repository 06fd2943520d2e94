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
from typing import Callable, Iterator, NamedTuple

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"  # real data kept in the repository (data/README.md)
SAMPLE = "AAPL-2025-06-27-open.jsonl.gz"  # the real tape every fresh clone has
BIG = "TSLA-2025-07-01.jsonl.gz"  # the big real tape, when the shared set is beside the repo


class ReplayFacts(NamedTuple):
    path: Path
    symbol: str
    events: int
    am_bars: int


# What the known files hold (data/README.md; the shared set's README for the TSLA files).
_FACTS = {SAMPLE: ("AAPL", 50_772, 30), BIG: ("TSLA", 355_944, 20), "TSLA-2025-06-27.jsonl.gz": ("TSLA", 245_003, 45)}


def shared_replay_dir() -> Path | None:
    """The big files' directory: $LIVE_MONITOR_REPLAY_DIR when set (only it: point it at an empty
    directory to see what a fresh clone sees), else ../shared/data/replay beside the repo."""
    env = os.environ.get("LIVE_MONITOR_REPLAY_DIR")
    p = Path(env) if env else REPO.parent / "shared" / "data" / "replay"
    return p if p.is_dir() else None


class ReplayFiles:
    """``files / NAME``: a replay file by name - from data/ when the repository has it, else from the
    shared directory; a file found nowhere calls :meth:`missing` (raises; the pytest fixture skips)."""

    def __init__(self, shared: Path | None):
        self.shared = shared

    def find(self, name: str) -> Path | None:
        for d in (DATA, self.shared):
            if d is not None and (d / name).is_file():
                return d / name
        return None

    def __truediv__(self, name: str) -> Path:
        p = self.find(name)
        return p if p is not None else self.missing(name)

    def missing(self, name: str) -> Path:
        raise FileNotFoundError(f"replay file {name} is not in data/ and no shared replay directory has it "
                                "(../shared/data/replay beside the repo, or $LIVE_MONITOR_REPLAY_DIR)")

    def big(self) -> ReplayFacts:
        """The big real tape (TSLA, 356k events) when available, else the repository's AAPL sample."""
        name = BIG if self.find(BIG) is not None else SAMPLE
        return ReplayFacts(self / name, *_FACTS[name])

    def facts(self, name: str) -> ReplayFacts:
        return ReplayFacts(self / name, *_FACTS[name])


def replay_dir() -> ReplayFiles:
    """Replay files by name (``replay_dir() / NAME``): data/ first, then the shared directory."""
    return ReplayFiles(shared_replay_dir())


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
    try:
        for line in iter(stream.readline, ""):
            if len(sink) < keep:
                sink.append(line.rstrip("\n"))
    except (ValueError, OSError):  # the pipe closed by listening_process's exit while a read waited
        pass


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
