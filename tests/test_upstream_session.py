"""The sans-I/O upstream session on a fake clock: every case runs in milliseconds, no socket, no sleep."""

from __future__ import annotations

import pytest

from feed_process.upstream_session import TRANSITIONS, State, TransitionError, UpstreamSession
from shared.backoff import Backoff


def session(protocol="polygon", **kw) -> UpstreamSession:
    kw.setdefault("rng", lambda: 1.0)  # no jitter: the nominal delays
    return UpstreamSession(protocol, **kw)


def states(actions) -> list[str]:
    return [a[1].value for a in actions if a[0] == "state"]


def connected(s: UpstreamSession, now: float, symbols=("AAPL",)) -> None:
    """Drive one Polygon connection to ``connected``."""
    assert ("connect",) in (s.start(now) if s.state in (State.STOPPED, State.FAILED) else s.tick(now))
    s.opened(now)
    s.authenticated(now, subscribed=symbols)
    s.acked(s.keys(symbols), now)
    assert s.state is State.CONNECTED


def test_shared_backoff_doubles_to_the_cap_with_jitter_and_resets():
    lo, hi = Backoff(1.0, 30.0, rng=lambda: 0.0), Backoff(1.0, 30.0, rng=lambda: 1.0)
    assert [lo.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert [hi.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    hi.reset()
    assert hi.next() == 1.0
    sym = Backoff(0.5, 30.0, center=1.0, spread=0.2, rng=lambda: 0.0)  # the supervisor's +-20 %
    assert sym.delay(0) == pytest.approx(0.4) and sym.delay(10) == 24.0


def test_connected_only_when_authenticated_and_every_topic_acknowledged():
    s = session()
    assert states(s.start(0.0)) == ["connecting"]
    assert states(s.opened(0.01)) == ["authenticating"]
    assert states(s.authenticated(0.02, subscribed=["AAPL", "MSFT"])) == ["subscribing"]
    assert s.pending.keys() == {"T.AAPL", "Q.AAPL", "AM.AAPL", "T.MSFT", "Q.MSFT", "AM.MSFT"}
    assert s.acked(["T.AAPL", "Q.AAPL", "AM.AAPL"], 0.03) == [] and s.state is State.SUBSCRIBING
    assert states(s.acked(["MSFT"], 0.04)) == ["connected"]  # a bare symbol acknowledges all its topics
    assert s.connects == 1 and s.attempts == 0


def test_relay_needs_no_auth_and_an_error_reply_is_subscribe_failed_then_a_new_connection():
    s = session("relay", reconnect_delay=1.0)
    s.start(0.0)
    assert states(s.opened(0.01, subscribed=["AAPL"])) == ["subscribing"]
    acts = s.sub_error("upstream not ready", 0.02)
    assert acts[0] == ("close", 1000, "subscribe_failed")
    assert s.state is State.SUBSCRIBE_FAILED and "upstream not ready" in s.message and "retry in 1.00s" in s.message
    assert s.tick(0.5) == [] and s.deadline == pytest.approx(1.02)
    acts = s.tick(1.02)
    assert ("connect",) in acts and s.state is State.RECONNECTING
    s.opened(1.03, subscribed=["AAPL"])
    assert states(s.acked(["AAPL"], 1.04)) == ["connected"] and s.attempts == 0


def test_auth_failed_waits_long_without_counting_attempts():
    s = session(auth_retry_delay=300.0)
    s.start(0.0)
    s.opened(0.001)
    acts = s.auth_refused("authentication failed", 0.002)
    assert acts[0][0] == "close" and s.state is State.AUTH_FAILED and "next try in 300s" in s.message
    assert s.closed("connection closed (1008)", 0.003) == []  # the close that follows changes nothing
    assert s.tick(299.0) == [] and s.deadline == pytest.approx(300.002)
    assert ("connect",) in s.tick(300.002) and s.attempts == 0


def test_max_connections_waits_the_busy_delay():
    s = session(busy_retry_delay=60.0)
    s.start(0.0)
    s.opened(0.001)
    s.busy("", 0.002)
    assert s.state is State.MAX_CONNECTIONS and "max_connections" in s.message and s.deadline == pytest.approx(60.002)


def test_timeouts_for_connect_auth_and_subscribe():
    s = session(connect_timeout=2.0, auth_timeout=3.0, subscribe_timeout=4.0)
    s.start(0.0)
    assert s.deadline == 2.0
    acts = s.tick(2.0)
    assert s.state is State.RECONNECTING and "connect timed out" in s.message and ("close", 1000, "reconnecting") \
        not in acts  # nothing was open
    s.tick(s.deadline)  # next attempt
    t = s.since
    s.opened(t)
    assert s.deadline == t + 3.0
    s.tick(t + 3.0)
    assert "no auth reply within 3s" in s.message
    s.tick(s.deadline)
    t = s.since
    s.opened(t)
    s.authenticated(t, subscribed=["AAPL"])
    s.acked(["T.AAPL"], t)  # Q and AM never acknowledged
    s.tick(t + 4.0)
    assert s.state is State.SUBSCRIBE_FAILED and "not acknowledged within 4s" in s.message


def test_attempt_budget_then_failed_and_a_healthy_connection_refills_it():
    s = session(max_attempts=3, reconnect_delay=0.1, max_reconnect_delay=1.0)
    s.start(0.0)
    for _ in range(3):
        s.closed("cannot connect", s.since)
        assert s.state is State.RECONNECTING and "retry in" in s.message
        s.tick(s.deadline)
    s.closed("cannot connect", s.since)
    assert s.state is State.FAILED and "gave up after 3 attempts" in s.message and s.deadline is None
    # authenticated + subscribed resets the budget
    s = session(max_attempts=3)
    s.start(0.0)
    s.closed("x", 0.0)
    s.tick(s.deadline)
    s.closed("x", s.since)
    assert s.attempts == 2
    connected(s, s.deadline)
    assert s.attempts == 0


def test_backoff_resets_only_after_a_healthy_period():
    s = session(reconnect_delay=1.0, max_reconnect_delay=30.0, healthy_after=10.0)
    connected(s, 0.0)
    s.closed("drop", 1.0)              # connected but not healthy for long: backoff keeps growing
    assert "retry in 1.00s" in s.message
    connected(s, s.deadline)
    s.closed("drop", s.since + 1.0)
    assert "retry in 2.00s" in s.message
    connected(s, s.deadline)
    s.closed("drop", s.since + 10.0)   # healthy for 10 s: start again from the first delay
    assert "retry in 1.00s" in s.message


def test_stall_watchdog_judges_the_data_clock_and_rechecks_a_quiet_market():
    open_ = [False]
    s = session(stall_timeout=5.0, market_active=lambda ms: open_[0])
    connected(s, 0.0)
    s.received(1.0, data_ms=1_751_031_000_000)
    assert s.deadline == 6.0
    assert s.tick(6.0) == [] and s.state is State.CONNECTED  # market closed at the data clock: quiet, not stalled
    assert s.deadline == 7.0
    open_[0] = True
    acts = s.tick(7.0)
    assert acts[0] == ("close", 1011, "stalled") and s.state is State.STALLED and "no data for 6s" in s.message
    assert s.data_clock_ms(7.0) == 1_751_031_006_000
    # no symbol wanted: silence is normal
    s = session(stall_timeout=5.0)
    s.start(0.0)
    s.opened(0.0)
    s.authenticated(0.0)
    assert s.state is State.CONNECTED and s.deadline is None


def test_relay_keepalive_ping_and_stop():
    s = session("relay", ping_interval=20.0, ping_message='{"action":"ping"}')
    s.start(0.0)
    s.opened(0.0)
    assert s.state is State.CONNECTED and s.deadline == 20.0
    assert s.tick(20.0) == [("send", '{"action":"ping"}')]
    acts = s.stop(21.0)
    assert acts[0] == ("close", 1000, "client stopping") and s.state is State.STOPPED and s.deadline is None


def test_a_crash_is_restarting_never_connected_then_a_new_attempt():
    s = session()
    connected(s, 0.0)
    assert states(s.crashed("RuntimeError: boom", 0.5, 1.0)) == ["restarting"]
    assert "RuntimeError: boom" in s.message and s.start(1.2) == []  # not before the delay
    assert ("connect",) in s.tick(1.5) and s.state is State.RECONNECTING


def test_the_transition_table_is_enforced():
    assert State.CONNECTED not in TRANSITIONS[State.STOPPED]
    s = session()
    with pytest.raises(TransitionError):
        s._go(State.CONNECTED, "", 0.0)
    assert all(State.RESTARTING in v and State.STOPPED in v for v in TRANSITIONS.values())


def test_reconnect_after_giving_up_starts_afresh_with_a_whole_budget():
    s = session(max_attempts=2, reconnect_delay=1.0, max_reconnect_delay=8.0)
    s.start(0.0)
    for _ in range(2):
        s.closed("cannot connect", s.since)
        s.tick(s.deadline)
    s.closed("cannot connect", s.since)
    assert s.state is State.FAILED and s.deadline is None and s.tick(100.0) == []
    acts = s.reconnect(100.0)
    assert states(acts) == ["connecting"] and acts[-1] == ("connect",) and s.message == "reconnect requested"
    assert s.attempts == 0 and s.deadline == pytest.approx(100.0 + s.connect_timeout)
    # the whole budget again, and the backoff from its first delay
    s.closed("cannot connect", 100.5)
    assert s.state is State.RECONNECTING and "retry in 1.00s" in s.message
    s.tick(s.deadline)
    s.closed("cannot connect", s.since)
    s.tick(s.deadline)
    s.closed("cannot connect", s.since)
    assert s.state is State.FAILED and "gave up after 2 attempts" in s.message


def test_reconnect_while_waiting_tries_now_and_leaves_an_open_or_pending_attempt_alone():
    s = session(reconnect_delay=1.0, max_reconnect_delay=30.0)
    s.start(0.0)
    for _ in range(4):  # the backoff grew to 8 s
        s.closed("cannot connect", s.since)
        s.tick(s.deadline)
    s.closed("cannot connect", s.since)
    assert s.state is State.RECONNECTING and s.deadline - s.since == pytest.approx(16.0)
    acts = s.reconnect(s.since + 0.1)
    assert states(acts) == ["reconnecting"] and ("connect",) in acts and s.attempts == 0
    assert s.reconnect(s.since + 0.2) == []  # an attempt in flight: it decides
    s.closed("cannot connect", s.since + 0.3)
    assert "retry in 1.00s" in s.message  # the backoff starts over
    # a long wait (auth refused) is cut short too; an open connection is left alone
    s = session(auth_retry_delay=300.0)
    s.start(0.0)
    s.opened(0.1)
    s.auth_refused("bad key", 0.2)
    assert s.state is State.AUTH_FAILED and s.deadline == pytest.approx(300.2)
    assert ("connect",) in s.reconnect(5.0) and s.state is State.RECONNECTING
    s.opened(6.0)
    s.authenticated(6.0, subscribed=["AAPL"])
    s.acked(["AAPL"], 6.0)
    assert s.state is State.CONNECTED and s.reconnect(7.0) == [] and s.state is State.CONNECTED
    assert session().reconnect(0.0) == []  # never started: nothing to reconnect


def test_reconnect_during_a_restart_delay_makes_the_restart_due_now():
    s = session()
    connected(s, 0.0)
    s.crashed("RuntimeError: boom", 5.0, 1.0)
    assert s.reconnect(1.5) == [] and s.deadline == pytest.approx(1.5)
    assert ("connect",) in s.start(1.5) and s.state is State.RECONNECTING
