"""US equity session clock: pre / open / post / closed, from the NYSE calendar.

Why: the market state decides what a trader should expect (a quiet tape at
03:00 is normal, at 10:00 it is an outage), when the feed's stall watchdog may
fire, and when the simulator is busy. Holidays and early closes come from
``exchange_calendars`` (XNYS), a maintained calendar, not a hand-kept list.

Times are epoch milliseconds; every function takes the time explicitly (no
hidden wall clock), so replayed and simulated sessions are evaluated at their
own clock. Extended hours: pre-market 04:00-09:30, post-market close-20:00 ET;
on an early-close day (13:00) post-market ends at 17:00, as the exchanges run it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

NY = ZoneInfo("America/New_York")
MarketState = Literal["pre", "open", "post", "closed"]


class Session(NamedTuple):
    """One trading day's boundaries, epoch ms."""

    day: dt.date
    pre_start: int
    open: int
    close: int
    post_end: int


@functools.lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars as xcals

    # Wide enough for replay files and years of running; built once (~0.4 s).
    return xcals.get_calendar("XNYS", start="2015-01-01", end=f"{dt.date.today().year + 2}-12-31")


_warming = threading.Lock()


def warm(background: bool = False) -> None:
    """Build the calendar now (importing pandas/exchange_calendars and building it take ~1 s, once
    per process), so that no later call stalls an event loop or a GUI thread for it.

    Every process calls this before its loop serves data (feed, window, benchmarks' UI children).
    ``background=True`` (a bare ``PolygonDataManager`` whose host app did not warm it) builds it
    in a daemon thread instead; it still competes for the GIL while it runs.
    """
    if _calendar.cache_info().currsize:
        return
    if not background:
        _calendar()
        return
    if not _warming.acquire(blocking=False):
        return  # a build is already running

    def build() -> None:
        try:
            _calendar()
        except Exception:  # the first caller on the thread that needs it will report it
            log.debug("calendar warm-up failed", exc_info=True)
        finally:
            _warming.release()

    threading.Thread(target=build, name="calendar-warmup", daemon=True).start()


def _ms(d: dt.datetime) -> int:
    return int(d.timestamp() * 1000)


@functools.lru_cache(maxsize=512)
def session_for(day: dt.date) -> Session | None:
    """The session of ``day`` (New York date), or None on weekends/holidays."""
    cal = _calendar()
    iso = day.isoformat()
    try:
        if not cal.is_session(iso):
            return None
        open_ = cal.session_open(iso).to_pydatetime()
        close = cal.session_close(iso).to_pydatetime()
    except Exception:  # outside the calendar's range: fall back to weekday 09:30-16:00
        if day.weekday() >= 5:
            return None
        open_ = dt.datetime.combine(day, dt.time(9, 30), NY)
        close = dt.datetime.combine(day, dt.time(16, 0), NY)
    pre = dt.datetime.combine(day, dt.time(4, 0), NY)
    early = close.astimezone(NY).time() < dt.time(16, 0)
    post = dt.datetime.combine(day, dt.time(17, 0) if early else dt.time(20, 0), NY)
    return Session(day, _ms(pre), _ms(open_), _ms(close), _ms(post))


def ny_date(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms / 1000, NY).date()


def market_state(ts_ms: int) -> MarketState:
    s = session_for(ny_date(ts_ms))
    if s is None or ts_ms < s.pre_start or ts_ms >= s.post_end:
        return "closed"
    if ts_ms < s.open:
        return "pre"
    if ts_ms < s.close:
        return "open"
    return "post"


def is_active(ts_ms: int) -> bool:
    """True when trades are expected (pre, regular or post session)."""
    return market_state(ts_ms) != "closed"


def ny_time_str(ts_ms: int) -> str:
    """HH:MM:SS in America/New_York (the seed's ``last_update``)."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, NY).strftime("%H:%M:%S")


def ny_datetime(ts_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000, NY)


def previous_session(day: dt.date) -> Session | None:
    """The last session strictly before ``day`` (looks back up to two weeks)."""
    for i in range(1, 15):
        s = session_for(day - dt.timedelta(days=i))
        if s is not None:
            return s
    return None


def latest_session_on_or_before(day: dt.date) -> Session | None:
    s = session_for(day)
    return s if s is not None else previous_session(day)
