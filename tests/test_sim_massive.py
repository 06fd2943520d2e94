"""The official Polygon/Massive client (PyPI ``massive``) consumes the simulator.

It must get EquityTrade / EquityQuote / EquityAgg objects with sane fields:
bid < ask, trades inside the quote, and AM bars that agree with the trades
the client itself saw. ``--speed 120`` makes a sim minute pass in half a second.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from massive import WebSocketClient
from massive.websocket.models import EquityAgg, EquityQuote, EquityTrade

from shared.models.conditions import update_rules
from tests.sim_process import run_sim


def test_official_massive_client_gets_trades_quotes_and_consistent_bars():
    with run_sim("--speed", "120", "--start", "09:40", "--key", "test-key") as sim:
        assert sim.source == "simulated"
        client = WebSocketClient(api_key="test-key", feed=f"127.0.0.1:{sim.port}", secure=False, market="stocks",
                                 subscriptions=["T.AAPL", "Q.AAPL", "AM.AAPL"], max_reconnects=0)
        msgs: list = []
        done = asyncio.Event()

        async def processor(batch):
            msgs.extend(batch)
            trades = [m for m in msgs if isinstance(m, EquityTrade)]
            if trades:
                first_min = trades[0].timestamp - trades[0].timestamp % 60_000
                full = [m for m in msgs if isinstance(m, EquityAgg) and m.start_timestamp > first_min]
                if len(full) >= 3:
                    done.set()

        async def main():
            task = asyncio.create_task(client.connect(processor))
            try:
                await asyncio.wait_for(done.wait(), 30)
            finally:
                await client.close()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        asyncio.run(main())
        assert sim.status()["accepted"]["polygon"] == 1

    quotes = [m for m in msgs if isinstance(m, EquityQuote)]
    trades = [m for m in msgs if isinstance(m, EquityTrade)]
    aggs = [m for m in msgs if isinstance(m, EquityAgg)]
    assert quotes and trades and aggs
    assert all(m.symbol == "AAPL" for m in msgs)
    assert all(q.bid_price < q.ask_price and 0.01 <= round(q.ask_price - q.bid_price, 2) <= 0.03 for q in quotes)
    last_q = None
    checked = 0
    for m in msgs:  # one symbol, one connection: the stream is in tape order
        if isinstance(m, EquityQuote):
            last_q = m
        elif isinstance(m, EquityTrade) and last_q is not None:
            assert last_q.bid_price - 1e-9 <= m.price <= last_q.ask_price + 1e-9
            assert m.size >= 1 and m.exchange and m.id
            checked += 1
    assert checked > 10

    by_min = defaultdict(list)
    for t in trades:
        by_min[t.timestamp - t.timestamp % 60_000].append(t)
    first_min = trades[0].timestamp - trades[0].timestamp % 60_000
    full = [a for a in aggs if a.start_timestamp > first_min]
    assert len(full) >= 3
    for a in full:
        ts = by_min[a.start_timestamp]
        assert a.end_timestamp == a.start_timestamp + 60_000
        vol = [t for t in ts if update_rules(t.conditions)[2]]
        px = [t for t in ts if update_rules(t.conditions)[1]]
        assert a.volume == sum(t.size for t in vol)
        assert a.vwap == pytest.approx(sum(t.price * t.size for t in vol) / a.volume, abs=6e-5)
        if px:
            assert (a.open, a.close) == (px[0].price, px[-1].price)
            assert a.high == max(t.price for t in px) and a.low == min(t.price for t in px)
        assert a.accumulated_volume >= a.volume and a.official_open_price > 0 and a.aggregate_vwap > 0
