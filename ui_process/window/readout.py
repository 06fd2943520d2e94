"""The chart's texts: the header line (the bar under the mouse, or the last bar, with its
indicators) and the overlay message (waiting, loading, history failed).

The header is pure formatting from the :class:`~.bar_series.BarSeries`
(tested through the chart), kept out of the chart module, which is about drawing. The header is
re-set in the chart's own render pass, so it always names the symbol and bar
the chart shows in that frame.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QLabel, QWidget

from shared.market_hours import NY

from . import theme
from .bar_series import BarSeries
from .steady_label import TextLine


def readout_values(series: BarSeries, x: int | None) -> dict[str, Any] | None:
    row = series.row(x) if x is not None else None
    if row is None:
        return None
    i = x - series.base
    t = series.t[i]
    vals = {"time": dt.datetime.fromtimestamp(t / 1000, NY).strftime("%Y-%m-%d %H:%M"),
            "open": row[0], "high": row[1], "low": row[2], "close": row[3], "volume": int(row[4])}
    for k in series.ind:
        vals[k] = float(series.ind[k][i])
    return vals


def readout_html(symbol: str, v: dict[str, Any] | None, th: Any, timeframe: str = "1m") -> str:
    if v is None:
        return f"<b>{symbol}</b>"
    col = th.up if v["close"] >= v["open"] else th.down

    def f(val: float) -> str:
        return "—" if not math.isfinite(val) else f"{val:,.2f}"

    parts = [f"<b>{symbol}</b> <span style='color:{th.text_dim}'>{timeframe} · {v['time']} ET</span>",
             *(f"<span style='color:{th.text_dim}'>{k}</span> <span style='color:{col}'>{f(v[n])}</span>"
               for k, n in (("O", "open"), ("H", "high"), ("L", "low"), ("C", "close"))),
             f"<span style='color:{th.text_dim}'>V</span> <span style='color:{col}'>{v['volume']:,}</span>",
             f"<span style='color:{th.vwap}'>VWAP {f(v['vwap'])}</span>",
             f"<span style='color:{th.ema9}'>EMA9 {f(v['ema_9'])}</span>",
             f"<span style='color:{th.ema21}'>EMA21 {f(v['ema_21'])}</span>",
             f"<span style='color:{th.rsi}'>RSI {f(v['rsi_14'])}</span>"]
    return "&nbsp;&nbsp;".join(parts)


def header_line(th: Any) -> TextLine:
    """The header's widget: one monospace line in the theme's colours (a new text only repaints it)."""
    return TextLine(" ", background=th.bg, colour=th.text, font=QFont("monospace"))


class ChartMessage(QLabel):
    """A centred box over the chart, a third of the way down; hidden when it has nothing to say."""

    def __init__(self, parent: QWidget):
        super().__init__("Waiting for data…", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMaximumWidth(720)
        f = QFont()
        f.setPointSize(12)
        self.setFont(f)
        self._style(theme.current().text_dim)

    def _style(self, colour: str) -> None:
        th = theme.current()
        self.setStyleSheet(f"QLabel {{ color: {colour}; background: {th.panel}; border: 1px solid "
                           f"{th.border}; border-radius: 4px; padding: 8px 16px; }}")

    def say(self, text: str, colour: str | None = None) -> None:
        self._style(colour or theme.current().text_dim)
        self.setText(text)
        self.setVisible(bool(text))
        self.place()

    def place(self) -> None:
        self.adjustSize()
        p = self.parentWidget()
        w, h = p.width(), p.height()
        self.move(max(0, (w - self.width()) // 2), max(0, int(h * 0.3) - self.height() // 2))
