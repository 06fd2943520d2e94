"""The day trader's automatic price levels: prior day high/low/close, pre-market high/low, opening range.

Why here: they are market rules (which minutes are "the prior day", where the
pre-market ends), computed from the same minute bars as everything else, and
one function keeps the window (chart lines) and any later user (alerts, an
export) agreeing. Sans-I/O, on seed bar dicts; the sessions come from
:mod:`shared.market_hours` (NYSE calendar: holidays, early closes).

Rules:
* "Today" is the NYSE session of the data's latest time (on a weekend or a
  holiday: the latest session before it); "prior day" the session before that.
* **Prior day high/low**: the upstream's previous-day bar when the owner has it
  (``prev_day``: REST ``/prev`` or a snapshot), else the prior session's
  *regular-hours* minute bars held (the figures traders quote are the regular
  session's); None when neither is there.
* **Prior close**: ``prev_day["close"]``, else the given ``prev_close`` (the
  snapshot's day stats), else the prior session's last regular-hours bar.
* **Pre-market high/low**: today's minutes 04:00 to the open.
* **Opening range**: the first ``opening_range`` minutes (5, 15 or 30) from
  the open, growing while they last (the forming minute included).
"""

from __future__ import annotations

from bisect import bisect_left

from shared import market_hours

from .history import MINUTE

NAMES = {"prior_high": "PDH", "prior_low": "PDL", "prior_close": "PDC", "pre_high": "PMH", "pre_low": "PML",
         "or_high": "ORH", "or_low": "ORL"}
GROUPS = {"prior": ("prior_high", "prior_low", "prior_close"), "pre": ("pre_high", "pre_low"),
          "or": ("or_high", "or_low")}
OPENING_RANGES = (5, 15, 30)


def _ts(b: dict) -> int:
    return b["timestamp"]


def _span(minutes: list[dict], forming: dict | None, lo: int, hi: int) -> list[dict]:
    out = minutes[bisect_left(minutes, lo, key=_ts): bisect_left(minutes, hi, key=_ts)]
    if forming is not None and lo <= forming["timestamp"] < hi:
        out = out + [forming]
    return out


def _hl(bars: list[dict]) -> tuple[float | None, float | None]:
    if not bars:
        return None, None
    return max(b["high"] for b in bars), min(b["low"] for b in bars)


def key_levels(minutes: list[dict], forming: dict | None, ref_ms: int, *, prev_day: dict | None = None,
               prev_close: float | None = None, opening_range: int = 15) -> dict:
    """``{name: price or None}`` for every name in :data:`NAMES`, plus ``date`` (today's, ISO)."""
    out: dict = {k: None for k in NAMES}
    out["date"] = None
    if not ref_ms:
        return out
    today = market_hours.latest_session_on_or_before(market_hours.ny_date(ref_ms))
    if today is None:
        return out
    out["date"] = today.day.isoformat()
    prior = market_hours.previous_session(today.day)
    if prior is not None:
        reg = _span(minutes, None, prior.open, prior.close)
        out["prior_high"], out["prior_low"] = _hl(reg)
        if reg:
            out["prior_close"] = reg[-1]["close"]
    if prev_close:
        out["prior_close"] = prev_close
    if prev_day:
        for k in ("high", "low", "close"):
            v = prev_day.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                out["prior_" + k] = float(v)
    out["pre_high"], out["pre_low"] = _hl(_span(minutes, forming, today.pre_start, today.open))
    n = opening_range if opening_range in OPENING_RANGES else 15
    out["or_high"], out["or_low"] = _hl(_span(minutes, forming, today.open, today.open + n * MINUTE))
    return out
