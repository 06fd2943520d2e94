"""When the desktop stops trying: say so, and offer *Reconnect* (button and Ctrl+R).

Why: the feed gives up after ``--max-reconnect-attempts`` (upstream state
``failed``) and a feed process can be gone for good (its supervisor gave up);
a window that keeps saying "reconnecting…" then lies. :func:`gave_up` decides
from ``feed_info()`` (pure, tested without a display); :class:`ReconnectBar`
is the line above the chart; :func:`request_reconnect` does the asking.

Reconnect means two things, depending on what is broken:

* the feed answers but its upstream gave up -> the control request
  ``{"type": "command", "cmd": "reconnect"}`` to the feed (the control
  socket's ``command`` verb, the same path as the supervisor's reports);
* the feed process does not answer -> the window drops its sockets and
  connects afresh (new DEALER/SUB, a new hello), which also finds a feed
  restarted at the same address.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from shared.models import wire

log = logging.getLogger(__name__)

FEED_GONE_FOR_GOOD_S = 60.0  # the supervisor restarts a feed within seconds; a minute means it will not


def gave_up(info: Mapping[str, Any], feed_gone_for_s: float = 0.0) -> str | None:
    """The sentence to show when nobody is trying any more, else None."""
    if info.get("feed_alive") is False and feed_gone_for_s >= FEED_GONE_FOR_GOOD_S:
        return (f"The feed process has not answered for {feed_gone_for_s / 60:.0f} min — "
                "it is not being restarted. Start `live-monitor` again, or press Reconnect.")
    state = info.get("upstream_state") or (info.get("upstream") or {}).get("state")
    if info.get("feed_alive") and state == "failed":
        msg = info.get("upstream_message") or (info.get("upstream") or {}).get("message")
        from .messages import cause

        why = cause(str(msg)) if msg else None
        return ("The feed gave up reconnecting to the data source" + (f" ({why})" if why else "")
                + ". Fix the cause, then press Reconnect.")
    return None


def reconnect_command() -> dict:
    return wire.command("reconnect")


def request_reconnect(manager: Any, feed_alive: bool) -> str:
    """Ask for a reconnect the right way; return what was done ('command' | 'sockets' | 'none')."""
    if feed_alive:
        send = getattr(manager, "send_command", None)
        if callable(send):  # the manager's control path: the same DEALER as every request
            send(reconnect_command())
            return "command"
        return "none"
    try:
        manager.disconnect()
        manager.connect()
    except Exception:  # never take the window down for a button
        log.exception("reconnect failed")
        return "none"
    return "sockets"


class ReconnectBar(QFrame):
    reconnect_requested = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("reconnect_bar")
        self.setStyleSheet("QFrame#reconnect_bar { background: #4a1414; border-bottom: 1px solid #c62828; }"
                           " QLabel { color: white; font-weight: 600; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 6)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.button = QPushButton("Reconnect  (Ctrl+R)")
        self.button.setToolTip("Ask the feed to connect to the data source again")
        self.button.clicked.connect(self.reconnect_requested)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button)
        self.hide()

    def set_message(self, text: str | None) -> None:
        if text:
            if self.label.text() != text:
                self.label.setText(text)
            self.show()
        elif self.isVisible():
            self.hide()
