"""The feed's upstream channels (``channels`` setting): LULD/A/NOI only when asked, and a halt
injected at the simulator reaching a window's ``luld_event`` through a real feed.

Why these: a Polygon plan without a channel answers its subscription with an error, so the
default stays T,Q,AM and a trader who wants halts says ``--channels T,Q,AM,LULD``; the setting
must then reach the feed even when it is given to the desktop or the daemon (the supervisor
hands flag-given settings to its children).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from shared.config import ConfigError, load_settings
from supervisor.plans import settings_env
from tests.feed_process_util import run_feed
from tests.sim_process import run_sim
from tests.util import recorded_manager, wait_until


def test_channels_setting_parses_and_refuses_unknown_codes():
    s = load_settings(flags={"channels": "T,Q,AM,LULD,T"}, env={}, use_default_file=False)
    assert s.channels == ("T", "Q", "AM", "LULD")
    assert load_settings(env={}, use_default_file=False).channels == ("T", "Q", "AM")
    with pytest.raises(ConfigError, match="unknown channel 'X'"):
        load_settings(flags={"channels": "T,X"}, env={}, use_default_file=False)


def test_the_supervisor_hands_flag_given_settings_to_its_children():
    s = load_settings(flags={"channels": "T,Q,AM,LULD", "history_days": 5, "feed": "tcp://127.0.0.1:9",
                             "sim_speed": 3.0, "insecure": True}, env={}, use_default_file=False)
    env = settings_env(s)
    assert env["LIVE_MONITOR_CHANNELS"] == "T,Q,AM,LULD" and env["LIVE_MONITOR_HISTORY_DAYS"] == "5"
    assert env["LIVE_MONITOR_INSECURE"] == "1"
    assert "LIVE_MONITOR_FEED" not in env and "LIVE_MONITOR_SIM_SPEED" not in env  # argv carries those
    back = load_settings(env=env, use_default_file=False)  # what a child reads back
    assert back.channels == s.channels and back.history_days == 5


def _inject(sim, body: dict) -> dict:
    req = urllib.request.Request(f"{sim.http}/sim/inject", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def test_a_halt_injected_upstream_reaches_the_window_only_when_luld_is_subscribed(qtbot):
    with run_sim("--speed", "5") as sim, \
            run_feed("--upstream", sim.url_polygon, "--protocol", "polygon", "--channels", "T,Q,AM,LULD",
                     "--no-backfill") as feed, \
            recorded_manager(feed.control, "AAPL") as (m, rec):
        halts: list[dict] = []
        m.luld_event.connect(halts.append)
        m.connect()
        qtbot.waitUntil(lambda: rec.conn == [True], timeout=15_000)
        subs = wait_until(lambda: "LULD.AAPL" in sim.status()["subscriptions"]["polygon"] and
                          sim.status()["subscriptions"]["polygon"], what="LULD.AAPL subscribed upstream")
        assert {"T.AAPL", "Q.AAPL", "AM.AAPL", "LULD.AAPL"} <= set(subs)
        [ev] = _inject(sim, {"luld": {"sym": "AAPL", "pct": 5, "i": [15]}})["events"]  # 15: trading pause
        qtbot.waitUntil(lambda: bool(halts), timeout=10_000)
        d = halts[0]
        assert d["event_type"] == "luld" and d["symbol"] == "AAPL" and d["indicators"] == [15]
        assert (d["limit_up"], d["limit_down"]) == (ev["h"], ev["l"])


def test_without_luld_in_channels_the_feed_never_asks_for_it():
    with run_sim("--speed", "5") as sim, \
            run_feed("--upstream", sim.url_polygon, "--protocol", "polygon", "--no-backfill") as feed:
        from tests.feed_process_util import Subscriber

        sub = Subscriber(feed.control, "AAPL")
        try:
            wait_until(lambda: "T.AAPL" in sim.status()["subscriptions"]["polygon"], what="T.AAPL upstream")
            assert not any(k.startswith(("LULD.", "A.", "NOI.")) for k in sim.status()["subscriptions"]["polygon"])
        finally:
            sub.close()
