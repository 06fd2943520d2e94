"""Reference levels for the synthetic tape: price, daily volume and volatility per ticker.

Why a table: a simulator that shows AAPL at $96 and a 50k-share opening
minute looks broken to anyone who has seen the real tape, and the UI's
formatting, volume bars and alerts are judged on it. Common tickers get
approximate levels (late 2025, rounded: this is a believable backdrop, not a
quote source); any other ticker gets a level derived from a hash of its name,
so it is stable across runs and seeds, in a plausible range (a $15-250 stock
trading 0.8-15M shares a day).

The seed only moves the level a little (see :mod:`.market`); the table is
what "near the real one" means in the tests.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple


class Reference(NamedTuple):
    price: float  # dollars, the previous close before the seed's jitter
    adv: int  # average daily volume, shares (regular session)
    sigma: float  # annualised volatility


# symbol: (price $, average daily volume in millions of shares, annualised volatility)
_TABLE: dict[str, tuple[float, float, float]] = {
    "AAPL": (255, 50, 0.28), "MSFT": (505, 20, 0.24), "NVDA": (185, 180, 0.45),
    "TSLA": (430, 95, 0.60), "SPY": (670, 70, 0.14), "QQQ": (600, 45, 0.19),
    "AMZN": (225, 45, 0.32), "META": (705, 12, 0.36), "GOOGL": (250, 30, 0.30),
    "GOOG": (251, 20, 0.30), "AMD": (230, 55, 0.50), "AVGO": (340, 22, 0.45),
    "INTC": (37, 90, 0.50), "PLTR": (180, 55, 0.60), "IWM": (245, 35, 0.20),
    "DIA": (470, 4, 0.13), "JPM": (305, 9, 0.22), "BAC": (52, 38, 0.24),
    "F": (13, 60, 0.30), "IBM": (290, 4.5, 0.25), "COIN": (320, 9, 0.70),
    "UBER": (95, 18, 0.38), "KO": (70, 14, 0.15), "XOM": (115, 15, 0.22),
    "WMT": (100, 18, 0.20), "DIS": (112, 9, 0.26),
}

# Fallback ranges for tickers not in the table (log-uniform from the name's hash).
PRICE_RANGE = (15.0, 250.0)
ADV_RANGE = (800_000, 15_000_000)
SIGMA_RANGE = (0.22, 0.55)


def _unit(symbol: str, salt: str) -> float:
    """A number in [0, 1) fixed by the ticker (not by the seed: IBM-like names keep their level)."""
    h = hashlib.blake2b(f"{symbol}|{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _log_between(u: float, lo: float, hi: float) -> float:
    return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def reference(symbol: str) -> Reference:
    """The reference level of ``symbol`` (table, or derived from its name)."""
    row = _TABLE.get(symbol)
    if row is not None:
        price, adv_m, sigma = row
        return Reference(float(price), int(adv_m * 1_000_000), sigma)
    price = round(_log_between(_unit(symbol, "price"), *PRICE_RANGE), 2)
    adv = int(_log_between(_unit(symbol, "adv"), *ADV_RANGE))
    sigma = SIGMA_RANGE[0] + _unit(symbol, "sigma") * (SIGMA_RANGE[1] - SIGMA_RANGE[0])
    return Reference(price, adv, round(sigma, 3))


def known_symbols() -> list[str]:
    return sorted(_TABLE)


def activity_for(adv: int) -> float:
    """Event-rate multiplier from liquidity: busier names print more often (sub-linearly: the
    generator is pure Python, so volume beyond the event budget comes from larger prints)."""
    return min(2.5, max(0.5, (adv / 20_000_000) ** 0.35))
