"""Status bar: connection state, data-source badge, staleness, rates, feed identity.

:func:`describe` is the sans-I/O core: the manager's read-only ``feed_info()``
dict in, the texts to show out. The bar polls it once a second (cheap, no
per-event work) and also reacts at once to ``connection_status_changed``.
The data-source badge is always visible: a trader must never mistake
simulated or replayed prices for the market.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from PyQt6.QtWidgets import QLabel, QStatusBar, QWidget

from . import theme
from .messages import STATES, cause, strip_exception_names
from .steady_label import SteadyLabel

_SOURCE_BADGE = {"live": "LIVE", "delayed": "DELAYED", "simulated": "SIMULATED", "sim": "SIMULATED",
                 "replay": "REPLAY"}
# The configured upstream ("target" in the feed's upstream dict), named as a trader knows it.
_TARGET_LABEL = {"sim": "SIMULATOR", "simulated": "SIMULATOR", "polygon": "POLYGON", "massive": "POLYGON",
                 "delayed": "POLYGON DELAYED", "replay": "REPLAY"}
_SOURCE_LABEL = {"simulated": "SIMULATOR", "replay": "REPLAY", "live": "POLYGON", "delayed": "POLYGON DELAYED"}
# Badge words for the states that are not "connected".
_STATE_BADGE = {"connecting": "CONNECTING", "authenticating": "CONNECTING", "subscribing": "CONNECTING",
                "reconnecting": "RECONNECTING", "auth_failed": "AUTH FAILED", "max_connections": "KEY IN USE",
                "subscribe_failed": "SUBSCRIBE FAILED", "stalled": "STALLED", "failed": "GAVE UP",
                "restarting": "RESTARTING", "stopped": "STOPPED"}
BADGE_COLOURS = {"ok": None, "warn": "#8d6e00", "bad": "#c62828", "idle": "#455a64"}
LIVE_FRESH_S = 30.0  # "LIVE" only while the last event is younger than this (no_data_threshold)


def _pick(info: Mapping[str, Any], *names: str) -> Any:
    """First present key among ``names``; ``a.b`` looks inside a nested dict."""
    for n in names:
        cur: Any = info
        for part in n.split("."):
            cur = cur.get(part) if isinstance(cur, Mapping) else None
        if cur is not None:
            return cur
    return None


def source_label(info: Mapping[str, Any]) -> str:
    """The configured source's name: SIMULATOR, POLYGON, POLYGON DELAYED, REPLAY or the URL's host."""
    target = _pick(info, "target", "upstream.target", "upstream_target")
    if isinstance(target, str) and target:
        t = target.lower()
        if t in _TARGET_LABEL:
            return _TARGET_LABEL[t]
        host = re.sub(r"^[a-z]+://", "", t).split("/")[0].split(":")[0]
        if "massive" in host or "polygon" in host:
            return "POLYGON DELAYED" if "delayed" in host else "POLYGON"
        if host in ("127.0.0.1", "localhost", "::1") and _pick(info, "source", "upstream.source") is None:
            return "LOCAL FEED"
    src = _pick(info, "source", "upstream.source")
    return _SOURCE_LABEL.get(str(src).lower(), "FEED") if src else "FEED"


def badge(info: Mapping[str, Any] | None, connected: bool | None = None) -> tuple[str, str]:
    """The data-source badge: ``(text, background colour)``; never claims more than is so.

    * feed process unreachable -> ``OFFLINE``
    * upstream not ``connected`` -> ``<SOURCE> · <STATE>`` (``POLYGON · CONNECTING``,
      ``POLYGON · AUTH FAILED``, ``SIMULATOR · RESTARTING`` ...)
    * connected: ``SIMULATED`` (``SIMULATED · virtual session`` when the simulator
      follows its own clock), ``REPLAY``, ``DELAYED``; ``LIVE`` only while events
      arrive (else ``POLYGON · NO DATA``).
    """
    info = info or {}
    alive = _pick(info, "feed_alive")
    if alive is False:
        return "OFFLINE", BADGE_COLOURS["bad"]
    state = _pick(info, "upstream_state", "upstream.state")
    src = str(_pick(info, "source", "upstream.source") or "").lower()
    label = source_label(info)
    if state is None and alive is None:
        return f"{label} · CONNECTING", BADGE_COLOURS["warn"]
    if state not in (None, "connected"):
        level = STATES.get(str(state), ("", "warn", None))[1]
        word = _STATE_BADGE.get(str(state), str(state).upper().replace("_", " "))
        return f"{label} · {word}", BADGE_COLOURS["bad" if level == "bad" else "warn"]
    if src in ("simulated", "sim"):
        session = _pick(info, "session", "upstream.session")
        return ("SIMULATED · virtual session" if session == "virtual" else "SIMULATED"), theme.SOURCE_COLOURS["SIMULATED"]
    if src == "replay":
        return "REPLAY", theme.SOURCE_COLOURS["REPLAY"]
    age = _pick(info, "last_event_age_s", "last_event_age")
    fresh = isinstance(age, (int, float)) and age < LIVE_FRESH_S
    if src in ("live", "delayed"):
        if not fresh:
            return f"{label} · NO DATA", BADGE_COLOURS["idle"]
        return ("LIVE", theme.SOURCE_COLOURS["LIVE"]) if src == "live" else ("DELAYED", theme.SOURCE_COLOURS["DELAYED"])
    return f"{label} · CONNECTED", BADGE_COLOURS["idle"]  # a source nobody announced: say no more


def source_badge(info: Mapping[str, Any]) -> str:
    """The announced source alone (SIMULATED, REPLAY, LIVE, DELAYED, UNKNOWN)."""
    src = _pick(info, "source", "upstream.source")
    return _SOURCE_BADGE.get(str(src).lower(), "UNKNOWN") if src else "UNKNOWN"


UNREACHABLE_AFTER_S = 5.0  # a feed that never answered hello for this long is "unreachable"


def describe(info: Mapping[str, Any] | None, connected: bool | None, feed: str = "",
             waited_s: float = 0.0) -> dict[str, str]:
    """``feed_info()`` -> {connection, level, source, badge_colour, action, age, rate, attempts, feed}.

    ``waited_s`` is how long the window has been trying; a feed that never
    answered is "connecting" at first and "unreachable" after
    :data:`UNREACHABLE_AFTER_S`.
    """
    info = info or {}
    alive = _pick(info, "feed_alive", "feed_reachable", "reachable")
    state = _pick(info, "upstream_state", "upstream.state")
    attempts = _pick(info, "attempts", "upstream.attempts", "reconnect_attempts")
    message = _pick(info, "upstream_message", "upstream.message")
    pid = _pick(info, "pid", "feed_pid")
    epoch = _pick(info, "epoch")
    where = feed or _pick(info, "feed") or "its address"
    action = ""
    if alive is False and pid is None:
        if waited_s >= UNREACHABLE_AFTER_S:
            conn, level = f"Feed unreachable at {where} — retrying", "bad"
            action = "start it with `live-monitor`, or check --feed"
        else:
            conn, level = f"Connecting to feed at {where}…", "warn"
    elif alive is False:
        conn, level = "Feed process gone — reconnecting…", "bad"
    elif connected and state in (None, "connected"):
        conn, level = "Connected", "ok"
    elif state:
        conn, level, act = STATES.get(str(state), (str(state), "warn", None))
        action = act or ""
        if message and state not in ("connected", "auth_failed"):
            why = cause(str(message))
            conn += f" ({why or strip_exception_names(str(message))})"
    elif connected is False:
        conn, level = "Reconnecting…", "warn"
    else:
        conn, level = "Connecting…", "warn"

    age = _pick(info, "last_event_age_s", "last_event_age")
    rate = _pick(info, "messages_per_s", "msgs_per_s", "events_per_s")
    text, colour = badge(info, connected)
    return {
        "connection": conn + (f" — {action}" if action else ""),
        "level": level,
        "source": text,
        "badge_colour": colour or "#455a64",
        "age": "last event —" if not isinstance(age, (int, float)) else f"last event {_age(age)} ago",
        "rate": "— msg/s" if not isinstance(rate, (int, float)) else f"{rate:,.0f} msg/s",
        "attempts": f"reconnects {attempts}" if isinstance(attempts, int) else "reconnects —",
        "feed": f"feed pid {pid if pid is not None else '—'} · epoch {epoch if epoch is not None else '—'}",
    }


def _age(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


class StatusBar(QStatusBar):
    LEVEL_COLOURS = {"ok": "#26a69a", "warn": "#ffb74d", "bad": "#ef5350"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.connection = QLabel("Connecting…")
        self.source = QLabel("FEED · CONNECTING")
        # the ones re-set every second: a repaint each, no relayout of the window (steady_label.py)
        self.age = SteadyLabel("last event —")
        self.rate = SteadyLabel("— msg/s")
        self.attempts = SteadyLabel("reconnects —")
        self.feed = SteadyLabel("feed —")
        self.errors = SteadyLabel("")
        self.addWidget(self.source)
        self.addWidget(self.connection, 1)
        sep = f"QLabel {{ padding: 0 8px; border-left: 1px solid {theme.current().border}; }}"
        fm = self.fontMetrics()
        # widths for the longest usual text, so a changing value never clips or shifts its neighbours
        for w, longest in ((self.errors, "⚠ 99 errors"), (self.age, "last event 999 ms ago"),
                           (self.rate, "999,999 msg/s"), (self.attempts, "reconnects 999"),
                           (self.feed, "feed pid 9999999 · epoch 9999999999999")):
            w.setStyleSheet(sep)
            w.setMinimumWidth(fm.horizontalAdvance(longest) + 20)
            self.addPermanentWidget(w)
        self.errors.hide()  # shown from the first error on
        self.texts: dict[str, str] = {}
        self._badge_colour: str | None = None
        self.apply(describe(None, None))

    def apply(self, texts: dict[str, str]) -> None:
        if texts == self.texts:
            return
        self.texts = texts
        th = theme.current()
        self.connection.setText(f"● {texts['connection']}")
        css = f"color: {self.LEVEL_COLOURS.get(texts['level'], th.text_dim)}; padding-left: 6px;"
        if self.connection.styleSheet() != css:  # a re-set style re-polishes and relayouts for nothing
            self.connection.setStyleSheet(css)
        if self.source.text() != texts["source"] or self._badge_colour != texts.get("badge_colour"):
            self.source.setText(texts["source"])
            self._badge_colour = texts.get("badge_colour")
            self.source.setStyleSheet(theme.badge_css(self._badge_colour or "#455a64"))
        for key in ("age", "rate", "attempts", "feed"):
            getattr(self, key).setText(texts[key])

    def set_error_count(self, n: int) -> None:
        th = theme.current()
        self.errors.setText(f"⚠ {n} error{'s' if n != 1 else ''}" if n else "")
        self.errors.setVisible(bool(n))
        self.errors.setStyleSheet(f"QLabel {{ color: {th.warn}; padding: 0 8px; border-left: 1px solid {th.border}; }}")
