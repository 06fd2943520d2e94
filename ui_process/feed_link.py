"""The subscriber side of the feed protocol as a sans-I/O state machine.

Why it looks like this
----------------------
The zguide "Clone" pattern (docs/PROTOCOL.md) has enough cases - hello,
buffering while a snapshot is outstanding, gaps, duplicates, overlaps, new
epochs, ``resync``, lost replies, a feed that dies and comes back on a new data
port - that it must be testable without sockets, Qt or waiting. So this class
owns *no* I/O and *no* clock: every input is a method call with ``now``
(monotonic seconds) and every method returns a list of outputs for the adapter
(``PolygonDataManager``) to carry out, in order:

  actions   ``("send", request)``, ``("subscribe", topic)``, ``("unsubscribe", topic)``,
            ``("connect_data", endpoint)`` (drop the old data endpoint, connect this one),
            ``("reset_control",)`` (recreate the DEALER: drop requests queued to a dead feed)
  events    ``("snapshot", reply)`` full state of the current symbol (``messages.SnapshotReply``),
            ``("events", [event structs])`` next events of the current symbol, in order,
            ``("link", None)`` feed liveness / upstream / epoch changed,
            ``("error", message)`` something the user should be told.

Liveness: the feed sends a heartbeat on ``sys|`` every second; nothing from it
for ``FEED_GONE_S`` means the feed process is gone. Then the link says so,
recreates the control socket and says ``hello`` every ``HELLO_RETRY_S`` until a
feed answers; a new epoch or data endpoint reconnects the SUB and re-snapshots.

Heartbeats also carry each symbol's last published ``seq``; the data and
``sys|`` topics share one ordered socket, so a heartbeat whose ``seq`` is
ahead of what was applied proves events were lost (e.g. published before the
subscription reached the feed, on a quiet symbol): re-snapshot.

Inputs are the typed messages of ``shared.models.messages`` (``wire.decode_reply`` /
``wire.decode_data``): their types and bounds are checked by the decoder, so this class
checks only what the protocol means (ids, symbols, sequences). A map is a message
type this build does not declare: ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.models import messages as m
from shared.models import wire

log = logging.getLogger("live_monitor.data.polygon_data_manager")  # the seed's name: the manager's records

FEED_GONE_S = 3.5        # heartbeats are 1 s apart: three missed, plus jitter
HELLO_RETRY_S = 1.0
SNAPSHOT_TIMEOUT_S = 3.0
HEARTBEAT_RESNAP_MIN_S = 2.0  # at most one heartbeat-triggered re-snapshot per this many seconds
MAX_BUFFERED_EVENTS = 500_000  # while a snapshot is outstanding; beyond it, the buffer is dropped (-> gap -> re-snapshot)

Output = tuple


class FeedLink:
    """One symbol's subscription to one feed (see module doc)."""

    def __init__(self, client: str = "live-monitor-ui"):
        self.client = client
        self.symbol: str | None = None
        self.started = False
        # feed identity
        self.epoch: int | None = None
        self.pid: int | None = None
        self.data_endpoint: str | None = None
        self.upstream: dict = {}
        self.source: str | None = None
        self.heartbeat: m.Heartbeat | None = None
        self.alive = False
        self.last_feed_at: float | None = None
        self.ever_alive = False
        # requests
        self._next_id = 1
        self._hello_id: int | None = None
        self._hello_sent_at = 0.0
        self._hello_failures = 0
        self._snap_id: int | None = None
        self._snap_sent_at = 0.0
        self._snap_error_told = False
        # clone state
        self.tracker = wire.SeqTracker()
        self.synced = False
        self._buffer: list[m.Batch] = []
        self._buffered_events = 0
        self._last_hb_resnap = -1e9
        self.backfill: dict = {}
        # counters
        self.counters = {"snapshots": 0, "resnapshots": 0, "gaps": 0, "epochs": 0, "dups": 0,
                         "stale_dropped": 0, "bad_messages": 0, "events": 0, "feed_restarts": 0}

    # ------------------------------------------------------------ helpers

    def _id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def _hello(self, now: float) -> list[Output]:
        self._hello_id = self._id()
        self._hello_sent_at = now
        return [("send", wire.hello_request(self._hello_id, self.client))]

    def _request_snapshot(self, now: float, reason: str) -> list[Output]:
        self.synced = False
        if self.symbol is None or self.data_endpoint is None:
            return []
        if self._snap_id is not None and now - self._snap_sent_at < SNAPSHOT_TIMEOUT_S:
            return []  # one outstanding at a time; buffering continues
        self._snap_id = self._id()
        self._snap_sent_at = now
        if reason != "initial":
            self.counters["resnapshots"] += 1
            log.info("re-snapshot %s (%s)", self.symbol, reason)
        return [("send", wire.snapshot_request(self.symbol, self._snap_id))]

    def _buffer_batch(self, msg: m.Batch) -> None:
        n = len(msg.ev)
        if self._buffered_events + n > MAX_BUFFERED_EVENTS:
            # The snapshot will be followed by a gap, which re-snapshots: nothing is lost for good.
            self._buffer.clear()
            self._buffered_events = 0
        self._buffer.append(msg)
        self._buffered_events += n

    def _take_upstream(self, up: dict) -> bool:
        """Adopt the feed's upstream info (hello, snapshot or heartbeat); True when its state changed."""
        if not up:  # an older feed's reply without it
            return False
        prev = self.upstream.get("state")
        self.upstream = up
        self.source = up.get("source", self.source)
        return up.get("state") != prev

    def _set_alive(self, now: float) -> list[Output]:
        self.last_feed_at = now
        if self.alive:
            return []
        self.alive = True
        self.ever_alive = True
        return [("link", None)]

    # ------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Output]:
        """Open the link: subscribe to the system topic and say hello."""
        self.started = True
        out: list[Output] = [("subscribe", wire.SYS_TOPIC)]
        if self.symbol:
            out.append(("subscribe", wire.topic_for(self.symbol)))
        return out + self._hello(now)

    def stop(self) -> list[Output]:
        out: list[Output] = []
        if self.started:
            out.append(("unsubscribe", wire.SYS_TOPIC))
            if self.symbol:
                out.append(("unsubscribe", wire.topic_for(self.symbol)))
        self.started = False
        self.alive = False
        self._hello_id = self._snap_id = None
        self.synced = False
        self._buffer.clear()
        self._buffered_events = 0
        return out

    def set_symbol(self, symbol: str, now: float) -> list[Output]:
        """Switch to ``symbol``: forget everything of the old one, subscribe, snapshot."""
        out: list[Output] = []
        old = self.symbol
        if self.started and old and old != symbol:
            out.append(("unsubscribe", wire.topic_for(old)))
        self.symbol = symbol
        self.tracker = wire.SeqTracker()
        self.synced = False
        self._buffer.clear()
        self._buffered_events = 0
        self._snap_id = None
        self._snap_error_told = False
        self.backfill = {}
        if self.started and old != symbol:
            out.append(("subscribe", wire.topic_for(symbol)))
        if self.started and self._hello_id is None:
            out += self._request_snapshot(now, "initial")
        return out

    def on_reply(self, msg: Any, now: float) -> list[Output]:
        """A decoded reply from the control socket."""
        if isinstance(msg, dict):
            return []  # a reply type this link never asked for (status, alert ...)
        rid = msg.id
        if isinstance(msg, m.HelloReply):
            if rid != self._hello_id:
                return []
            return self._on_hello(msg, now)
        if isinstance(msg, m.SnapshotReply):
            if rid != self._snap_id or self._snap_id is None:
                self.counters["stale_dropped"] += 1
                return []
            return self._on_snapshot(msg, now)
        if isinstance(msg, m.ErrorReply):
            if rid is not None and rid == self._snap_id:
                self._snap_id = None
                self._snap_sent_at = now
                if not self._snap_error_told:
                    self._snap_error_told = True
                    return [("error", f"Feed refused the snapshot of {self.symbol}: {msg.message}")]
                return []
            return [("error", f"Feed error: {msg.message}")]
        return []

    def _on_hello(self, msg: m.HelloReply, now: float) -> list[Output]:
        self._hello_id = None
        self._hello_failures = 0
        out: list[Output] = []
        epoch, endpoint = msg.epoch, msg.data
        restarted = self.epoch is not None and epoch != self.epoch
        if restarted:
            self.counters["feed_restarts"] += 1
            log.warning("feed restarted: epoch %s -> %s", self.epoch, epoch)
        if endpoint != self.data_endpoint:
            out.append(("connect_data", endpoint))
        self.epoch = epoch
        self.pid = msg.pid
        self.data_endpoint = endpoint
        changed = self._take_upstream(msg.upstream) or restarted or bool(out) or not self.alive
        self.last_feed_at = now
        self.alive = self.ever_alive = True
        if changed:
            out.append(("link", None))
        if restarted:
            self.tracker = wire.SeqTracker()
            self._snap_id = None
        out += self._request_snapshot(now, "initial" if not restarted else "feed restarted")
        return out

    def _on_snapshot(self, msg: m.SnapshotReply, now: float) -> list[Output]:
        self._snap_id = None
        epoch, seq = msg.epoch, msg.seq
        if msg.symbol != self.symbol:
            self.counters["bad_messages"] += 1
            return [("error", f"Feed sent a snapshot of {msg.symbol} for {self.symbol}")]
        out: list[Output] = self._set_alive(now)
        if self._take_upstream(msg.upstream) and not out:
            out.append(("link", None))
        if msg.source is not None:
            self.source = msg.source
        if msg.backfill is not None:
            self.backfill = msg.backfill
        self.tracker.reset(epoch, seq)
        self.synced = True
        self.counters["snapshots"] += 1
        out.append(("snapshot", msg))
        buffered, self._buffer = self._buffer, []
        self._buffered_events = 0
        for b in buffered:
            if b.epoch == epoch:  # another epoch's batches can't be placed after this snapshot
                out += self._apply_batch(b, now)
            else:
                self.counters["stale_dropped"] += 1
        return out

    def _apply_batch(self, msg: m.Batch, now: float) -> list[Output]:
        if not self.synced:
            self._buffer_batch(msg)
            return []
        ev = msg.ev
        r = self.tracker.check(msg.epoch, msg.seq, len(ev))
        if r == "ok":
            self.tracker.advance(msg.seq, len(ev))
            self.counters["events"] += len(ev)
            return [("events", ev)]
        if r == "dup":
            self.counters["dups"] += 1
            return []
        if r == "overlap":
            skip = self.tracker.last - msg.seq + 1
            self.tracker.advance(msg.seq, len(ev))
            self.counters["events"] += len(ev) - skip
            return [("events", ev[skip:])]
        # gap or epoch: the stream can't be trusted from here; snapshot again
        self.counters["gaps" if r == "gap" else "epochs"] += 1
        log.info("%s in %s stream (have %s/%s, got %s/%s)", r, self.symbol, self.tracker.epoch,
                 self.tracker.last, msg.epoch, msg.seq)
        self.synced = False
        self._buffer_batch(msg)
        return self._request_snapshot(now, r)

    def on_data(self, topic: bytes, msg: Any, now: float) -> list[Output]:
        """A decoded message from the data socket."""
        if topic == wire.SYS_TOPIC:
            if isinstance(msg, m.Heartbeat):  # a heartbeat or a status
                return self._on_heartbeat(msg, now)
            if isinstance(msg, m.ErrorEvent):
                out = self._set_alive(now)
                n = msg.count
                return out + [("error", f"Feed: {msg.message or msg.kind}" + (f" (x{n})" if n and n > 1 else ""))]
            return []
        if self.alive:
            self.last_feed_at = now  # any message proves the feed alive (heartbeats may queue behind data)
        sym = msg.get("sym") if isinstance(msg, dict) else getattr(msg, "sym", None)
        if sym != self.symbol:
            self.counters["stale_dropped"] += 1  # an old symbol's message still in the queue
            return []
        if isinstance(msg, m.Batch):
            return self._apply_batch(msg, now)
        if isinstance(msg, m.Resync):
            self._buffer.clear()
            self._buffered_events = 0
            self._snap_id = None  # the state changed after any outstanding snapshot
            return self._request_snapshot(now, f"resync: {msg.reason}")
        return []

    def _on_heartbeat(self, msg: m.Heartbeat, now: float) -> list[Output]:
        out: list[Output] = []
        epoch = msg.epoch
        if self.epoch is not None and epoch != self.epoch:
            # A different feed process answers on our data endpoint: start over.
            self.alive = False
            self.synced = False
            return [("link", None), ("reset_control",)] + self._hello(now)
        changed = self._take_upstream(msg.upstream)
        self.heartbeat = msg
        out += self._set_alive(now)
        if changed and not out:
            out.append(("link", None))
        info = msg.symbols.get(self.symbol) if self.symbol else None  # {seq, last_ms, backfill}
        if info is not None and isinstance(info.get("backfill"), dict):
            self.backfill = info["backfill"]  # queued -> pending -> done between snapshots
        if self.synced and info is not None:
            seq = info.get("seq")
            if (isinstance(seq, int) and seq > self.tracker.last
                    and now - self._last_hb_resnap >= HEARTBEAT_RESNAP_MIN_S):
                self._last_hb_resnap = now
                self.counters["gaps"] += 1
                out += self._request_snapshot(now, f"heartbeat seq {seq} ahead of {self.tracker.last}")
        return out

    def on_bad_message(self) -> None:
        self.counters["bad_messages"] += 1

    def tick(self, now: float) -> list[Output]:
        """Timeouts: feed gone, hello retry, snapshot retry. Call every few hundred ms."""
        if not self.started:
            return []
        out: list[Output] = []
        if self.alive and self.last_feed_at is not None and now - self.last_feed_at > FEED_GONE_S:
            log.warning("no heartbeat from the feed for %.1f s: feed process gone", now - self.last_feed_at)
            self.alive = False
            self.synced = False
            self._snap_id = None
            out.append(("link", None))
            out.append(("reset_control",))
            out += self._hello(now)
            return out
        if self._hello_id is not None and now - self._hello_sent_at > HELLO_RETRY_S:
            self._hello_failures += 1
            out.append(("reset_control",))  # at most one hello queued to an absent feed
            out += self._hello(now)
        elif self._snap_id is not None and now - self._snap_sent_at > SNAPSHOT_TIMEOUT_S:
            log.info("snapshot of %s timed out; asking again", self.symbol)
            self._snap_id = None
            out += self._request_snapshot(now, "timeout")
        elif (self._snap_id is None and not self.synced and self.alive and self._hello_id is None
              and now - self._snap_sent_at > SNAPSHOT_TIMEOUT_S):
            out += self._request_snapshot(now, "retry")
        return out

    # ------------------------------------------------------------ views

    @property
    def connected(self) -> bool:
        """Feed reachable and its upstream connected."""
        return self.alive and self.upstream.get("state") == "connected"

    def age(self, now: float) -> float | None:
        return None if self.last_feed_at is None else now - self.last_feed_at
