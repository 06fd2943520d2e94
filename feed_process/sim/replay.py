"""Replay files: load, shift in time, pre-encode - so sending costs almost nothing.

Why pre-encoding: ``--max`` replay is the benchmark source for everything
downstream (target >= 500k events/s to one client on 2 cores), so the server
must never be the bottleneck. At load time each event is parsed once, shifted,
and re-encoded with orjson; events are grouped into chunks whose Polygon frame
(``[e1,e2,...]``) is joined once. A client subscribed to every (channel,
symbol) of a chunk gets the pre-joined bytes; others get a filtered join.

The time shift moves the file to the latest NYSE session on or before today
(New York dates, whole days, so the time of day and minute alignment are kept
even across a DST change); ``keep_time`` keeps the original stamps.

File format: one Polygon wire event per line (JSON), gzip or plain, time
ordered. Bad lines are counted and skipped (logged once), never fatal.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shared.market_hours import NY, latest_session_on_or_before, ny_date

log = logging.getLogger(__name__)

CHUNK = 1000  # events per pre-joined Polygon frame (bigger frames: less per-frame cost on both ends)
_TIME_KEYS = ("t", "s", "e")


def event_time(ev: dict) -> int:
    """The time an event happens on the tape: trades/quotes ``t``, bars their end ``e``."""
    t = ev.get("t")
    if t is None:
        t = ev.get("e", ev.get("s", 0))
    return int(t)


def day_shift_ms(file_day: dt.date, target_day: dt.date) -> int:
    """Milliseconds between the two New York midnights (whole days, DST-aware)."""
    a = dt.datetime.combine(file_day, dt.time(0, 0), NY)
    b = dt.datetime.combine(target_day, dt.time(0, 0), NY)
    return int((b.timestamp() - a.timestamp()) * 1000)


def shift_event(ev: dict, shift: int) -> dict:
    # 's' and 'e' are times only on aggregates; on a trade 's' is the size.
    for k in (_TIME_KEYS if ev.get("ev") in ("A", "AM") else ("t",)):
        if k in ev:
            v = ev[k]
            if type(v) is int or type(v) is float:
                ev[k] = int(v) + shift
    return ev


@dataclass
class Chunk:
    frame: bytes  # b"[e1,...,en]"
    keys: frozenset[tuple[str, str]]


@dataclass
class ReplayData:
    """A loaded replay: parallel arrays, time ordered."""

    times: list[int] = field(default_factory=list)  # tape time (shifted)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (ev, sym)
    encoded: list[bytes] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    bars: dict[str, list[dict]] = field(default_factory=dict)  # sym -> AM bars (shifted)
    shift: int = 0
    bad_lines: int = 0
    chunk: int = CHUNK  # events per chunk (= per pre-joined frame): the sim's --frame-events

    def framed(self, events: int) -> ReplayData:
        """This replay with chunks of ``events`` (itself when they already are): the frame-size knob."""
        if events == self.chunk:
            return self
        data = ReplayData(self.times, self.keys, self.encoded, [], self.bars, self.shift, self.bad_lines, events)
        data._join()
        return data

    def _join(self) -> None:
        n, enc, keys = self.chunk, self.encoded, self.keys
        self.chunks = [Chunk(b"[" + b",".join(enc[i:i + n]) + b"]", frozenset(keys[i:i + n]))
                       for i in range(0, len(enc), n)]

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def symbols(self) -> set[str]:
        return {s for _, s in self.keys}

    @property
    def span_ms(self) -> int:
        return (self.times[-1] - self.times[0]) if self.times else 0


def _read_lines(path: Path) -> list[bytes]:
    # One read and one decompress: line-by-line GzipFile.readline is several times slower.
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.splitlines()


def load_replay(path: str | Path, keep_time: bool = False, today: dt.date | None = None) -> ReplayData:
    """Read ``path``; raise ``ValueError`` with a one-line reason if unusable."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"replay file not found: {path}")
    events: list[dict] = []
    bad = 0
    try:
        lines = _read_lines(path)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ValueError(f"cannot read replay file {path}: {e}") from None
    loads = orjson.loads
    for line in lines:
        if not line.strip():
            continue
        try:
            ev = loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if type(ev) is not dict or type(ev.get("ev")) is not str or type(ev.get("sym")) is not str:
            bad += 1
            continue
        events.append(ev)
    if not events:
        raise ValueError(f"replay file {path} has no usable events")
    if bad:
        log.warning("replay %s: skipped %d bad lines", path.name, bad)
    shift = 0
    if not keep_time:
        target = latest_session_on_or_before(today or dt.datetime.now(NY).date())
        first_day = ny_date(event_time(events[0]))
        if target is not None:
            shift = day_shift_ms(first_day, target.day)
    data = ReplayData(shift=shift, bad_lines=bad)
    dumps = orjson.dumps
    for ev in events:
        if shift:
            shift_event(ev, shift)
        data.times.append(event_time(ev))
        key = (ev["ev"], ev["sym"])
        data.keys.append(key)
        data.encoded.append(dumps(ev))
        if ev["ev"] in ("AM", "A"):
            data.bars.setdefault(ev["sym"], []).append(ev)
    data._join()
    log.info("replay %s: %d events, %d symbols, shift %+d days", path.name, len(data), len(data.symbols),
             round(shift / 86_400_000))
    return data
