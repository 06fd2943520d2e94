"""The simulator server over real sockets: both protocols, history, status, faults.

Each test runs a real ``SimServer`` on a free loopback port inside
``asyncio.run`` and talks to it with real clients (websockets, aiohttp).
``--speed 60`` makes a sim minute pass in a real second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from feed_process.sim.clock import virtual_start_ms
from feed_process.sim.server import SimConfig, SimServer
from shared.market_hours import NY

SPEED = 60.0
# Every test names its clock and injects the wall time (a Sunday, 03:00 New York): the virtual
# session is then Friday 2025-06-27's, whatever the hour this runs at.
WALL = dt.datetime(2025, 6, 29, 3, 0, tzinfo=NY).timestamp()
VIRTUAL = {"clock": "virtual", "wall_time": lambda: WALL}
# Most tests start the sim clock at 09:00 ET: a short tape to catch up (the default 10:00 is tested below).
FAST = {"speed": SPEED, "start": "09:00", **VIRTUAL}


def run(coro, timeout: float = 40.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def recv_json(ws, timeout: float = 10.0):
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout: float = 10.0, what: str = "message"):
    """Messages until ``pred(msg)`` is true; returns (that message, the ones before it)."""
    deadline = time.monotonic() + timeout
    before = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what}")
        raw = await asyncio.wait_for(ws.recv(), left)
        try:
            m = orjson.loads(raw)
        except orjson.JSONDecodeError:
            before.append(raw)
            continue
        if pred(m):
            return m, before
        before.append(m)


async def polygon_client(srv: SimServer, topics: str | None = None, key: str = "k"):
    ws = await websockets.connect(f"{srv.url}/stocks", max_size=2**24)
    hello = await recv_json(ws)
    assert hello[0]["status"] == "connected"
    await ws.send(orjson.dumps({"action": "auth", "params": key}).decode())
    auth = await recv_json(ws)
    if topics:
        assert auth[0]["status"] == "auth_success"
        await ws.send(orjson.dumps({"action": "subscribe", "params": topics}).decode())
        await recv_json(ws)
    return ws, auth


def is_events(m) -> bool:
    return isinstance(m, list) and bool(m) and m[0].get("ev") != "status"


def test_relay_connected_subscribed_market_data_and_errors_keep_serving():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv:
            async with websockets.connect(f"{srv.url}/ws/client-7") as ws:
                assert await recv_json(ws) == {"type": "connected", "client_id": "client-7", "source": "simulated",
                                               "session": "virtual"}
                await ws.send('{"action":"subscribe","symbols":["AAPL"],"channels":["T","Q","AM"]}')
                assert await recv_json(ws) == {"type": "subscribed", "symbols": ["AAPL"], "channels": ["T", "Q", "AM"]}
                md, _ = await recv_until(ws, lambda m: m.get("type") == "market_data", what="market_data")
                assert md["data"]["sym"] == "AAPL" and md["data"]["ev"] in ("T", "Q", "AM")
                await ws.send("{not json")
                err, _ = await recv_until(ws, lambda m: m.get("type") == "error", what="error")
                assert "JSON" in err["message"]
                await ws.send('{"action":"teleport"}')
                err, _ = await recv_until(ws, lambda m: m.get("type") == "error", what="error")
                assert "teleport" in err["message"]
                await ws.send('{"action":"ping"}')
                await recv_until(ws, lambda m: m.get("type") == "pong", what="pong")
                # still streaming, one event per market_data message, and AM bars arrive
                am, before = await recv_until(ws, lambda m: m.get("type") == "market_data" and m["data"]["ev"] == "AM",
                                              what="AM bar")
                assert all(m["type"] == "market_data" and isinstance(m["data"], dict) for m in before)
                st = srv.status()
                assert st["connections"]["relay"] == 1 and st["subscriptions"]["relay"]["AM.AAPL"] == 1
    run(main())


def test_polygon_auth_wildcards_and_batched_frames():
    async def main():
        cfg = SimConfig(port=0, **FAST, key="sekret", symbols_hint=["MSFT", "NVDA"])
        async with SimServer(cfg) as srv:
            ws, auth = await polygon_client(srv, key="wrong")
            assert auth == [{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            ws, auth = await polygon_client(srv, key="sekret")
            assert auth[0]["status"] == "auth_success"
            await ws.send('{"action":"subscribe","params":"T.*,Q.AAPL"}')
            assert [m["message"] for m in await recv_json(ws)] == ["subscribed to: T.*", "subscribed to: Q.AAPL"]
            seen: set[tuple[str, str]] = set()
            deadline = time.monotonic() + 10
            while not {("T", "MSFT"), ("T", "NVDA"), ("T", "AAPL"), ("Q", "AAPL")} <= seen:
                assert time.monotonic() < deadline, f"only saw {seen}"
                frame = await recv_json(ws)
                assert isinstance(frame, list)
                seen |= {(e["ev"], e["sym"]) for e in frame}
            assert ("Q", "MSFT") not in seen
            await ws.close()
            st = srv.status()
            assert st["accepted"]["polygon"] == 2
    run(main())


def test_history_endpoints_and_bad_requests():
    async def main():
        async with SimServer(SimConfig(port=0, speed=SPEED, **VIRTUAL)) as srv, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{srv.port}"
            start = virtual_start_ms(int(WALL * 1000))
            assert dt.datetime.fromtimestamp(start / 1000, NY) == dt.datetime(2025, 6, 27, 10, 0, tzinfo=NY)
            async with http.post(f"{base}/api/v1/bars", json={"symbol": "AAPL", "timeframe": "1min",
                                                              "start_date": "2000-01-01", "end_date": "2100-01-01",
                                                              "limit": 2000}) as r:
                assert r.status == 200
                relay = (await r.json())["data"]
            # 04:00 to the sim clock's 10:00: 360 minutes of pre-market and regular session
            assert len(relay) >= 355 and relay[-1]["timestamp"] + 60_000 <= srv.clock.now_ms()
            assert relay[-1]["timestamp"] >= start - 120_000
            for b in relay:
                assert b["low"] <= min(b["open"], b["close"]) <= max(b["open"], b["close"]) <= b["high"]
                assert b["volume"] > 0 and b["transactions"] > 0
            async with http.get(f"{base}/v2/aggs/ticker/AAPL/range/1/minute/0/{2**41}?limit=5&sort=asc") as r:
                poly = await r.json()
            assert poly["status"] == "OK" and poly["resultsCount"] == 5
            assert [x["t"] for x in poly["results"]] == [b["timestamp"] for b in relay[:5]]  # asc: the earliest
            async with http.get(f"{base}/v2/aggs/ticker/AAPL/range/1/minute/0/{2**41}?limit=3&sort=desc") as r:
                newest = (await r.json())["results"]
            # desc: the newest first (the 60x clock may have closed more bars since the relay request)
            ts = [x["t"] for x in newest]
            assert ts == sorted(ts, reverse=True) and ts[0] >= relay[-1]["timestamp"] and len(ts) == 3
            by_t = {b["timestamp"]: b for b in relay}
            for x in poly["results"]:
                if x["t"] in by_t:
                    assert (x["o"], x["c"], x["v"]) == (by_t[x["t"]]["open"], by_t[x["t"]]["close"],
                                                        by_t[x["t"]]["volume"])
            async with http.get(f"{base}/v2/aggs/ticker/AAPL/prev") as r:
                prev = await r.json()
            assert prev["resultsCount"] == 1 and prev["results"][0]["T"] == "AAPL" and prev["results"][0]["c"] > 0
            async with http.post(f"{base}/api/v1/bars", json={"symbol": "AAPL", "timeframe": "1day",
                                                              "start_date": "2000-01-01"}) as r:
                days = (await r.json())["data"]
            assert days[-2]["close"] == prev["results"][0]["c"]  # today's partial day comes last
            bad = [
                http.post(f"{base}/api/v1/bars", data=b"{nope", headers={"Content-Type": "application/json"}),
                http.post(f"{base}/api/v1/bars", json={"symbol": "AAPL", "timeframe": "3min", "start_date": "2025-01-01"}),
                http.post(f"{base}/api/v1/bars", json={"symbol": "!!", "start_date": "2025-01-01"}),
                http.get(f"{base}/v2/aggs/ticker/AAPL/range/1/minute/yesterday/today"),
                http.get(f"{base}/v2/aggs/ticker/AAPL/range/5/hour/2025-01-01/2025-01-02"),
                http.get(f"{base}/v2/aggs/ticker/AAPL/range/1/minute/2025-01-01/2025-01-02?limit=-3"),
                http.post(f"{base}/sim/fault", json={"kind": "explode"}),
            ]
            for req in bad:
                async with req as r:
                    assert r.status == 400, await r.text()
                    assert (await r.json())["error"]
            async with http.get(f"{base}/sim/status") as r:
                assert r.status == 200 and (await r.json())["source"] == "simulated"
    run(main())


def test_polygon_history_requires_the_key_when_one_is_set():
    async def main():
        async with SimServer(SimConfig(port=0, key="k1", **VIRTUAL)) as srv, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{srv.port}/v2/aggs/ticker/AAPL/prev"
            async with http.get(base + "?apiKey=nope") as r:
                assert r.status == 401
            async with http.get(base + "?apiKey=k1") as r:
                assert r.status == 200
    run(main())


def test_fault_drop_after_n_events_then_reconnect_is_spared():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv, aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{srv.port}/sim/fault",
                                 json={"kind": "drop", "after": 30, "times": 1}) as r:
                assert (await r.json())["faults"] == [{"kind": "drop", "after": 30, "times": 1}]
            ws, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
            got = 0
            with pytest.raises(ConnectionClosed) as ei:
                while True:
                    frame = await recv_json(ws)
                    got += len(frame) if is_events(frame) else 0
            assert got >= 30
            assert ei.value.rcvd is None  # no close frame: a network drop, not a clean close
            ws2, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
            n = 0
            while n < 60:
                frame = await recv_json(ws2)
                n += len(frame) if is_events(frame) else 0
            await ws2.close()
    run(main())


def test_fault_close_1011_and_max_connections():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv, aiohttp.ClientSession() as http:
            fault = f"http://127.0.0.1:{srv.port}/sim/fault"
            ws, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
            async with http.post(fault, json={"kind": "close_1011", "after": 5}):
                pass
            with pytest.raises(ConnectionClosed) as ei:
                while True:
                    await recv_json(ws)
            assert ei.value.rcvd.code == 1011 and srv.status()["closed_1011"] == 1
            async with http.post(fault, json={"kind": "clear"}):
                pass
            async with http.post(fault, json={"kind": "max_connections", "limit": 1}):
                pass
            first, _ = await polygon_client(srv, "T.AAPL")
            second, auth = await polygon_client(srv)  # connected, then max_connections in answer to auth
            assert auth[0]["status"] == "max_connections"
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(second.recv(), 5)
            relay_ok = await websockets.connect(f"{srv.url}/ws/r1")  # the limit is per protocol
            assert (await recv_json(relay_ok))["type"] == "connected"
            await relay_ok.close()
            await first.close()
    run(main())


def test_fault_stall_then_clear_and_malformed_frames():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv, aiohttp.ClientSession() as http:
            fault = f"http://127.0.0.1:{srv.port}/sim/fault"
            ws, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
            await recv_until(ws, is_events, what="data")
            async with http.post(fault, json={"kind": "stall"}):
                pass
            # drain what was in flight, then silence: no frame for a second while the market runs at 60x
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    await asyncio.wait_for(ws.recv(), 1.0)
            assert srv.status()["connections"]["polygon"] == 1  # the socket is still open
            async with http.post(fault, json={"kind": "clear"}):
                pass  # the stalled connection resumes
            await recv_until(ws, is_events, what="data after clear")
            async with http.post(fault, json={"kind": "malformed", "every": 2}):
                pass  # garbage frames between the real ones
            bad = good = 0
            while bad < 3 or good < 3:
                raw = await asyncio.wait_for(ws.recv(), 5)
                try:
                    frame = orjson.loads(raw)
                    ok = isinstance(frame, list) and all(isinstance(e.get("p", 1.0), float) for e in frame)
                except (orjson.JSONDecodeError, AttributeError, TypeError):
                    ok = False
                bad += not ok
                good += ok
            assert srv.status()["malformed_sent"] >= bad
            await ws.close()
    run(main())


def test_fault_drop_every_and_flags_config():
    async def main():
        cfg = SimConfig(port=0, **FAST, faults=[{"kind": "drop", "every": 0.3}])
        async with SimServer(cfg) as srv:
            ws = await websockets.connect(f"{srv.url}/ws/x")
            t0 = time.monotonic()
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert time.monotonic() - t0 < 5
            st = srv.status()
            assert st["faults"] == [{"kind": "drop", "every": 0.3}] and st["dropped"] >= 1
    run(main())


def test_taken_port_raises_oserror():
    async def main():
        async with SimServer(SimConfig(port=0, **VIRTUAL)) as srv:
            with pytest.raises(OSError):
                async with SimServer(SimConfig(port=srv.port, **VIRTUAL)):
                    pass
    run(main())


def test_rate_sets_events_per_second_of_the_tape():
    async def main():
        async with SimServer(SimConfig(port=0, start="04:05", rate=3000, **VIRTUAL)) as srv:
            ws, _ = await polygon_client(srv, "T.IBM,Q.IBM")
            evs: list[dict] = []
            while len(evs) < 2500:
                frame = await recv_json(ws)
                evs.extend(e for e in frame if e["ev"] in ("T", "Q"))
            await ws.close()
            assert srv.status()["bad_requests"] == 0
            return evs

    evs = run(main())
    # the rate is a property of the tape (events per sim second at speed 1), not of wall-clock timing
    span_s = (evs[-1]["t"] - evs[0]["t"]) / 1000
    assert 0.8 * 3000 < (len(evs) - 1) / span_s < 1.2 * 3000


def test_bad_requests_are_counted():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv:
            ws, _ = await polygon_client(srv)
            for bad in ("nope", '{"action":"x"}', '{"action":"subscribe","params":"Z.Z"}'):
                await ws.send(bad)
                assert (await recv_json(ws))[0]["status"] == "error"
            assert srv.status()["bad_requests"] == 3
            await ws.close()
    run(main())


def test_many_clients_are_served_and_counted_and_a_slow_one_is_cut_off():
    async def main():
        cfg = SimConfig(port=0, start="04:05", rate=20_000, max_backlog=20, **VIRTUAL)
        async with SimServer(cfg) as srv:
            fast = [await polygon_client(srv, "T.IBM,Q.IBM") for _ in range(5)]
            # The relay client never reads. A tiny receive buffer and receive queue make its TCP
            # window close after a few KB, so the server's queue backs up within a second even when
            # a loaded machine generates far fewer than 20k events/s (with default buffers, megabytes
            # of loopback buffering took longer than the deadline to fill under load).
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
            relay = await websockets.connect(f"{srv.url}/ws/r", sock=sock, max_queue=1)
            await recv_json(relay)
            await relay.send('{"action":"subscribe","symbols":["IBM"]}')
            await recv_json(relay)
            st = srv.status()
            assert st["connections"] == {"relay": 1, "polygon": 5}
            assert st["subscriptions"]["polygon"] == {"Q.IBM": 5, "T.IBM": 5}
            # the relay client never reads: its queue passes the backlog bound and it is closed;
            # the polygon clients keep reading (each in its own task, as fast as this process can)
            # and keep their connections
            got = [0] * len(fast)

            async def drain(i, ws):
                async for _ in ws:
                    got[i] += 1
            readers = [asyncio.create_task(drain(i, ws)) for i, (ws, _) in enumerate(fast)]
            deadline = time.monotonic() + 40
            while srv.status()["slow_consumers"] < 1:
                assert time.monotonic() < deadline, "slow client was never cut off"
                await asyncio.sleep(0.05)
            assert srv.status()["connections"]["polygon"] == 5 and all(got)
            for t in readers:
                t.cancel()
            for ws, _ in fast:  # no close handshakes behind unread data: the test is over
                ws.transport.abort()
            relay.transport.abort()
    run(main(), timeout=60)


# ---- clock, seed, A bars, scripted events -------------------------------------
FRIDAY_11 = dt.datetime(2025, 6, 27, 11, 0, tzinfo=NY).timestamp()  # the market is open


@pytest.mark.parametrize("wall, clock, session", [
    (FRIDAY_11, "auto", "wall"), (WALL, "auto", "virtual"), (FRIDAY_11, "virtual", "virtual"),
    (WALL, "wall", "wall"),
])
def test_session_flag_follows_the_injected_wall_clock(wall, clock, session):
    async def main():
        cfg = SimConfig(port=0, clock=clock, wall_time=lambda: wall, start=None)
        async with SimServer(cfg) as srv:
            st = srv.status()
            assert st["session"] == session
            if session == "wall":
                assert abs(st["clock_ms"] - wall * 1000) < 5_000 and st["speed"] == 1.0
            else:
                assert st["clock_ms"] == pytest.approx(dt.datetime(2025, 6, 27, 10, 0, tzinfo=NY).timestamp() * 1000,
                                                       abs=5_000)
            async with websockets.connect(f"{srv.url}/ws/c") as ws:
                hello = await recv_json(ws)
                assert (hello["source"], hello["session"]) == ("simulated", session)
            ws, _ = await polygon_client(srv)
            await ws.close()
            async with websockets.connect(f"{srv.url}/stocks") as ws:
                first = (await recv_json(ws))[0]
                assert (first["status"], first["source"], first["session"]) == ("connected", "simulated", session)
    run(main())


async def first_events(srv: SimServer, n: int = 40) -> list[dict]:
    ws, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
    evs: list[dict] = []
    while len(evs) < n:
        frame = await recv_json(ws)
        evs.extend(e for e in frame if e["ev"] in ("T", "Q"))
    await ws.close()
    return evs[:n]


async def same_time_streams(s1: SimServer, s2: SimServer, overlap_ms: int = 20_000) -> tuple[list, list]:
    """AAPL trades and quotes from both servers until both streams cover ``overlap_ms`` of the same sim time."""
    streams: tuple[list[dict], list[dict]] = ([], [])

    def enough() -> bool:
        a, b = streams
        return bool(a and b) and min(a[-1]["t"], b[-1]["t"]) >= max(a[0]["t"], b[0]["t"]) + overlap_ms

    async def collect(srv: SimServer, evs: list[dict]) -> None:
        ws, _ = await polygon_client(srv, "T.AAPL,Q.AAPL")
        while not enough():
            evs.extend(e for e in await recv_json(ws) if e["ev"] in ("T", "Q"))
        await ws.close()

    await asyncio.gather(collect(s1, streams[0]), collect(s2, streams[1]))
    return streams


def test_seed_makes_the_tape_reproducible_and_a_fresh_seed_is_drawn_without_it():
    async def main():
        # the same seed plays the same day: the same quotes and trades. Each client's stream starts
        # where its server finished catching the tape up (a thread: when depends on the machine's
        # load, at --speed 60 one event is ~8 ms), so the two run side by side and every event of
        # the sim time both streams cover must be the same.
        async with SimServer(SimConfig(port=0, seed=42, **FAST)) as s1, \
                SimServer(SimConfig(port=0, seed=42, **FAST)) as s2:
            assert s1.status()["seed"] == s2.status()["seed"] == 42
            a, b = await same_time_streams(s1, s2)
        lo, hi = max(a[0]["t"], b[0]["t"]), min(a[-1]["t"], b[-1]["t"])  # events at hi may be cut
        both = [[e for e in evs if lo <= e["t"] < hi] for evs in (a, b)]
        assert len(both[0]) >= 20 and both[0] == both[1]
        seeds = []
        prices = []
        for _ in range(2):
            async with SimServer(SimConfig(port=0, **FAST)) as srv:
                seeds.append(srv.status()["seed"])
                prices.append([e.get("bp") for e in await first_events(srv, 10)])
        assert all(isinstance(s, int) for s in seeds) and seeds[0] != seeds[1]
        assert prices[0] != prices[1]
    run(main(), timeout=90)


def test_second_aggregates_reach_only_their_subscribers():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv:
            ws, _ = await polygon_client(srv, "A.AAPL")
            other, _ = await polygon_client(srv, "T.AAPL")
            got: list[dict] = []
            while len(got) < 5:
                got.extend(e for e in await recv_json(ws) if e.get("ev") != "status")
            assert {e["ev"] for e in got} == {"A"} and all(e["e"] - e["s"] == 1000 for e in got)
            assert all(e["av"] >= e["v"] > 0 and e["l"] <= e["o"] <= e["h"] and e["op"] > 0 for e in got)
            assert [e["s"] for e in got] == sorted(e["s"] for e in got)
            frame = await recv_json(other)
            assert {e["ev"] for e in frame} == {"T"}
            relay = await websockets.connect(f"{srv.url}/ws/r")
            await recv_json(relay)
            await relay.send('{"action":"subscribe","symbols":["MSFT"],"channels":["A"]}')
            await recv_json(relay)
            md, _ = await recv_until(relay, lambda m: m.get("type") == "market_data", what="relay A bar")
            assert md["data"]["ev"] == "A" and md["data"]["sym"] == "MSFT"
            for w in (ws, other, relay):
                await w.close()
    run(main())


def test_inject_sends_luld_bands_and_raw_events_to_their_subscribers_only():
    async def main():
        async with SimServer(SimConfig(port=0, **FAST)) as srv, aiohttp.ClientSession() as http:
            luld, _ = await polygon_client(srv, "LULD.AAPL,NOI.*")
            trades, _ = await polygon_client(srv, "T.AAPL")
            relay = await websockets.connect(f"{srv.url}/ws/r")
            await recv_json(relay)
            await relay.send('{"action":"subscribe","symbols":["AAPL"],"channels":["LULD"]}')
            await recv_json(relay)
            inject = f"http://127.0.0.1:{srv.port}/sim/inject"
            async with http.post(inject, json={"luld": {"sym": "AAPL", "pct": 5, "i": [21]}}) as r:
                assert r.status == 200
                [sent] = (await r.json())["events"]
            frame = await recv_json(luld)
            assert frame == [sent] and sent["ev"] == "LULD" and sent["T"] == "AAPL" and sent["i"] == [21]
            assert 200 < sent["l"] < sent["h"] < 350 and sent["h"] / sent["l"] == pytest.approx(1.05 / 0.95, rel=1e-3)
            md = await recv_json(relay)
            assert md == {"type": "market_data", "data": sent}
            noi = {"ev": "NOI", "T": "MSFT", "t": 1, "at": 1600, "a": "C", "i": 5, "x": 4, "o": 100, "p": 320.5}
            async with http.post(inject, json={"events": [noi]}) as r:
                assert r.status == 200
            assert await recv_json(luld) == [noi]  # NOI.* wildcard
            async with http.post(inject, json={"luld": {"sym": "!!"}}) as r:
                assert r.status == 400 and (await r.json())["error"]
            # the trade subscriber never saw either
            for _ in range(3):
                assert all(e["ev"] == "T" for e in await recv_json(trades))
            assert srv.status()["injected"] == 2
            for w in (luld, trades, relay):
                await w.close()
    run(main())
