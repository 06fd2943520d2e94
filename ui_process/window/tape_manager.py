"""The window's data manager: PolygonDataManager plus a time & sales capture.

The spec's extension point is overriding ``_process_trade`` /
``_process_quote`` (its ``CustomDataManager`` example); the tape uses exactly
that, so it sees every trade and the quote in force when it printed, while
the rest of the window uses only the seven signals. The overrides only append
to a bounded :class:`~.tape_buffer.TapeBuffer` (no Qt work per event).
"""

from __future__ import annotations

from typing import Any

from ui_process.polygon_data_manager import PolygonDataManager

from .tape_buffer import TapeBuffer


class TapeDataManager(PolygonDataManager):
    def __init__(self, server_url: str | None = None, *, tape: TapeBuffer | None = None, **kw: Any):
        super().__init__(server_url, **kw)
        self.tape = tape if tape is not None else TapeBuffer()
        self.tape.clear(self.current_symbol)

    def change_symbol(self, symbol: str) -> None:
        before = self.current_symbol
        super().change_symbol(symbol)
        if self.current_symbol != before:
            self.tape.clear(self.current_symbol)

    def _process_trade(self, trade: dict) -> None:
        super()._process_trade(trade)
        self.tape.on_trade(trade)

    def _process_quote(self, quote: dict) -> None:
        super()._process_quote(quote)
        self.tape.on_quote(quote)
