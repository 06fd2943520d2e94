"""The feed against a relay with the real one's quirks (tests/standin_relay.py): real feed processes,
a real loopback WebSocket/HTTP server, real ZeroMQ."""

from __future__ import annotations

import json
import subprocess
import threading

from tests.feed_process_util import CLI, Subscriber, clean_env, cli, fast_reconnect, run_feed
from tests.standin_relay import StandinRelay
from tests.util import REPO, free_port, stop_process, wait_until


def _status(feed_control: str) -> dict:
    r = cli("status", "--json", "--feed", feed_control)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def _tap(control: str, *args: str) -> tuple[subprocess.Popen, list[str], list[str]]:
    p = subprocess.Popen([*CLI, "tap", "AAPL", "--json", "--channels", "T", "--feed", control, *args], cwd=REPO,
                         env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    out: list[str] = []
    err: list[str] = []
    threading.Thread(target=lambda: [out.append(x) for x in p.stdout], daemon=True).start()
    threading.Thread(target=lambda: [err.append(x) for x in p.stderr], daemon=True).start()
    return p, out, err


def _trade_ids(lines: list[str]) -> list:
    """Trade ids (the seed dict's ``id``; before it had one: time and price, unique in this relay's tape)."""
    return [d.get("id") or (d["timestamp"], d["price"]) for d in (json.loads(x) for x in list(lines))]


def test_a_tap_sees_each_trade_once_and_the_duplicate_counter_equals_the_copies_sent():
    """Unsubscribe + subscribe again on one connection: the relay now sends every event twice."""
    with StandinRelay() as relay, run_feed("--upstream", relay.url, "--no-backfill", *fast_reconnect()) as feed:
        first = cli("tap", "AAPL", "--count", "20", "--feed", feed.control, timeout=30)
        assert first.returncode == 0, first.stderr
        wait_until(lambda: _status(feed.control).get("symbols") == {}, 10, what="AAPL unsubscribed upstream")
        tap, out, err = _tap(feed.control)
        try:
            wait_until(lambda: len(relay.callbacks.get(relay.client_ids[-1], [])) == 2, 10, what="the second subscribe")
            wait_until(lambda: len(out) >= 200, 30, what="tap output")
            relay.paused = True
            frames = lambda: _status(feed.control).get("counters", {}).get("frames")  # noqa: E731
            seen = [frames()]
            wait_until(lambda: seen.append(frames()) or seen[-1] == seen[-2], 10, interval=0.3,
                       what="the feed quiet")
            ids = _trade_ids(out)
            assert len(ids) == len(set(ids)), "a trade reached the tap twice"
            assert relay.copies_sent > 100
            counters = _status(feed.control)["counters"]
            assert counters.get("duplicate", 0) == relay.copies_sent, counters
        finally:
            stop_process(tap)


def test_a_young_session_backfills_its_few_bars():
    """Fewer than 10 bars: the relay answers 500 unless told ``validate: false``."""
    with StandinRelay(bars=3) as relay, run_feed("--upstream", relay.url, *fast_reconnect()) as feed:
        sub = Subscriber(feed.control, "AAPL")
        try:
            wait_until(lambda: (sub.poll(50), sub.snapshot["backfill"]["state"] == "done")[1], 15,
                       what="backfill done")
            assert len(sub.snapshot["bars"]) == 3 and relay.history_500 == 0
            assert all(r["validate"] is False for r in relay.history_requests)
        finally:
            sub.close()


def test_a_failing_history_endpoint_is_retried_until_the_snapshot_holds_the_bars():
    with StandinRelay(bars=30) as relay:
        relay.history_failures = 2
        with run_feed("--upstream", relay.url, *fast_reconnect()) as feed:
            sub = Subscriber(feed.control, "AAPL")
            try:
                states: set[str] = set()
                wait_until(lambda: (sub.poll(50), states.add(sub.snapshot["backfill"]["state"]),
                                    sub.snapshot["backfill"]["state"] == "done")[2], 20, what="backfill done")
                assert relay.history_500 == 2 and "failed" in states
                assert len(sub.snapshot["bars"]) == 30  # the snapshot a window gets holds the history
                # live trades kept flowing meanwhile and continue after the merge
                before = sub.last
                wait_until(lambda: (sub.poll(50), sub.last > before + 5)[1], 10, what="live events after backfill")
            finally:
                sub.close()


def test_subscribe_failed_while_the_relay_errors_then_connected_when_it_recovers():
    with StandinRelay(ready=False) as relay, run_feed("--upstream", relay.url, "--no-backfill",
                                                      "--max-reconnect-attempts", "0", *fast_reconnect()) as feed:
        sub = Subscriber(feed.control, "AAPL")
        try:
            up = wait_until(lambda: (u := _status(feed.control).get("upstream", {})).get("state")
                            == "subscribe_failed" and u, 15, what="subscribe_failed")
            assert "upstream not ready" in up["message"]
            assert up["target"] == relay.url and up["session"] is None and up["protocol"] == "relay"
            relay.ready = True
            wait_until(lambda: _status(feed.control)["upstream"]["state"] == "connected", 15, what="connected")
            wait_until(lambda: (sub.poll(50), sub.last > 5)[1], 10, what="data after recovery")
        finally:
            sub.close()


def test_two_feed_restarts_under_one_client_id_never_produce_duplicates():
    port = free_port()
    with StandinRelay() as relay:
        args = ("--upstream", relay.url, "--client-id", "desk1", "--no-backfill", *fast_reconnect())
        tap = out = None
        try:
            for n in range(3):
                with run_feed(*args, port=port) as feed:
                    if tap is None:
                        tap, out, err = _tap(feed.control)
                    have = len(out)
                    wait_until(lambda: len(out) >= have + 50, 30, what=f"tap output from feed {n + 1}")
                    feed.proc.kill()  # no clean unsubscribe: the relay keeps this connection's callbacks
                    feed.proc.wait(5)
            ids = _trade_ids(out)
            assert len(ids) == len(set(ids))
            assert len(set(relay.client_ids)) == len(relay.client_ids) >= 3
            assert all(c.startswith("desk1-") for c in relay.client_ids)
            assert relay.copies_sent == 0 and max(relay.sent.values()) == 1
        finally:
            if tap is not None:
                stop_process(tap)
