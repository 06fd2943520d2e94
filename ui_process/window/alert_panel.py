"""The alert log panel (beside Errors and Signals), the alert dialog, and how a fired alert is announced.

Why here and not in the feed: the feed decides and remembers (it fires with
no window open); a window only shows. A fired alert (``alert_fired``) becomes
a row on top of the log; when it is news (``notify``: no window showed it
yet) it also becomes a desktop notification (``QSystemTrayIcon.showMessage``
when the platform has a tray, else a log line), an optional beep
(``alert_sound`` setting) and a flash of its watchlist row. The defined alerts
(``alerts_changed``) are the upper list: arm / disarm / delete act on the
selected one through the manager's requests; *New alert…* opens the dialog;
*Edit…* (or a double-click on a row) opens it pre-filled with that alert and
sends what changed with ``edit_alert`` (the feed edits value, hysteresis,
re-arm minutes and note; symbol and kind stay, as ``alert_book.EDITABLE`` says).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import (QApplication, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                             QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                             QSplitter, QSystemTrayIcon, QVBoxLayout, QWidget)

from shared.market_hours import NY

log = logging.getLogger(__name__)

LOG_ROWS = 500  # fired alerts kept in the panel: the feed's log keeps as many (alert_book.LOG_LIMIT)

KINDS = ("above", "below", "move", "volume", "high", "low", "halt", "resume", "signal")
WITH_VALUE = ("above", "below", "move", "volume")


def alert_text(a: dict) -> str:
    state = "fired" if a.get("fired") else ("armed" if a.get("armed") else "off")
    v = "" if a.get("value") is None else f" {a['value']:g}"
    return f"{a['id']}  {a['symbol']} {a['kind']}{v}  [{state}]" + (f"  — {a['note']}" if a.get("note") else "")


def entry_text(e: dict) -> str:
    t = e.get("t") or e.get("fired_ms")
    stamp = dt.datetime.fromtimestamp(t / 1000, NY).strftime("%H:%M:%S") if t else "--:--:--"
    return f"{stamp}  {e.get('message', '')}"


class AlertDialog(QDialog):
    """Create an alert: symbol, kind, value (price level, %, or x average), note; or edit one (:meth:`editing`)."""

    def __init__(self, symbol: str = "", kind: str = "above", value: float | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New alert — Live Monitor")
        self.symbol = QLineEdit(symbol)
        self.kind = QComboBox()
        self.kind.addItems(KINDS)
        self.kind.setCurrentText(kind)
        self.value = QDoubleSpinBox(decimals=2, minimum=-100, maximum=1e9, value=value or 0.0)
        self.note = QLineEdit()
        form = QFormLayout(self)
        form.addRow("Symbol", self.symbol)
        form.addRow("When", self.kind)
        form.addRow("Value", self.value)
        form.addRow("Note", self.note)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        form.addRow(bb)
        self.kind.currentTextChanged.connect(lambda k: self.value.setEnabled(k in WITH_VALUE))
        self.value.setEnabled(kind in WITH_VALUE)
        self.form = form
        self.hysteresis: QDoubleSpinBox | None = None
        self.rearm: QDoubleSpinBox | None = None

    @classmethod
    def editing(cls, a: dict, parent: QWidget | None = None) -> "AlertDialog":
        """The dialog pre-filled with alert ``a``; symbol and kind fixed, hysteresis and re-arm shown."""
        d = cls(str(a.get("symbol", "")), str(a.get("kind", "above")), a.get("value"), parent)
        d.setWindowTitle(f"Edit alert {a.get('id', '')} — Live Monitor")
        d.symbol.setEnabled(False)
        d.kind.setEnabled(False)
        d.note.setText(str(a.get("note") or ""))
        if a.get("hysteresis") is not None:
            d.hysteresis = QDoubleSpinBox(decimals=3, minimum=0, maximum=100, value=float(a["hysteresis"]))
            d.form.insertRow(3, "Hysteresis", d.hysteresis)
        if a.get("rearm_minutes") is not None:
            d.rearm = QDoubleSpinBox(decimals=1, minimum=0, maximum=1440, value=float(a["rearm_minutes"]))
            d.form.insertRow(3, "Re-arm after (min)", d.rearm)
        return d

    def changes(self, a: dict) -> dict:
        """What the user changed against alert ``a``, as ``edit_alert`` keywords."""
        out: dict[str, Any] = {}
        if a.get("kind") in WITH_VALUE and self.value.value() != a.get("value"):
            out["value"] = self.value.value()
        if self.hysteresis is not None and self.hysteresis.value() != a.get("hysteresis"):
            out["hysteresis"] = self.hysteresis.value()
        if self.rearm is not None and self.rearm.value() != a.get("rearm_minutes"):
            out["rearm_minutes"] = self.rearm.value()
        if self.note.text().strip() != (a.get("note") or ""):
            out["note"] = self.note.text().strip()
        return out

    def spec(self) -> dict:
        k = self.kind.currentText()
        out: dict[str, Any] = {"symbol": self.symbol.text().strip(), "kind": k}
        if k in WITH_VALUE:
            out["value"] = self.value.value()
        if self.note.text().strip():
            out["note"] = self.note.text().strip()
        return out


class Notifier:
    """Desktop notification (tray when there is one, else the log) and an optional beep."""

    def __init__(self, sound: bool = False, icon: QIcon | None = None) -> None:
        self.sound = sound
        self.tray: QSystemTrayIcon | None = None
        self.shown: list[str] = []  # the last LOG_ROWS texts notified (what a test or a look-back reads)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon or QIcon())
            self.tray.show()

    def notify(self, title: str, text: str) -> None:
        self.shown.append(text)
        del self.shown[:-LOG_ROWS]
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 8000)
        else:
            log.warning("alert: %s", text)
        if self.sound:
            QApplication.beep()


class AlertPanel(QWidget):
    create_requested = pyqtSignal()
    count_changed = pyqtSignal(int)

    def __init__(self, manager: Any, notifier: Notifier, flash: Callable[[str], None] = lambda s: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager, self.notifier, self.flash = manager, notifier, flash
        self.defined = QListWidget()
        self.fired = QListWidget()
        self.fired.setWordWrap(True)
        split = QSplitter()
        for title, w in (("Alerts", self.defined), ("Fired", self.fired)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(QLabel(f"<b>{title}</b>"))
            lay.addWidget(w)
            split.addWidget(box)
        buttons = QHBoxLayout()
        self.new_btn, self.edit_btn, self.arm_btn, self.rm_btn = QPushButton("New alert…"), QPushButton("Edit…"), \
            QPushButton("Arm / disarm"), QPushButton("Delete")
        for b in (self.new_btn, self.edit_btn, self.arm_btn, self.rm_btn):
            b.setMinimumWidth(30)  # a narrow dock squeezes the buttons, never widens the window
            buttons.addWidget(b)
        buttons.addStretch(1)
        col = QVBoxLayout(self)
        col.setContentsMargins(2, 2, 2, 2)
        col.addLayout(buttons)
        col.addWidget(split, 1)
        self.new_btn.clicked.connect(self.create_requested)
        self.edit_btn.clicked.connect(self.edit_selected)
        self.defined.itemDoubleClicked.connect(lambda *_: self.edit_selected())
        self.arm_btn.clicked.connect(self._toggle)
        self.rm_btn.clicked.connect(self._remove)
        for w in (self.defined, self.fired):
            w.setMinimumWidth(60)
        self.setMinimumWidth(120)
        self.entries: list[dict] = []  # newest first, at most LOG_ROWS (as the list shows)
        self.total = 0  # fired alerts shown since the window opened
        self.alerts: list[dict] = []
        if hasattr(manager, "alert_fired"):
            manager.alert_fired.connect(self.on_fired)
            manager.alerts_changed.connect(self.on_alerts)

    def on_fired(self, e: dict) -> None:
        # Bounded like the feed's log (LOG_ROWS, its LOG_LIMIT): the rows and the entries behind them.
        self.total += 1
        self.entries.insert(0, e)
        del self.entries[LOG_ROWS:]
        self.fired.insertItem(0, QListWidgetItem(entry_text(e)))
        while self.fired.count() > LOG_ROWS:
            self.fired.takeItem(self.fired.count() - 1)
        if e.get("notify"):
            self.notifier.notify(f"Alert: {e.get('symbol')}", e.get("message", ""))
            self.flash(str(e.get("symbol")))
        self.count_changed.emit(self.total)

    def on_alerts(self, d: dict) -> None:
        self.alerts = list(d.get("alerts") or [])
        self.defined.clear()
        for a in self.alerts:
            self.defined.addItem(alert_text(a))

    def _selected(self) -> dict | None:
        r = self.defined.currentRow()
        return self.alerts[r] if 0 <= r < len(self.alerts) else None

    def edit_selected(self) -> bool:
        """*Edit…*: the dialog pre-filled with the selected alert; OK sends what changed. True when sent."""
        a = self._selected()
        if a is None:
            return False
        d = AlertDialog.editing(a, self)
        if d.exec() != QDialog.DialogCode.Accepted:
            return False
        changes = d.changes(a)
        if changes and hasattr(self.manager, "edit_alert"):
            self.manager.edit_alert(a["id"], **changes)
            return True
        return False

    def _toggle(self) -> None:
        a = self._selected()
        if a is not None:
            self.manager.arm_alert(a["id"], not a.get("armed"))

    def _remove(self) -> None:
        a = self._selected()
        if a is not None:
            self.manager.remove_alert(a["id"])

    def fired_texts(self) -> list[str]:
        return [self.fired.item(i).text() for i in range(self.fired.count())]
