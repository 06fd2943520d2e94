"""The feed against the real simulator: replay fidelity, shared subscriptions, snapshots, trouble upstream.

Every test runs real processes (simulator, feed, and subscriber processes where
a kill matters) over real WebSockets and ZeroMQ on loopback.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time

import orjson
import pytest

from tests.feed_process_util import Subscriber, clean_env, cli, fast_reconnect, run_feed
from tests.sim_process import run_sim
from tests.util import REPO, stop_process, wait_until

KEY_ENV = clean_env(POLYGON_API_KEY="test-key")


@pytest.fixture(scope="module")
def synth_sim():
    """One synthetic simulator (x30) for the tests that inject no faults: each test runs its own feed."""
    with run_sim("--speed", "30") as sim:
        yield sim


def _file_events(path, n: int | None = None) -> list[dict]:
    out = []
    with gzip.open(path, "rb") as fh:
        for line in fh:
            out.append(orjson.loads(line))
            if n and len(out) >= n:
                break
    return out


def _key(d: dict) -> tuple:
    """What must survive the trip, independent of the sim's day shift: kind, prices, sizes."""
    et = d.get("event_type")
    if et == "trade":
        return ("T", d["price"], d["size"], tuple(d["conditions"]))
    if et == "quote":
        return ("Q", d["bid_price"], d["bid_size"], d["ask_price"], d["ask_size"])
    if et == "aggregate":
        return ("AM", d["open"], d["high"], d["low"], d["close"], d["volume"])
    ev = d["ev"]
    if ev == "T":
        return ("T", d["p"], d["s"], tuple(d.get("c") or ()))
    if ev == "Q":
        return ("Q", d["bp"], d["bs"], d["ap"], d["as"])
    return ("AM", d["o"], d["h"], d["l"], d["c"], d["v"])


@pytest.mark.parametrize("name,path,n,transport", [
    ("big", "polygon", 6_000, "picows"),  # TSLA-2025-07-01 when ../shared is beside the repo, else the AAPL sample
    ("AAPL-2025-06-27-open.jsonl.gz", "relay", 4_000, "picows"),
    ("AAPL-2025-06-27-open.jsonl.gz", "relay", 4_000, "websockets"),  # the portable fallback, end to end
    pytest.param("TSLA-2025-07-01.jsonl.gz", "relay", 40_000, "picows", marks=pytest.mark.soak),
    pytest.param("TSLA-2025-07-01.jsonl.gz", "polygon", 40_000, "picows", marks=pytest.mark.soak),
])
def test_tap_receives_the_replay_exactly_in_order_with_nothing_lost(replay_dir, big_replay, name, path, n, transport):
    """A contiguous run of the real file: same kinds, prices, sizes, order; timestamps shifted by one constant."""
    f = big_replay.path if name == "big" else replay_dir / name
    name = f.name
    events = _file_events(f, 120_000)
    speed = "10" if name.startswith("TSLA") else "300"  # TSLA x10 ~ 3k events/s; the quieter AAPL file x300 ~ 1k
    with run_sim("--replay", str(f), "--keep-time", "--speed", speed, timeout=60) as sim:
        url = sim.url_polygon if path == "polygon" else sim.url_relay.replace("{client_id}", "tap")
        sym = name.split("-")[0]
        with run_feed("--upstream", url, "--no-backfill", "--upstream-transport", transport, env=KEY_ENV) as feed:
            r = cli("tap", sym, "--json", "--count", str(n), "--feed", feed.control, "--timeout", "5",
                    timeout=60)
            assert r.returncode == 0, r.stderr[-500:]
            assert "gap" not in r.stderr
            assert ("upstream transport: websockets" in feed.stderr()) == (transport == "websockets")
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(got) == n
    keys = [_key(e) for e in events]
    first = _key(got[0])
    # find where the tap came in (the sim streams from its start; the feed subscribed a moment later)
    starts = [i for i, k in enumerate(keys[: len(keys) - n]) if k == first
              and [_key(g) for g in got[:20]] == keys[i:i + 20]]
    assert starts, "the tap's first events are not in the file"
    i0 = starts[0]
    assert [_key(g) for g in got] == keys[i0:i0 + n]
    def stamp(e: dict) -> int:  # a bar's time is its start "s"; the tap can come in on a bar (was a KeyError)
        return e["t"] if e["ev"] != "AM" else e["s"]

    shift = got[0]["timestamp"] - stamp(events[i0])
    for g, e in zip(got, events[i0:i0 + n]):
        assert g["timestamp"] - stamp(e) == shift


def _spawn_subscriber(feed_control: str, symbol: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "examples" / "subscriber.py"), symbol, "--feed", feed_control,
                             "--timeout", "60"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)


def _sim_topics(sim) -> set[str]:
    st = sim.status()
    return set(st["subscriptions"]["polygon"]) | set(st["subscriptions"]["relay"])


def test_shared_subscription_survives_one_leaving_and_ends_when_the_last_is_killed(synth_sim):
    sim = synth_sim
    with run_feed("--upstream", sim.url_polygon, "--no-backfill", env=KEY_ENV) as feed:
        a = _spawn_subscriber(feed.control, "AAPL")
        b = _spawn_subscriber(feed.control, "AAPL")
        try:
            for p in (a, b):
                wait_until(lambda p=p: p.stdout.readline(), 20, what="subscriber output")
            wait_until(lambda: "T.AAPL" in _sim_topics(sim), 10, what="AAPL subscribed upstream")
            wait_until(lambda: json.loads(cli("status", "--json", "--feed", feed.control).stdout)["subscribers"] == 2,
                       5, what="status counting the two subscribers")
            stop_process(a)  # one leaves cleanly
            time.sleep(1.0)  # longer than the feed's debounce: a wrong unsubscribe would have happened
            assert "T.AAPL" in _sim_topics(sim)
            b.send_signal(signal.SIGKILL)  # the other dies without a word
            b.wait(5)
            t0 = time.monotonic()
            wait_until(lambda: "T.AAPL" not in _sim_topics(sim), 10, what="AAPL unsubscribed upstream")
            assert time.monotonic() - t0 < 5
            st = json.loads(cli("status", "--json", "--feed", feed.control).stdout)
            assert st["symbols"] == {}
        finally:
            stop_process(a)
            stop_process(b)


@pytest.mark.parametrize("path", ["polygon", "relay"])
def test_late_subscriber_gets_backfilled_bars_then_live_events_without_gap_or_duplicate(path, synth_sim):
    sim = synth_sim
    url = sim.url_polygon if path == "polygon" else sim.url_relay.replace("{client_id}", "late")
    with run_feed("--upstream", url, env=KEY_ENV) as feed:
        early = Subscriber(feed.control, "AAPL")
        late = None
        try:
            wait_until(lambda: (early.poll(50), early.snapshot["backfill"]["state"] == "done")[1], 15,
                       what="backfill done")
            assert early.snapshots >= 2  # the resync after backfill made it re-snapshot
            late = Subscriber(feed.control, "AAPL")
            seqs: list[int] = []
            late.on_event = lambda s, a: seqs.append(s)
            late.resnapshot()
            snap = late.snapshot
            assert snap["backfill"]["state"] == "done" and snap["backfill"]["count"] > 10
            bars = snap["bars"]
            starts = [b["timestamp"] for b in bars]
            assert starts == sorted(set(starts)), "bars must be unique and ordered"
            assert all(b["low"] <= min(b["open"], b["close"]) <= max(b["open"], b["close"]) <= b["high"]
                       for b in bars)
            assert snap["day"]["prev_close"] is not None and snap["source"] == "simulated"
            # live: every event after the snapshot, in seq order, none missing or repeated
            wait_until(lambda: (late.poll(50), early.poll(0), len(seqs) > 300)[2], 20, what="live events")
            if late.snapshots == 1:  # (a resync would legitimately restart from a newer snapshot)
                assert seqs[0] == snap["seq"] + 1
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            # and the early subscriber saw the same stream
            assert early.last >= late.last - 1000 and late.gaps == 0
            # a live minute bar arriving after the snapshot continues the history (no duplicate start)
            ams = [a for a in late.events if a[0] == "AM"]
            if ams:
                assert ams[0][1] > starts[-1] or ams[0][1] not in starts[:-1]
        finally:
            early.close()
            if late:
                late.close()


def test_upstream_drops_twenty_times_and_the_feed_reconnects_resubscribes_and_says_so():
    with run_sim("--speed", "60", "--drop-after", "20") as sim:
        with run_feed("--upstream", sim.url_relay.replace("{client_id}", "drops"), "--no-backfill",
                      "--max-reconnect-attempts", "0", "--reconnect-delay", "0.02",
                      "--max-reconnect-delay", "0.1") as feed:
            sub = Subscriber(feed.control, "MSFT")
            states: list[str] = []
            orig = sub.poll

            def poll_states():
                n = orig(50)
                st = sub.upstream.get("state")
                if not states or states[-1] != st:
                    states.append(st)
                return n
            try:
                wait_until(lambda: (poll_states(), sim.status()["accepted"]["relay"] >= 22)[1], 60,
                           what="20 drops and reconnects")
                wait_until(lambda: (poll_states(), states[-1] == "connected")[1], 10, what="connected again")
                # the last connection got the whole union again, and data flows
                wait_until(lambda: "T.MSFT" in _sim_topics(sim) or sim.status()["accepted"]["relay"] > 40, 10,
                           what="re-subscribed")
                before = sub.last
                wait_until(lambda: (poll_states(), sub.last > before)[1], 10, what="data after reconnects")
            finally:
                sub.close()
            # A cycle: reconnecting, the handshake states (connected only once the re-subscription is
            # acknowledged, docs/PROTOCOL.md), then connected. Heartbeats sample the state; status events make
            # most transitions visible.
            cycles, seen, saw_subscribing = 0, None, False
            for st in states:
                if st == "reconnecting":
                    seen = []
                elif seen is not None and st in ("connecting", "authenticating", "subscribing"):
                    seen.append(st)
                elif seen is not None and st == "connected":
                    cycles, saw_subscribing, seen = cycles + 1, saw_subscribing or "subscribing" in seen, None
                else:
                    seen = None
            assert cycles >= 10 and saw_subscribing, states
            assert "subscribe_failed" not in states, states
            st = json.loads(cli("status", "--json", "--feed", feed.control).stdout)
            assert st["upstream"]["connects"] >= 21


def test_stall_watchdog_forces_a_reconnect_when_the_market_is_open():
    with run_sim("--speed", "5") as sim:  # the sim clock starts at 10:00 New York: market open
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--stall-timeout", "1",
                      *fast_reconnect(), env=KEY_ENV) as feed:
            sub = Subscriber(feed.control, "AAPL")
            seen: set[str] = set()
            try:
                wait_until(lambda: (sub.poll(50), sub.last > 5)[1], 15, what="data")
                sim.fault(kind="stall", after=0, times=1)
                wait_until(lambda: (sub.poll(50), seen.add(sub.upstream.get("state")),
                                    "stalled" in seen and sim.status()["accepted"]["polygon"] >= 2)[2], 15,
                           what="stalled, then a new connection")
                before = sub.last
                wait_until(lambda: (sub.poll(50), sub.last > before + 5)[1], 15, what="data after the reconnect")
            finally:
                sub.close()


def test_slow_subscriber_never_slows_others_and_resnapshots_after_a_gap():
    # A paced 50k ev/s stream, not --max: the fast reader must keep up on a loaded 2-core CI box
    # (at --max a scheduler hiccup in the reader itself overflows its own buffers, which proves nothing).
    with run_sim("--rate", "50000", "--start", "04:01") as sim:
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--hwm", "20", env=KEY_ENV) as feed:
            fast = Subscriber(feed.control, "AAPL")
            slow = Subscriber(feed.control, "AAPL", rcvhwm=10)
            try:
                slow.poll(10)
                first = slow.last
                # the fast one reads 200k events (far beyond the slow one's buffers) while the slow one sleeps
                wait_until(lambda: (fast.poll(20), fast.last > first + 200_000)[1], 30, what="fast reader")
                assert fast.gaps == 0
                before = slow.snapshots
                wait_until(lambda: (slow.poll(50), slow.snapshots > before)[1], 10, what="slow re-snapshot")
                assert slow.gaps >= 1 and slow.last > first
                st = json.loads(cli("status", "--json", "--feed", feed.control).stdout)
                assert st["counters"]["events"] >= fast.last
            finally:
                fast.close()
                slow.close()
