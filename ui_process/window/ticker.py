"""Ticker panel: every TickerCalculationData field, change coloured, state badge.

It renders the manager's ``market_data_updated`` dict as-is (already
coalesced to ``ui_update_hz``); a label is only re-set when its text changed,
so an unchanged field costs no relayout or repaint, and the values are
:class:`~.steady_label.SteadyLabel` s, so a changed one costs a repaint of
itself, not a relayout of the window (unless it outgrew its width).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from . import theme
from .steady_label import SteadyLabel


def _px(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
        return "—"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.4f}"


def _spread(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
        return "—"
    return f"{v:.2f}" if abs(round(v, 2) - v) < 1e-9 else f"{v:.4f}"  # sub-penny spreads keep their digits


def _int(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v:
        return "—"
    return f"{int(v):,}"


def format_ticker(d: dict[str, Any]) -> dict[str, str]:
    """TickerCalculationData -> the panel's texts (pure, for tests and reuse)."""
    chg, pct = d.get("change"), d.get("change_percent")
    bid_sz, ask_sz = d.get("bid_size"), d.get("ask_size")
    return {
        "last_price": _px(d.get("last_price")),
        "change": "—" if chg is None else f"{chg:+,.2f}",
        "change_percent": "—" if pct is None else f"{pct:+.2f}%",
        "bid": _px(d.get("bid")) + (f" × {_int(bid_sz)}" if bid_sz is not None else ""),
        "ask": _px(d.get("ask")) + (f" × {_int(ask_sz)}" if ask_sz is not None else ""),
        "spread": _spread(d.get("spread")),
        "mid_price": _px(d.get("mid_price")),
        "volume": _int(d.get("volume")),
        "day_open": _px(d.get("day_open")),
        "day_high": _px(d.get("day_high")),
        "day_low": _px(d.get("day_low")),
        "last_update": str(d.get("last_update") or "—"),
        "market_state": str(d.get("market_state") or "closed").upper(),
    }


class TickerPanel(QFrame):
    """Big last price + change, and a grid of the other fields."""

    FIELDS = (("bid", "Bid"), ("ask", "Ask"), ("spread", "Spread"), ("mid_price", "Mid"),
              ("day_open", "Open"), ("day_high", "High"), ("day_low", "Low"), ("volume", "Volume"),
              ("last_update", "Updated (ET)"), ("luld", "LULD band"))

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        th = theme.current()
        self.setObjectName("ticker")
        self.setStyleSheet(f"QFrame#ticker {{ background: {th.panel}; }}")
        self.labels: dict[str, QLabel] = {}
        self._sizes: tuple[Any, Any] = (None, None)
        root = QVBoxLayout(self)
        root.setContentsMargins(10, 8, 10, 8)
        head = QHBoxLayout()
        self.symbol_label = QLabel("—")
        f = QFont()
        f.setPointSize(15)
        f.setBold(True)
        self.symbol_label.setFont(f)
        head.addWidget(self.symbol_label)
        head.addStretch(1)
        self.state_badge = QLabel("CLOSED")
        self.state_badge.setStyleSheet(theme.badge_css(theme.MARKET_STATE_COLOURS["CLOSED"]))
        head.addWidget(self.state_badge)
        root.addLayout(head)

        price_row = QHBoxLayout()
        self.labels["last_price"] = SteadyLabel("—")
        fp = QFont("monospace")
        fp.setPointSize(22)
        fp.setBold(True)
        self.labels["last_price"].setFont(fp)
        price_row.addWidget(self.labels["last_price"])
        chg_col = QVBoxLayout()
        for k in ("change", "change_percent"):
            lab = SteadyLabel("—")
            fc = QFont("monospace")
            fc.setPointSize(11)
            fc.setBold(True)
            lab.setFont(fc)
            lab.setAlignment(Qt.AlignmentFlag.AlignRight)
            self.labels[k] = lab
            chg_col.addWidget(lab, alignment=Qt.AlignmentFlag.AlignRight)
        price_row.addStretch(1)
        price_row.addLayout(chg_col)
        root.addLayout(price_row)

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(3)
        for i, (k, title) in enumerate(self.FIELDS):
            t = QLabel(title)
            t.setStyleSheet(f"color: {th.text_dim};")
            v = SteadyLabel("—")
            v.setFont(QFont("monospace"))
            v.setAlignment(Qt.AlignmentFlag.AlignRight)
            if k == "bid":
                v.setStyleSheet(f"color: {th.up};")
            elif k == "ask":
                v.setStyleSheet(f"color: {th.down};")
            self.labels[k] = v
            grid.addWidget(t, i, 0)
            grid.addWidget(v, i, 1, alignment=Qt.AlignmentFlag.AlignRight)
        root.addLayout(grid)
        root.addStretch(1)
        self._change_sign = 0
        self._state = "CLOSED"
        self._band = "—"

    def clear(self, symbol: str = "") -> None:
        self.symbol_label.setText(symbol or "—")
        for lab in self.labels.values():
            lab.setText("—")
        self._sizes = (None, None)
        self._band = "—"
        self._set_sign(0)

    def set_band(self, text: str) -> None:
        """The latest LULD band ("LULD band 198.11 – 218.96"), shown as its own row."""
        self._band = text.replace("LULD band ", "") if text else "—"
        if self.labels["luld"].text() != self._band:
            self.labels["luld"].setText(self._band)

    def set_quote_sizes(self, bid_size: Any, ask_size: Any) -> None:
        """Bid/ask sizes (TickerCalculationData has none; the tape's quotes do)."""
        self._sizes = (bid_size, ask_size)

    def update_ticker(self, d: dict[str, Any]) -> None:
        d = dict(d)
        d.setdefault("bid_size", self._sizes[0])
        d.setdefault("ask_size", self._sizes[1])
        texts = format_ticker(d)
        texts["luld"] = self._band
        for k, lab in self.labels.items():
            txt = texts.get(k, "—")
            if lab.text() != txt:
                lab.setText(txt)
        chg = d.get("change")
        self._set_sign(0 if not chg else (1 if chg > 0 else -1))
        state = texts["market_state"]
        if state != self._state:
            self._state = state
            self.state_badge.setText(state)
            self.state_badge.setStyleSheet(theme.badge_css(theme.MARKET_STATE_COLOURS.get(state, "#455a64")))

    def _set_sign(self, sign: int) -> None:
        if sign == self._change_sign and self.labels["change"].styleSheet():
            return
        self._change_sign = sign
        th = theme.current()
        colour = th.up if sign > 0 else th.down if sign < 0 else th.neutral
        for k in ("change", "change_percent", "last_price"):
            self.labels[k].setStyleSheet(f"color: {colour};")

    def text(self, key: str) -> str:
        return self.labels[key].text()
