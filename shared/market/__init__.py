"""The market core: the only code that knows the market's rules (sans-I/O, no Qt, no sockets).

Which module owns which rule:
* :mod:`.conditions` - which prints update high/low, open/close and volume
  (Polygon's consolidated condition table, with its minute-bar exception for
  Form T).
* :mod:`.minute` - the minute bar: forming state, what opens and closes it,
  volume-only minutes, late prints, official AM bars arriving late, A events.
* :mod:`.history` - the bar layout and the 2000-bar history: one bar per
  minute, merge levels provisional < backfill < live AM, trimming.
* :mod:`.day` - the day statistics: official open ``op`` / accumulated volume
  ``av`` / day VWAP ``a`` when the upstream sends them, else from the bars;
  previous close.
* :mod:`.timeframes` - the chart timeframes (1m..D): which bucket a minute
  belongs to (Polygon's alignment, the 1h/4h anchor setting), how minutes
  merge into a bar, day bars from the upstream's day aggregates.
* :mod:`.levels` - the automatic price levels: prior day high/low/close,
  pre-market high/low, opening range.

Users: ``feed_process.state.FeedSymbol`` (feed snapshots), ``ui_process.
symbol_state.WindowSymbol`` (the window's bars and ticker) and
``feed_process.sim.bars.BarBuilder`` (the simulator's AM events). All three
fold the same trades the same way, so a minute is the same bar everywhere.
"""

from .conditions import ALL, CONDITIONS, HL, LAST, VOL, condition_name, flags, update_rules
from .day import DayView, prev_close_from_bars
from .history import HIST, LIVE, MINUTE, PROV, BarHistory, bar_dict
from .minute import MinuteBars

__all__ = ["ALL", "CONDITIONS", "HL", "LAST", "VOL", "condition_name", "flags", "update_rules", "DayView",
           "prev_close_from_bars", "HIST", "LIVE", "MINUTE", "PROV", "BarHistory", "bar_dict", "MinuteBars"]
