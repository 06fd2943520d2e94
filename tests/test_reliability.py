"""Reliability and fault suite: the whole chain (simulator -> feed -> subscribers/windows) under trouble.

Each case runs twice: a short variant in the default suite (``make test``) and
a long one marked ``soak`` (``make soak``, ten minutes or more in all). The
cases are the issue's list:

* the upstream drops every few seconds: every reconnect re-subscribes, the
  attempt rate respects the backoff, the feed's memory stays flat;
* the feed is SIGKILLed under load: every window recovers every time and its
  bars stay continuous across each re-snapshot;
* malformed frames mixed into a valid replay: the feed lives, its error
  counters equal what was injected, no valid event is lost;
* a window's main thread blocks: the feed and a second window are unaffected,
  the blocked one recovers by gap detection and re-snapshot;
* auth_failed, max_connections and a stalled upstream end in a clear message
  in the window and in ``status``, with a bounded number of attempts.

Everything is real: processes, WebSockets, ZeroMQ and a Qt event loop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from tests.feed_process_util import Subscriber, clean_env, cli, fast_reconnect, run_feed
from tests.sim_process import run_sim
from tests.util import REPO, free_port, stop_process, wait_until
from ui_process.polygon_data_manager import PolygonDataManager

KEY_ENV = clean_env(POLYGON_API_KEY="reliability-key")
# the feed's counters for refused input, by kind: shared.models.events' rules (an event's kinds) and the
# protocol cores' / client's frame-level kinds. Not here: unknown_symbol (an unwanted symbol, counted apart),
# duplicate (a trade seen already) and upstream_error (the upstream's own error reply).
ERROR_KINDS = {"malformed_json", "wrong_type", "missing_field", "missing_symbol", "bad_timestamp", "bad_value",
               "bad_symbol", "unknown_event", "inconsistent_bar", "oversized_frame", "unknown_message",
               "unknown_status"}


def status(feed) -> dict:
    r = cli("status", "--json", "--feed", feed.control)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pump(sub: Subscriber, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sub.poll(50)


# ---------------------------------------------------------------- upstream drops


@pytest.mark.parametrize("seconds,every", [
    pytest.param(8.0, 0.5, id="short"),
    pytest.param(300.0, 1.0, id="soak", marks=pytest.mark.soak),
])
def test_upstream_drops_every_few_seconds(seconds, every):
    delay = 0.1
    with run_sim("--speed", "20", "--drop-every", str(every)) as sim:
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--max-reconnect-attempts", "0",
                      "--reconnect-delay", str(delay), "--max-reconnect-delay", "0.5", env=KEY_ENV) as feed:
            sub = Subscriber(feed.control, "AAPL")
            proc = psutil.Process(feed.pid)
            try:
                wait_until(lambda: (sub.poll(50), sub.last > 0)[1], 15, what="first events")
                t0 = time.monotonic()
                accepted0 = sim.status()["accepted"]["polygon"]
                pump(sub, min(5.0, seconds / 4))  # warm-up
                rss0 = proc.memory_info().rss
                pump(sub, seconds - (time.monotonic() - t0))
                elapsed = time.monotonic() - t0
                rss1 = proc.memory_info().rss
                reconnects = sim.status()["accepted"]["polygon"] - accepted0
                # after the last drop: back, subscribed again, data flowing
                before = sub.last
                wait_until(lambda: (sub.poll(50), sub.last > before)[1], 15, what="data after the last reconnect")
                assert sub.gaps == 0 or sub.snapshots >= 1  # the subscriber stayed consistent
            finally:
                sub.close()
            st = status(feed)
    # each connection lives `every` s, then waits out the backoff (0.1 s doubling to 0.5 s)
    assert reconnects >= elapsed / (every + 0.5) * 0.5, (reconnects, elapsed)
    # the attempt rate is bounded by the backoff: never more than one per `delay`
    assert reconnects <= elapsed / delay + 2, (reconnects, elapsed)
    assert st["upstream"]["connects"] >= reconnects
    assert st["upstream"]["state"] in ("connected", "reconnecting", "connecting")
    if seconds >= 60:  # memory flat over hundreds of reconnects (RSS noise is a few MB)
        assert rss1 - rss0 < 20 * 2**20, (rss0, rss1)


# ---------------------------------------------------------------- malformed frames


def test_malformed_frames_from_the_simulator_are_counted_and_no_valid_event_is_lost(replay_dir):
    from feed_process.sim.replay import load_replay

    path = replay_dir / "AAPL-2025-06-27-open.jsonl.gz"
    n_file = len(load_replay(path, keep_time=True))
    with run_sim("--replay", str(path), "--max", "--keep-time", "--malformed-every", "1") as sim:
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--hwm", "10000000", env=KEY_ENV) as feed:
            sub = Subscriber(feed.control, "AAPL", rcvhwm=0)
            try:
                wait_until(lambda: (sub.poll(50), sub.last >= n_file)[1], 60, what=f"{n_file} events")
                pump(sub, 0.5)  # the file is over: exactly its events arrived, none lost, none extra
                assert sub.last == n_file and sub.gaps == 0 and sub.snapshots == 1
            finally:
                sub.close()
            injected = sim.status()["malformed_sent"]
            st = status(feed)
    assert injected >= 20, injected
    # the sim's garbage frames hold exactly one bad thing each: truncated JSON, not JSON, one bad field
    assert sum(v for k, v in st["counters"].items() if k in ERROR_KINDS) == injected, (st["counters"], injected)


# A fuzzing upstream: valid replay frames with generated garbage frames between them. Each garbage frame
# holds exactly one fault, so the feed's counters must equal what was sent, kind by kind.
_FUZZ_SERVER = textwrap.dedent("""
    import asyncio, json, random, sys, orjson, gzip, websockets
    path, garbage_total, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lines = [l for l in gzip.open(path).read().splitlines() if l.strip()]
    rnd = random.Random(seed)
    def shift(ev, ms):
        for k in ("t", "s", "e") if ev["ev"] in ("A", "AM") else ("t",):
            if k in ev:
                ev[k] += ms
        return ev
    def garbage():
        k = rnd.randrange(6)
        if k == 0:
            # random bytes behind a NUL: never JSON (bare random bytes can be a valid number, like b"7")
            return "malformed_json", b"\\x00" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        if k == 1:
            frame = b"[" + b",".join(rnd.sample(lines, 3)) + b"]"
            return "malformed_json", frame[: rnd.randrange(1, len(frame) - 1)]
        ev = orjson.loads(rnd.choice(lines))
        if k == 2:
            ev["ev"] = rnd.choice(["X", "TT", "", "quote!"]); kind = "unknown_event"
        elif k == 3:
            f = rnd.choice([f for f in ("p", "s", "t", "bp", "ap", "o", "h") if f in ev])
            ev[f] = rnd.choice(["x", [1], {"a": 1}, True]); kind = "bad_field"
        elif k == 4:
            ev["sym"] = rnd.choice(["", None]); kind = "no_symbol"
        else:
            return "not_an_event", orjson.dumps({"not": "an event"})
        return kind, orjson.dumps([ev])
    async def handler(ws):
        await ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        await ws.recv()
        await ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
        await ws.recv()
        await ws.send('[{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}]')
        sent, valid, i = {}, 0, 0
        while sum(sent.values()) < garbage_total:
            start = i % len(lines)
            chunk = lines[start: start + 20]
            day = i // len(lines)  # each pass over the file is the next day: times keep rising
            if day:
                chunk = [orjson.dumps(shift(orjson.loads(c), day * 86_400_000)) for c in chunk]
            i += len(chunk)
            await ws.send(b"[" + b",".join(chunk) + b"]")
            valid += len(chunk)
            kind, g = garbage()
            sent[kind] = sent.get(kind, 0) + 1
            await ws.send(g)
            if i % 2000 < 20:
                await asyncio.sleep(0)
        print("DONE", json.dumps({"valid": valid, "garbage": sent}), flush=True)
        await asyncio.sleep(3600)
    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=2**24) as srv:
            print("LISTENING", srv.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()
    asyncio.run(main())
""")


@pytest.mark.parametrize("garbage", [
    pytest.param(2_000, id="short"),
    pytest.param(100_000, id="soak", marks=pytest.mark.soak),
])
def test_fuzzed_frames_mixed_into_a_valid_stream_are_counted_exactly(replay_dir, garbage):
    path = replay_dir / "AAPL-2025-06-27-open.jsonl.gz"
    srv = subprocess.Popen([sys.executable, "-c", _FUZZ_SERVER, str(path), str(garbage), "7"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(srv.stdout.readline().split()[1])
        with run_feed("--upstream", f"ws://127.0.0.1:{port}/stocks", "--no-backfill", "--hwm", "10000000",
                      env=KEY_ENV) as feed:
            sub = Subscriber(feed.control, "AAPL", rcvhwm=0)
            try:
                done = json.loads(wait_until(lambda: (sub.poll(20), srv.stdout.readline())[1], 60 + garbage / 500,
                                             what="the fuzzer to finish").split(" ", 1)[1])
                wait_until(lambda: (sub.poll(50), sub.last >= done["valid"])[1], 60, what="every valid event")
                pump(sub, 0.3)
                assert sub.last == done["valid"] and sub.gaps == 0
            finally:
                sub.close()
            st = status(feed)
            assert feed.proc.poll() is None
    finally:
        stop_process(srv)
    counters, sent = st["counters"], done["garbage"]
    # every other garbage frame is one refused event, and the feed names its kind (shared.models.events):
    # a text / list / object / bool where a number belongs is wrong_type (bad_timestamp in a time field);
    # no ev code, or an object without one, is unknown_event; "" or null as the symbol is missing_symbol.
    # Only AAPL is in the stream and subscribed, so nothing else is refused.
    got = {k: counters.get(k, 0) for k in ERROR_KINDS | {"unknown_symbol"} if counters.get(k, 0)}
    want = {"malformed_json": sent.get("malformed_json", 0),
            "unknown_event": sent.get("unknown_event", 0) + sent.get("not_an_event", 0),
            "missing_symbol": sent.get("no_symbol", 0)}
    assert {k: got.get(k, 0) for k in want} == want, (counters, done)
    assert got.get("wrong_type", 0) + got.get("bad_timestamp", 0) == sent.get("bad_field", 0), (counters, done)
    assert set(got) <= set(want) | {"wrong_type", "bad_timestamp"}, (counters, done)
    assert sum(got.values()) == garbage, (counters, done)


# ---------------------------------------------------------------- feed SIGKILLed under load


def _bars_continuous(before: list[dict], after: list[dict]) -> None:
    ts = [b["timestamp"] for b in after]
    assert ts == sorted(set(ts)), "bars after the re-snapshot are ordered without duplicates"
    if before and after:
        # every finished bar the window had is still there (or scrolled out of max_bars): no hole
        keep = [b["timestamp"] for b in before if b["timestamp"] >= ts[0]]
        missing = set(keep[:-1]) - set(ts)  # the last one may have been the forming bar
        assert not missing, f"bars lost across the restart: {sorted(missing)[:5]}"


@pytest.mark.parametrize("kills", [
    pytest.param(3, id="short"),
    pytest.param(20, id="soak", marks=pytest.mark.soak),
])
def test_feed_sigkilled_under_load_windows_recover_with_continuous_bars(qtbot, kills):
    port = free_port()
    with run_sim("--speed", "30") as sim:
        managers = []
        try:
            feed_cm = run_feed("--upstream", sim.url_polygon, env=KEY_ENV, port=port)
            feed = feed_cm.__enter__()
            for sym in ("AAPL", "MSFT"):
                m = PolygonDataManager(feed.control, symbol=sym)
                m.connect()
                managers.append(m)
            qtbot.waitUntil(lambda: all(m.feed_info()["connected"] and m.get_accumulated_bars() for m in managers),
                            timeout=30_000)
            for i in range(kills):
                before = [m.get_accumulated_bars() for m in managers]
                old_epoch = managers[0].feed_info()["epoch"]
                feed.proc.kill()
                feed.proc.wait(5)
                qtbot.waitUntil(lambda: not any(m.feed_info()["connected"] for m in managers), timeout=15_000)
                feed_cm.__exit__(None, None, None)
                feed_cm = run_feed("--upstream", sim.url_polygon, env=KEY_ENV, port=port)
                feed = feed_cm.__enter__()
                qtbot.waitUntil(lambda: all(m.feed_info()["connected"] and m.feed_info()["epoch"] != old_epoch
                                            and m.feed_info()["synced"] and m.get_accumulated_bars()
                                            for m in managers), timeout=30_000)
                for m, b in zip(managers, before):
                    _bars_continuous(b, m.get_accumulated_bars())
        finally:
            for m in managers:
                m.disconnect()
            feed_cm.__exit__(None, None, None)


# ---------------------------------------------------------------- a window's main thread blocks

_BLOCKED_UI = textwrap.dedent("""
    import json, sys, time
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    import ui_process.polygon_data_manager as pdm
    from ui_process.polygon_data_manager import PolygonDataManager
    import zmq
    from ui_process.feed_transport import FeedTransport
    feed = sys.argv[1]
    pdm.RCVHWM = 20  # small queues, so a few seconds of blocking overflow them (the default holds 100 batches)
    class SmallKernelBuffer(FeedTransport):
        # A fixed SO_RCVBUF: left to itself Linux grows a loopback socket's to tcp_rmem's max (32 MiB
        # here), which can hold the whole block, and then no gap happens at all.
        def open(self):
            super().open()
            self._sub.setsockopt(zmq.RCVBUF, 128 * 1024)
    app = QApplication([])
    m = PolygonDataManager(feed, symbol="AAPL")
    m._transport_class = SmallKernelBuffer
    m.connect()
    state = {"blocked": False}
    def tick():
        info = m.feed_info()
        print(json.dumps({k: info[k] for k in ("connected", "synced", "events", "gaps", "resnapshots")}), flush=True)
        if info["synced"] and info["events"] > 1000 and not state["blocked"]:
            state["blocked"] = True
            print("BLOCKING", flush=True)
            sys.stdin.readline()  # the GUI thread is stuck (nothing read from the sockets) until the test says
            print("UNBLOCKED", flush=True)
    t = QTimer(); t.timeout.connect(tick); t.start(200)
    app.exec()
""")


@pytest.mark.parametrize("block", [
    pytest.param(3.0, id="short"),
    pytest.param(10.0, id="soak", marks=pytest.mark.soak),
])
def test_blocked_window_recovers_and_others_are_unaffected(replay_dir, block):
    import queue
    import threading

    path = replay_dir / "AAPL-2025-06-27-open.jsonl.gz"
    # ~50k events/s in ~100 batches/s: a window that stops reading for a few seconds overflows the
    # feed's per-subscriber queue (--hwm), its own (RCVHWM, made small in the child) and the TCP buffers.
    with run_sim("--replay", str(path), "--speed", "2000", "--loop", "--keep-time") as sim:
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--hwm", "50", env=KEY_ENV) as feed:
            other = Subscriber(feed.control, "AAPL", rcvhwm=0)
            stop = threading.Event()

            got_bytes, biggest = [0], [0]  # the other subscriber's bytes received, its largest message
            recv_multipart = other.sub.recv_multipart

            def counting(*a, **k):
                parts = recv_multipart(*a, **k)
                got_bytes[0] += len(parts[-1])
                biggest[0] = max(biggest[0], len(parts[-1]))
                return parts

            other.sub.recv_multipart = counting

            def keep_reading():
                while not stop.is_set():
                    other.poll(20)

            ui = subprocess.Popen([sys.executable, "-c", _BLOCKED_UI, feed.control], cwd=REPO,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, env={**KEY_ENV, "QT_QPA_PLATFORM": "offscreen"})
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=lambda: [lines.put(x.strip()) for x in iter(ui.stdout.readline, "")],
                             daemon=True).start()
            reader = threading.Thread(target=keep_reading, daemon=True)
            try:
                other.poll(100)
                reader.start()

                seen: list[str] = []

                def read_until(pred, timeout):
                    end = time.monotonic() + timeout
                    while time.monotonic() < end:
                        try:
                            line = lines.get(timeout=0.5)
                        except queue.Empty:
                            assert ui.poll() is None, "the UI process ended"
                            continue
                        seen.append(line)
                        if pred(line):
                            return line
                    raise AssertionError(f"timed out waiting for the UI process; last: {seen[-2:]}")

                read_until(lambda s: s == "BLOCKING", 60)
                got_before, gaps_before, bytes_before = other.last, other.gaps, got_bytes[0]
                # Blocked for `block` s and until the bytes streamed since then exceed every buffer between
                # the feed and the window (the feed's 50 messages and the window's 20, the window's
                # 128 KiB and the feed's kernel send buffer at tcp_wmem's max), so a gap is certain.
                wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2]) if sys.platform == "linux" \
                    else 8 << 20
                t_block = time.monotonic()
                wait_until(lambda: time.monotonic() - t_block >= block and got_bytes[0] - bytes_before
                           > wmem + (128 << 10) + 70 * biggest[0], 90, what="the stream overflowing the buffers")
                ui.stdin.write("go\n")
                ui.stdin.flush()
                read_until(lambda s: s == "UNBLOCKED", 30)
                # while it was blocked, the other subscriber kept receiving, without gaps
                assert other.last > got_before and other.gaps == gaps_before
                # the blocked window notices the gap, re-snapshots and is in sync again
                try:
                    last = read_until(lambda s: s.startswith("{") and json.loads(s)["gaps"] >= 1
                                      and json.loads(s)["synced"] and json.loads(s)["connected"], 30)
                except AssertionError as e:
                    raise AssertionError(f"{e}; feed counters {status(feed)['counters']}") from None
                info = json.loads(last)
                assert info["resnapshots"] >= 1
                assert ui.poll() is None
            finally:
                stop.set()
                # A ZeroMQ socket belongs to one thread: close it only once the reader is done with it
                # (under load a poll that drains a backlog outlasts a short join).
                if reader.is_alive():
                    reader.join(60)
                if not reader.is_alive():
                    other.close()
                stop_process(ui)
            assert feed.proc.poll() is None


# ---------------------------------------------------------------- auth_failed, max_connections, stall


def _window(qtbot, feed) -> tuple[PolygonDataManager, list[str]]:
    m = PolygonDataManager(feed.control, symbol="AAPL")
    errors: list[str] = []
    m.error_occurred.connect(errors.append)
    m.connect()
    return m, errors


@pytest.mark.parametrize("watch", [
    pytest.param(4.0, id="short"),
    pytest.param(65.0, id="soak", marks=pytest.mark.soak),
])
def test_auth_failed_is_shown_without_a_retry_storm(qtbot, watch):
    with run_sim("--key", "the-right-key") as sim:
        with run_feed("--upstream", sim.url_polygon, *fast_reconnect(),
                      env=clean_env(POLYGON_API_KEY="a-wrong-key")) as feed:
            m, errors = _window(qtbot, feed)
            try:
                qtbot.waitUntil(lambda: m.feed_info()["upstream_state"] == "auth_failed", timeout=15_000)
                qtbot.waitUntil(lambda: any("auth" in e.lower() for e in errors), timeout=5_000)
                n0 = sim.status()["accepted"]["polygon"]
                qtbot.wait(int(watch * 1000))  # observing the attempt rate over a real interval
                n1 = sim.status()["accepted"]["polygon"]
                st = status(feed)
            finally:
                m.disconnect()
    assert st["upstream"]["state"] == "auth_failed" and st["upstream"]["message"]
    assert "a-wrong-key" not in json.dumps(st) and not any("a-wrong-key" in e for e in errors)
    assert n1 - n0 <= 1 + watch / 60, (n0, n1)  # at most one attempt a minute, whatever the reconnect delay


@pytest.mark.parametrize("watch", [
    pytest.param(4.0, id="short"),
    pytest.param(65.0, id="soak", marks=pytest.mark.soak),
])
def test_max_connections_is_shown_with_a_long_backoff(qtbot, watch):
    with run_sim("--max-connections", "0") as sim:
        with run_feed("--upstream", sim.url_polygon, *fast_reconnect(), env=KEY_ENV) as feed:
            m, errors = _window(qtbot, feed)
            try:
                qtbot.waitUntil(lambda: m.feed_info()["upstream_state"] == "max_connections", timeout=15_000)
                qtbot.waitUntil(lambda: any("connection" in e.lower() for e in errors), timeout=5_000)
                n0 = sim.status()["accepted"]["polygon"]
                qtbot.wait(int(watch * 1000))
                n1 = sim.status()["accepted"]["polygon"]
                st = status(feed)
            finally:
                m.disconnect()
    assert st["upstream"]["state"] == "max_connections" and st["upstream"]["message"]
    assert n1 - n0 <= 1 + watch / 30, (n0, n1)


def test_stalled_upstream_is_shown_and_recovers(qtbot):
    with run_sim("--speed", "10") as sim:  # the sim clock starts at 10:00 New York: the market is open
        with run_feed("--upstream", sim.url_polygon, "--no-backfill", "--stall-timeout", "1.5", *fast_reconnect(),
                      env=KEY_ENV) as feed:
            m, errors = _window(qtbot, feed)
            try:
                # data first: the watchdog judges "market open" at the data's own clock
                qtbot.waitUntil(lambda: m.feed_info()["connected"] and m.feed_info()["events"] > 0, timeout=30_000)
                n0 = sim.status()["accepted"]["polygon"]
                sim.fault(kind="stall", after=0, times=1)
                # "stalled" is a passing state (the feed reconnects at once): the window is told in words
                try:
                    qtbot.waitUntil(lambda: any("stall" in e.lower() or "silent" in e.lower() for e in errors),
                                    timeout=30_000)
                except Exception:
                    raise AssertionError(f"no stall message; window errors {errors[-5:]}; "
                                         f"feed log {feed.stderr_lines[-6:]}; sim {sim.status()}") from None
                qtbot.waitUntil(lambda: m.feed_info()["connected"] and sim.status()["accepted"]["polygon"] > n0,
                                timeout=20_000)
                st = status(feed)
                n1 = sim.status()["accepted"]["polygon"]
            finally:
                m.disconnect()
    assert st["counters"].get("stalls", 0) >= 1 or st["upstream"]["connects"] >= 2
    assert 1 <= n1 - n0 <= 3, (n0, n1)  # one forced reconnect, not a storm
