"""The multi-symbol API of ``PolygonDataManager`` (watchlists, alerts), beside the seed's one-symbol API.

Why a mixin: the facade's module is the seed's contract and stays as it is;
this adds methods only (the three signals are declared on the facade, as Qt
needs). The work is :class:`ui_process.watch_core.WatchCore`'s.

* ``watch(symbols)`` - the compact summaries of these symbols arrive on
  ``summary_updated(dict)`` (``shared.models.wire.SUMMARY_KEYS``; at most 4 Hz a
  symbol, only on change); the current symbol's full stream is untouched.
* ``alert_fired(dict)`` - a fired alert (the feed's log entry, plus ``live``:
  it fired just now, and ``notify``: no window has shown it yet). At connect
  the feed's log is replayed through it, so what fired meanwhile is seen.
* ``alerts_changed(dict)`` - ``{alerts: [...]}`` after any change or refresh.
* ``add_alert / edit_alert / arm_alert / remove_alert / refresh_alerts`` send
  the control requests; a refusal arrives on ``error_occurred`` in one line.
"""

from __future__ import annotations

from typing import Any


class WatchApi:
    _core: Any

    def watch(self, symbols: list[str]) -> list[str]:
        """Watch exactly these symbols' summaries; returns the normalised list."""
        return self._core.watch(list(symbols))

    @property
    def watched(self) -> list[str]:
        return list(self._core.watched)

    def summaries(self) -> dict[str, dict]:
        """The latest summary of each watched symbol."""
        return dict(self._core.summaries)

    def alerts(self) -> list[dict]:
        return list(self._core.alerts)

    def add_alert(self, symbol: str, kind: str, value: float | None = None, **extra: Any) -> str:
        body = {"symbol": symbol, "kind": kind, **extra}
        if value is not None:
            body["value"] = value
        return self._core.alert_op("add", **body)

    def edit_alert(self, alert_id: str, **changes: Any) -> str:
        return self._core.alert_op("edit", alert=alert_id, **changes)

    def arm_alert(self, alert_id: str, armed: bool = True) -> str:
        return self._core.alert_op("arm" if armed else "disarm", alert=alert_id)

    def remove_alert(self, alert_id: str) -> str:
        return self._core.alert_op("rm", alert=alert_id)

    def refresh_alerts(self) -> str:
        return self._core.alert_op("list")

    def _report_signal(self, sig: dict) -> None:
        """Entry/exit signals are computed here (window-side): the feed's signal alerts fire on them."""
        sym = sig.get("symbol") or self._core.symbol
        if not any(a.get("kind") == "signal" and a.get("armed") and a.get("symbol") == sym for a in self._core.alerts):
            return
        when = sig.get("timestamp")
        ms = int(when.timestamp() * 1000) if hasattr(when, "timestamp") else when
        kind = f"entry {sig['signal_type']}" if "signal_type" in sig else "exit"
        self._core.alert_op("signal", symbol=sym, signal={"timestamp": ms, "kind": kind, "price": sig.get("price"),
                                                          "reason": str(sig.get("signal", ""))})
