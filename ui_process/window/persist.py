"""Where the window keeps its layout, geometry, recent symbols, chart choices and price levels.

Layout and geometry: QSettings, normally the platform's native store under org
``LiveMonitor``, app ``live-monitor``. The ``ui_state_file`` setting
(``LIVE_MONITOR_UI_STATE_FILE`` or the config file) redirects it to one INI
file: tests use it so they never touch a user's real settings, and a user can
keep a portable desk layout.

What windows *share* lives in one small JSON file, :class:`SharedState`
(``shared-state.json`` beside the state file, else in the user config dir):
the *Recent* symbols (each window re-reads it when it opens, gains focus or
opens the menu, so a symbol typed in one window is one click away in all)
and the positions of windows opened in the last seconds (so a new window
cascades instead of landing exactly on the previous one). Each process
writes it by read-modify-replace (``os.replace`` is atomic), so a reader
never sees half a file; two windows writing in the same millisecond can lose
one update, which costs at most one recent entry.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from PyQt6.QtCore import QSettings

ORG = "LiveMonitor"
APP = "live-monitor"
RECENT_LIMIT = 12
CASCADE_STEP = 32        # px right and down per window opened on top of another
CASCADE_WINDOW_S = 20.0  # positions of windows opened this recently are "taken"


def open_settings(path: str = "") -> QSettings:
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORG, APP)


def read_list(s: QSettings, key: str) -> list[str]:
    v = s.value(key, [])
    if isinstance(v, str):  # QSettings returns a bare string for a one-item list
        return [v] if v else []
    return [str(x) for x in (v or [])]


def shared_path(state_file: str = "") -> Path:
    if state_file:
        return Path(state_file).resolve().parent / "shared-state.json"
    from shared.paths import config_dir  # the one rule for per-user directories

    return config_dir() / "shared-state.json"


class SharedState:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".shared-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)
        except OSError:
            pass  # sharing is a convenience; a read-only home must not break the window

    # ---- recent symbols, most recent first
    def recent(self) -> list[str]:
        v = self._read().get("recent")
        return [str(x) for x in v if isinstance(x, str)][:RECENT_LIMIT] if isinstance(v, list) else []

    def push_recent(self, symbol: str) -> list[str]:
        data = self._read()
        items = [s for s in self.recent() if s != symbol]
        items.insert(0, symbol)
        data["recent"] = items[:RECENT_LIMIT]
        self._write(data)
        return data["recent"]

    # ---- cascade
    def place(self, x: int, y: int) -> tuple[int, int]:
        """Where a window that would open at (x, y) goes: offset past windows opened just before."""
        data = self._read()
        now = self.clock()
        taken = [(int(p[0]), int(p[1])) for p in data.get("opened", [])
                 if isinstance(p, list) and len(p) == 3 and now - float(p[2]) < CASCADE_WINDOW_S]
        while (x, y) in taken:
            x, y = x + CASCADE_STEP, y + CASCADE_STEP
        data["opened"] = [[px, py, float(t)] for px, py, t in
                          (p for p in data.get("opened", []) if isinstance(p, list) and len(p) == 3)
                          if now - float(t) < CASCADE_WINDOW_S][-20:] + [[x, y, now]]
        self._write(data)
        return x, y


# ---- price levels, per symbol: one JSON list under levels/<SYMBOL> (QSettings would turn a
# list of maps into platform-specific blobs; JSON reads the same in the INI file and the native store)
def load_levels(s: QSettings, symbol: str) -> list[dict]:
    raw = s.value(f"levels/{symbol}", "")
    try:
        rows = json.loads(raw) if isinstance(raw, str) and raw else []
    except ValueError:
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def save_levels(s: QSettings, symbol: str, rows: list[dict]) -> None:
    if rows:
        s.setValue(f"levels/{symbol}", json.dumps(rows))
    else:
        s.remove(f"levels/{symbol}")
    s.sync()  # a level is the user's work: on disk now, not at close (a crash must not lose it)
