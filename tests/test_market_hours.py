"""NYSE session clock (shared/market_hours.py).

Expected instants are written in UTC on purpose, so the test does not share the
code's time-zone arithmetic: 09:30 New York is 13:30 UTC in summer (EDT) and
14:30 UTC in winter (EST).
"""

from __future__ import annotations

import datetime as dt

import pytest

from shared import market_hours as mh

UTC = dt.timezone.utc


def ms(y, mo, d, h=0, mi=0, s=0, msec=0) -> int:
    """Epoch ms of a UTC wall time."""
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp() * 1000) + msec


# ---------------------------------------------------------------- a normal summer day (EDT, UTC-4)

@pytest.mark.parametrize("utc, state", [
    ((2025, 6, 27, 7, 59, 59, 999), "closed"),   # 03:59:59.999 ET
    ((2025, 6, 27, 8, 0), "pre"),                # 04:00 ET
    ((2025, 6, 27, 13, 5, 4), "pre"),            # the AAPL replay's first minutes
    ((2025, 6, 27, 13, 29, 59, 999), "pre"),
    ((2025, 6, 27, 13, 30), "open"),             # 09:30 ET
    ((2025, 6, 27, 19, 59, 59, 999), "open"),
    ((2025, 6, 27, 20, 0), "post"),              # 16:00 ET
    ((2025, 6, 27, 23, 59, 59, 999), "post"),
    ((2025, 6, 28, 0, 0), "closed"),             # 20:00 ET Friday
    ((2025, 6, 28, 15, 0), "closed"),            # Saturday 11:00 ET
    ((2025, 6, 29, 15, 0), "closed"),            # Sunday
])
def test_summer_day_boundaries(utc, state):
    assert mh.market_state(ms(*utc)) == state
    assert mh.is_active(ms(*utc)) == (state != "closed")


def test_session_for_a_normal_day():
    s = mh.session_for(dt.date(2025, 6, 27))
    assert s == mh.Session(dt.date(2025, 6, 27), ms(2025, 6, 27, 8), ms(2025, 6, 27, 13, 30),
                           ms(2025, 6, 27, 20), ms(2025, 6, 28, 0))
    assert mh.session_for(dt.date(2025, 6, 28)) is None  # Saturday


# ---------------------------------------------------------------- holidays and early closes

def test_independence_day_is_closed_all_day():
    assert mh.session_for(dt.date(2025, 7, 4)) is None
    for hour_utc in (9, 14, 18, 21):  # pre, "open", "open", "post" on a normal day
        assert mh.market_state(ms(2025, 7, 4, hour_utc)) == "closed"


@pytest.mark.parametrize("day", [dt.date(2025, 1, 1), dt.date(2025, 12, 25), dt.date(2025, 4, 18),  # Good Friday
                                 dt.date(2025, 1, 9)])  # national day of mourning (President Carter)
def test_other_holidays_are_closed(day):
    assert mh.session_for(day) is None


def test_day_after_thanksgiving_closes_at_13_00():
    # 2025-11-28 is in EST (UTC-5): 13:00 ET = 18:00 UTC; post-market runs to 17:00 ET.
    s = mh.session_for(dt.date(2025, 11, 28))
    assert (s.open, s.close, s.post_end) == (ms(2025, 11, 28, 14, 30), ms(2025, 11, 28, 18), ms(2025, 11, 28, 22))
    assert mh.market_state(ms(2025, 11, 28, 17, 59, 59)) == "open"
    assert mh.market_state(ms(2025, 11, 28, 18, 0)) == "post"
    assert mh.market_state(ms(2025, 11, 28, 21, 59)) == "post"
    assert mh.market_state(ms(2025, 11, 28, 22, 0)) == "closed"
    assert mh.session_for(dt.date(2025, 11, 27)) is None  # Thanksgiving


def test_july_3rd_early_close_in_summer_time():
    s = mh.session_for(dt.date(2025, 7, 3))
    assert s.close == ms(2025, 7, 3, 17)  # 13:00 EDT
    assert mh.market_state(ms(2025, 7, 3, 17, 30)) == "post"


# ---------------------------------------------------------------- daylight saving time

@pytest.mark.parametrize("day, open_utc_hour", [
    (dt.date(2025, 3, 7), 14),    # Friday before the spring change: EST
    (dt.date(2025, 3, 10), 13),   # Monday after (DST began Sunday 2025-03-09): EDT
    (dt.date(2025, 10, 31), 13),  # Friday before the autumn change: EDT
    (dt.date(2025, 11, 3), 14),   # Monday after (DST ended Sunday 2025-11-02): EST
])
def test_open_follows_daylight_saving(day, open_utc_hour):
    s = mh.session_for(day)
    assert s.open == ms(day.year, day.month, day.day, open_utc_hour, 30)
    assert s.close == ms(day.year, day.month, day.day, open_utc_hour + 7, 0)       # 16:00 ET
    assert s.pre_start == ms(day.year, day.month, day.day, open_utc_hour - 5, 0)   # 04:00 ET
    assert s.post_end == s.close + 4 * 3_600_000                                   # 20:00 ET
    assert mh.market_state(s.open - 1) == "pre" and mh.market_state(s.open) == "open"


def test_ny_time_str_across_the_spring_change():
    assert mh.ny_time_str(ms(2025, 3, 9, 6, 59, 59)) == "01:59:59"  # EST
    assert mh.ny_time_str(ms(2025, 3, 9, 7, 0, 0)) == "03:00:00"    # EDT: 02:xx never happens
    assert mh.ny_time_str(ms(2025, 11, 2, 5, 30)) == "01:30:00"     # EDT, first 01:30
    assert mh.ny_time_str(ms(2025, 11, 2, 6, 30)) == "01:30:00"     # EST, second 01:30


def test_ny_time_str_is_the_seeds_last_update_format():
    assert mh.ny_time_str(1751029504042) == "09:05:04"  # first AAPL replay trade
    assert mh.ny_time_str(ms(2025, 6, 27, 18, 35, 22, 999)) == "14:35:22"
    d = mh.ny_datetime(1751029504042)
    assert (d.year, d.month, d.day, d.hour, d.utcoffset()) == (2025, 6, 27, 9, dt.timedelta(hours=-4))


def test_ny_date_is_the_new_york_calendar_day():
    # 02:00 UTC Saturday is still Friday evening in New York
    assert mh.ny_date(ms(2025, 6, 28, 2, 0)) == dt.date(2025, 6, 27)
    assert mh.market_state(ms(2025, 6, 28, 2, 0)) == "closed"  # Friday 22:00 ET


# ---------------------------------------------------------------- previous sessions, out of range

def test_previous_session_skips_weekends_and_holidays():
    assert mh.previous_session(dt.date(2025, 7, 7)).day == dt.date(2025, 7, 3)  # Mon -> Thu (Fri the 4th shut)
    assert mh.previous_session(dt.date(2025, 6, 30)).day == dt.date(2025, 6, 27)
    assert mh.latest_session_on_or_before(dt.date(2025, 7, 5)).day == dt.date(2025, 7, 3)
    assert mh.latest_session_on_or_before(dt.date(2025, 6, 27)).day == dt.date(2025, 6, 27)


def test_days_outside_the_calendar_fall_back_to_weekday_hours():
    s = mh.session_for(dt.date(2012, 6, 1))  # a Friday before the calendar's range
    assert s is not None and s.open == ms(2012, 6, 1, 13, 30) and s.close == ms(2012, 6, 1, 20)
    assert mh.session_for(dt.date(2012, 6, 2)) is None  # Saturday


# ---------------------------------------------------------------- the table against the maintained calendar

def test_the_table_is_exchange_calendars_for_every_day_of_its_years():
    """shared/nyse_table.py (scripts/gen_nyse_table.py) must be XNYS day by day: sessions, holidays
    (also unscheduled ones: 2001-09-11..14, 2012-10-29/30, 2025-01-09), open and close (early closes)."""
    xcals = pytest.importorskip("exchange_calendars")
    from shared import nyse_table

    cal = xcals.get_calendar("XNYS", start=f"{nyse_table.FIRST_YEAR}-01-01", end=f"{nyse_table.LAST_YEAR}-12-31")
    sched = {day.date(): (row["open"].to_pydatetime(), row["close"].to_pydatetime())
             for day, row in cal.schedule.iterrows()}
    day, last = dt.date(nyse_table.FIRST_YEAR, 1, 1), dt.date(nyse_table.LAST_YEAR, 12, 31)
    checked = early = holidays = 0
    while day <= last:
        want = sched.get(day)
        got = mh.session_for(day)
        if want is None:
            assert got is None, day
            holidays += day.weekday() < 5
        else:
            assert got is not None, day
            assert (got.open, got.close) == (int(want[0].timestamp() * 1000), int(want[1].timestamp() * 1000)), day
            early += got.close - got.open < 6.5 * 3_600_000
        checked += 1
        day += dt.timedelta(days=1)
    assert checked == (last - dt.date(nyse_table.FIRST_YEAR, 1, 1)).days + 1
    assert holidays > 9 * (nyse_table.LAST_YEAR - nyse_table.FIRST_YEAR) and early > 2 * (nyse_table.LAST_YEAR - nyse_table.FIRST_YEAR)


def test_unscheduled_closures_and_early_closes_are_in_the_table():
    for day in (dt.date(2001, 9, 11), dt.date(2012, 10, 29), dt.date(2018, 12, 5), dt.date(2025, 1, 9)):
        assert mh.session_for(day) is None, day
    assert mh.session_hours(dt.date(2024, 12, 24)) == (dt.time(9, 30), dt.time(13, 0))  # Christmas Eve
    assert mh.session_hours(dt.date(2030, 11, 29)) == (dt.time(9, 30), dt.time(13, 0))  # a future Black Friday


def test_days_after_the_table_fall_back_to_weekday_hours_and_say_so(caplog):
    from shared import nyse_table

    mh._warned_outside = False
    friday = next(dt.date(nyse_table.LAST_YEAR + 1, 6, d) for d in range(1, 8) if dt.date(nyse_table.LAST_YEAR + 1, 6, d).weekday() == 4)
    with caplog.at_level("WARNING", logger="shared.market_hours"):
        assert mh.session_hours(friday) == (dt.time(9, 30), dt.time(16, 0))
        assert mh.session_hours(friday + dt.timedelta(days=1)) is None
    assert sum("outside the NYSE table" in r.getMessage() for r in caplog.records) == 1  # once per process
