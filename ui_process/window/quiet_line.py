"""pyqtgraph ``InfiniteLine`` s whose labels do no work while hidden.

Why: every view change (each pan or zoom step, each follow scroll) calls
``viewTransformChanged`` on every labelled line of the pane, and the label
re-derives its end points and text anchor - ~0.3 ms each. The chart holds a
dozen such lines that are hidden most of the time (the crosshair's four, the
key levels not yet known, the hover tag): measured in ``bench.chart_panzoom``
they were a fifth of a pan frame. A :class:`QuietLabel` skips that while
hidden and catches up when it is shown.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg


class QuietLabel(pg.InfLineLabel):
    _stale = False

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph hook)
        if not self.isVisible():
            self._stale = True  # placed when shown (itemChange below)
            return
        self._stale = False
        super().viewTransformChanged()

    def itemChange(self, change, value):  # noqa: N802 (Qt API)
        ret = super().itemChange(change, value)
        if change == self.GraphicsItemChange.ItemVisibleHasChanged and self._stale and self.isVisible():
            self.viewTransformChanged()
        return ret


class QuietLine(pg.InfiniteLine):
    """An ``InfiniteLine`` whose ``label`` is a :class:`QuietLabel` (same arguments)."""

    def __init__(self, *args: Any, label: str | None = None, labelOpts: dict | None = None, **kw: Any):  # noqa: N803
        super().__init__(*args, **kw)
        if label is not None:
            self.label = QuietLabel(self, text=label, **(labelOpts or {}))
