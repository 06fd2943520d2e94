"""Replay of the real AAPL file: every subscribed event, in order, unchanged but for the time shift."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip

import orjson
import pytest
import websockets

from feed_process.sim.replay import load_replay
from feed_process.sim.server import SimConfig, SimServer
from shared.market_hours import NY, latest_session_on_or_before, ny_date

AAPL = "AAPL-2025-06-27-open.jsonl.gz"


@pytest.fixture(scope="module")
def aapl(replay_dir):
    path = replay_dir / AAPL
    original = [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]
    return path, load_replay(path), original


def shifted(ev: dict, shift: int) -> dict:
    """The file's event moved by ``shift`` ms: 't' always, 's'/'e' (bar start/end) on aggregates only."""
    ev = dict(ev)
    for k in ("t", "s", "e") if ev["ev"] in ("A", "AM") else ("t",):
        if k in ev:
            ev[k] += shift
    return ev


def test_shift_lands_on_the_latest_session_at_the_same_new_york_time(aapl):
    _, data, original = aapl
    target = latest_session_on_or_before(dt.datetime.now(NY).date())
    first = original[0]["t"]
    moved = orjson.loads(data.encoded[0])["t"]
    assert ny_date(moved) == target.day
    assert dt.datetime.fromtimestamp(moved / 1000, NY).time() == dt.datetime.fromtimestamp(first / 1000, NY).time()


def test_max_replay_polygon_delivers_every_event_in_order(aapl):
    _, data, original = aapl
    want = [shifted(e, data.shift) for e in original if e["sym"] == "AAPL"]

    async def main():
        async with SimServer(SimConfig(port=0, max=True, replay_data=data)) as srv:
            assert srv.source == "replay"
            async with websockets.connect(f"{srv.url}/stocks", max_size=2**24) as ws:
                assert orjson.loads(await ws.recv())[0]["source"] == "replay"
                await ws.send('{"action":"auth","params":"x"}')
                await ws.recv()
                await ws.send('{"action":"subscribe","params":"T.AAPL,Q.AAPL,AM.AAPL"}')
                got: list[dict] = []
                while len(got) < len(want):
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                    got.extend(e for e in frame if e["ev"] != "status")
                return got

    got = asyncio.run(asyncio.wait_for(main(), 60))
    assert len(got) == len(want) == 50_772
    assert got == want  # same order, same fields and values; only the times moved by whole days
    # a trade's 's' is its size, never a time: the sizes are the file's
    assert [e["s"] for e in got if e["ev"] == "T"] == [e["s"] for e in original if e["ev"] == "T"]


def test_max_replay_frame_events_sets_the_frame_size_and_keeps_every_event(aapl):
    _, data, original = aapl
    want = [shifted(e, data.shift) for e in original if e["sym"] == "AAPL"]

    async def main():
        async with SimServer(SimConfig(port=0, max=True, replay_data=data, frame_events=50)) as srv:
            async with websockets.connect(f"{srv.url}/stocks", max_size=2**24) as ws:
                await ws.recv()
                await ws.send('{"action":"auth","params":"x"}')
                await ws.recv()
                await ws.send('{"action":"subscribe","params":"T.AAPL,Q.AAPL,AM.AAPL"}')
                got: list[dict] = []
                sizes: list[int] = []
                while len(got) < len(want):
                    frame = [e for e in orjson.loads(await asyncio.wait_for(ws.recv(), 10)) if e["ev"] != "status"]
                    if frame:
                        sizes.append(len(frame))
                    got.extend(frame)
                return got, sizes

    got, sizes = asyncio.run(asyncio.wait_for(main(), 60))
    assert got == want
    assert max(sizes) == 50 and len(sizes) >= len(want) // 50
    assert data.chunk == 1000 and data.framed(1000) is data  # the shared load is left as it was


def test_max_replay_relay_sends_only_subscribed_channels_one_per_message(aapl):
    _, data, original = aapl
    want = [shifted(e, data.shift) for e in original if e["ev"] == "AM"]

    async def main():
        async with SimServer(SimConfig(port=0, max=True, replay_data=data)) as srv:
            async with websockets.connect(f"{srv.url}/ws/rp") as ws:
                assert orjson.loads(await ws.recv())["source"] == "replay"
                await ws.send('{"action":"subscribe","symbols":["AAPL"],"channels":["AM"]}')
                assert orjson.loads(await ws.recv())["type"] == "subscribed"
                got = []
                while len(got) < len(want):
                    m = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert m["type"] == "market_data"
                    got.append(m["data"])
                # nothing more: the file's other events are trades and quotes
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)
                return got

    assert asyncio.run(asyncio.wait_for(main(), 60)) == want


def test_paced_replay_follows_the_file_clock_and_serves_history(aapl):
    _, data, _ = aapl

    async def main():
        # 600x: the file's first minutes pass in well under a second each
        async with SimServer(SimConfig(port=0, speed=600, replay_data=data)) as srv:
            async with websockets.connect(f"{srv.url}/stocks") as ws:
                await ws.recv()
                await ws.send('{"action":"auth","params":"x"}')
                await ws.recv()
                await ws.send('{"action":"subscribe","params":"T.AAPL,AM.AAPL"}')
                await ws.recv()
                evs: list[dict] = []
                while not any(e["ev"] == "AM" for e in evs):
                    evs.extend(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
            assert all(e["ev"] in ("T", "AM") for e in evs)
            ts = [e["t"] for e in evs if e["ev"] == "T"]
            assert ts == sorted(ts) and ts[0] >= data.times[0]
            # history: the bars whose minute has passed on the replay clock
            import aiohttp
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{srv.port}/v2/aggs/ticker/AAPL/range/1/minute/0/{2**41}") as r:
                    res = (await r.json())["results"]
            assert res and all(b["t"] + 60_000 <= srv.clock.now_ms() for b in res)
            assert res[0]["t"] == data.bars["AAPL"][0]["s"]

    asyncio.run(asyncio.wait_for(main(), 60))


def test_max_replay_loop_repeats_the_file(aapl):
    _, data, original = aapl
    ams = [shifted(e, data.shift) for e in original if e["ev"] == "AM"]

    async def main():
        async with SimServer(SimConfig(port=0, max=True, loop=True, replay_data=data)) as srv:
            # max_queue=None: a websockets client with a full receive queue stops reading and
            # then waits its close_timeout for our close frame behind the endless stream
            async with websockets.connect(f"{srv.url}/ws/loop", max_queue=None) as ws:
                await ws.recv()
                await ws.send('{"action":"subscribe","symbols":["AAPL"],"channels":["AM"]}')
                await ws.recv()
                return [orjson.loads(await asyncio.wait_for(ws.recv(), 10))["data"] for _ in range(2 * len(ams) + 1)]

    got = asyncio.run(asyncio.wait_for(main(), 60))
    assert got == ams + ams + ams[:1]
