"""A small protocol-v1 feed for PolygonDataManager tests: real ROUTER + XPUB sockets, the wire codec.

It runs its sockets on one background thread (ZeroMQ sockets are not
thread-safe; the test thread talks to it through a queue) and lets a test do
what a real feed rarely does on demand: skip sequence numbers, change epoch,
send malformed frames, die and come back on the same control address.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Callable

import msgpack
import zmq

from shared.market import bar_dict
from shared.market.history import LIVE, upstream_bar
from shared.models import wire


def make_bar(sym: str, ts: int, o: float, h: float, lo: float, c: float, v: int = 1000) -> dict:
    return {"event_type": "aggregate", "symbol": sym, "timestamp": ts, "open": o, "high": h, "low": lo,
            "close": c, "volume": v, "vwap": (h + lo + c) / 3, "transactions": 10}


class FakeFeed:
    def __init__(self, control: str | None = None, epoch: int = 1, source: str = "simulated",
                 heartbeat_s: float = 0.2):
        self.ctx = zmq.Context.instance()
        self.control = control
        self.epoch = epoch
        self.source = source
        self.heartbeat_s = heartbeat_s
        self.upstream = {"state": "connected", "kind": "sim", "protocol": "polygon", "source": source,
                         "url": "ws://127.0.0.1:0/stocks", "attempts": 0, "connects": 1, "message": "",
                         "since_ms": 0}
        self.symbols: dict[str, dict] = {}
        self.subscriptions: list[bytes] = []  # XPUB frames seen (b"\x01topic" / b"\x00topic")
        self.requests: list[dict] = []
        self.snapshot_hook: Callable[[dict], dict | None] | None = None  # may alter or swallow a reply
        self._q: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.data: str | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "FakeFeed":
        ready = threading.Event()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("fake feed did not start")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def restart(self, epoch: int) -> None:
        """Die (sockets closed, heartbeats stop) and come back on the same control address, new epoch and data port."""
        self.stop()
        self.epoch = epoch
        for st in self.symbols.values():
            st["seq"] = 0
        self.start()

    def call(self, fn: Callable[["FakeFeed"], Any]) -> None:
        """Run ``fn(self)`` on the feed thread (where the sockets live)."""
        self._q.put(fn)

    # ------------------------------------------------------------ state helpers (test thread)

    def state(self, sym: str) -> dict:
        return self.symbols.setdefault(sym, {"seq": 0, "bars": [], "last_trade": None, "last_quote": None,
                                             "day": {"date": None, "open": None, "high": None, "low": None,
                                                     "last": None, "volume": 0, "vwap": None,
                                                     "prev_close": None}, "forming": None})

    def publish(self, sym: str, events: list, skip: int = 0, epoch: int | None = None) -> None:
        """Publish ``events`` (wire arrays) as one batch; ``skip`` leaves a gap in the sequence first."""
        def do(f: FakeFeed) -> None:
            st = f.state(sym)
            seq = st["seq"] + 1 + skip
            st["seq"] = seq + len(events) - 1
            for a in events:
                try:
                    wire.event_to_dict(sym, a)
                except wire.WireError:
                    continue  # a test's deliberately bad event: published, not kept
                if a[0] == "AM":
                    # the real feed's snapshot bars (FeedSymbol.snapshot: shared.market.bar_dict), seed keys only
                    st["bars"].append(bar_dict(sym, upstream_bar(*a[1:9], LIVE)))
                elif a[0] == "T":
                    st["last_trade"] = wire.event_to_dict(sym, a)
                    st["day"]["last"] = a[2]
                elif a[0] == "Q":
                    st["last_quote"] = wire.event_to_dict(sym, a)
            f.pub.send_multipart(wire.encode_batch(sym, f.epoch if epoch is None else epoch, seq, events))
        self.call(do)

    def send_raw(self, frames: list[bytes]) -> None:
        self.call(lambda f: f.pub.send_multipart(frames))

    def send_sys(self, body: dict) -> None:
        self.call(lambda f: f.pub.send_multipart([wire.SYS_TOPIC, wire.pack(body)]))

    def set_upstream(self, **kw: Any) -> None:
        def do(f: FakeFeed) -> None:
            f.upstream = {**f.upstream, **kw}
            f._heartbeat(wire.STATUS)
        self.call(do)

    # ------------------------------------------------------------ the feed thread

    def _heartbeat(self, typ: str = wire.HEARTBEAT) -> None:
        body = wire.heartbeat(self.epoch, os.getpid(), self.upstream,
                              {s: {"seq": st["seq"], "last_ms": 0} for s, st in self.symbols.items()},
                              {}, int(time.time() * 1000), typ)
        self.pub.send_multipart([wire.SYS_TOPIC, wire.pack(body)])

    def _reply(self, msg: dict) -> dict | None:
        t, rid = msg.get("type"), msg.get("id")
        if t == wire.HELLO:
            return {"type": "hello", "id": rid, "server": "live-monitor-feed", "protocol": 1, "epoch": self.epoch,
                    "pid": os.getpid(), "data": self.data, "upstream": self.upstream}
        if t == wire.SNAPSHOT:
            sym = msg.get("symbol")
            st = self.state(sym)
            rep = {"type": "snapshot", "id": rid, "symbol": sym, "epoch": self.epoch, "seq": st["seq"],
                   "last_trade": st["last_trade"], "last_quote": st["last_quote"], "day": st["day"],
                   "bars": list(st["bars"][-2000:]), "forming": st["forming"],
                   "backfill": {"state": "done", "message": "", "count": len(st["bars"])},
                   "source": self.source, "upstream": self.upstream}
            return self.snapshot_hook(rep) if self.snapshot_hook else rep
        return wire.error_reply(rid, f"unknown request {t!r}")

    def _loop(self, ready: threading.Event) -> None:
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        if self.control is None:
            port = router.bind_to_random_port("tcp://127.0.0.1")
            self.control = f"tcp://127.0.0.1:{port}"
        else:
            for _ in range(100):  # the previous incarnation's port may take a moment to free
                try:
                    router.bind(self.control)
                    break
                except zmq.ZMQError:
                    time.sleep(0.05)
        pub = self.ctx.socket(zmq.XPUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.XPUB_VERBOSE, 1)
        dport = pub.bind_to_random_port("tcp://127.0.0.1")
        self.data = f"tcp://127.0.0.1:{dport}"
        self.pub = pub
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pub, zmq.POLLIN)
        ready.set()
        next_hb = 0.0
        try:
            while not self._stop.is_set():
                for sock, _ in poller.poll(10):
                    if sock is router:
                        ident, raw = router.recv_multipart()
                        msg = wire.unpack(raw)
                        self.requests.append(msg)
                        rep = self._reply(msg)
                        if rep is not None:
                            router.send_multipart([ident, wire.pack(rep)])
                    else:
                        self.subscriptions.append(pub.recv())
                while True:
                    try:
                        fn = self._q.get_nowait()
                    except queue.Empty:
                        break
                    fn(self)
                if time.monotonic() >= next_hb:
                    next_hb = time.monotonic() + self.heartbeat_s
                    self._heartbeat()
        finally:
            router.close(0)
            pub.close(0)


def packed_garbage() -> list[list[bytes]]:
    """Malformed data messages a subscriber must survive."""
    return [
        [b"md|AAPL|", b"\xc1not msgpack"],
        [b"md|AAPL|", msgpack.packb({"v": 99, "type": "batch"})],
        [b"md|AAPL|", msgpack.packb([1, 2, 3])],
        [b"md|AAPL|"],
        [b"md|AAPL|", msgpack.packb({"v": 1, "type": "batch", "sym": "AAPL", "epoch": "x", "seq": 1, "ev": []})],
        *([b"md|AAPL|", hostile] for hostile in hostile_batches()),
    ]


def hostile_batches(sym: str = "AAPL", t: int = 1_751_029_504_111) -> list[bytes]:
    """Batches a v1 feed never sends; each must be one WireError for the window's typed decoder."""
    def b(ev: list) -> bytes:
        return msgpack.packb({"v": 1, "type": "batch", "sym": sym, "epoch": 1, "seq": 1, "ev": ev})

    return [
        b([["T", t, float("nan"), 1, None, []]]),                 # NaN price
        b([["T", t, 1.0, 2**64 - 1, None, []]]),                  # a size msgpack can carry, int64 cannot
        b([["T", t, "1.0", 1, None, []]]),                        # wrong type
        b([["Q", t, 1.0, 1, 2.0, 1, None, None, None, list(range(65))]]),  # a list over 64 entries
        b([["T", t, 1.0, 1, None, []], ["ZZ", t]]),               # an event kind v1 does not have
        # an array header promising 2^32-1 events, nothing behind it
        b"\x86\xa1v\x01\xa4type\xa5batch\xa3sym\xa4AAPL\xa5epoch\x01\xa3seq\x01\xa2ev\xdd\xff\xff\xff\xff",
        b([["T", t, 1.0, 1, None, [], msgpack.ExtType(5, b"x")]]),  # an ext type where a trade id belongs
    ]
