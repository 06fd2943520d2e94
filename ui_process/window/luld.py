"""Limit Up-Limit Down: what a LULD event means for the trader, and the banner that says it.

Why a banner and not a row in a panel: a trading pause or a price pinned at a
band changes what an order can do *now*; a trader watching the chart must not
miss it. The banner sits above the chart, full width, in the alarm colour,
until the condition clears (a resume, the limit state exited, or another
symbol).

Indicator codes. The feed passes Polygon's LULD event through as the seed dict
``{'event_type': 'luld', 'symbol', 'timestamp', 'limit_up', 'limit_down',
'indicators': [int], 'tape', 'sequence'}`` (docs: CONTRACTS). The spec
(``websocket.json``, ``StockLULDEvent``) names ``i`` only "The Indicators"; the
numbers are Polygon's quote-indicator ids for the SIP's LULD price-band and
limit-state indicators (its conditions glossary, ids 1-28; the spec's example
``{"T": "MSFT", "i": [21]}`` is "NBB Limit State Entered"):

* 15 *Suspended during Trading Halt or Trading Pause* -> **HALTED**
* 16 *Re-Opening Update* -> **resumed** (the banner clears)
* 21 / 23 / 25 / 27 / 28 *NBB / NBO / both limit state entered* -> **LIMIT STATE**:
  the bid sits at the upper band or the offer at the lower one; if it lasts
  15 s the listing market pauses trading for 5 minutes
* 22 / 24 / 26 *limit state exited* -> the banner clears
* 5-8 *NBB equals Upper Band / NBO equals Lower Band* -> **LIMIT UP / LIMIT DOWN**
* everything else (12 opening update, 13 intra-day update, 19/20 price band
  published/republished ...) is a band update: shown in the ticker line, no banner.

A band touch is also recognised from prices alone: a last trade at or beyond
``limit_up`` / ``limit_down`` of the latest band raises the LIMIT banner, so a
feed that sends only bands (no limit-state indicators) still warns.
"""

from __future__ import annotations

from typing import Any, Mapping

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QLabel

from shared.market.luld import AT_LOWER, AT_UPPER, HALT, LIMIT_ENTERED, LIMIT_EXITED, RESUME  # noqa: F401

BANNER_COLOURS = {"halt": "#b71c1c", "limit": "#e65100"}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and v > 0 else None


def _px(v: float | None) -> str:
    return "—" if v is None else f"{v:,.2f}"


class LuldTracker:
    """The latest band and the condition it implies (pure; the window owns one per symbol)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.limit_up: float | None = None
        self.limit_down: float | None = None
        self.condition: str | None = None  # None | "halt" | "limit_up" | "limit_down" | "limit"
        self.by_price = False  # the current limit condition was inferred from a trade price

    def on_luld(self, d: Mapping[str, Any]) -> str | None:
        """Apply one LULD dict; return the condition in force afterwards."""
        up, down = _num(d.get("limit_up")), _num(d.get("limit_down"))
        if up is not None:
            self.limit_up = up
        if down is not None:
            self.limit_down = down
        codes = {c for c in (d.get("indicators") or []) if isinstance(c, int) and not isinstance(c, bool)}
        if codes & HALT:
            self.condition, self.by_price = "halt", False
        elif codes & RESUME or (codes & LIMIT_EXITED and self.condition != "halt"):
            self.condition, self.by_price = None, False
        elif codes & AT_UPPER:
            self.condition, self.by_price = "limit_up", False
        elif codes & AT_LOWER:
            self.condition, self.by_price = "limit_down", False
        elif codes & LIMIT_ENTERED and self.condition != "halt":
            self.condition, self.by_price = "limit", False
        return self.condition

    def on_price(self, price: Any) -> str | None:
        """A last trade price: at/over a band raises LIMIT; back inside clears a price-inferred one."""
        p = _num(price)
        if p is None or self.condition == "halt":
            return self.condition
        if self.limit_up is not None and p >= self.limit_up - 1e-9:
            self.condition, self.by_price = "limit_up", True
        elif self.limit_down is not None and p <= self.limit_down + 1e-9:
            self.condition, self.by_price = "limit_down", True
        elif self.by_price:
            self.condition, self.by_price = None, False
        return self.condition

    def band_text(self) -> str:
        if self.limit_up is None and self.limit_down is None:
            return ""
        return f"LULD band {_px(self.limit_down)} – {_px(self.limit_up)}"

    def banner(self, symbol: str) -> tuple[str, str] | None:
        """``(text, colour)`` for the banner, or None when there is nothing to warn about."""
        band = self.band_text()
        if self.condition == "halt":
            return (f"⛔ {symbol} TRADING PAUSED (LULD halt) — no trades until it reopens. {band}".strip(),
                    BANNER_COLOURS["halt"])
        if self.condition == "limit_up":
            return (f"▲ {symbol} AT LIMIT UP {_px(self.limit_up)} — a 5-minute trading pause follows if it "
                    f"stays there 15 s", BANNER_COLOURS["limit"])
        if self.condition == "limit_down":
            return (f"▼ {symbol} AT LIMIT DOWN {_px(self.limit_down)} — a 5-minute trading pause follows if it "
                    f"stays there 15 s", BANNER_COLOURS["limit"])
        if self.condition == "limit":
            return (f"⚠ {symbol} IN LULD LIMIT STATE — quotes at the band; a 5-minute pause follows after 15 s. "
                    f"{band}".strip(), BANNER_COLOURS["limit"])
        return None


class Banner(QLabel):
    """Full-width alarm line above the chart; hidden when there is nothing to say."""

    def __init__(self) -> None:
        super().__init__("")
        f = QFont()
        f.setPointSize(13)
        f.setBold(True)
        self.setFont(f)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setObjectName("luld_banner")
        self.hide()

    def show_text(self, text: str, colour: str) -> None:
        self.setText(text)
        self.setStyleSheet(f"QLabel#luld_banner {{ background: {colour}; color: white; padding: 8px 12px; }}")
        self.show()
