"""The watchlist's table model: one row per symbol, figures from the feed's summaries, updates coalesced.

Why a model with a flush timer: a 50-row list gets up to 200 summaries a
second; each one only lands in a dict, and every ``FLUSH_MS`` (4 Hz) the rows
whose figures changed get one ``dataChanged`` each - the view repaints those
rows only, and a burst never costs the window more than a dict write per
message. Sorting reorders the list itself (what you sort is what is saved,
and what a drag then moves); rows move by drag and drop (``moveRows``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PyQt6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor

COLUMNS = ("Symbol", "Last", "Chg", "Chg %", "Volume", "Rel vol", "Spread", "Trend")
KEYS = (None, "last", "change", "change_pct", "volume", "rel_volume", "spread", "spark")
SPARK_COL = 7
FLUSH_MS = 250
FLASH_S = 3.0
MIME = "application/x-live-monitor-rows"
UP, DOWN, FLASH = QColor("#2e7d32"), QColor("#c62828"), QColor("#ffb300")


def _volume(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    for n, s in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= n:
            return f"{v / n:.2f}{s}"
    return f"{v:.0f}"


def cell_text(key: str | None, sym: str, s: dict | None) -> str:
    if key is None:
        return sym
    v = (s or {}).get(key)
    if v is None:
        return "—"
    if key == "volume":
        return _volume(v)
    if key == "change":
        return f"{v:+.2f}"
    if key == "change_pct":
        return f"{v:+.2f}%"
    if key == "rel_volume":
        return f"{v:.2f}x"
    if key == "spark":
        return ""
    return f"{v:.2f}"


class WatchlistModel(QAbstractTableModel):
    rows_changed = pyqtSignal(list)  # the symbols, in their new order (sorted, dragged, added, removed)

    def __init__(self, clock: Callable[[], float] = time.monotonic, parent=None) -> None:
        super().__init__(parent)
        self.symbols: list[str] = []
        self.data_by_sym: dict[str, dict] = {}
        self._pending: dict[str, dict] = {}
        self._flash: dict[str, float] = {}
        self.clock = clock
        self.flushes = 0
        self.timer = QTimer(self, interval=FLUSH_MS, timeout=self.flush)
        self.timer.start()

    # ---- rows
    def set_symbols(self, symbols: list[str]) -> None:
        self.beginResetModel()
        self.symbols = list(dict.fromkeys(symbols))
        self._forget()
        self.endResetModel()

    def add(self, sym: str) -> bool:
        if sym in self.symbols:
            return False
        n = len(self.symbols)
        self.beginInsertRows(QModelIndex(), n, n)
        self.symbols.append(sym)
        self.endInsertRows()
        self.rows_changed.emit(list(self.symbols))
        return True

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.symbols):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.symbols[row]
            self._forget()
            self.endRemoveRows()
            self.rows_changed.emit(list(self.symbols))

    def _forget(self) -> None:
        """Figures only for the rows there are (the manager drops an unwatched symbol's summary too):
        a list switched or edited all day must not keep every symbol it ever showed."""
        keep = set(self.symbols)
        for d in (self.data_by_sym, self._pending):
            for sym in [s for s in d if s not in keep]:
                del d[sym]

    # ---- data in
    def on_summary(self, body: dict) -> None:
        self._pending[body.get("sym")] = body

    def flash(self, sym: str) -> None:
        self._flash[sym] = self.clock() + FLASH_S
        self._pending.setdefault(sym, self.data_by_sym.get(sym, {}))

    def flush(self) -> int:
        """Apply what arrived since the last flush: one dataChanged per changed row."""
        now = self.clock()
        for sym, until in list(self._flash.items()):
            if until <= now:
                del self._flash[sym]
                self._pending.setdefault(sym, self.data_by_sym.get(sym, {}))
        pending, self._pending = self._pending, {}
        n = 0
        for sym, body in pending.items():
            if sym not in self.symbols:
                continue
            self.data_by_sym[sym] = body
            r = self.symbols.index(sym)
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))
            n += 1
        self.flushes += bool(n)
        return n

    # ---- Qt model
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.symbols)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        sym = self.symbols[index.row()]
        s = self.data_by_sym.get(sym)
        key = KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(key, sym, s)
        if role == Qt.ItemDataRole.UserRole:
            return (s or {}).get(key) if key else sym
        if role == Qt.ItemDataRole.ForegroundRole and key in ("change", "change_pct"):
            v = (s or {}).get("change")
            return UP if isinstance(v, (int, float)) and v > 0 else DOWN if isinstance(v, (int, float)) and v < 0 else None
        if role == Qt.ItemDataRole.BackgroundRole and sym in self._flash:
            return FLASH
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column():
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: QModelIndex):
        base = Qt.ItemFlag.ItemIsDropEnabled
        if not index.isValid():
            return base
        return base | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        key = KEYS[column]
        if key == "spark":
            return
        rev = order == Qt.SortOrder.DescendingOrder

        def k(sym: str):
            v = sym if key is None else (self.data_by_sym.get(sym) or {}).get(key)
            return (v is None, v if v is not None else 0)
        self.layoutAboutToBeChanged.emit()
        known = sorted([s for s in self.symbols if k(s)[0] is False], key=k, reverse=rev)
        self.symbols = known + [s for s in self.symbols if k(s)[0]]  # unknown figures stay last
        self.layoutChanged.emit()
        self.rows_changed.emit(list(self.symbols))

    # ---- drag and drop (rows move within the list)
    def supportedDropActions(self):  # noqa: N802
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME]

    def mimeData(self, indexes) -> QMimeData:  # noqa: N802
        m = QMimeData()
        rows = sorted({i.row() for i in indexes})
        m.setData(MIME, QByteArray(",".join(map(str, rows)).encode()))
        return m

    def dropMimeData(self, data, action, row, column, parent) -> bool:  # noqa: N802
        if not data.hasFormat(MIME):
            return False
        src = [int(x) for x in bytes(data.data(MIME)).decode().split(",") if x]
        dest = row if row >= 0 else (parent.row() if parent.isValid() else len(self.symbols))
        self.move(src[0] if src else -1, dest)
        return False  # we moved the row ourselves: the view must not remove the source

    def move(self, src: int, dest: int) -> None:
        if not 0 <= src < len(self.symbols) or dest in (src, src + 1):
            return
        self.beginMoveRows(QModelIndex(), src, src, QModelIndex(), dest)
        sym = self.symbols.pop(src)
        self.symbols.insert(dest - 1 if dest > src else dest, sym)
        self.endMoveRows()
        self.rows_changed.emit(list(self.symbols))
