"""Helpers for the seed-compatibility tests: the AAPL replay's prices, a replaying relay, app subprocesses.

``replay_prices(path)`` is every price in the replay file (trade prices, bar OHLC,
quote sides and mids): what the seed API may show. ``run_app(script, env)`` runs a
small Qt application (a real QApplication and event loop) in its own process with
``python -P`` (the installed code), collects its stdout lines and always ends it.
Lines a script prints as ``@@ {json}`` are its reports to the test.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from tests.feed_process_util import clean_env
from tests.sim_process import SimProc, run_sim
from tests.util import REPO, stop_process

AAPL_REPLAY = "AAPL-2025-06-27-open.jsonl.gz"


def replay_prices(path: Path) -> set[float]:
    prices: set[float] = set()
    with gzip.open(path, "rt") as fh:
        for line in fh:
            e = json.loads(line)
            ev = e.get("ev")
            if ev == "T":
                prices.add(float(e["p"]))
            elif ev == "Q":
                prices.update((float(e["bp"]), float(e["ap"]), (e["bp"] + e["ap"]) / 2))
            elif ev == "AM":
                prices.update(float(e[k]) for k in ("o", "h", "l", "c"))
    return prices


@contextlib.contextmanager
def replay_sim(replay_dir: Path, speed: str = "20") -> Iterator[SimProc]:
    """The simulator replaying the AAPL file (paced, looping), relay at ws://127.0.0.1:PORT/ws/{client_id}."""
    with run_sim("--replay", str(replay_dir / AAPL_REPLAY), "--speed", speed, "--loop") as sim:
        yield sim


def app_env(**extra: str) -> dict:
    env = clean_env(QT_QPA_PLATFORM="offscreen", **extra)
    env.pop("PYTHONPATH", None)  # the installed code, as a user's application would import it
    return env


def reports(lines: list[str]) -> list[dict]:
    return [json.loads(line[3:]) for line in lines if line.startswith("@@ ")]


def run_app(script: str, env: dict, tmp_path: Path, timeout: float = 90.0) -> tuple[int, list[str], str]:
    """Run ``script`` as a file under ``tmp_path``; return (exit code, stdout lines, stderr)."""
    f = tmp_path / f"app_{abs(hash(script)) % 10**8}.py"
    f.write_text(script)
    proc = subprocess.Popen([sys.executable, "-P", str(f)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        out, err = proc.communicate()
        raise AssertionError(f"app did not finish in {timeout:.0f}s; stderr tail: {err[-2000:]}") from None
    return proc.returncode, out.splitlines(), err


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


# The top of every app script: a real QApplication, a deadline, and report().
APP_PRELUDE = '''
import json, sys
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
app = QApplication([])

def report(**kw):
    print("@@ " + json.dumps(kw, default=str), flush=True)

def wait_for(cond, then, every=50):
    """Call then() once cond() is true (polled on a Qt timer: the event loop keeps running)."""
    t = QTimer(app)
    def check():
        if cond():
            t.stop()
            then()
    t.timeout.connect(check)
    t.start(every)
    return t

def give_up():
    report(timeout=True)
    app.exit(3)

QTimer.singleShot(int(float(sys.argv[1]) * 1000) if len(sys.argv) > 1 else 60_000, give_up)
'''
