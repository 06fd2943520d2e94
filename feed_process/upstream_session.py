"""The upstream connection's life as a sans-I/O state machine: states, deadlines, backoff, stall watchdog.

Why it looks like this
----------------------
Every decision about the upstream connection - when to connect, when an
attempt has taken too long, when the link is healthy, when a silent upstream
is stalled, how long to wait before the next try, when to give up - is made
here, from events and the time the caller passes in (trio style: the clock is
the caller's; nothing here reads a clock or sleeps). So auth failures,
``max_connections``, stalls, timeouts and the healthy-period reset are tested
on a fake clock in milliseconds (tests/test_upstream_session.py), and the
asyncio client (``websocket_client.py``) only does "wait for a frame or the
deadline" and carries out the actions.

Each input returns a list of actions, in order:

  ``("connect",)``            open a new connection (a new URL each time: the relay client id suffix)
  ``("close", code, reason)`` close the current connection
  ``("send", text)``          send a message (the relay keepalive ping)
  ``("state", State, msg)``   the state changed (publish it)

and :attr:`deadline` is when to call :meth:`tick` next (``None``: only on input).

**Healthy means acknowledged**: ``connected`` only once the upstream
authenticated (Polygon ``auth_success``; a relay needs none) *and* every
subscription sent on this connection was acknowledged (Polygon ``success``
per topic, relay ``subscribed``; the client also counts a symbol's events as
its ack, for upstreams that stream without acking). That connection resets the attempt count
(the reconnect budget); the backoff starts again from its first delay once a
connection stayed connected for ``healthy_after`` seconds. An ``error`` reply
to a pending subscription -> ``subscribe_failed`` with the upstream's words,
then a new connection after the backoff (a new connection, not a re-send: a
relay keeps the callbacks of every subscribe it accepted).

The transitions allowed are listed in :data:`TRANSITIONS`; a move outside
the table is a bug and raises (the feed's supervisor restarts the upstream
task and says so: state ``restarting``).
"""

from __future__ import annotations

import enum
import random
from typing import Callable, Iterable

from shared.backoff import Backoff


class State(str, enum.Enum):
    CONNECTING = "connecting"            # first attempt: opening the socket
    AUTHENTICATING = "authenticating"    # open, waiting for auth_success (Polygon)
    SUBSCRIBING = "subscribing"          # authenticated, waiting for subscription acks
    CONNECTED = "connected"              # authenticated and acknowledged: healthy
    RECONNECTING = "reconnecting"        # a later attempt, or waiting for it (message says which)
    AUTH_FAILED = "auth_failed"          # key refused; long wait
    MAX_CONNECTIONS = "max_connections"  # key busy elsewhere; long wait
    SUBSCRIBE_FAILED = "subscribe_failed"  # an error reply to subscribe; backoff, new connection
    STALLED = "stalled"                  # silent while the market is active; backoff, new connection
    FAILED = "failed"                    # gave up (attempt budget spent, or a URL that can never work)
    RESTARTING = "restarting"            # the upstream task died unexpectedly; being restarted
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


S = State
_OPEN = frozenset({S.AUTHENTICATING, S.SUBSCRIBING, S.CONNECTED})
_WAITING = frozenset({S.RECONNECTING, S.AUTH_FAILED, S.MAX_CONNECTIONS, S.SUBSCRIBE_FAILED, S.STALLED,
                      S.RESTARTING})
_ANY = frozenset(State)
# state -> the states it may move to (STOPPED, FAILED and RESTARTING are reachable from anywhere)
TRANSITIONS: dict[State, frozenset[State]] = {
    S.STOPPED: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.CONNECTING: frozenset({S.AUTHENTICATING, S.SUBSCRIBING, S.CONNECTED, S.RECONNECTING}),
    S.RECONNECTING: frozenset({S.RECONNECTING, S.AUTHENTICATING, S.SUBSCRIBING, S.CONNECTED}),
    S.AUTHENTICATING: frozenset({S.SUBSCRIBING, S.CONNECTED, S.AUTH_FAILED, S.MAX_CONNECTIONS, S.RECONNECTING}),
    S.SUBSCRIBING: frozenset({S.CONNECTED, S.SUBSCRIBE_FAILED, S.RECONNECTING, S.STALLED, S.AUTH_FAILED}),
    S.CONNECTED: frozenset({S.SUBSCRIBE_FAILED, S.STALLED, S.RECONNECTING, S.AUTH_FAILED, S.MAX_CONNECTIONS}),
    S.AUTH_FAILED: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.MAX_CONNECTIONS: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.SUBSCRIBE_FAILED: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.STALLED: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.RESTARTING: frozenset({S.CONNECTING, S.RECONNECTING}),
    S.FAILED: frozenset({S.CONNECTING, S.RECONNECTING}),
}
for _s in TRANSITIONS:
    TRANSITIONS[_s] |= {S.STOPPED, S.FAILED, S.RESTARTING}


class TransitionError(RuntimeError):
    """A move the table does not allow: a bug in the caller or here."""


Action = tuple


class UpstreamSession:
    """One upstream's connection policy (see module doc). Times are seconds on the caller's clock."""

    def __init__(self, protocol: str, *, channels: Iterable[str] = ("T", "Q", "AM"),
                 reconnect_delay: float = 1.0, max_reconnect_delay: float = 30.0, max_attempts: int = 10,
                 healthy_after: float = 30.0, stall_timeout: float = 30.0, connect_timeout: float = 10.0,
                 auth_timeout: float = 10.0, subscribe_timeout: float = 10.0, auth_retry_delay: float = 300.0,
                 busy_retry_delay: float = 60.0, ping_interval: float | None = None, ping_message: str = "",
                 market_active: Callable[[int], bool] = lambda ms: True,
                 wall_ms: Callable[[], int] | None = None, rng: Callable[[], float] = random.random) -> None:
        self.protocol = protocol
        self.channels = tuple(channels)
        self.backoff = Backoff(reconnect_delay, max_reconnect_delay, rng=rng)
        self.max_attempts = max_attempts
        self.healthy_after, self.stall_timeout = healthy_after, stall_timeout
        self.connect_timeout, self.auth_timeout, self.subscribe_timeout = connect_timeout, auth_timeout, \
            subscribe_timeout
        self.auth_retry_delay, self.busy_retry_delay = auth_retry_delay, busy_retry_delay
        self.ping_interval, self.ping_message = ping_interval, ping_message
        self.market_active, self.wall_ms = market_active, wall_ms

        self.state = S.STOPPED
        self.message = ""
        self.since = 0.0             # when the state last changed (caller's clock)
        self.attempts = 0            # consecutive failed attempts (the reconnect budget)
        self.connects = 0            # connections that reached ``connected``
        self.wanted: set[str] = set()
        self.pending: dict[str, float] = {}  # subscription keys sent and not acknowledged -> when sent
        self._wait_until: float | None = None  # backoff: the next attempt starts then
        self._attempt_deadline: float | None = None  # connect / auth timeout of the attempt in flight
        self._connected_at: float | None = None
        self._last_rx = 0.0
        self._last_ping = 0.0
        self._last_data_ms = 0
        self._last_data_at = 0.0
        self._stall_check = 0.0      # market closed at the last check: look again then
        self.rev = 0                 # bumped when a deadline may have moved earlier (the client re-reads it)

    # ------------------------------------------------------------ helpers

    def _go(self, new: State, message: str, now: float) -> list[Action]:
        if new not in TRANSITIONS[self.state]:
            raise TransitionError(f"upstream session: {self.state} -> {new} is not a transition")
        if new == self.state and message == self.message:
            return []
        self.state, self.message, self.since = new, message, now
        self.rev += 1
        return [("state", new, message)]

    def keys(self, symbols: Iterable[str]) -> list[str]:
        """What the upstream acknowledges one by one: Polygon topics (``T.AAPL``), relay symbols."""
        if self.protocol == "polygon":
            return [f"{ch}.{s}" for s in symbols for ch in self.channels]
        return list(symbols)

    @property
    def is_open(self) -> bool:
        return self.state in _OPEN

    @property
    def waiting(self) -> bool:
        return self._wait_until is not None

    def data_clock_ms(self, now: float) -> int | None:
        """The upstream's own clock: last event time + time since it arrived (None before any)."""
        if self._last_data_ms:
            return self._last_data_ms + int((now - self._last_data_at) * 1000)
        return self.wall_ms() if self.wall_ms is not None else None

    @property
    def deadline(self) -> float | None:
        """When :meth:`tick` has something to decide (None: nothing until the next input)."""
        if self.state in (S.STOPPED, S.FAILED):
            return None
        if self._wait_until is not None:
            return self._wait_until
        times = [t for t in (self._attempt_deadline,) if t is not None]
        if self.pending:
            times.append(min(self.pending.values()) + self.subscribe_timeout)
        if self.state in (S.SUBSCRIBING, S.CONNECTED):
            if self.wanted:
                times.append(max(self._last_rx + self.stall_timeout, self._stall_check))
            if self.ping_interval:
                times.append(self._last_ping + self.ping_interval)
        return min(times) if times else None

    def _attempt(self, now: float, requested: bool = False) -> list[Action]:
        self._wait_until = None
        self._attempt_deadline = now + self.connect_timeout
        self.pending.clear()
        self._connected_at = None
        if requested:  # the user's reconnect: after giving up it starts afresh, else it is the next try now
            return self._go(S.CONNECTING if self.state is S.FAILED else S.RECONNECTING, "reconnect requested",
                            now) + [("connect",)]
        first = self.connects == 0 and self.attempts == 0 and self.state is not S.CONNECTING
        msg = f"attempt {self.attempts + 1}" if self.attempts else ""
        return self._go(S.CONNECTING if first else S.RECONNECTING, msg, now) + [("connect",)]

    def _retry(self, reason: str, now: float, state: State = S.RECONNECTING,
               delay: float | None = None, counts: bool = True) -> list[Action]:
        """This connection is over: decide how long to wait before the next one (or give up)."""
        out: list[Action] = []
        if self.is_open:
            out.append(("close", 1011 if state is S.STALLED else 1000, state.value))
        if self._connected_at is not None and now - self._connected_at >= self.healthy_after:
            self.backoff.reset()  # it stayed healthy: the next outage starts from the first delay
        self._connected_at = None
        self._attempt_deadline = None
        self.pending.clear()
        if delay is None:
            if counts:
                self.attempts += 1
                if self.max_attempts and self.attempts > self.max_attempts:
                    return out + self._go(S.FAILED, f"gave up after {self.max_attempts} attempts: {reason}", now)
            delay = self.backoff.next()
            text = f"{reason}; retry in {delay:.2f}s"
        else:
            text = f"{reason}; next try in {delay:.0f}s"
        self._wait_until = now + delay
        return out + self._go(state, text, now)

    def _maybe_connected(self, now: float) -> list[Action]:
        if self.state is S.SUBSCRIBING and not self.pending:
            self.connects += 1
            self.attempts = 0  # authenticated and subscribed: the reconnect budget is whole again
            self._connected_at = now
            self._last_rx = now
            return self._go(S.CONNECTED, "", now)
        return []

    # ------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Action]:
        """Begin (or, after ``failed``/a crash, begin again): the first attempt starts now."""
        if self.state not in (S.STOPPED, S.FAILED, S.RESTARTING):
            return []
        if self.state is S.RESTARTING and self._wait_until is not None and now < self._wait_until:
            return []  # tick() starts it when the restart delay is over
        return self._attempt(now)

    def stop(self, now: float) -> list[Action]:
        out: list[Action] = [("close", 1000, "client stopping")] if self.is_open else []
        self._wait_until = self._attempt_deadline = None
        self.pending.clear()
        return out + self._go(S.STOPPED, "stopped", now)

    def reconnect(self, now: float) -> list[Action]:
        """The user asked to reconnect (the window's Reconnect): a whole attempt budget and the backoff
        from its first delay. Failed, or waiting for the next try: that try starts now. An attempt in
        flight keeps going (with the new budget); an open connection and a stopped session are left
        alone. A crashed task's restart is due now (the client wakes its wait; :meth:`start` runs it)."""
        if self.is_open or self.state is S.STOPPED:
            return []
        self.attempts = 0
        self.backoff.reset()
        if self.state is S.RESTARTING:
            if self._wait_until is not None:
                self._wait_until = now
                self.rev += 1
            return []
        if self.state is S.FAILED or self._wait_until is not None:
            return self._attempt(now, requested=True)
        return []  # connecting: the attempt in flight decides

    def crashed(self, reason: str, delay: float, now: float) -> list[Action]:
        """The task running this session died (an exception escaped): restart after ``delay``."""
        self.pending.clear()
        self._attempt_deadline = None
        self._wait_until = now + delay
        return self._go(S.RESTARTING, f"upstream task failed ({reason}); restarting in {delay:.1f}s", now)

    def give_up(self, reason: str, now: float) -> list[Action]:
        """A failure no retry can fix (a URL that is not a WebSocket URL)."""
        self._wait_until = self._attempt_deadline = None
        return self._go(S.FAILED, reason, now)

    def opened(self, now: float, subscribed: Iterable[str] = ()) -> list[Action]:
        """The socket is open; ``subscribed``: the symbols the client sent a subscribe for on open."""
        self._last_rx = self._last_ping = now
        if self.protocol == "polygon":
            self._attempt_deadline = now + self.auth_timeout
            return self._go(S.AUTHENTICATING, "", now)
        self._attempt_deadline = None  # a relay needs no auth
        out = self._go(S.SUBSCRIBING, "", now)
        self.sent_subscribe(subscribed, now)
        return out + self._maybe_connected(now)

    def authenticated(self, now: float, subscribed: Iterable[str] = ()) -> list[Action]:
        if self.state is not S.AUTHENTICATING:
            return []
        self._attempt_deadline = None
        out = self._go(S.SUBSCRIBING, "authenticated", now)
        self.sent_subscribe(subscribed, now)
        return out + self._maybe_connected(now)

    def sent_subscribe(self, symbols: Iterable[str], now: float) -> None:
        symbols = list(symbols)
        self.wanted.update(symbols)
        if self.is_open:
            for k in self.keys(symbols):
                self.pending.setdefault(k, now)
            self.rev += 1

    def sent_unsubscribe(self, symbols: Iterable[str]) -> None:
        gone = set(symbols)
        self.wanted -= gone
        for k in [k for k in self.pending if k.rpartition(".")[2] in gone or k in gone]:
            del self.pending[k]

    def want(self, symbols: Iterable[str]) -> None:
        """The wanted set while not connected (sent in full by the next connection)."""
        self.wanted = set(symbols)

    def acked(self, keys: Iterable[str], now: float) -> list[Action]:
        """Acknowledged keys (topics or symbols; a bare symbol acknowledges all its topics)."""
        for k in keys:
            if k in self.pending:
                del self.pending[k]
            elif "." not in k:
                for p in [p for p in self.pending if p.endswith("." + k)]:
                    del self.pending[p]
        return self._maybe_connected(now)

    def sub_error(self, message: str, now: float) -> list[Action]:
        """An error reply while subscriptions are pending: the subscription failed."""
        if not self.pending or self.state not in (S.SUBSCRIBING, S.CONNECTED):
            return []  # an error about something else: the core counts it
        return self._retry(f"subscribe refused: {message}", now, S.SUBSCRIBE_FAILED)

    def auth_refused(self, message: str, now: float) -> list[Action]:
        return self._retry(message or "authentication failed", now, S.AUTH_FAILED, delay=self.auth_retry_delay)

    def busy(self, message: str, now: float) -> list[Action]:
        return self._retry(message or "max_connections", now, S.MAX_CONNECTIONS, delay=self.busy_retry_delay)

    def received(self, now: float, data_ms: int = 0) -> None:
        """A frame arrived (``data_ms``: its latest event time, 0 for control frames)."""
        self._last_rx = now
        if data_ms:
            self._last_data_ms, self._last_data_at = data_ms, now

    def closed(self, reason: str, now: float) -> list[Action]:
        """The connection (or the attempt) ended. After a decision already taken, nothing more to do."""
        if self.state in _WAITING and self._wait_until is not None or self.state in (S.STOPPED, S.FAILED):
            return []
        return self._retry(reason, now)

    def tick(self, now: float) -> list[Action]:
        """The deadline came: time out an attempt, fail a subscription, stall, ping, or start the next try."""
        if self.state in (S.STOPPED, S.FAILED):
            return []
        if self._wait_until is not None:
            return self._attempt(now) if now >= self._wait_until else []
        if self._attempt_deadline is not None and now >= self._attempt_deadline:
            what = "no auth reply" if self.state is S.AUTHENTICATING else "connect timed out"
            if self.state is S.AUTHENTICATING:
                what = f"{what} within {self.auth_timeout:.0f}s"
            return self._retry(what, now)
        if self.pending and now >= min(self.pending.values()) + self.subscribe_timeout:
            return self._retry(f"subscription not acknowledged within {self.subscribe_timeout:.0f}s", now,
                               S.SUBSCRIBE_FAILED)
        out: list[Action] = []
        if self.state in (S.SUBSCRIBING, S.CONNECTED):
            silent = now - self._last_rx
            if self.wanted and silent >= self.stall_timeout and now >= self._stall_check:
                clock = self.data_clock_ms(now)
                if clock is not None and self.market_active(clock):
                    return self._retry(f"no data for {silent:.0f}s while the market is active", now, S.STALLED)
                self._stall_check = now + min(1.0, self.stall_timeout)  # quiet market: look again in 1 s
            if self.ping_interval and now - self._last_ping >= self.ping_interval:
                self._last_ping = now
                out.append(("send", self.ping_message))
        return out
