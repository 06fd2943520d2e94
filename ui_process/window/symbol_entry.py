"""Symbol entry: type a ticker, Enter to switch; recent symbols one click away.

Validation is :func:`shared.models.market_data.normalize_symbol` (the same
rule the feed applies), so the window refuses exactly what the feed would.
An invalid entry emits :attr:`SymbolEntry.invalid` with the reason and leaves
the current symbol alone; the window shows the reason to the user.
"""

from __future__ import annotations

from PyQt6.QtCore import QStringListModel, Qt, pyqtSignal
from PyQt6.QtWidgets import QCompleter, QHBoxLayout, QLineEdit, QMenu, QSizePolicy, QToolButton, QWidget

from shared.models.market_data import normalize_symbol


class RecentSymbols:
    """Most recent first, unique, at most ``limit``."""

    def __init__(self, items: list[str] | None = None, limit: int = 12):
        self.limit = limit
        self.items: list[str] = []
        for s in reversed(items or []):
            try:
                self.push(normalize_symbol(s))
            except ValueError:
                continue

    def push(self, symbol: str) -> None:
        if symbol in self.items:
            self.items.remove(symbol)
        self.items.insert(0, symbol)
        del self.items[self.limit:]


class SymbolEntry(QWidget):
    symbol_requested = pyqtSignal(str)
    invalid = pyqtSignal(str)

    def __init__(self, recent: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.recent = RecentSymbols(recent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Symbol (Ctrl+L)")
        self.edit.setMaxLength(16)
        self.edit.setFixedWidth(140)
        self.edit.setToolTip("Type a ticker and press Enter")
        self._model = QStringListModel(self.recent.items)
        comp = QCompleter(self._model, self)
        comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.edit.setCompleter(comp)
        self.edit.returnPressed.connect(self.submit)
        self.menu_button = QToolButton()
        self.menu_button.setText("Recent")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self)
        self.menu_button.setMenu(self.menu)
        self.menu.triggered.connect(self._recent_chosen)
        lay.addWidget(self.edit)
        lay.addWidget(self.menu_button)
        self._rebuild_menu()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # no gap inside the toolbar

    def submit(self) -> None:
        text = self.edit.text()
        try:
            sym = normalize_symbol(text)
        except ValueError as e:
            self.invalid.emit(str(e))
            self.edit.selectAll()
            return
        self.symbol_requested.emit(sym)

    def set_current(self, symbol: str) -> None:
        """The window switched to ``symbol``: show it and remember it."""
        self.edit.setText(symbol)
        self.recent.push(symbol)
        self._model.setStringList(self.recent.items)
        self._rebuild_menu()

    def set_recent(self, items: list[str]) -> None:
        """Replace the list (the shared one, re-read from disk), most recent first."""
        self.recent = RecentSymbols(items, self.recent.limit)
        self._model.setStringList(self.recent.items)
        self._rebuild_menu()

    def focus(self) -> None:
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()

    def _recent_chosen(self, action) -> None:
        self.symbol_requested.emit(str(action.data()))

    def _rebuild_menu(self) -> None:
        self.menu.clear()
        for s in self.recent.items:
            self.menu.addAction(s).setData(s)
        self.menu_button.setEnabled(bool(self.recent.items))
