"""The feed's control messages (DEALER <-> ROUTER), declared once: requests, replies, their builders.

Why apart from :mod:`.messages`: that module holds the data socket's messages
and the base (``Msg``: ``type`` tag and required ``v``); these build on it.
``messages.HelloReq`` etc. resolve here too (``messages.__getattr__``), so a
reader imports one name. Requests and replies share type names (``hello``,
``snapshot``, ``status``, ``summary``, ``alert``), hence two unions: what a
feed accepts (``Request``), what a client accepts (``Reply``). A requests's
builder returns a map made from its struct (``as_map``: a client sets or
rewrites ``id``); a reply is built and encoded as its struct. Fields are
added here and in docs/PROTOCOL.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from msgspec import Meta, Struct

from .messages import MAX_ARRAY_LEN, Count, Id, Msg, Summary, Sym, Word, as_map

# ---------------------------------------------------------------- control requests (client -> feed)

class HelloReq(Msg, tag="hello"):
    id: Id = None
    client: Word = ""


class SnapshotReq(Msg, tag="snapshot"):
    id: Id = None
    symbol: Any = None              # checked by the feed: a bad symbol gets code bad_symbol


class StatusReq(Msg, tag="status"):
    id: Id = None


class Ping(Msg, tag="ping"):
    id: Id = None


class Command(Msg, tag="command", omit_defaults=True):
    """``cmd`` to the feed: ``supervisor_report`` (children, supervisor_pid, mode), ``notice`` (message,
    source), ``reconnect``; to the supervisor (``supervisor/control.py``): ``open_window`` (symbol; answered),
    ``window_symbol`` / ``window_ready`` (symbol, marks, pid: never answered), ``window_spare`` (pid; answered
    ``ok`` with ``symbol`` when the user asks for a window). The receivers check the values (a bad one is
    their error reply); only what a sender sets is sent."""
    id: Id = None
    cmd: Any = None
    children: Any = None
    message: Any = None
    source: Any = None
    supervisor_pid: Any = None
    mode: Any = None
    symbol: Any = None
    marks: Any = None
    pid: Any = None


class SummaryReq(Msg, tag="summary"):
    id: Id = None
    symbols: Any = None


class AlertReq(Msg, tag="alert", omit_defaults=True):
    """``op``: ``add`` (symbol, kind, value?, hysteresis?, rearm_minutes?, note?), ``edit`` (alert + fields),
    ``arm`` / ``disarm`` / ``rm`` (alert), ``list``, ``log`` (since?), ``ack`` (upto), ``signal`` (symbol,
    signal). The shape is declared here; the values are the alert book's business rules
    (``feed_process/alert_book.py``, error code ``bad_alert``), so they are not typed here."""
    id: Id = None
    op: Any = None
    alert: Any = None               # the alert's id (a3)
    symbol: Any = None
    kind: Any = None
    value: Any = None
    armed: Any = None
    hysteresis: Any = None
    rearm_minutes: Any = None
    note: Any = None
    since: Any = None
    upto: Any = None
    signal: Any = None


ALERT_FIELDS = ("value", "armed", "hysteresis", "rearm_minutes", "note")  # what edit may change
Request = Union[HelloReq, SnapshotReq, StatusReq, Ping, Command, SummaryReq, AlertReq]


# ---------------------------------------------------------------- control replies (feed -> client)

class HelloReply(Msg, tag="hello"):
    server: str
    protocol: int
    epoch: Count
    pid: Count
    data: str                       # the data endpoint (XPUB)
    id: Id = None
    upstream: dict[str, Any] = {}


class SnapshotReply(Msg, tag="snapshot"):
    """Field meanings: docs/PROTOCOL.md "Snapshot fields". The seed dicts (trade, quote, bars, day) are
    checked one by one where the window reads them, by the event structs' rules
    (``wire.event_to_dict``): one bad bar costs that bar, not the snapshot."""
    symbol: Sym
    epoch: Count
    seq: Count
    id: Id = None
    last_trade: Any = None
    last_quote: Any = None
    day: Any = None
    bars: Annotated[list[Any], Meta(max_length=MAX_ARRAY_LEN)] = []
    forming: Any = None
    backfill: dict[str, Any] | None = None
    day_bars: Annotated[list[Any], Meta(max_length=MAX_ARRAY_LEN)] = []
    prev_day: Any = None
    source: str | None = None
    upstream: dict[str, Any] = {}


class ErrorReply(Msg, tag="error"):
    """The answer to a request that was malformed, unknown or refused (``code`` says which)."""
    id: Id = None
    code: str = "bad_request"
    message: str = ""


class Ok(Msg, tag="ok", omit_defaults=True):
    id: Id = None
    started: bool | None = None     # reconnect: did anything change
    state: str | None = None
    symbol: str | None = None       # the supervisor's answer to window_spare


class Pong(Msg, tag="pong"):
    id: Id = None


class SymbolStatus(Struct, gc=False):
    """One symbol of the status reply (``symbols``: ``{SYM: SymbolStatus}``)."""
    seq: int = 0
    last_ms: int | None = None
    events: int = 0
    bars: int = 0
    backfill: str = "none"          # none | pending | queued | done | failed
    backfill_ahead: int = 0         # queued: REST requests ahead of ours
    stored: int = 0                 # bars loaded from the history store
    day_bars: int = 0


class StatusReply(Msg, tag="status"):
    """The answer to ``status`` (``live-monitor status``); every figure has a default, so a reader of
    another feed version reads what it knows."""
    id: Id = None
    pid: int = 0
    epoch: int = 0
    uptime_s: float = 0.0
    control: str = ""
    data: str = ""
    upstream: dict[str, Any] = {}
    symbols: dict[str, SymbolStatus] = {}
    subscribers: int = 0
    counters: dict[str, Any] = {}
    supervisor: dict[str, Any] | None = None    # the supervisor's last report (children)
    rest: dict[str, Any] | None = None          # the REST rate limiter
    store: dict[str, Any] | None = None         # the history store, when there is one


class SummaryReply(Msg, tag="summary"):
    """The answer to ``summary``: the current :class:`Summary` of each asked symbol (None: not subscribed)."""
    id: Id = None
    summaries: dict[str, Summary | None] = {}


class AlertReply(Msg, tag="alert", omit_defaults=True):
    """The answer to an ``alert`` request: ``op`` echoed, and what that op returns (``alert``: the alert
    added, edited, armed or removed; ``alerts`` (list, log); ``log``: entries after ``since``; ``acked``;
    ``fired``). The alert and entry maps are the alert file's (``feed_process/alert_book.py``)."""
    id: Id = None
    op: Any = None
    alert: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] | None = None
    log: list[dict[str, Any]] | None = None
    acked: int | None = None
    fired: int | None = None


Reply = Union[HelloReply, SnapshotReply, Ok, Pong, ErrorReply, StatusReply, SummaryReply, AlertReply]


# ---------------------------------------------------------------- builders

def error_reply(req_id: Any, message: str, code: str = "bad_request") -> ErrorReply:
    return ErrorReply(v=1, id=req_id, code=code, message=message)


def hello_request(req_id: int | str = 0, client: str = "") -> dict:
    return as_map(HelloReq(v=1, id=req_id, client=client))


def snapshot_request(symbol: str, req_id: int | str = 0) -> dict:
    return as_map(SnapshotReq(v=1, id=req_id, symbol=symbol))


def status_request(req_id: int | str = 0) -> dict:
    return as_map(StatusReq(v=1, id=req_id))


def summary_request(symbols: list[str], req_id: Id = None) -> dict:
    return as_map(SummaryReq(v=1, id=req_id, symbols=symbols))


def alert_request(op: str, req_id: Id = None, **fields: Any) -> dict:
    """``{type: alert, op, ...}``; a field the request does not declare is a TypeError (the sender's bug)."""
    return as_map(AlertReq(v=1, id=req_id, op=op, **fields))


def command(cmd: str, req_id: Id = None, **fields: Any) -> dict:
    """``{type: command, cmd, ...}`` to the feed or the supervisor (:class:`Command` lists the fields)."""
    return as_map(Command(v=1, id=req_id, cmd=cmd, **fields))
