"""Helpers of the supervisor tests: a process with collected output, a clean environment."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from tests.util import REPO


class Proc:
    """A started process with its stdout/stderr collected by reader threads."""

    def __init__(self, argv: list[str], env: dict | None = None):
        self.p = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink.append(line.rstrip("\n"))

    def has(self, text: str, where: str = "err") -> bool:
        return any(text in ln for ln in (self.err if where == "err" else self.out))

    def count(self, text: str) -> int:
        return sum(text in ln for ln in self.err)

    def lines(self, text: str) -> list[str]:
        return [ln for ln in self.err if text in ln]


def cli_env(tmp_path: Path) -> dict:
    """The user's environment without keys or LIVE_MONITOR_* settings; config and state in tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")
           and not k.startswith("LIVE_MONITOR_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["LIVE_MONITOR_STATE_DIR"] = str(tmp_path / "state")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env
