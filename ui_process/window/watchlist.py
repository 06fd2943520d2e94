"""The watchlist dock: named lists of symbols with live figures; click or Enter charts a row's symbol.

Why it looks like this: the rows are a :class:`.watchlist_model.WatchlistModel`
(coalesced at 4 Hz, changed rows only); the trend column is painted by
:class:`SparkDelegate` straight from the summary's closes (no widget per row).
Typing a symbol in the box adds it (Enter); Delete removes the selected row;
the header sorts; rows drag. Lists (the combo) live in
:class:`.watchlist_lists.WatchLists`, shared by every window. The manager
watches exactly the shown list (``watch()``), so a row costs one compact
summary subscription, not a trade stream. The context menu offers
"Alert above / below" at the row's last price.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence, QPainter, QPen
from PyQt6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QInputDialog, QLineEdit, QMenu,
                             QStyledItemDelegate, QTableView, QToolButton, QVBoxLayout, QWidget)

from shared.models.market_data import normalize_symbol

from .watchlist_lists import WatchLists
from .watchlist_model import DOWN, SPARK_COL, UP, WatchlistModel


class SparkDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        pts = index.data(Qt.ItemDataRole.UserRole)
        if not pts or len(pts) < 2:
            return
        r = option.rect.adjusted(3, 3, -3, -3)
        lo, hi = min(pts), max(pts)
        span = (hi - lo) or 1.0
        step = r.width() / (len(pts) - 1)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(UP if pts[-1] >= pts[0] else DOWN, 1.4))
        poly = [QPointF(r.left() + i * step, r.bottom() - (p - lo) / span * r.height()) for i, p in enumerate(pts)]
        for a, b in zip(poly, poly[1:]):
            painter.drawLine(a, b)
        painter.restore()


class WatchlistPanel(QWidget):
    symbol_activated = pyqtSignal(str)
    alert_requested = pyqtSignal(str, str, float)  # symbol, "above" | "below", level

    def __init__(self, manager: Any, lists: WatchLists, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager, self.lists = manager, lists
        self.model = WatchlistModel(parent=self)
        self.combo = QComboBox()
        self.combo.setToolTip("Your watchlists (shared by every window)")
        self.new_btn = QToolButton(text="+", toolTip="New list")
        self.del_btn = QToolButton(text="−", toolTip="Delete this list")
        self.entry = QLineEdit(placeholderText="Add symbol…")
        self.entry.returnPressed.connect(self._add_typed)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(SPARK_COL, SparkDelegate(self.table))
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSectionsClickable(True)
        self.table.horizontalHeader().sectionClicked.connect(self._sort)
        # Fixed widths: ResizeToContents would ask every row's data on every dataChanged (O(rows) per update)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for c, px in enumerate((50, 58, 50, 56, 56, 46, 44, 60)):
            self.table.setColumnWidth(c, px)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.table.setDragEnabled(True)
        self.table.setDropIndicatorShown(True)
        self.table.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.table.clicked.connect(self._activate)
        self.table.activated.connect(self._activate)  # Enter (and double-click)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        rm = QAction("Remove row", self.table, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        rm.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        rm.triggered.connect(lambda: self.model.remove(self.table.currentIndex().row()))
        self.table.addAction(rm)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        for w in (self.combo, self.new_btn, self.del_btn, self.entry):
            top.addWidget(w)
        col = QVBoxLayout(self)
        col.setContentsMargins(2, 2, 2, 2)
        col.addLayout(top)
        col.addWidget(self.table, 1)
        # the dock may be narrow: scroll the table, never widen the window
        for w, px in ((self.combo, 24), (self.entry, 24), (self.new_btn, 14), (self.del_btn, 14), (self.table, 40)):
            w.setMinimumWidth(px)
        top.setSpacing(1)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(2)
        self.model.rows_changed.connect(self._rows_changed)
        self.new_btn.clicked.connect(self._new_list)
        self.del_btn.clicked.connect(self._delete_list)
        self._sort_order: dict[int, Qt.SortOrder] = {}
        self.reload()
        self.combo.currentTextChanged.connect(self._select)
        if hasattr(manager, "summary_updated"):
            manager.summary_updated.connect(self.model.on_summary)

    # ---- lists
    def reload(self) -> None:
        name, syms = self.lists.current()
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(self.lists.names())
        self.combo.setCurrentText(name)
        self.combo.blockSignals(False)
        self._show(syms)

    def _show(self, syms: list[str]) -> None:
        self.model.set_symbols(syms)
        self._watch()

    def _watch(self) -> None:
        if hasattr(self.manager, "watch"):
            self.manager.watch(self.model.symbols)
            for s, body in getattr(self.manager, "summaries", lambda: {})().items():
                self.model.on_summary(body)

    def _select(self, name: str) -> None:
        if name:
            self._show(self.lists.select(name))

    def _new_list(self) -> None:
        name, ok = QInputDialog.getText(self, "New watchlist", "Name:")
        if ok and name.strip():
            self.lists.save(name.strip(), [])
            self.reload()

    def _delete_list(self) -> None:
        self.lists.delete(self.combo.currentText())
        self.reload()

    def _rows_changed(self, syms: list[str]) -> None:
        self.lists.save(self.combo.currentText() or "Default", syms)
        self._watch()

    # ---- rows
    def add_symbol(self, text: str) -> bool:
        try:
            sym = normalize_symbol(text.strip())
        except (ValueError, TypeError):
            self.entry.selectAll()
            return False
        self.model.add(sym)
        self.entry.clear()
        return True

    def _add_typed(self) -> None:
        self.add_symbol(self.entry.text())

    def _activate(self, index) -> None:
        if index.isValid():
            self.symbol_activated.emit(self.model.symbols[index.row()])

    def _sort(self, col: int) -> None:
        order = self._sort_order.get(col, Qt.SortOrder.DescendingOrder)
        order = Qt.SortOrder.AscendingOrder if order == Qt.SortOrder.DescendingOrder else Qt.SortOrder.DescendingOrder
        self._sort_order[col] = order
        self.model.sort(col, order)

    def _menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        sym = self.model.symbols[index.row()]
        last = (self.model.data_by_sym.get(sym) or {}).get("last")
        m = QMenu(self)
        if isinstance(last, (int, float)):
            m.addAction(f"Alert above {last:.2f}…", lambda: self.alert_requested.emit(sym, "above", float(last)))
            m.addAction(f"Alert below {last:.2f}…", lambda: self.alert_requested.emit(sym, "below", float(last)))
        m.addAction("Chart it", lambda: self.symbol_activated.emit(sym))
        m.addAction("Remove row", lambda: self.model.remove(index.row()))
        m.exec(self.table.viewport().mapToGlobal(pos))
