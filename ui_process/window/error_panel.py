"""Error panel: every ``error_occurred`` message with the time it arrived.

Bounded (``max_entries``); the newest is on top. Repeated identical messages
are folded into one row with a count, so a flapping upstream cannot flood
the list while the count still shows how often it happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from shared.market_hours import NY


class ErrorPanel(QListWidget):
    count_changed = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None, max_entries: int = 1000,
                 clock: Callable[[], dt.datetime] | None = None):
        super().__init__(parent)
        self.max_entries = max_entries
        self.clock = clock or (lambda: dt.datetime.now(NY))
        self.total = 0
        self._last: tuple[str, int] | None = None  # (message, repeat count) of the top row
        self.setWordWrap(True)

    def add(self, message: str) -> None:
        self.total += 1
        stamp = self.clock().strftime("%H:%M:%S")
        if self._last is not None and self._last[0] == message and self.count():
            n = self._last[1] + 1
            self._last = (message, n)
            self.item(0).setText(f"{stamp}  {message}  (×{n})")
        else:
            self._last = (message, 1)
            self.insertItem(0, QListWidgetItem(f"{stamp}  {message}"))
            while self.count() > self.max_entries:
                self.takeItem(self.count() - 1)
        self.count_changed.emit(self.total)

    def messages(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
