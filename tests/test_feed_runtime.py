"""The feed's runtime guarantees in-process, on real sockets: the frame boundary contains every failure,
and the upstream task is supervised (killed from inside: ``restarting``, then restarted)."""

from __future__ import annotations

import asyncio

import msgpack
import orjson
import pytest
import websockets
import zmq

from feed_process.feed import Feed
from feed_process.protocols import RelayCore
from feed_process.publisher import Publisher, failing_index
from feed_process.state import FeedSymbol
from feed_process.tools import _channels
from shared.cli import UserError
from shared.config import load_settings
from shared.models import wire
from tests.util import free_port

T0 = 1751031000000


def trade(t, p, i=None):
    return ["T", t, p, 100, 4, [], i]


class Wiring:
    """A Publisher on a real XPUB with a SUB reading it back."""

    def __init__(self, symbols=("AAPL", "MSFT")):
        self.ctx = zmq.Context()
        self.xpub = self.ctx.socket(zmq.XPUB)
        port = self.xpub.bind_to_random_port("tcp://127.0.0.1")
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.connect(f"tcp://127.0.0.1:{port}")
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.core = RelayCore()
        self.core.subscribe(symbols)
        self.core.on_open()
        self.states = {s: FeedSymbol(s) for s in symbols}
        self.pub = Publisher(self.core, self.states, epoch=7)
        self.pub.xpub = self.xpub
        assert self.xpub.poll(2000)  # the SUB's subscription arrived: nothing sent now is lost
        self.xpub.recv()

    def read(self) -> list[dict]:
        got = []
        while self.sub.poll(300):
            got.append(wire.unpack(self.sub.recv_multipart()[1]))
        return got

    def close(self):
        self.sub.close(0)
        self.xpub.close(0)
        self.ctx.term()


def _frame(*events) -> bytes:
    return orjson.dumps([{"type": "market_data", "data": e} for e in events])


def _t(sym, t, p):
    return {"ev": "T", "sym": sym, "p": p, "s": 100, "t": t, "x": 4, "c": []}


def test_a_fold_that_raises_costs_only_the_event_that_raised():
    w = Wiring()

    st = FeedSymbol("AAPL")
    fold = st.apply_batch  # the market core's bound fold (FeedSymbol's hot path is an attribute)

    def fragile(lst):  # a fold that breaks on one price, in the middle of a batch
        for a in lst:
            if a[2] == 13.0:
                raise IndexError("boom")
            fold([a])

    st.apply_batch = fragile
    w.states["AAPL"] = st
    try:
        out = w.pub.handle_frame(_frame(_t("AAPL", T0 + 1, 11.0), _t("MSFT", T0 + 1, 50.0), _t("AAPL", T0 + 2, 12.0),
                                        _t("AAPL", T0 + 3, 13.0), _t("AAPL", T0 + 4, 14.0)))
        assert out is not None
        msgs = [m for m in w.read() if m["type"] == "batch"]
        by = {m["sym"]: m for m in msgs}
        assert [a[2] for a in by["AAPL"]["ev"]] == [11.0, 12.0, 14.0]  # the others are kept, once each
        assert by["AAPL"]["seq"] == 1 and w.states["AAPL"].seq == 3     # no seq for the dropped event: no gap
        assert [a[2] for a in by["MSFT"]["ev"]] == [50.0]               # another symbol never pays
        assert w.states["AAPL"].events == 3 and w.pub.counters["internal_IndexError"] == 1
        errors = [m for m in w.read() + msgs if m["type"] == "error"]
        assert all("fold AAPL: IndexError: boom" in m["message"] for m in errors)
    finally:
        w.close()


def test_failing_index_finds_the_event_from_the_traceback():
    lst = [trade(T0, 1.0), trade(T0 + 1, 2.0), trade(T0 + 2, 3.0)]

    def fold(batch):
        last = None
        for a in batch:
            if a[2] == 3.0:
                raise ValueError
            last = a  # noqa: F841 - an earlier event in the frame's locals must not win

    with pytest.raises(ValueError) as ei:
        fold(lst)
    assert failing_index(ei.value, lst) == 2


def test_decode_and_encode_failures_are_contained():
    w = Wiring()
    try:
        w.core.receive = lambda frame: (_ for _ in ()).throw(RuntimeError("core bug"))  # type: ignore[assignment]
        assert w.pub.handle_frame(b"[]") is None and w.pub.counters["internal_RuntimeError"] == 1
        # an event msgpack cannot encode: only it is lost
        w.pub.publish_events({"AAPL": [trade(T0, 1.0), trade(T0 + 1, 2.0, i=object()), trade(T0 + 2, 3.0)]})
        batches = [m for m in w.read() if m["type"] == "batch"]
        assert [(m["seq"], [a[2] for a in m["ev"]]) for m in batches] == [(1, [1.0]), (2, [3.0])]
        assert w.pub.counters["internal_TypeError"] == 1 and w.pub.counters["internal_unencodable_event"] == 1
    finally:
        w.close()


def test_duplicate_trades_are_counted_not_logged_or_published(caplog):
    """A relay's double sends are de-dup doing its job (maybe on every trade): counted, never news on sys|."""
    w = Wiring()
    try:
        with caplog.at_level("DEBUG", logger="feed_process"):
            dup = dict(_t("AAPL", T0 + 1, 11.0), i="9")
            w.pub.handle_frame(_frame(dup, dup, dup))
            w.pub.handle_frame(_frame(dict(_t("AAPL", T0 + 2, 11.0), i="10"), dup))
        msgs = w.read()
        assert [[a[6] for a in m["ev"]] for m in msgs if m["type"] == "batch"] == [["9"], ["10"]]
        assert w.core.counters["duplicate"] == 3
        assert not [m for m in msgs if m["type"] == "error"] and "duplicate" not in caplog.text
        w.pub.handle_frame(b"not json")  # a loud kind still is published (the quiet list is not everything)
        assert [m["kind"] for m in w.read() if m["type"] == "error"] == ["malformed_json"]
    finally:
        w.close()


def test_no_hand_built_batches():
    # the one builder is the Batch struct; a map reader sees the map of protocol v1
    msg = msgpack.unpackb(wire.pack(wire.batch("AAPL", 1, 5, [])))
    assert msg == {"v": 1, "type": "batch", "sym": "AAPL", "epoch": 1, "seq": 5, "ev": []}
    assert msgpack.unpackb(wire.pack_batch("AAPL", 1, 5, [])) == msg


def test_tap_channels_are_the_feeds_codes_and_a_is_never_am():
    assert _channels("T,a,LULD,noi,AM") == {"T", "A", "LULD", "NOI", "AM"}
    with pytest.raises(UserError):
        _channels("T,X")


def test_the_upstream_task_killed_from_inside_is_restarting_then_restarted():
    async def main():
        subscribed: list[str] = []

        async def relay(ws):  # a well-behaved relay: ack every subscribe, then stream
            await ws.send(orjson.dumps({"type": "connected", "session": "virtual", "source": "simulated"}).decode())
            syms = []
            async def stream():
                n = 0
                while True:
                    await asyncio.sleep(0.01)
                    n += 1
                    for s in syms:
                        await ws.send(orjson.dumps({"type": "market_data", "data": _t(s, T0 + n, 10.0)}).decode())
            task = asyncio.get_running_loop().create_task(stream())
            try:
                async for m in ws:
                    req = orjson.loads(m)
                    if req.get("action") == "subscribe":
                        syms.extend(req["symbols"])
                        subscribed.append(ws.request.path)
                        await ws.send(orjson.dumps({"type": "subscribed", "symbols": req["symbols"]}).decode())
            finally:
                task.cancel()

        async with websockets.serve(relay, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            settings = load_settings(flags={"upstream": f"ws://127.0.0.1:{port}/ws/{{client_id}}",
                                            "feed": f"tcp://127.0.0.1:{free_port()}", "reconnect_delay": 0.05,
                                            "max_reconnect_delay": 0.2}, env={}, use_default_file=False)
            feed = Feed(settings, backfill=False, sync_delay=0.01)
            await feed.start()
            seen: list[str] = []
            feed.client.on_state = lambda s, m: (seen.append(s), feed._on_state(s, m))
            try:
                feed._on_union(["AAPL"], [])

                async def until(cond, what, timeout=10.0):
                    t_end = asyncio.get_running_loop().time() + timeout
                    while not cond():
                        assert asyncio.get_running_loop().time() < t_end, f"timed out waiting for {what}"
                        await asyncio.sleep(0.01)

                await until(lambda: feed.status().upstream["state"] == "connected" and feed.states["AAPL"].seq > 5,
                            "connected with data")
                up = feed.upstream_info()
                assert up["session"] == "virtual" and up["source"] == "simulated"
                assert up["target"] == f"ws://127.0.0.1:{port}/ws/{{client_id}}"
                # kill the loop from inside: an exception outside the frame boundary
                boom = [1]

                def hook():
                    if boom:
                        boom.clear()
                        raise RuntimeError("injected")
                feed.client.test_hook = hook
                await until(lambda: "restarting" in seen, "restarting")
                st = feed.status().upstream
                assert st["state"] == "restarting" and "RuntimeError: injected" in st["message"]
                assert st["restarts"] == 1
                await until(lambda: seen[-1] == "connected", "connected again")
                assert seen.index("restarting") < len(seen) - 1
                assert len(subscribed) == 2 and subscribed[0] != subscribed[1]  # a new client id per connection
                before = feed.states["AAPL"].seq
                await until(lambda: feed.states["AAPL"].seq > before + 5, "data after the restart")
            finally:
                await feed.stop()

    asyncio.run(main())
