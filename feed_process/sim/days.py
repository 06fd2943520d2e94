"""Session-day helpers of the synthetic tape: which session comes next or covers a time, a day's bar.

Why apart from :mod:`.market`: they are calendar arithmetic over finished bars,
not tape generation; :mod:`.market` re-exports them for its callers.
"""

from __future__ import annotations

import datetime as dt

from shared.market_hours import NY, Session, latest_session_on_or_before, ny_date, session_for


def next_session_after(day: dt.date) -> Session:
    for i in range(1, 15):
        s = session_for(day + dt.timedelta(days=i))
        if s is not None:
            return s
    raise RuntimeError(f"no NYSE session within two weeks after {day}")


def day_bar(bars: list[dict], day: dt.date) -> dict | None:
    """One daily bar (Polygon aggregate fields) from a day's minute bars."""
    if not bars:
        return None
    v = sum(b["v"] for b in bars)
    open_ms = int(dt.datetime.combine(day, dt.time(0, 0), NY).timestamp() * 1000)
    return {"t": open_ms, "o": bars[0]["o"], "h": max(b["h"] for b in bars), "l": min(b["l"] for b in bars),
            "c": bars[-1]["c"], "v": v, "vw": bars[-1]["a"], "n": sum(b["n"] for b in bars)}


def session_on_or_before(t_ms: int) -> Session:
    """The session whose tape covers ``t_ms``: today's if it is a session, else the last one."""
    s = latest_session_on_or_before(ny_date(t_ms))
    if s is None:
        raise RuntimeError("no NYSE session found in the last two weeks")
    return s
