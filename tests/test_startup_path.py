"""The first chart's path (bench/startup.py): the simulator on a socket the supervisor bound
(``--listen-fd``), its warm symbols (``--warm``), and the supervisor keeping that socket.

Real servers in ``asyncio.run`` on loopback sockets; the clocks are injected (a frozen monotonic
source), so "now" is the same for every server in a test and the history can be compared bar for bar.
No timing thresholds: what is asserted is the order of things and the data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import aiohttp

from feed_process.sim.server import SimConfig, SimServer
from shared.market_hours import NY

WALL = dt.datetime(2025, 6, 29, 3, 0, tzinfo=NY).timestamp()  # a Sunday: Friday's virtual session
FROZEN = {"clock": "virtual", "start": "09:30", "wall_time": lambda: WALL, "mono": lambda: 0.0, "seed": 7}


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


async def minutes(port: int) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/v2/aggs/ticker/AAPL/range/1/minute/0/{2**41}?limit=5000") as r:
            assert r.status == 200
            return (await r.json())["results"]


def test_a_connection_made_before_the_simulator_starts_is_served_on_the_inherited_socket():
    async def main():
        with listener() as sock:
            port = sock.getsockname()[1]
            # the feed's side: it connects and asks before the simulator serves (the kernel queues it)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /sim/status HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
            await writer.drain()
            async with SimServer(SimConfig(listen_fd=sock.fileno(), **FROZEN)) as srv:
                assert srv.port == port
                answer = await reader.read()
                writer.close()
                assert answer.startswith(b"HTTP/1.1 200") and b'"seed":7' in answer
                bars = await minutes(port)
            assert len(bars) > 300
            # the server closed its copy only: the supervisor's socket still listens (for a restart)
            async with SimServer(SimConfig(listen_fd=sock.fileno(), **FROZEN)) as again:
                assert again.port == port and await minutes(port) == bars
    run(main())


def test_warm_symbols_are_caught_up_before_anyone_asks_and_the_tape_is_the_same():
    async def main():
        async with SimServer(SimConfig(port=0, warm=["AAPL", "MSFT"], **FROZEN)) as warm:
            now = warm.clock.now_ms()
            tape = warm.tape
            assert tape is not None

            def caught_up(sym: str) -> bool:
                return tape.market.get(sym, now).t >= now

            while not (caught_up("AAPL") and caught_up("MSFT")):  # no client: the warm-up alone
                await asyncio.sleep(0.02)
            warmed = await minutes(warm.port)
        async with SimServer(SimConfig(port=0, **FROZEN)) as cold:
            assert cold.tape is not None and cold.tape.market.get("AAPL", now).t < now  # nothing generated yet
            assert await minutes(cold.port) == warmed  # same seed, same clock: the same bars
    run(main())


def test_the_simulators_socket_is_closed_when_the_simulator_is_given_up():
    """The supervisor keeps the simulator's listening socket for its restarts; once it gives the
    simulator up, nothing will accept, so the socket is closed: the feed is refused again instead
    of waiting in a backlog nobody reads."""
    from types import SimpleNamespace

    from shared.procs import ChildSpec
    from supervisor.commands import bind_sim_port
    from supervisor.core import Supervisor

    sock = bind_sim_port(0)
    assert sock is not None
    port = sock.getsockname()[1]
    sup = Supervisor(None, mode="daemon")
    sup.keep_open(sock)
    spec = ChildSpec("sim", "sim", ["true"], pass_fds=(sock.fileno(),))
    sup._on_event(SimpleNamespace(spec=spec, name="sim"), "given_up", "sim crashed 5 times in 60 s")
    assert sock.fileno() == -1
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # refused: nobody listens there now


# ---------------------------------------------------------------- the tape's catch-ups at a fast clock

T0 = int(dt.datetime(2025, 6, 27, 10, 0, tzinfo=NY).timestamp() * 1000)  # a Friday, 10:00 New York


async def _ticks_until_live(tape, sym: str, now: int, step_ms: int, limit: int = 20) -> int:
    """Pump ticks (the clock ``step_ms`` further each) until ``sym`` streams; how many it took."""
    for n in range(1, limit + 1):
        tape.advance(now, {sym}, set())
        if sym in tape.live:
            return n
        fut = tape._catchups.get(sym)
        if fut is not None:
            await asyncio.wait_for(asyncio.shield(fut), 30)  # the worker thread's catch-up
        now += step_ms
    return limit + 1


def test_a_subscribed_symbol_goes_live_when_the_clock_outruns_the_stale_bound():
    """At --speed 600 the clock moves a minute between two ticks, more than STALE_MS: a finished
    catch-up is still taken (a re-run each tick would never let the symbol stream), and a warmed one
    nobody came for is caught up again only once."""
    from feed_process.sim.tapes import STALE_MS, SyntheticTape

    step = 6 * STALE_MS

    async def main():
        cold = SyntheticTape(7)
        assert await _ticks_until_live(cold, "AAPL", T0, step) == 2  # catch-up started, then taken
        warmed = SyntheticTape(7)
        await asyncio.wait_for(asyncio.shield(warmed.warm("MSFT", T0)), 30)
        # long after the warm-up: one re-run in the thread, then live
        assert await _ticks_until_live(warmed, "MSFT", T0 + step, step) == 2
        assert "MSFT" not in warmed._warmed
    run(main())
