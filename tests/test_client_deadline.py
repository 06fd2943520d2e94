"""The client's frame loop and the link's one timer: the stall watchdog's deadline moves on with every
frame, and the link's timer must not be re-armed for each (a timer, a cancel and a heap entry per frame
at 4,000 frames/s), yet a deadline that comes sooner, and the next one after a fired timer, are armed."""

from __future__ import annotations

import asyncio

from feed_process.protocols import RelayCore
from feed_process.websocket_client import PolygonWebSocketClient


class _Session:
    """The two things ``_frames`` asks of the session: where the deadline is, and tick/received."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.last = clock()
        self.soon: float | None = None  # a deadline sooner than the watchdog's (a subscription's)
        self.pending: dict = {}
        self.ticks = 0

    @property
    def deadline(self) -> float:
        d = self.last + 10.0  # the watchdog: 10 s after the last frame
        return d if self.soon is None else min(d, self.soon)

    def received(self, now: float, data_ms: int = 0) -> None:
        self.last = now

    def tick(self, now: float) -> list:
        self.ticks += 1
        return []


class _Link:
    """Hands out ``script`` (frames, or [] as the timer firing), recording the deadline of every call."""

    def __init__(self, client: PolygonWebSocketClient, script: list) -> None:
        self.client, self.script, self.whens = client, list(script), []

    async def next(self, when):
        self.whens.append(when)
        step = self.script.pop(0)
        if callable(step):
            step = step()
        if not self.script:
            self.client._close_req = (1000, "done")
        await asyncio.sleep(0)
        return step


def test_the_links_timer_follows_the_deadline_only_when_it_comes_sooner_or_fired():
    now = [1000.0]

    def clock() -> float:
        return now[0]

    async def main():
        c = PolygonWebSocketClient("ws://127.0.0.1:9/x", RelayCore(), clock=clock,
                                   handle_frames=lambda frames: [None for _ in frames])
        s = c.session = _Session(clock)

        def frame():
            now[0] += 0.25  # every frame moves the watchdog's deadline 0.25 s on
            return [b"x"]

        def sooner():
            s.soon = now[0] + 2.0  # now a deadline 2 s away: sooner than the watchdog's 10
            return frame()

        link = _Link(c, [frame] * 20 + [sooner, frame, frame, []] + [frame] * 3)
        await c._frames(link)
        return link.whens, s.ticks

    whens, ticks = asyncio.run(main())
    first = whens[0]
    assert first is not None
    assert set(whens[:21]) == {first}  # 20 frames moved the deadline later: the first timer stays
    assert whens[21] < first  # a sooner deadline is armed at once
    assert whens[22] == whens[23] == whens[21]
    assert ticks == 1  # the [] is the timer firing: one tick, then the timer is armed afresh
    assert whens[24] != whens[23] and set(whens[25:]) == {whens[24]}
