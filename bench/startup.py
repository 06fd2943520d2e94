"""Time to first chart: ``live-monitor`` (desktop on the simulator) to candles painted, and a second window.

Why it looks like this: the figure a user feels is launch -> a chart with candles on screen, so the
benchmark starts the real desktop (``live-monitor --symbols AAPL``: supervisor, simulator, feed, a
real dashboard window; ``QT_QPA_PLATFORM=offscreen``) and waits for the window's own word that its
first chart with bars is painted: the ``window_ready`` message the window sends the supervisor
(``ui_process.app.watch_first_chart``), which the supervisor logs as ``ui-AAPL first chart: ...``.
The phases are the arrival times of the supervisor's log lines (each child's lines are relayed as
they come), so the breakdown is the one every launch's log shows:

* ``supervisor up``  - the interpreter, imports, the probe of the feed address;
* ``sim ready`` / ``feed ready`` - their ``LISTENING`` lines; sim, feed and window are spawned at
  once (the supervisor binds the simulator's socket: the feed's connection waits in its backlog),
  and the simulator warms the window's symbol as soon as it listens;
* ``hello`` (the window reached the feed) -> ``bars`` (the first snapshot with bars: the feed's
  backfill from the simulator's REST) -> ``painted``.

A second window is measured two ways on the running desktop, once it has settled (every watched
symbol backfilled, the spare window waiting): **New window** (the window menu's path:
``open_window`` on the supervisor's control socket; the spare window becomes ``ui-MSFT``), and
``live-monitor ui --symbol MSFT`` typed in a terminal (an unsupervised window; its own log line
``first chart of MSFT painted``). Runs: 1 (quick) or 3, after one warm-up launch; medians.

Run alone: ``python -m bench.startup [--quick]`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import median_rows, repeat
from tests.supervisor_util import Proc, cli_env
from tests.util import REPO, free_port, stop_process, wait_until

PHASES = [  # (name, text of the supervisor's log line that ends it)
    ("supervisor up", "window requests at"),
    ("sim ready", "sim ready: LISTENING"),
    ("feed ready", "feed ready: LISTENING"),
    ("window spawned", "started ui-AAPL"),
    ("hello", "ui-AAPL| ", "feed reachable at"),
    ("bars", "ui-AAPL| ", "snapshot AAPL: ", " bars"),
    ("painted", "ui-AAPL first chart:"),
]
CHART_RE = re.compile(r"(ui-\S+) first chart: (\S+) in ([\d.]+) s from launch, ([\d.]+) s from its spawn \((.*)\)")


def _at(sup: Proc, *parts: str, t0: float, after: float = 0.0, bars: bool = False) -> float | None:
    for t, ln in zip(list(sup.err_at), list(sup.err)):
        if t - t0 < after or not all(p in ln for p in parts):
            continue
        if bars and not re.search(r"snapshot AAPL: [1-9]\d* bars", ln):
            continue
        return t - t0
    return None


def _env(d: Path) -> dict:
    env = cli_env(d)
    env.update(PYTHONUNBUFFERED="1", LIVE_MONITOR_CONFIG=os.devnull)
    # A warm machine has the bytecode caches: the warm-up launch writes them (an installed package
    # has them from pip). With PYTHONDONTWRITEBYTECODE (set in some CI shells) every launch compiled
    # the project's sources again in each of the four processes (~0.1-0.15 s CPU each).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_run(d: Path) -> dict:
    feed = f"tcp://127.0.0.1:{free_port()}"
    env = _env(d)
    exe = str(Path(sys.executable).with_name("live-monitor"))
    t0 = time.monotonic()
    sup = Proc([exe, "--feed", feed, "--symbols", "AAPL"], env)
    try:
        wait_until(lambda: sup.has("ui-AAPL first chart:"), 90, interval=0.01, what="first chart")
        out: dict[str, float] = {"first chart (launch -> painted)": time.monotonic() - t0}
        for name, *parts in PHASES:  # when each step was done, in seconds after the launch
            t = _at(sup, *parts, t0=t0, bars=name == "bars")
            if t is not None:
                out[f"  {name} at"] = t
        m = CHART_RE.search(next(ln for ln in sup.err if "ui-AAPL first chart:" in ln))
        for step in m.group(5).split(", "):  # the window's own steps, as it measured them
            k, v = step.rsplit(" ", 1)
            out[f"    window: {k}"] = float(v)
        endpoint = next(ln for ln in sup.err if "window requests at" in ln).rsplit(" ", 1)[1]

        from shared.supervisor_client import request_window

        # a user opens the second window a few seconds later: the desktop has settled (every watched
        # symbol backfilled, the spare window waiting), as it has then
        wait_until(lambda: sup.has("spare window ready"), 60, interval=0.05, what="the spare window")
        subscribed = next((ln for ln in sup.err if "subscribing upstream:" in ln), "")
        n = len(subscribed.rsplit(" ", 1)[-1].split(",")) if subscribed else 0
        wait_until(lambda: sup.count(": backfilled ") >= n, 120, interval=0.05, what="backfills")
        t = time.monotonic()
        assert request_window("MSFT", endpoint, timeout=5.0), "the supervisor refused a second window"
        wait_until(lambda: sup.has("ui-MSFT first chart:"), 60, interval=0.01, what="second window")
        out["second window (New window -> painted)"] = time.monotonic() - t

        t = time.monotonic()
        ui = subprocess.Popen([exe, "ui", "--feed", feed, "--symbol", "NVDA", "--no-restore"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for ln in ui.stderr:  # type: ignore[union-attr]
                if "first chart of NVDA painted" in ln:
                    out["second window (live-monitor ui -> painted)"] = time.monotonic() - t
                    break
        finally:
            stop_process(ui)
        return out
    finally:
        stop_process(sup.p, timeout=15)


def measure(quick: bool = False) -> dict:
    runs = repeat(one_run, 1 if quick else 3, warmup=1)  # the first is the warm-up (page cache, .pyc)
    rows = median_rows(runs)
    return {"title": "startup: time to first chart (live-monitor desktop on the simulator, offscreen)",
            "rows": rows,
            "notes": ["goals: first chart <= 2.0 s, second window <= 1.0 s (issue #17)",
                      "'<step> at' rows: seconds after the launch when the supervisor's log showed it (the "
                      "window starts beside the simulator and feed); 'window:' rows: the window's own steps, "
                      "each from the previous one's end (ui_process.app.watch_first_chart)",
                      "New window: the supervisor's spare window takes the symbol (supervisor.core); "
                      "live-monitor ui: a new process (interpreter, Qt, widgets)",
                      "every run has a fresh data directory: the history comes from the simulator's REST, "
                      "none from the store",
                      "bytecode caches on (PYTHONDONTWRITEBYTECODE dropped): the warm-up launch writes them"]}


if __name__ == "__main__":  # python -m bench.startup [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1))
