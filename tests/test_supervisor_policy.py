"""Sans-I/O parts of the supervisor: restart policy, crash-loop guard, shutdown order,
parent-watch predicate, last symbol, desktop plan. No processes, an injected clock."""

from __future__ import annotations

import argparse
import os
import signal
import sys

import pytest

from shared.procs import (
    ChildSpec,
    LineBudget,
    Decision,
    Restart,
    RestartPolicy,
    RestartTracker,
    describe_exit,
    format_report,
    shutdown_groups,
)


def tracker(mode=Restart.ALWAYS, rng=lambda: 0.5, **policy) -> RestartTracker:
    return RestartTracker("feed", mode, RestartPolicy(**policy), rng=rng)


def crash(t: RestartTracker, start: float, ran: float = 0.1, rc: int = 1) -> Decision:
    t.on_start(start)
    return t.on_exit(start + ran, rc)


def test_backoff_doubles_from_half_a_second_to_thirty():
    t = tracker(crash_limit=100)  # rng 0.5 -> no jitter
    delays, now = [], 0.0
    for _ in range(9):
        d = crash(t, now)
        assert d.action == "restart"
        delays.append(d.delay)
        now += 100.0  # outside the crash window, but each run was short: backoff keeps growing
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_stays_within_twenty_percent_and_under_the_cap():
    lo = tracker(rng=lambda: 0.0, crash_limit=100)
    hi = tracker(rng=lambda: 0.999999, crash_limit=100)
    assert crash(lo, 0).delay == pytest.approx(0.4)
    assert crash(hi, 0).delay == pytest.approx(0.6, rel=1e-4)
    for _ in range(10):
        d = crash(hi, 1000.0)
    assert d.delay <= 30.0


def test_healthy_run_resets_the_backoff():
    t = tracker(crash_limit=100)
    for i in range(4):
        crash(t, i * 100.0)
    assert crash(t, 500.0).delay == 8.0  # fifth short run in a row
    d = crash(t, 1000.0, ran=61.0)  # ran longer than healthy_after
    assert d.delay == 0.5


def test_crash_loop_guard_gives_up_on_the_fifth_crash_within_sixty_seconds():
    t = tracker()
    now = 0.0
    for _ in range(4):
        d = crash(t, now, ran=0.05, rc=-signal.SIGKILL)
        assert d.action == "restart"
        now += 0.05 + d.delay
    d = crash(t, now, ran=0.05, rc=-signal.SIGKILL)
    assert d.action == "give_up"
    assert "feed crashed 5 times in 60 s" in d.message and "SIGKILL" in d.message
    assert "giving up" in d.message


def test_crashes_spread_over_more_than_the_window_are_not_a_loop():
    t = tracker()
    for i in range(20):
        assert crash(t, i * 20.0).action == "restart"  # 3 per minute at most


def test_window_closed_by_user_is_done_and_crashed_window_restarts():
    w = tracker(Restart.ON_CRASH)
    assert crash(w, 0, rc=0) == Decision("done", message="feed closed (exit 0)")
    assert crash(w, 10, rc=-signal.SIGKILL).action == "restart"
    assert crash(w, 20, rc=1).action == "restart"
    assert w.restarts == 2


def test_feed_restarts_even_after_a_clean_exit():
    assert crash(tracker(), 0, rc=0).action == "restart"


def test_describe_exit():
    assert describe_exit(0) == "exit 0"
    assert describe_exit(3) == "exit 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(None) == "running"


def test_shutdown_order_is_windows_then_feed_then_sim():
    specs = [ChildSpec("sim", "sim", []), ChildSpec("feed", "feed", []),
             ChildSpec("ui-A", "ui", []), ChildSpec("ui-B", "ui", [])]
    assert [[s.name for s in g] for g in shutdown_groups(specs)] == [["ui-A", "ui-B"], ["feed"], ["sim"]]


def test_format_report_is_one_line():
    line = format_report([{"name": "feed", "pid": 12, "alive": True, "cpu_percent": 3.25, "rss_bytes": 45_100_000,
                           "restarts": 1}, {"name": "ui-AAPL", "alive": False, "state": "closed"}])
    assert line == "feed pid 12 cpu 3.2% rss 45.1 MB restarts 1; ui-AAPL closed"


def test_parent_gone_check_uses_ppid_for_a_child_and_pid_for_a_grandchild():
    from shared.parent_watch import parent_gone_check

    ppid = [100]
    child = parent_gone_check(100, 100, getppid=lambda: ppid[0], pid_alive=lambda p: True)
    assert not child()
    ppid[0] = 1  # re-parented to init: the supervisor died
    assert child()
    alive = {100}
    grandchild = parent_gone_check(100, 555, getppid=lambda: 555, pid_alive=lambda p: p in alive)
    assert not grandchild()
    alive.clear()
    assert grandchild()


def test_desktop_symbols_flag_wins_else_the_window_reopens_its_last():
    from shared.config import load_settings
    from supervisor import plans

    s = load_settings(flags={"symbols": "aapl,msft,aapl"}, env={}, use_default_file=False)
    assert plans.desktop_symbols(s) == ["AAPL", "MSFT"]
    s = load_settings(env={}, use_default_file=False)
    assert plans.desktop_symbols(s) == [None]
    spec = plans.ui_spec(s, argparse.Namespace(), None, 0)
    assert spec.name == "ui" and "--symbol" not in spec.argv  # the window picks its last symbol


def test_child_argv_carry_the_feed_address_and_never_the_key():
    from shared.config import Secret, load_settings
    from supervisor import plans

    s = load_settings(flags={"feed": "tcp://127.0.0.1:9999"}, env={"POLYGON_API_KEY": "sekrit-key-123"},
                      use_default_file=False)
    assert s.api_key == Secret("sekrit-key-123")
    args = argparse.Namespace(config_file=None, log_level="DEBUG")
    up, proto = plans.sim_upstream(4321)
    specs = [plans.feed_spec(s, args, up, proto), plans.ui_spec(s, args, "AAPL", 0),
             plans.ui_spec(s, args, "AAPL", 1), plans.sim_spec(s, args, 0)]
    feed, ui, ui2, sim = specs
    # the installed code, never the cwd's: python -P (no cwd on sys.path)
    assert all(sp.argv[:4] == [sys.executable, "-P", "-m", "supervisor"] for sp in specs)
    assert feed.argv[4:] == ["feed", "--feed", "tcp://127.0.0.1:9999", "--upstream", "ws://127.0.0.1:4321/stocks",
                             "--log-level", "DEBUG", "--protocol", "polygon"]
    assert ui.name == "ui-AAPL" and ui2.name == "ui-AAPL-2" and ui.restart is Restart.ON_CRASH
    assert ui.argv[-2:] == ["--symbol", "AAPL"] and ui.symbol == "AAPL"
    assert sim.argv[4:] == ["sim", "--port", "0", "--log-level", "DEBUG"] and sim.ready_prefix == "LISTENING "
    assert all("sekrit" not in " ".join(sp.argv) for sp in specs)
    on_sim = plans.sim_feed_spec(s, args, 4321)  # the feed knows it is on a simulator from its first hello
    assert on_sim.argv[4:8] == ["feed", "--feed", "tcp://127.0.0.1:9999", "--upstream"] and on_sim.argv[8] == "sim"
    assert on_sim.env["LIVE_MONITOR_SERVER_URL"] == "ws://127.0.0.1:4321/stocks"
    assert on_sim.env["POLYGON_API_KEY"] == "simulator" and on_sim.argv[-2:] == ["--protocol", "polygon"]


def test_sim_flags_are_passed_only_when_given_and_the_first_seed_is_pinned(tmp_path):
    from shared.config import load_settings
    from supervisor import plans

    args = argparse.Namespace()
    bare = plans.sim_spec(load_settings(env={}, use_default_file=False), args, 0)
    assert "--seed" not in bare.argv and "--speed" not in bare.argv  # the simulator picks a fresh seed
    assert plans.sim_spec(load_settings(env={}, use_default_file=False), args, 5, seed=77).argv[-2:] == \
        ["--seed", "77"]  # a restart replays the tape the first start chose
    s = load_settings(flags={"sim_seed": 3}, env={}, use_default_file=False)
    assert plans.sim_spec(s, args, 0, seed=77).argv[-2:] == ["--seed", "3"]  # the user's seed wins
    f = tmp_path / "r.jsonl"
    f.write_text("")
    s = load_settings(flags={"sim_replay": str(f), "sim_speed": 4, "sim_loop": True}, env={}, use_default_file=False)
    argv = plans.sim_spec(s, args, 0).argv
    assert argv[argv.index("--replay") + 1] == str(f) and "--loop" in argv and argv[-2:] == ["--speed", "4"]
    s = load_settings(flags={"sim_replay": str(f), "sim_max": True}, env={}, use_default_file=False)
    assert "--max" in plans.sim_spec(s, args, 0).argv
    assert "--clock" not in bare.argv  # auto: the simulator's own default
    s = load_settings(env={"LIVE_MONITOR_SIM_CLOCK": "virtual"}, use_default_file=False)
    assert plans.sim_spec(s, args, 0).argv[-2:] == ["--clock", "virtual"]
    s = load_settings(flags={"sim_replay": str(f), "sim_clock": "wall"}, env={}, use_default_file=False)
    assert "--clock" not in plans.sim_spec(s, args, 0).argv  # a replay runs on the file's own clock
    assert plans.parse_sim_ready("LISTENING ws://127.0.0.1:4242 source=replay") == (4242, None)
    assert plans.parse_sim_ready("LISTENING ws://127.0.0.1:4242 source=simulated seed=991") == (4242, 991)
    with pytest.raises(ValueError):
        plans.parse_sim_ready("hello")


@pytest.mark.parametrize("flags, message", [
    ({"upstream": "polygon"}, "needs an API key"),
    ({"sim_replay": "/nonexistent/x.jsonl.gz"}, "replay file not found"),
    ({"sim_max": True}, "only apply to --replay"),
    ({"sim_replay": __file__, "upstream": "ws://127.0.0.1:1/stocks"}, "cannot be used with --upstream"),
    ({"sim_replay": __file__, "sim_max": True, "sim_speed": 2}, "exclude each other"),
])
def test_desktop_and_daemon_refuse_bad_combinations_in_one_line(flags, message):
    from shared.cli import UserError
    from shared.config import load_settings
    from supervisor import plans

    with pytest.raises(UserError, match=message):
        plans.check_settings(load_settings(flags=flags, env={}, use_default_file=False))
    plans.check_settings(load_settings(flags={"upstream": "sim"}, env={}, use_default_file=False))


def test_children_never_get_the_cwd_on_their_path():
    from shared.procs import child_env

    env = child_env({"PYTHONPATH": f"{os.pathsep}.{os.pathsep}/opt/lib{os.pathsep}./"}, {}, 42)
    assert env["PYTHONPATH"] == "/opt/lib" and env["PYTHONSAFEPATH"] == "1" and env["LIVE_MONITOR_PARENT_PID"] == "42"
    assert "PYTHONPATH" not in child_env({"PYTHONPATH": "."}, {}, 42)
    assert "PYTHONPATH" not in child_env({}, {}, 42)


def test_line_budget_lets_a_burst_through_then_the_rate_and_counts_the_rest():
    b = LineBudget(rate=10, burst=5, now=0.0)
    assert [b.allow(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert b.take_suppressed() == 2 and b.take_suppressed() == 0
    assert b.allow(0.1) and not b.allow(0.1)  # 0.1 s at 10 lines/s = one more line
    assert [b.allow(100.0) for _ in range(6)] == [True] * 5 + [False]  # refills to the burst, not beyond
    assert b.take_suppressed() == 2


# ---------------------------------------------------------------- the running feed vs what was asked

SIM_UP = {"source": "simulated", "target": "ws://127.0.0.1:40001/stocks", "protocol": "polygon"}
REPLAY_UP = {**SIM_UP, "source": "replay"}
LIVE_UP = {"source": "live", "target": "polygon", "protocol": "polygon"}
DELAYED_UP = {"source": "delayed", "target": "delayed", "protocol": "polygon"}
RELAY_UP = {"source": "live", "target": "ws://localhost:8200/ws/{client_id}", "protocol": "relay"}
OLD_LIVE_UP = {"source": "live", "kind": "polygon", "url": "wss://socket.massive.com/stocks", "protocol": "polygon"}
OLD_URL_UP = {"source": "live", "kind": "url", "url": "ws://10.0.0.5:9000/ws/live_monitor", "protocol": "relay"}


@pytest.mark.parametrize("upstream, flags, ok", [
    (SIM_UP, {}, True),
    (SIM_UP, {"upstream": "polygon"}, False),
    (SIM_UP, {"sim_replay": "x.jsonl"}, False),
    (REPLAY_UP, {"sim_replay": "x.jsonl"}, True),
    (REPLAY_UP, {}, False),                      # a plain launch never silently shows a replay
    (LIVE_UP, {"upstream": "polygon"}, True),
    (LIVE_UP, {}, False),
    (LIVE_UP, {"upstream": "delayed"}, False),
    (DELAYED_UP, {"upstream": "delayed"}, True),
    (RELAY_UP, {"upstream": "relay"}, True),
    (RELAY_UP, {"upstream": "relay", "protocol": "polygon"}, False),
    (RELAY_UP, {"upstream": "ws://localhost:8200/ws/{client_id}"}, True),
    (RELAY_UP, {"upstream": "ws://elsewhere:8200/ws/{client_id}"}, False),
    (OLD_LIVE_UP, {"upstream": "polygon"}, True),   # feeds without "target": kind / url decide
    (OLD_LIVE_UP, {"upstream": "delayed"}, False),
    (OLD_URL_UP, {"upstream": "ws://10.0.0.5:9000/ws/{client_id}"}, True),
    (OLD_URL_UP, {"upstream": "ws://10.0.0.6:9000/ws/{client_id}"}, False),
    ({}, {"upstream": "polygon"}, True),          # a hello that says nothing is not refused on a guess
])
def test_upstream_mismatch_is_one_rule_over_the_hellos_upstream_fields(upstream, flags, ok):
    from shared.config import load_settings
    from shared.feed_probe import FeedInfo, upstream_mismatch

    info = FeedInfo("tcp://127.0.0.1:8201", 4242, 7, "tcp://127.0.0.1:5000", upstream)
    why = upstream_mismatch(info, load_settings(flags=flags, env={"POLYGON_API_KEY": "k"}, use_default_file=False))
    if ok:
        assert why is None
    else:
        assert why and "\n" not in why
        assert why.startswith("the feed at tcp://127.0.0.1:8201 (pid 4242) serves ")
        assert f"{upstream['source']} data" in why
        assert why.endswith("to run both side by side, give this one another address, e.g. --feed tcp://127.0.0.1:8202")


# ---------------------------------------------------------------- live-monitor status text

def test_status_text_says_times_in_et_and_lists_windows_under_their_symbols():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from supervisor.status_text import et_time, format_status

    ny = ZoneInfo("America/New_York")
    now = dt.datetime(2026, 3, 2, 9, 31, 2, tzinfo=ny).timestamp() * 1000
    assert et_time(now, now) == "09:31:02 ET"
    assert et_time(now - 86_400_000 * 3, now) == "2026-02-27 09:31:02 ET"
    ui = {"role": "ui", "state": "running", "cpu_percent": 1.0, "rss_mb": 80.0, "restarts": 0,
          "started_at": (now - 60_000) / 1000}
    st = {"pid": 9, "epoch": 1, "upstream": {"state": "connected", "source": "replay", "since_ms": now - 5000},
          "symbols": {"AAPL": {"seq": 5, "bars": 10, "backfill": "done", "last_ms": now - 3000}},
          "supervisor": {"ts": now, "children": [
              {"name": "supervisor", "role": "supervisor", "pid": 1, "state": "running"},
              {**ui, "name": "ui-AAPL", "pid": 11, "symbol": "AAPL"},
              {**ui, "name": "ui", "pid": 12, "symbol": "AAPL"},
              {**ui, "name": "ui-MSFT", "pid": 13, "symbol": "TSLA"}]}}
    text = format_status(st, now)
    lines = text.splitlines()
    assert "(now 09:31:02 ET)" in lines[0] and "REPLAY" in text and "since 09:30:57 ET" in text
    i = next(n for n, ln in enumerate(lines) if ln.strip().startswith("AAPL"))
    assert "last=09:30:59 ET (3 s ago)" in lines[i]
    assert lines[i + 1].strip().startswith("window ui-AAPL pid=11") and "since 09:30:02 ET" in lines[i + 1]
    assert lines[i + 2].strip().startswith("window ui pid=12")
    j = next(n for n, ln in enumerate(lines) if ln.strip().startswith("TSLA"))
    assert "not subscribed" in lines[j] and lines[j + 1].strip().startswith("window ui-MSFT pid=13")
    assert "children (reported 09:31:02 ET)" in text
