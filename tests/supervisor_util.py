"""Helpers of the supervisor tests: a process with collected output, a clean environment."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

from tests.util import REPO


class Proc:
    """A started process with its stdout/stderr collected by reader threads."""

    def __init__(self, argv: list[str], env: dict | None = None, cwd: Path | str = REPO):
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self.err_at: list[float] = []  # arrival time (monotonic) of each stderr line
        for stream, sink, times in ((self.p.stdout, self.out, None), (self.p.stderr, self.err, self.err_at)):
            threading.Thread(target=self._pump, args=(stream, sink, times), daemon=True).start()

    @staticmethod
    def _pump(stream, sink, times):
        for line in stream:
            if times is not None:
                times.append(time.monotonic())
            sink.append(line.rstrip("\n"))

    def has(self, text: str, where: str = "err") -> bool:
        return any(text in ln for ln in (self.err if where == "err" else self.out))

    def count(self, text: str) -> int:
        return sum(text in ln for ln in self.err)

    def lines(self, text: str) -> list[str]:
        return [ln for ln in self.err if text in ln]


def cli_env(tmp_path: Path) -> dict:
    """The user's environment without keys or LIVE_MONITOR_* settings; config and state in tmp;
    simulators on a virtual clock."""
    env = {k: v for k, v in os.environ.items() if k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")
           and not k.startswith("LIVE_MONITOR_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["LIVE_MONITOR_DATA_DIR"] = str(tmp_path / "data")  # installation id: never the user's
    env["LIVE_MONITOR_UI_STATE_FILE"] = str(tmp_path / "ui-state.ini")  # windows never touch the user's
    env["QT_QPA_PLATFORM"] = "offscreen"
    # the simulators the supervisor starts play a virtual session (10:00 New York on the latest
    # session day): with the default (auto) they follow the wall clock during NYSE hours
    env["LIVE_MONITOR_SIM_CLOCK"] = "virtual"
    return env


STATE_RE = re.compile(r"(ui-\S+)\| STATE pid=(\d+) connected=(\w+) epoch=(\S+) bars=(\d+) events=(\d+)")


def window_states(sup: Proc) -> list[dict]:
    """The probe windows' STATE lines from the supervisor's log, with arrival times."""
    out = []
    for t, ln in zip(list(sup.err_at), list(sup.err)):
        m = STATE_RE.search(ln)
        if m:
            out.append({"name": m.group(1), "pid": int(m.group(2)), "connected": m.group(3) == "True",
                        "epoch": None if m.group(4) == "None" else int(m.group(4)), "bars": int(m.group(5)),
                        "events": int(m.group(6)), "t": t})
    return out


def latest_state(sup: Proc, name: str) -> dict | None:
    st = [s for s in window_states(sup) if s["name"] == name]
    return st[-1] if st else None
