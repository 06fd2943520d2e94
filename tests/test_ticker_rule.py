"""One ticker rule everywhere a ticker is typed or parsed: ``shared.models.market_data.normalize_symbol``.

All lower case is upper-cased for convenience (``aapl``); a ticker with an upper-case letter is kept
exactly, so a preferred share such as ``BACpL`` (the spec's pattern) never becomes ``BACPL``. These are
the simulator's and the example subscriber's entry points (sans-I/O: no sockets needed).
"""

from __future__ import annotations

import importlib.util

import orjson
import pytest

from feed_process.sim.cli_args import add_sim_arguments
from feed_process.sim.config import config_from_args
from feed_process.sim.polygon import PolygonSession
from feed_process.sim.relay import RelaySession
from feed_process.sim.rest import HistoryError, symbol
from feed_process.sim.sessions import ticker
from shared.models.market_data import normalize_symbol
from tests.util import REPO

CASES = ["BACpL", "aapl", " MSFT ", "BRK.B", "brk.b", "aaPL", "x y", "", 5, None]


def _expected(v):
    try:
        return normalize_symbol(v)
    except ValueError:
        return None


def test_sim_ticker_is_normalize_symbol():
    assert [ticker(v) for v in CASES] == [_expected(v) for v in CASES]
    assert ticker("BACpL") == "BACpL" and ticker("aapl") == "AAPL" and ticker("aaPL") is None


def test_sim_sessions_subscribe_bacpl_as_typed():
    poly = PolygonSession("simulated")
    poly.handle('{"action":"auth","params":"k"}')
    r = orjson.loads(poly.handle('{"action":"subscribe","params":"T.BACpL,Q.aapl"}').messages[0])
    assert [m["message"] for m in r] == ["subscribed to: T.BACpL", "subscribed to: Q.AAPL"]
    assert poly.subs.wants("T", "BACpL") and not poly.subs.wants("T", "BACPL")
    relay = RelaySession("c", "simulated")
    r = orjson.loads(relay.handle('{"action":"subscribe","symbols":["BACpL","msft"],"channels":["T"]}').messages[0])
    assert r == {"type": "subscribed", "symbols": ["BACpL", "MSFT"], "channels": ["T"]}
    assert relay.subs.wants("T", "BACpL")


def test_sim_rest_history_symbol_and_symbols_hint_flag():
    assert symbol("BACpL") == "BACpL" and symbol("tsla") == "TSLA"
    with pytest.raises(HistoryError):
        symbol("aaPL")
    import argparse

    p = argparse.ArgumentParser()
    add_sim_arguments(p)
    cfg = config_from_args(p.parse_args(["--symbols-hint", "BACpL,aapl", "msft"]))
    assert cfg.symbols_hint == ["BACpL", "AAPL", "MSFT"]
    with pytest.raises(SystemExit):
        p.parse_args(["--symbols-hint", "not a ticker!"])


def test_example_subscriber_keeps_bacpl():
    spec = importlib.util.spec_from_file_location("example_subscriber_rule", REPO / "examples" / "subscriber.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    assert mod.normalize_symbol is normalize_symbol  # in the repository: the project's rule itself
