"""The named watchlists, kept in one JSON file every window shares (``watchlists.json`` beside the shared state).

Why a file and not QSettings: a list edited in one window must be the list
the next window opens (like the shared *Recent* symbols of
:class:`.persist.SharedState`), and JSON reads the same everywhere. Writes are
read-modify-replace (``os.replace``), so a reader never sees half a file.

    {"current": "Default", "lists": {"Default": ["AAPL", "MSFT"], "Semis": ["NVDA", "AMD"]}}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

DEFAULT = {"current": "Default", "lists": {"Default": ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "SPY"]}}
MAX_LISTS, MAX_ROWS = 50, 500


def lists_path(state_file: str = "") -> Path:
    from .persist import shared_path

    return shared_path(state_file).parent / "watchlists.json"


class WatchLists:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return json.loads(json.dumps(DEFAULT))
        lists = data.get("lists") if isinstance(data, dict) else None
        if not isinstance(lists, dict) or not lists:
            return json.loads(json.dumps(DEFAULT))
        clean = {str(k)[:40]: [str(s) for s in v if isinstance(s, str)][:MAX_ROWS]
                 for k, v in list(lists.items())[:MAX_LISTS] if isinstance(v, list)}
        cur = data.get("current") if data.get("current") in clean else next(iter(clean))
        return {"current": cur, "lists": clean}

    def _write(self, data: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".watchlists-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only home must not break the window

    def names(self) -> list[str]:
        return list(self.read()["lists"])

    def current(self) -> tuple[str, list[str]]:
        d = self.read()
        return d["current"], d["lists"][d["current"]]

    def save(self, name: str, symbols: list[str], make_current: bool = True) -> None:
        d = self.read()
        d["lists"][name[:40]] = list(symbols)[:MAX_ROWS]
        if make_current:
            d["current"] = name[:40]
        self._write(d)

    def select(self, name: str) -> list[str]:
        d = self.read()
        if name in d["lists"]:
            d["current"] = name
            self._write(d)
        return d["lists"].get(name, [])

    def delete(self, name: str) -> None:
        d = self.read()
        if name in d["lists"] and len(d["lists"]) > 1:
            del d["lists"][name]
            d["current"] = d["current"] if d["current"] in d["lists"] else next(iter(d["lists"]))
            self._write(d)
