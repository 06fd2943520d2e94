"""Sans-I/O parts of the feed: URLs, rate-limited logging, per-symbol state and bar merging, the client alone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from feed_process.history import _bar, rest_base_url
from feed_process.sockets import endpoint_host, is_loopback
from feed_process.state import FeedSymbol
from feed_process.urls import redact_url
from shared.config import UPSTREAM_TRANSPORTS
from shared.ratelimit import RateLimitedLog
from tests.util import free_port

M = 60_000
T0 = 1751031000000  # 2025-06-27 09:30 New York, a minute boundary


def trade(t, p, s=100, c=None):
    return ["T", t, p, s, 12, c or [], None]


def bar(start, o, h, lo, c, v=1000, vw=None):
    return ["AM", start, o, h, lo, c, v, vw, None]


def test_urls_never_show_credentials_and_rest_base_derives_from_the_ws_url():
    assert redact_url("wss://user:pw@socket.massive.com/stocks?apiKey=SECRET") == "wss://socket.massive.com/stocks"
    assert rest_base_url("ws://127.0.0.1:8200/ws/live_monitor") == "http://127.0.0.1:8200"
    assert rest_base_url("wss://socket.massive.com/stocks") == "https://api.massive.com"
    assert rest_base_url("wss://delayed.massive.com/stocks") == "https://api.massive.com"
    assert rest_base_url("wss://relay.example:9443/ws/x") == "https://relay.example:9443"
    assert rest_base_url("ws://x/ws", "http://hist:1/") == "http://hist:1"
    assert is_loopback("tcp://127.0.0.1:8201") and is_loopback("tcp://localhost:1") and is_loopback("ipc:///tmp/x")
    assert not is_loopback("tcp://0.0.0.0:8201") and endpoint_host("tcp://10.0.0.2:5") == "10.0.0.2"


def test_rate_limited_log_says_how_many_were_held_back(caplog):
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("t"), period=5.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert rl("malformed_json", "a") is True
        assert [rl("malformed_json", "b") for _ in range(3)] == [False] * 3
        assert rl("bad_value", "other kind is not held back") is True
        now[0] = 5.0
        assert rl("malformed_json", "c") is True
        assert rl("x", "explicit time and level", level=logging.ERROR, now=100.0) is True
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0] == "a" and msgs[2] == "c (+3 more since the last report)"
    assert caplog.records[3].levelno == logging.ERROR


def test_forming_bar_uses_only_qualifying_trades_and_the_official_bar_replaces_it():
    st = FeedSymbol("AAPL")
    st.apply_batch([trade(T0 + 1, 100.0), trade(T0 + 2, 101.0, 50),
                    trade(T0 + 3, 150.0, 10, [2]),    # average price: volume only
                    trade(T0 + 4, 99.0, 5, [37]),     # odd lot: volume only
                    trade(T0 + 5, 99.5, 20, [12, 37])])  # mixed: the most restrictive rule
    f = st.snapshot()["forming"]
    assert (f["open"], f["high"], f["low"], f["close"]) == (100.0, 101.0, 100.0, 101.0)
    assert f["volume"] == 185 and abs(f["vwap"] - (100 * 100 + 101 * 50 + 150 * 10 + 99 * 5 + 99.5 * 20) / 185) < 1e-9
    # the next minute's first trade closes the bar provisionally ...
    st.apply_batch([trade(T0 + M + 1, 102.0)])
    assert [b["timestamp"] for b in st.snapshot()["bars"]] == [T0]
    # ... and the official AM for it replaces that bar (no duplicate)
    st.apply_batch([bar(T0, 100.0, 150.0, 99.0, 99.5, 185)])
    bars = st.snapshot()["bars"]
    assert len(bars) == 1 and bars[0]["high"] == 150.0 and st.snapshot()["forming"]["open"] == 102.0
    # a late trade for the finished minute does not reopen it
    st.apply_batch([trade(T0 + 30_000, 500.0)])
    assert st.snapshot()["bars"][0]["high"] == 150.0 and st.last_trade[2] == 500.0
    # an AM for the forming minute ends it
    st.apply_batch([bar(T0 + M, 102.0, 102.0, 102.0, 102.0, 100)])
    snap = st.snapshot()
    assert snap["forming"] is None and [b["timestamp"] for b in snap["bars"]] == [T0, T0 + M]
    assert snap["seq"] == 0 and snap["last_trade"]["price"] == 500.0


def test_history_merge_has_no_duplicates_no_holes_and_live_bars_win():
    st = FeedSymbol("AAPL", max_bars=50)
    st.apply_batch([bar(T0 + 10 * M, 10.0, 11.0, 9.0, 10.5, 7)])           # a live official bar
    st.apply_batch([trade(T0 + 11 * M + 5, 10.6), trade(T0 + 12 * M, 10.7)])  # minute 11 provisional, 12 forming
    history = [[T0 + i * M, 1.0, 2.0, 0.5, 1.5, 100, 1.2, 9] for i in range(0, 13)]
    merged = st.merge_history(history, prev_close=1.25)
    starts = [b["timestamp"] for b in st.snapshot()["bars"]]
    assert starts == [T0 + i * M for i in range(12)]        # 0..11: continuous, unique, the forming minute kept live
    by = {b["timestamp"]: b for b in st.snapshot()["bars"]}
    assert by[T0 + 10 * M]["close"] == 10.5                 # the live AM won over history
    assert by[T0 + 11 * M]["close"] == 1.5                  # the provisional bar lost to history
    assert merged == 11 and st.snapshot()["forming"]["timestamp"] == T0 + 12 * M
    day = st.snapshot()["day"]
    assert day["prev_close"] == 1.25 and day["date"] == "2025-06-27" and day["open"] == 1.0 and day["last"] == 10.7
    assert day["volume"] == 10 * 100 + 7 + 100 + 100  # bars 0-9, live bar 10, bar 11, forming minute 12


def test_bars_are_bounded_and_prev_close_comes_from_the_previous_session():
    st = FeedSymbol("AAPL", max_bars=10)
    prev_close_bar = [1750968000000 - M, 5.0, 5.0, 5.0, 4.75, 10, None, None]  # 2025-06-26 15:59 NY
    today = [[T0 + i * M, 6.0, 6.0, 6.0, 6.0, 1, None, None] for i in range(30)]
    st.merge_history([prev_close_bar, *today])
    snap = st.snapshot()
    assert len(snap["bars"]) == 10 and snap["bars"][-1]["timestamp"] == T0 + 29 * M
    st2 = FeedSymbol("AAPL")
    st2.merge_history([prev_close_bar, *today])
    assert st2.prev_close == 4.75


def test_history_rows_are_validated():
    assert _bar(T0, 1.0, 2.0, 0.5, 1.5, 10, 1.2, 3) == [T0, 1.0, 2.0, 0.5, 1.5, 10, 1.2, 3]
    assert _bar(T0, 1.0, 2.0, 0.5, 3.0, 10, None, None) is None      # close above high
    assert _bar(T0, float("nan"), 2.0, 0.5, 1.5, 10, None, None) is None
    assert _bar("x", 1.0, 2.0, 0.5, 1.5, 10, None, None) is None
    assert _bar(T0, 1.0, 2.0, 0.5, 1.5, -1, None, None) is None


def _run_client(url: str, **kw) -> list[tuple[str, str]]:
    import asyncio

    from feed_process.protocols import RelayCore
    from feed_process.websocket_client import PolygonWebSocketClient

    async def main():
        states: list[tuple[str, str]] = []
        c = PolygonWebSocketClient(url, RelayCore(), on_events=lambda b: None,
                                   on_state=lambda s, m: states.append((s, m)), **kw)
        await asyncio.wait_for(c.connect_to_server(), 10)
        return states

    return asyncio.run(main())


TRANSPORTS = pytest.mark.parametrize("transport", UPSTREAM_TRANSPORTS)  # every link adapter keeps the contract


@TRANSPORTS
def test_client_gives_up_after_max_reconnect_attempts_and_on_a_bad_url(transport):
    from tests.util import free_port

    states = _run_client(f"ws://127.0.0.1:{free_port()}/ws/x", reconnect_delay=0.01, max_reconnect_delay=0.02,
                         max_reconnect_attempts=3, transport=transport)
    assert states[-1][0] == "failed" and "gave up after 3 attempts" in states[-1][1]
    assert sum(1 for s, _ in states if s in ("connecting", "reconnecting") and "retry in" in _) == 3
    states = _run_client("ws//not-a-url", transport=transport)
    assert states[-1] == ("failed", "not a WebSocket URL: ws//not-a-url")


@TRANSPORTS
def test_oversized_frames_are_counted_and_the_client_reconnects(transport):
    """A real local WebSocket server sends one frame over the client's bound; the next connection is healthy."""
    import asyncio

    import websockets

    from feed_process.protocols import PolygonCore
    from feed_process.websocket_client import PolygonWebSocketClient

    async def main():
        accepted = []

        async def handler(ws):
            accepted.append(1)
            await ws.send('[{"ev":"status","status":"connected"}]')
            await ws.recv()  # auth
            await ws.send('[{"ev":"status","status":"auth_success"}]')
            await ws.recv()  # subscribe
            if len(accepted) == 1:
                await ws.send("[" + ",".join(['{"ev":"Q","sym":"AAPL","bp":1,"ap":2,"t":5}'] * 100) + "]")
            else:
                await ws.send('[{"ev":"T","sym":"AAPL","p":10.5,"s":1,"t":1751031000000}]')
            await ws.wait_closed()

        got: list = []
        errors: list = []
        async with websockets.serve(handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            core = PolygonCore("k")
            core.subscribe(["AAPL"])
            c = PolygonWebSocketClient(f"ws://127.0.0.1:{port}/stocks", core, on_events=got.append,
                                       on_errors=errors.extend, reconnect_delay=0.01, max_reconnect_delay=0.02,
                                       max_size=1024, transport=transport)
            c.connect_to_server()
            for _ in range(500):
                if got:
                    break
                await asyncio.sleep(0.01)
            await c.disconnect()
        return accepted, got, errors, core.counters

    accepted, got, errors, counters = asyncio.run(main())
    assert len(accepted) == 2 and counters["oversized_frame"] == 1
    assert errors[0][0] == "oversized_frame"
    assert got[0]["AAPL"][0][:3] == ["T", 1751031000000, 10.5]


def test_the_state_is_connecting_from_the_moment_the_client_is_started():
    """The feed answers pending status requests right after starting the client: they must
    read "connecting" (the truth), not the never-started "stopped"."""
    from feed_process.protocols import RelayCore
    from feed_process.websocket_client import PolygonWebSocketClient

    async def main() -> list[str]:
        seen: list[str] = []
        c = PolygonWebSocketClient(f"ws://127.0.0.1:{free_port()}/ws/x", RelayCore(), on_events=lambda b: None,
                                   on_state=lambda s, m: seen.append(s))
        before = c.state
        c.connect_to_server()
        now = c.state  # no await in between: the task has not run yet
        await c.disconnect()
        return [before, now, *seen]

    before, now, *seen = asyncio.run(main())
    assert before == "stopped" and now == "connecting"
    assert seen[0] == "connecting" and seen[-1] == "stopped"


def test_seed_operations_keep_the_wanted_set_for_the_next_connection():
    from feed_process.protocols import RelayCore
    from feed_process.websocket_client import PolygonWebSocketClient

    core = RelayCore()
    c = PolygonWebSocketClient("ws://127.0.0.1:9/ws/x", core, on_events=lambda b: None)
    c.subscribe(["AAPL", "MSFT"])
    c.unsubscribe(["MSFT"])
    c.change_symbol("TSLA")  # the seed's single-symbol switch
    assert core.wanted == {"TSLA"} and c.state == "stopped" and c.public_url == "ws://127.0.0.1:9/ws/x"
    # what the next connection sends: the whole union at once
    import orjson

    assert [orjson.loads(m) for m in core.on_open()] == [
        {"action": "subscribe", "symbols": ["TSLA"], "channels": ["T", "Q", "AM"]}]


def _serve_link(handler, transport: str, check, max_size: int = 1024):
    """Run ``check(link)`` against a real websockets server running ``handler`` (loopback, free port)."""
    import websockets

    from feed_process.upstream_link import open_link

    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            link = await open_link(f"ws://127.0.0.1:{port}/", max_size=max_size, ping_interval=None, timeout=5,
                                   transport=transport)
            try:
                return await check(link)
            finally:
                link.abort()

    return asyncio.run(asyncio.wait_for(main(), 20))


async def _until_closed(link):
    from feed_process.upstream_link import LinkClosed

    got = []
    try:
        while True:
            got += await link.next(asyncio.get_running_loop().time() + 5)
    except LinkClosed as e:
        return got, e


@TRANSPORTS
def test_upstream_link_joins_fragments_answers_close_and_says_the_code(transport):
    """A fragmented message arrives whole, a normal one after it, the server's CLOSE is answered and
    reported with its code; a second CLOSE is not sent."""
    closed_with = []

    async def handler(ws):
        await ws.send(['[{"ev":"T",', '"sym":"AAPL"}', "]"])  # three frames, one message
        await ws.send('["second"]')
        await ws.recv()  # the client's text message
        await ws.close(1001, "going away")
        closed_with.append(ws.close_code)

    async def check(link):
        got = []
        while len(got) < 2:
            got += await link.next(asyncio.get_running_loop().time() + 5)
        link.send("hello")
        rest, e = await _until_closed(link)
        return got + rest, e

    got, e = _serve_link(handler, transport, check)
    assert got == [b'[{"ev":"T","sym":"AAPL"}]', b'["second"]']
    assert e.code == 1001 and not e.oversized and closed_with == [1001]


@TRANSPORTS
@pytest.mark.parametrize("fragmented", [False, True])
def test_upstream_link_closes_an_oversized_message_with_1009_after_the_messages_before_it(transport, fragmented):
    codes = []

    async def handler(ws):
        await ws.send('["small"]')
        big = "x" * 2000
        await ws.send([big[:600], big[600:1200], big[1200:]] if fragmented else big)
        await ws.wait_closed()
        codes.append(ws.close_code)

    got, e = _serve_link(handler, transport, _until_closed)
    assert got == [b'["small"]'] and e.oversized and codes == [1009]


@TRANSPORTS
def test_upstream_link_hands_over_every_message_in_order_in_batches_of_at_most_batch_bytes(transport):
    from feed_process.upstream_link import BATCH_BYTES

    sent = [f'["{i}",'.encode() + b"y" * 1000 + b'"]' for i in range(300)]  # ~300 KiB: several batches

    async def handler(ws):
        for m in sent:
            await ws.send(m.decode())
        await ws.close(1000)

    async def check(link):
        from feed_process.upstream_link import LinkClosed

        batches = []
        try:
            while True:
                batches.append(await link.next(asyncio.get_running_loop().time() + 5))
        except LinkClosed as e:
            return batches, e

    batches, e = _serve_link(handler, transport, check, max_size=1 << 20)
    assert [m for b in batches for m in b] == sent and e.code == 1000
    assert all(sum(map(len, b[:-1])) < BATCH_BYTES for b in batches)


@TRANSPORTS
def test_upstream_link_refused_upgrade_and_bad_urls_are_told_apart(transport):
    import websockets

    from feed_process.upstream_link import BadURL, Refused, open_link

    async def main():
        async with websockets.serve(lambda ws: ws.close(), "127.0.0.1", 0,
                                    process_request=lambda conn, req: conn.respond(403, "no\n")) as srv:
            port = srv.sockets[0].getsockname()[1]
            with pytest.raises(Refused):
                await open_link(f"ws://127.0.0.1:{port}/", max_size=1024, ping_interval=None, timeout=5,
                                transport=transport)
        for bad in ("ws//not-a-url", "http://127.0.0.1:1/"):
            with pytest.raises(BadURL):
                await open_link(bad, max_size=1024, ping_interval=None, timeout=5, transport=transport)

    asyncio.run(asyncio.wait_for(main(), 20))


@TRANSPORTS
def test_upstream_link_stops_reading_past_its_bound_and_loses_nothing(transport):
    """A sender faster than the feed: frames read but not taken stay under PAUSE_BYTES plus one socket
    read (TCP pushes back on the sender), and once taken every frame arrives, in order."""
    import websockets

    from feed_process import upstream_link
    from feed_process.upstream_link import open_link

    n, frame = 16_000, b"[" + b"0" * 2046 + b"]"  # 32 MiB in 2 KiB frames: eight times the bound

    async def main():
        sent = asyncio.Event()

        async def handler(ws):
            for i in range(n):
                await ws.send(b"%06d" % i + frame)
            sent.set()
            await ws.wait_closed()

        async with websockets.serve(handler, "127.0.0.1", 0, max_queue=None) as srv:
            port = srv.sockets[0].getsockname()[1]
            link = await open_link(f"ws://127.0.0.1:{port}/", max_size=1 << 20, ping_interval=None, timeout=5,
                                   transport=transport)
            loop = asyncio.get_running_loop()
            while not link.paused:  # let the socket fill the link without taking anything
                await asyncio.sleep(0.01)
            high = link.pending_bytes
            for _ in range(20):  # paused, nothing more is read while nobody takes
                await asyncio.sleep(0.01)
                assert link.pending_bytes == high
            got = []
            while len(got) < n:
                got += await link.next(loop.time() + 10)
            assert sent.is_set() and not link.paused
            await link.close(1000, "done")
            return high, got

    high, got = asyncio.run(asyncio.wait_for(main(), 60))
    # past the bound by at most the read that crossed it (picows reads what the kernel holds)
    assert upstream_link.PAUSE_BYTES < high <= upstream_link.PAUSE_BYTES + 8 * 1024 * 1024
    assert [int(g[:6]) for g in got] == list(range(n))


def test_websockets_link_deflates_only_to_remote_hosts():
    from feed_process.link_websockets import _loopback

    assert all(map(_loopback, ["127.0.0.1", "127.1.2.3", "::1", "localhost"]))
    assert not any(map(_loopback, ["socket.massive.com", "10.0.0.2", "0.0.0.0", "", None]))

    async def handler(ws):
        await ws.wait_closed()

    async def check(link):
        return link.ws.protocol.extensions

    assert _serve_link(handler, "websockets", check) == []  # the server offers deflate; loopback asks none


def test_without_picows_the_feed_says_so_once_and_uses_websockets(monkeypatch, caplog):
    import sys

    from feed_process.upstream_link import resolve_transport

    assert resolve_transport("picows") == "picows"
    monkeypatch.setitem(sys.modules, "picows", None)  # what a platform without its wheel looks like
    with caplog.at_level(logging.INFO, logger="feed_process.upstream_link"):
        assert resolve_transport("picows") == "websockets"
        assert resolve_transport("websockets") == "websockets"
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert "picows cannot be imported" in caplog.records[0].getMessage()
    with pytest.raises(ValueError, match="unknown upstream transport"):
        resolve_transport("aiohttp")
