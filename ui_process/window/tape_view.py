"""Time & sales view: newest print first, coloured by aggressor side.

Rendering is pulled, not pushed: :meth:`TapeView.pull` runs on a ~10 Hz timer
and takes at most ``max_rows`` of the newest prints from the
:class:`~.tape_buffer.TapeBuffer`. At a busy open thousands of prints arrive
per second; the view inserts them in one ``beginInsertRows`` per tick and
drops the oldest rows, so its cost is bounded by the row count, not the feed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PyQt6.QtGui import QColor, QFont, QFontMetrics
from PyQt6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QSpinBox, QTableView, QVBoxLayout, QWidget

from shared.market_hours import NY

from . import theme
from .tape_buffer import BUY, BUY_LEAN, SELL, SELL_LEAN, Print, TapeBuffer

COLUMNS = ("Time", "Price", "Size", "Exchange")


def print_time(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, NY).strftime("%H:%M:%S.%f")[:-3]


_DISPLAY = Qt.ItemDataRole.DisplayRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_ALIGNMENTS = tuple(int((Qt.AlignmentFlag.AlignRight if c in (1, 2) else Qt.AlignmentFlag.AlignLeft)
                        | Qt.AlignmentFlag.AlignVCenter) for c in range(len(COLUMNS)))


class TapeModel(QAbstractTableModel):
    """Rows are formatted once, when they enter the model: the view asks ``data()``
    for several roles of every visible cell on every repaint, so that path only
    indexes precomputed tuples (the font is the table's, not a per-cell role)."""

    def __init__(self, max_rows: int = 300):
        super().__init__()
        self.max_rows = max_rows
        self.rows: list[Print] = []
        self._shown: list[tuple[tuple[str, str, str, str], QColor]] = []  # parallel to rows
        self._colours: dict[int, QColor] = {}
        self.set_colours()

    def set_colours(self) -> None:
        th = theme.current()
        self._colours = {BUY: QColor(th.up), BUY_LEAN: QColor(th.up_soft), SELL: QColor(th.down),
                         SELL_LEAN: QColor(th.down_soft)}
        self._neutral = QColor(th.neutral)

    def _format(self, p: Print) -> tuple[tuple[str, str, str, str], QColor]:
        price = f"{p.price:,.2f}" if p.price >= 1 else f"{p.price:.4f}"
        return (print_time(p.timestamp), price, f"{p.size:,}", p.exchange), self._colours.get(p.side, self._neutral)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:  # noqa: N802
        if role == _DISPLAY and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY:
            return self._shown[index.row()][0][index.column()]
        if role == _FOREGROUND:
            return self._shown[index.row()][1]
        if role == _ALIGN:
            return _ALIGNMENTS[index.column()]
        if role == _TOOLTIP:
            p = self.rows[index.row()]
            return f"bid {p.bid:.2f} / ask {p.ask:.2f} at the time"
        return None

    def clear(self) -> None:
        self.set_rows([])

    def set_rows(self, rows: list[Print]) -> None:
        self.beginResetModel()
        self.rows = list(rows[: self.max_rows])
        self._shown = [self._format(p) for p in self.rows]
        self.endResetModel()

    def prepend(self, new: list[Print]) -> None:
        """``new`` is newest first; the model keeps at most ``max_rows``."""
        if not new:
            return
        new = new[: self.max_rows]
        self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
        self.rows[0:0] = new
        self._shown[0:0] = [self._format(p) for p in new]
        self.endInsertRows()
        if len(self.rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self.rows) - 1)
            del self.rows[self.max_rows:]
            del self._shown[self.max_rows:]
            self.endRemoveRows()


class TapeView(QWidget):
    def __init__(self, buffer: TapeBuffer, parent: QWidget | None = None, max_rows: int = 300):
        super().__init__(parent)
        self.buffer = buffer
        self.model = TapeModel(max_rows)
        self._seen = 0
        self._generation = buffer.generation
        th = theme.current()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        title = QLabel("Min size")
        title.setStyleSheet(f"color: {th.text_dim};")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10_000_000)
        self.min_size.setSingleStep(100)
        self.min_size.setToolTip("hide prints smaller than this many shares")
        self.count_label = QLabel("")
        self.count_label.setStyleSheet(f"color: {th.text_dim};")
        bar.addWidget(title)
        bar.addWidget(self.min_size)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        lay.addLayout(bar)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setFont(QFont("monospace"))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row sizing
        self.table.setShowGrid(False)
        self.table.setSelectionMode(QTableView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # fixed-width time/price/size columns sized for their widest text; the exchange takes the rest
        fm = self.table.fontMetrics()
        mono = QFontMetrics(QFont("monospace"))
        for col, sample in ((0, "00:00:00.000"), (1, "0,000.00"), (2, "00,000")):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            hh.resizeSection(col, max(mono.horizontalAdvance(sample), fm.horizontalAdvance(COLUMNS[col])) + 10)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        hh.setHighlightSections(False)
        lay.addWidget(self.table, 1)
        self.min_size.valueChanged.connect(self._refilter)
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.pull)
        self.timer.start()

    def clear(self) -> None:
        self.model.clear()
        self._seen = self.buffer.total
        self._generation = self.buffer.generation

    def pull(self) -> int:
        """Move the prints that arrived since the last pull into the view; return how many."""
        if self._generation != self.buffer.generation:
            self.clear()
            self._seen = 0
        last = self.buffer.last_seq
        if last <= self._seen:
            return 0
        # At most a screenful more than the model keeps: older prints of a burst would be
        # inserted only to be dropped again at once.
        shown = self.buffer.since(self._seen, self.model.max_rows, self.min_size.value())
        self._seen = last
        self.model.prepend(shown)
        self.count_label.setText(f"{self.buffer.total:,} prints")
        return len(shown)

    def _refilter(self) -> None:
        # Rebuild from the buffer so lowering the filter brings back prints that were hidden.
        m = self.min_size.value()
        self.model.set_rows(self.buffer.since(0, self.model.max_rows, m))
        self._seen = self.buffer.total
