"""The alert book: the alerts, their fired state and the log of fired alerts, in one JSON file.

Why a file the feed writes itself: alerts must survive a SIGKILL and fire with
no window open, so the feed owns them. Every change (add, edit, arm, remove,
fire, re-arm) is written before anything is published - ``os.replace`` of a
temporary file, so a kill mid-write leaves the old file whole. A restarted
feed therefore knows what fired and never fires it again (the rules in
:mod:`.alerts` skip events at or before an alert's last change), and the log
holds what fired while no window was connected: a window asks for it at
connect (``{type: alert, op: log}``) and acknowledges what it has shown
(``op: ack``), so a notification is shown once, by the first window.

File (``alerts_file`` setting, default ``alerts.json`` in the user data dir)::

    {"version": 1, "next_id": 3, "next_fire": 2,
     "alerts": [{"id": "a1", "symbol": "AAPL", "kind": "above", "value": 200.0, "armed": true,
                 "fired": false, "t": 0, "hysteresis": 0.1, "rearm_minutes": null, "note": "",
                 "created_ms": 1751000000000}],
     "log": [{"id": 1, "alert": "a1", "symbol": "AAPL", "kind": "above", "value": 200.0,
              "t": 1751033400000, "fired_ms": 1751033400120, "price": 200.05,
              "message": "AAPL above 200 (200.05)", "delivered": false}]}

The log keeps the last ``LOG_LIMIT`` fired alerts. A file that cannot be read
is kept aside as ``alerts.json.bad`` and the book starts empty (logged).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from shared.cli import FLAG_RANGES
from shared.config import Range
from shared.models.control_msgs import ALERT_FIELDS
from shared.models.market_data import normalize_symbol
from shared.paths import data_dir

from .alerts import DEFAULT_HYSTERESIS, DEFAULT_REARM_MINUTES, KINDS, NEEDS_VALUE

log = logging.getLogger(__name__)

LOG_LIMIT = 500
MAX_ALERTS = 1000
# The one declaration of the alert numbers' ranges (the CLI checks with these too).
VALUE_RANGES = {"above": Range(above=0, hi=1e9), "below": Range(above=0, hi=1e9), "move": Range(-100, 10_000),
                "volume": Range(above=0, hi=10_000)}
HYSTERESIS = FLAG_RANGES["alert.hysteresis"]       # declared once, with the CLI's flags
REARM_MINUTES = FLAG_RANGES["alert.rearm_minutes"]
EDITABLE = ALERT_FIELDS  # what a request may set and edit change: declared with the request


class AlertError(ValueError):
    """A bad alert request: the message goes back to the client in one line."""


def default_path() -> Path:
    return data_dir() / "alerts.json"


def _number(name: str, v: Any, rng: Range) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise AlertError(f"{name} must be a number, got {v!r}"[:120])
    try:
        rng(v)
    except ValueError as e:
        raise AlertError(f"{name} {e}") from None
    return float(v)


def describe(a: dict, info: dict | None = None) -> str:
    """One line for a notification: ``AAPL above 200 (200.05)``."""
    k, v, s = a["kind"], a.get("value"), a["symbol"]
    if v is not None and k in NEEDS_VALUE:
        what = {"above": f"above {v:g}", "below": f"below {v:g}", "move": f"moved {v:+g}% from the prior close",
                "volume": f"volume {v:g}x the average for this minute"}[k]
    else:
        what = {"high": "new high of day", "low": "new low of day", "halt": "halted (LULD)",
                "resume": "trading resumed (LULD)"}.get(k, k)
    if info and k == "signal" and info.get("event"):
        what = f"{info['event']} signal"
    price = info.get("price") if info else None
    return f"{s} {what}" + (f" ({price:g})" if isinstance(price, (int, float)) else "")


class AlertBook:
    def __init__(self, path: Path | str | None = None, wall_ms: Callable[[], int] | None = None) -> None:
        import time

        self.path = Path(path) if path else default_path()
        self.wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.alerts: dict[str, dict] = {}
        self.log: list[dict] = []
        self.next_id = 1
        self.next_fire = 1
        self.load()

    # ------------------------------------------------------------ file
    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != 1:
                raise ValueError("not a version-1 alert file")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.error("cannot read the alerts file %s (%s); kept aside, starting empty", self.path, e)
            try:
                os.replace(self.path, str(self.path) + ".bad")
            except OSError:
                pass
            return
        self.alerts = {a["id"]: a for a in data.get("alerts", []) if isinstance(a, dict) and "id" in a}
        self.log = [e for e in data.get("log", []) if isinstance(e, dict)][-LOG_LIMIT:]
        self.next_id = int(data.get("next_id", len(self.alerts) + 1))
        self.next_fire = int(data.get("next_fire", len(self.log) + 1))

    def save(self) -> None:
        data = {"version": 1, "next_id": self.next_id, "next_fire": self.next_fire,
                "alerts": list(self.alerts.values()), "log": self.log}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".alerts-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # ------------------------------------------------------------ lifecycle
    def add(self, spec: dict) -> dict:
        if len(self.alerts) >= MAX_ALERTS:
            raise AlertError(f"at most {MAX_ALERTS} alerts")
        try:
            sym = normalize_symbol(spec.get("symbol"))
        except (ValueError, TypeError, AttributeError):
            raise AlertError(f"bad symbol {str(spec.get('symbol'))[:16]!r}") from None
        kind = spec.get("kind")
        if kind not in KINDS:
            raise AlertError(f"unknown alert kind {str(kind)[:16]!r} (kinds: {', '.join(KINDS)})")
        a = {"id": f"a{self.next_id}", "symbol": sym, "kind": kind, "value": None, "armed": True, "fired": False,
             "t": 0, "hysteresis": DEFAULT_HYSTERESIS.get(kind), "rearm_minutes": DEFAULT_REARM_MINUTES.get(kind),
             "note": "", "created_ms": self.wall_ms()}
        if kind in NEEDS_VALUE and spec.get("value") is None:
            raise AlertError(f"a {kind} alert needs a value")
        self._apply(a, {k: v for k, v in spec.items() if k in EDITABLE})
        self.next_id += 1
        self.alerts[a["id"]] = a
        self.save()
        return a

    def _apply(self, a: dict, changes: dict) -> None:
        for k, v in changes.items():
            if k == "value":
                if a["kind"] not in NEEDS_VALUE:
                    if v is not None:
                        raise AlertError(f"a {a['kind']} alert takes no value")
                    continue
                a["value"] = _number("value", v, VALUE_RANGES[a["kind"]])
                if a["kind"] == "move" and a["value"] == 0:
                    raise AlertError("value must not be 0 for a move alert (+5 = up 5%, -3 = down 3%)")
            elif k == "armed":
                if not isinstance(v, bool):
                    raise AlertError("armed must be true or false")
                if v and not a["armed"]:
                    a["fired"] = False  # arming again starts a fresh crossing
                a["armed"] = v
            elif k == "hysteresis" and v is not None:
                a["hysteresis"] = _number("hysteresis", v, HYSTERESIS)
            elif k == "rearm_minutes" and v is not None:
                a["rearm_minutes"] = _number("rearm_minutes", v, REARM_MINUTES)
            elif k == "note":
                a["note"] = str(v)[:200]

    def edit(self, alert_id: Any, changes: dict) -> dict:
        a = self.get(alert_id)
        trial = dict(a)
        self._apply(trial, {k: v for k, v in changes.items() if k in EDITABLE})
        if trial.get("value") != a.get("value"):
            trial["fired"] = False  # a new level: a new crossing
        a.update(trial)
        self.save()
        return a

    def remove(self, alert_id: Any) -> dict:
        a = self.get(alert_id)
        del self.alerts[a["id"]]
        self.save()
        return a

    def get(self, alert_id: Any) -> dict:
        a = self.alerts.get(str(alert_id)) or self.alerts.get(f"a{alert_id}")
        if a is None:
            raise AlertError(f"no alert {str(alert_id)[:16]!r}")
        return a

    def armed_for(self, symbol: str) -> list[dict]:
        return [a for a in self.alerts.values() if a["symbol"] == symbol and a["armed"]]

    def symbols(self) -> set[str]:
        """Symbols with an armed alert the feed evaluates (signal alerts come from windows)."""
        return {a["symbol"] for a in self.alerts.values() if a["armed"] and a["kind"] != "signal"}

    # ------------------------------------------------------------ firing
    def fired(self, events: list[tuple[dict, dict]]) -> list[dict]:
        """Record fired alerts (and re-arms already in the alerts); persist; return the log entries."""
        out = []
        for a, info in events:
            e = {"id": self.next_fire, "alert": a["id"], "symbol": a["symbol"], "kind": a["kind"],
                 "value": a.get("value"), "fired_ms": self.wall_ms(), **info, "message": describe(a, info),
                 "delivered": False}
            self.next_fire += 1
            out.append(e)
        self.log.extend(out)
        del self.log[:-LOG_LIMIT]
        self.save()
        return out

    def ack(self, upto: Any) -> int:
        """Mark the log entries with id <= ``upto`` delivered (a window showed them)."""
        if isinstance(upto, bool) or not isinstance(upto, int):
            raise AlertError("ack needs 'upto', a log entry id")
        n = 0
        for e in self.log:
            if e["id"] <= upto and not e.get("delivered"):
                e["delivered"] = True
                n += 1
        if n:
            self.save()
        return n
