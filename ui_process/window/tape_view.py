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

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QRect, QSize, Qt, QTimer
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PyQt6.QtWidgets import (QAbstractScrollArea, QFrame, QHBoxLayout, QHeaderView, QLabel, QSpinBox, QVBoxLayout,
                             QWidget)

from shared.market_hours import NY

from . import theme
from .steady_label import SteadyLabel
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
    """Rows are formatted once, the first time they are shown: the view asks
    ``data()`` for several roles of every visible cell on every repaint, so that
    path only indexes cached tuples (the font is the table's, not a per-cell
    role). Not when they enter: a busy pull brings 300 prints of which a
    screenful is ever seen, and formatting them all (~20 us each, a time
    string per print) cost the pull ~6 ms."""

    def __init__(self, max_rows: int = 300):
        super().__init__()
        self.max_rows = max_rows
        self.rows: list[Print] = []
        self._shown: list[tuple[tuple[str, str, str, str], QColor] | None] = []  # parallel to rows; None: not yet
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

    def shown(self, i: int) -> tuple[tuple[str, str, str, str], QColor]:
        """Row ``i``'s cell texts and colour, formatted on first use."""
        v = self._shown[i]
        if v is None:
            v = self._shown[i] = self._format(self.rows[i])
        return v

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
            return self.shown(index.row())[0][index.column()]
        if role == _FOREGROUND:
            return self.shown(index.row())[1]
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
        self._shown = [None] * len(self.rows)
        self.endResetModel()

    def prepend(self, new: list[Print]) -> None:
        """``new`` is newest first; the model keeps at most ``max_rows``."""
        if not new:
            return
        new = new[: self.max_rows]
        self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
        self.rows[0:0] = new
        self._shown[0:0] = [None] * len(new)
        self.endInsertRows()
        if len(self.rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self.rows) - 1)
            del self.rows[self.max_rows:]
            del self._shown[self.max_rows:]
            self.endRemoveRows()


class TapeCanvas(QAbstractScrollArea):
    """Paints the tape's visible rows directly: one ``drawText`` per cell.

    Why not ``QTableView``: its delegate asks the Python model for ~10 roles
    per cell on every repaint; measured 12-14 ms for a 36-row tape, which at
    10 pulls a second landed in the same frame as the chart's repaint. This
    widget reads the model's preformatted rows: ~2 ms. Scrolling is by row;
    when the user has scrolled down, new prints do not move what they read.
    The header is a real ``QHeaderView`` on the same model (it only asks for
    the four titles), so columns resize by dragging like any table's; the
    default widths fit the longest value of each column ("NYSE American").
    """

    PAD = 6

    def __init__(self, model: TapeModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.setFont(QFont("monospace"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        fm = QFontMetrics(self.font())
        self.row_h = fm.height() + 4
        longest = ("00:00:00.000", "0,000.00", "000,000", "NYSE American")
        self.widths = [max(fm.horizontalAdvance(v), fm.horizontalAdvance(t)) + 2 * self.PAD
                       for v, t in zip(longest, COLUMNS)]
        self.header = QHeaderView(Qt.Orientation.Horizontal, self)
        self.header.setModel(model)
        self.header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.header.setStretchLastSection(True)
        self.header.setHighlightSections(False)
        self.header.setMinimumSectionSize(fm.horizontalAdvance("0000") + 2 * self.PAD)
        for c, w in enumerate(self.widths[:3]):
            self.header.resizeSection(c, w)
        self.header.sectionResized.connect(self._section_resized)
        self.setViewportMargins(0, self.header.sizeHint().height(), 0, 0)
        th = theme.current()
        self._bg = QColor(th.panel)
        model.rowsInserted.connect(self._inserted)
        model.rowsRemoved.connect(self._relayout)
        model.modelReset.connect(self._reset)

    def sizeHint(self) -> QSize:  # noqa: N802 - wide enough for every column, tall enough for 12 rows
        return QSize(sum(self.widths) + self.verticalScrollBar().sizeHint().width(),
                     self.header.sizeHint().height() + 12 * self.row_h)

    def _section_resized(self, *_: Any) -> None:
        self.widths = [self.header.sectionSize(c) for c in range(len(COLUMNS))]
        self.viewport().update()

    def _visible_rows(self) -> int:
        return max(1, self.viewport().height() // self.row_h)

    def _relayout(self, *_: Any) -> None:
        sb = self.verticalScrollBar()
        sb.setRange(0, max(0, len(self.model.rows) - self._visible_rows()))
        sb.setPageStep(self._visible_rows())
        self.viewport().update()

    def _inserted(self, _parent: Any, first: int, last: int) -> None:
        sb = self.verticalScrollBar()
        keep = sb.value() > 0  # the user scrolled into the past: keep those rows in place
        self._relayout()
        if keep:
            sb.setValue(sb.value() + (last - first + 1))

    def _reset(self) -> None:
        self.verticalScrollBar().setValue(0)
        self._relayout()

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        vp = self.viewport().geometry()
        self.header.setGeometry(vp.left(), 0, vp.width(), self.header.sizeHint().height())
        self._relayout()

    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self.viewport())
        w, h, rh = self.viewport().width(), self.viewport().height(), self.row_h
        p.fillRect(0, 0, w, h, self._bg)
        xs = [0]
        for cw in self.widths[:3]:
            xs.append(xs[-1] + cw)
        rects = [(xs[0], self.widths[0]), (xs[1], self.widths[1]), (xs[2], self.widths[2]), (xs[3], max(0, w - xs[3]))]
        model = self.model
        first = self.verticalScrollBar().value()
        y = 0
        for i in range(first, min(len(model.rows), first + self._visible_rows() + 1)):
            texts, colour = model.shown(i)
            p.setPen(colour)
            for c, (x, cw) in enumerate(rects):
                p.drawText(QRect(x + self.PAD, y, max(0, cw - 2 * self.PAD), rh), _ALIGNMENTS[c], texts[c])
            y += rh
            if y > h:
                break
        p.end()


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
        self.count_label = SteadyLabel("")  # re-set every pull (10 Hz): a repaint, not a window relayout
        self.count_label.setStyleSheet(f"color: {th.text_dim};")
        bar.addWidget(title)
        bar.addWidget(self.min_size)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        lay.addLayout(bar)
        self.table = TapeCanvas(self.model)
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
