"""The window's pure cores, no display: source badge, plain messages, LULD, the xcb library
check, signal explanations, the shared Recent/cascade file."""

from __future__ import annotations

import os
import time

import pytest

from ui_process.window import qt_libs
from ui_process.window.luld import LuldTracker
from ui_process.window.messages import history_failed, plain
from ui_process.window.persist import CASCADE_STEP, SharedState
from ui_process.window.reconnect import FEED_GONE_FOR_GOOD_S, gave_up, reconnect_command, request_reconnect
from ui_process.window.signal_help import explain, trigger_list
from ui_process.window.status import badge, describe

FRESH = {"feed_alive": True, "pid": 7, "last_event_age_s": 0.5}


def up(state, source="live", target="polygon", **kw):
    return {**FRESH, "upstream_state": state, "upstream": {"state": state, "source": source, "target": target,
                                                           **kw}}


# ---------------------------------------------------------------- badge: every state


@pytest.mark.parametrize("info,text,colour", [
    ({}, "FEED · CONNECTING", "#8d6e00"),                                       # nothing heard yet
    (up("connecting"), "POLYGON · CONNECTING", "#8d6e00"),
    (up("authenticating"), "POLYGON · CONNECTING", "#8d6e00"),
    (up("subscribing"), "POLYGON · CONNECTING", "#8d6e00"),
    (up("reconnecting"), "POLYGON · RECONNECTING", "#8d6e00"),
    ({"feed_alive": False, "pid": 7, "source": "live"}, "OFFLINE", "#c62828"),   # feed gone
    ({"feed_alive": False}, "OFFLINE", "#c62828"),                               # never reached
    (up("auth_failed"), "POLYGON · AUTH FAILED", "#c62828"),
    (up("max_connections"), "POLYGON · KEY IN USE", "#c62828"),
    (up("subscribe_failed"), "POLYGON · SUBSCRIBE FAILED", "#c62828"),
    (up("stalled"), "POLYGON · STALLED", "#8d6e00"),
    (up("failed"), "POLYGON · GAVE UP", "#c62828"),
    (up("restarting", source="simulated", target="sim"), "SIMULATOR · RESTARTING", "#8d6e00"),
    (up("stopped"), "POLYGON · STOPPED", "#8d6e00"),
    (up("connected"), "LIVE", "#2e7d32"),
    ({**up("connected"), "last_event_age_s": 45.0}, "POLYGON · NO DATA", "#455a64"),  # connected, silent
    ({**up("connected"), "last_event_age_s": None}, "POLYGON · NO DATA", "#455a64"),
    (up("connected", source="delayed", target="delayed"), "DELAYED", "#ef6c00"),
    (up("connecting", source="delayed", target="delayed"), "POLYGON DELAYED · CONNECTING", "#8d6e00"),
    (up("connected", source="replay", target="ws://127.0.0.1:8300/stocks"), "REPLAY", "#1565c0"),
    (up("connected", source="simulated", target="sim", session="wall"), "SIMULATED", "#6a1b9a"),
    (up("connected", source="simulated", target="sim", session="virtual"), "SIMULATED · virtual session",
     "#6a1b9a"),
    (up("connecting", source=None, target="wss://socket.massive.com/stocks"), "POLYGON · CONNECTING", "#8d6e00"),
])
def test_badge_never_claims_more_than_is_so(info, text, colour):
    assert badge(info) == (text, colour)


def test_badge_reads_the_manager_flat_keys_too():
    info = {**FRESH, "upstream_state": "connected", "source": "simulated", "session": "virtual"}
    assert badge(info)[0] == "SIMULATED · virtual session"
    assert describe(info, True)["source"] == "SIMULATED · virtual session"


# ---------------------------------------------------------------- plain language


def test_messages_are_plain_with_the_action_and_no_class_names():
    assert plain("Upstream auth_failed: authentication failed") == (
        "The data source refused the API key — check POLYGON_API_KEY (or MASSIVE_API_KEY), then Reconnect (Ctrl+R)")
    assert plain("Upstream failed: gave up reconnecting").startswith("Gave up reconnecting to the data source — press")
    assert plain("Upstream reconnecting: ClientConnectorDNSError: Cannot connect to host x") == (
        "Connection lost — reconnecting…: the server's name could not be looked up — check your network "
        "connection or the upstream address")
    assert plain("Feed process gone: no heartbeat for 3.5 s; reconnecting").startswith(
        "The feed process stopped answering")
    assert plain("history: aiohttp.ClientConnectorError: refused") == (
        "history: the server refused the connection — is it running at that address?")
    assert plain("Dropped a malformed message from the feed (bad batch)") == \
        "Dropped a malformed message from the feed (bad batch)"  # already plain: kept
    for raw in ("backfill: ClientConnectorDNSError", "TimeoutError", "x: OSError: [Errno 101] Network is unreachable"):
        assert "Error" not in plain(raw), raw
    assert history_failed("history: ClientConnectorDNSError", live_flowing=False).endswith(
        "Live bars will appear once the feed is connected.")
    assert history_failed("", live_flowing=True) == (
        "Earlier bars could not be loaded: the history server did not answer. Live bars continue below.")


# ---------------------------------------------------------------- LULD


def luld(up_, down, *codes):
    return {"event_type": "luld", "symbol": "MSFT", "timestamp": 1601316752683, "limit_up": up_,
            "limit_down": down, "indicators": list(codes), "tape": 3, "sequence": 290317}


def test_luld_halt_resume_limit_state_and_price_touch():
    t = LuldTracker()
    assert t.on_luld(luld(218.96, 198.11, 13)) is None and t.banner("MSFT") is None  # band update only
    assert t.band_text() == "LULD band 198.11 – 218.96"
    assert t.on_luld(luld(218.96, 198.11, 21)) == "limit"  # the spec's example: NBB limit state entered
    assert "LIMIT STATE" in t.banner("MSFT")[0]
    assert t.on_luld(luld(218.96, 198.11, 22)) is None  # exited
    assert t.on_luld(luld(None, None, 15)) == "halt"
    text, colour = t.banner("MSFT")
    assert "MSFT TRADING PAUSED" in text and colour == "#b71c1c" and "198.11 – 218.96" in text
    assert t.on_price(300.0) == "halt"  # a print does not end a pause
    assert t.on_luld(luld(220.0, 200.0, 16)) is None  # re-opening update: resumed
    assert t.on_price(220.0) == "limit_up" and t.banner("MSFT")[0].startswith("▲ MSFT AT LIMIT UP 220.00")
    assert t.on_price(210.0) is None  # back inside: a price-inferred limit clears
    assert t.on_price(199.99) == "limit_down"
    assert t.on_luld(luld(220.0, 200.0, 5)) == "limit_up"  # NBB equals upper band
    t.clear()
    assert t.banner("MSFT") is None and t.band_text() == ""


# ---------------------------------------------------------------- reconnect


def test_gave_up_only_when_nobody_is_trying():
    assert gave_up({**FRESH, "upstream_state": "reconnecting"}) is None
    assert "gave up reconnecting" in gave_up({**FRESH, "upstream_state": "failed"})
    assert gave_up({"feed_alive": False, "pid": 1}, feed_gone_for_s=5) is None  # the supervisor restarts it
    assert "not answered for 1 min" in gave_up({"feed_alive": False, "pid": 1}, FEED_GONE_FOR_GOOD_S)

    class M:
        def __init__(self):
            self.sent, self.calls = [], []

        def send_command(self, msg):
            self.sent.append(msg)

        def disconnect(self):
            self.calls.append("disconnect")

        def connect(self):
            self.calls.append("connect")

    m = M()
    assert request_reconnect(m, feed_alive=True) == "command"
    assert m.sent == [reconnect_command()] and reconnect_command()["cmd"] == "reconnect"
    assert request_reconnect(m, feed_alive=False) == "sockets" and m.calls == ["disconnect", "connect"]


# ---------------------------------------------------------------- the xcb library check

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PyQt6/Qt6/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibfoo2.so.3 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)
"""


def test_xcb_check_maps_missing_libraries_to_packages_and_plans():
    missing = qt_libs.missing_sonames(LDD)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libfoo2.so.3"]
    assert qt_libs.packages_for(missing) == ["libxcb-cursor0", "libxcb-icccm4", "libxkbcommon-x11-0", "libfoo2-3"]
    assert qt_libs.debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert qt_libs.debian_package("libbar.so.7") == "libbar7"  # Debian's rule for unknown ones
    root = qt_libs.plan(missing, is_root=True, has_apt=True, passwordless_sudo=False)
    assert root["action"] == "install" and root["command"][:2] == ["apt-get", "install"]
    user = qt_libs.plan(missing, is_root=False, has_apt=True, passwordless_sudo=False)
    assert user["action"] == "tell" and user["command"][:3] == ["sudo", "apt-get", "install"]
    assert qt_libs.plan(missing, is_root=False, has_apt=True, passwordless_sudo=True)["action"] == "install"
    assert qt_libs.plan(missing, is_root=True, has_apt=False, passwordless_sudo=False)["action"] == "tell"
    assert qt_libs.plan([], is_root=False, has_apt=False, passwordless_sudo=False)["action"] == "ok"
    msg = qt_libs.message(user, missing)
    assert "sudo apt-get install -y --no-install-recommends libxcb-cursor0 libxcb-icccm4" in msg
    assert "dnf install" in msg and "pacman -S" in msg
    assert not qt_libs.should_check("darwin", {})
    assert not qt_libs.should_check("linux", {"QT_QPA_PLATFORM": "offscreen"})
    assert qt_libs.should_check("linux", {"QT_QPA_PLATFORM": "xcb"}) and qt_libs.should_check("linux", {})


def test_xcb_check_on_this_machine_is_fast_and_clean_in_ci():
    plugin = qt_libs.plugin_path()
    assert plugin is not None and plugin.name == "libqxcb.so"
    t0 = time.monotonic()
    out = qt_libs.run_ldd(plugin)
    missing = qt_libs.missing_sonames(out)
    assert time.monotonic() - t0 < 30 and "libQt6XcbQpa" in out
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        assert missing == [], f"CI must have every xcb library (.ci/run installs them): {missing}"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ui_process.window.qt_libs"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == (1 if missing else 0), r.stderr
    if missing:
        assert "apt-get install" in r.stderr


# ---------------------------------------------------------------- signal explanations


def test_signal_tooltips_state_the_engine_rules():
    long_ = explain({"signal_type": "LONG", "signal": "RSI Oversold Reversal + EMA9 & VWAP confirmation",
                     "strength": "Strong", "notes": "Volume confirmation present (2.1x avg)"})
    assert "RSI(14) crossed back up through 30" in long_ and "EMA(9) and/or above the session VWAP" in long_
    assert "relative volume >= 1.5x" in long_ and "Volume confirmation present" in long_
    stop = explain({"exit_type": "STOP", "signal": "Stop loss hit (1 ATR)", "pnl": "-0.74%"})
    assert "1 ATR(14) against the entry" in stop and "Checked before the target" in stop
    assert "2 ATR(14) in favour" in explain({"exit_type": "TARGET", "signal": "x"})
    assert "1.5 ATR from that best close" in explain({"exit_type": "TRAIL", "signal": "x"})
    other = explain({"signal_type": "LONG", "signal": "My breakout", "strength": "Weak"})
    assert "RSI" not in other and "My breakout" in other  # never explains a rule it does not know
    assert len(trigger_list()) == 6


# ---------------------------------------------------------------- shared Recent and cascade


def test_recent_is_shared_and_windows_cascade(tmp_path):
    now = [1000.0]
    a = SharedState(tmp_path / "shared.json", clock=lambda: now[0])
    b = SharedState(tmp_path / "shared.json", clock=lambda: now[0])
    a.push_recent("AAPL")
    b.push_recent("MSFT")
    assert a.recent() == ["MSFT", "AAPL"]  # re-read from the one file
    a.push_recent("AAPL")
    assert b.recent() == ["AAPL", "MSFT"]
    assert a.place(100, 80) == (100, 80)
    assert b.place(100, 80) == (100 + CASCADE_STEP, 80 + CASCADE_STEP)
    assert a.place(100, 80) == (100 + 2 * CASCADE_STEP, 80 + 2 * CASCADE_STEP)
    now[0] += 60  # long after: the spot is free again
    assert b.place(100, 80) == (100, 80)
    (tmp_path / "shared.json").write_text("{not json")
    assert a.recent() == [] and a.push_recent("TSLA") == ["TSLA"]  # a broken file is replaced, never fatal
