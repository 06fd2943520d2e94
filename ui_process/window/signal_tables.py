"""Entry and exit signal tables with the spec's columns; exits coloured by urgency.

Signals are rare (at most one per condition per bar) and must never be
dropped, so rows are inserted as they come (newest on top), bounded to
``max_rows`` so a long session cannot grow memory without limit. Each row's
tooltip states the rule that fired it (:mod:`.signal_help`).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from . import theme
from .signal_help import explain

ENTRY_COLUMNS = (("time", "Time"), ("signal_type", "Type"), ("price", "Price"), ("signal", "Signal"),
                 ("strength", "Strength"), ("notes", "Notes"))
EXIT_COLUMNS = (("time", "Time"), ("exit_type", "Type"), ("price", "Price"), ("pnl", "P&L"),
                ("signal", "Signal"), ("urgency", "Urgency"))


class SignalTable(QTableWidget):
    def __init__(self, columns: tuple[tuple[str, str], ...], max_rows: int = 500, parent: QWidget | None = None):
        super().__init__(0, len(columns), parent)
        self.columns = columns
        self.max_rows = max_rows
        self.setHorizontalHeaderLabels([title for _, title in columns])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        # the "signal" column gets the room
        for i, (k, _) in enumerate(columns):
            if k == "signal":
                hh.setSectionResizeMode(i, QHeaderView.ResizeMode.Stretch)

    def add(self, sig: dict[str, Any]) -> None:
        self.insertRow(0)
        colour = self.row_colour(sig)
        tip = explain(sig)  # what triggered it, on every cell of the row
        for c, (key, _) in enumerate(self.columns):
            v = sig.get(key, "")
            item = QTableWidgetItem("" if v is None else str(v))
            item.setToolTip(tip)
            if colour is not None:
                item.setForeground(QBrush(colour))
            if key in ("price", "pnl"):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(0, c, item)
        if self.rowCount() > self.max_rows:
            self.removeRow(self.rowCount() - 1)

    def row_colour(self, sig: dict[str, Any]) -> QColor | None:
        return None

    def clear_rows(self) -> None:
        self.setRowCount(0)

    def cell_text(self, row: int, key: str) -> str:
        c = [k for k, _ in self.columns].index(key)
        item = self.item(row, c)
        return item.text() if item else ""


class EntryTable(SignalTable):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(ENTRY_COLUMNS, parent=parent)

    def row_colour(self, sig: dict[str, Any]) -> QColor | None:
        th = theme.current()
        return QColor(th.up if sig.get("signal_type") == "LONG" else th.down)


class ExitTable(SignalTable):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(EXIT_COLUMNS, parent=parent)

    def row_colour(self, sig: dict[str, Any]) -> QColor | None:
        return QColor(theme.URGENCY_COLOURS.get(str(sig.get("urgency")), theme.current().neutral))
