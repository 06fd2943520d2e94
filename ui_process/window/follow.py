"""Which x range follows the live edge of the chart (pure: no Qt, unit-tested directly).

Why steps: following bar by bar moved the view - and so repainted every pane,
axis and grid - each time a bar was added; at replay speed or in a burst of
second bars that was every frame. Scrolling by a step (1/24 of the view) keeps
the picture still while the next bars fill the room right of the last one.
"""

from __future__ import annotations

DEFAULT_VISIBLE = 120  # bars shown when following the live edge
RIGHT_MARGIN = 3  # empty bars right of the live edge
MIN_SPAN = 60  # the view is never narrower than this many bars: one first candle must not fill the chart
FOLLOW_STEPS = 24  # following scrolls by 1/24 of the view (5 bars of 120) at a time


def follow_range(last: int, base: int, visible: int, current: tuple[float, float]) -> tuple[float, float] | None:
    """The x range that follows bar ``last``, or None when ``current`` already does.

    The view shows ``visible`` bars (never fewer than MIN_SPAN wide) with
    RIGHT_MARGIN empty bars right of the last; when the last bar reaches that
    margin the view jumps a step further, so the next bars need no scroll.
    """
    x0 = min(max(base - 1, last - visible), last - MIN_SPAN)
    width = last + RIGHT_MARGIN - x0
    step = max(1, visible // FOLLOW_STEPS)
    c0, c1 = current
    if last + RIGHT_MARGIN <= c1 <= last + RIGHT_MARGIN + step and abs((c1 - c0) - width) < 0.5:
        return None
    x1 = last + RIGHT_MARGIN + (step if x0 > base - 1 else 0)  # room to grow into; none while bars are few
    return x1 - width, x1
