"""Price levels on the chart: the user's horizontal lines and the automatic key levels.

Why this shape:
* **User lines** are pyqtgraph ``InfiniteLine`` s (drag built in). Adding one
  is "arm, then click" (L or Alt+L, then a click on the price pane): a click alone
  pans and zooms, as before. Double-click a line to label it, right-click it
  for Label / Delete / "Alert when price crosses above (below) this level"
  (:attr:`LevelLayer.on_alert`, wired by :mod:`.watch_dock`). Every change calls :attr:`LevelLayer.on_change` with the
  symbol's rows ``[{"price", "label"}]``; the window stores them per symbol
  (:mod:`.persist`), so they survive a restart.
* **Automatic lines** (prior day high/low/close, pre-market high/low, opening
  range) come from the manager's ``levels_updated`` (computed by
  :mod:`shared.market.levels`, never here), each group toggleable; right-click
  one for *Alert…* (the alert dialog, pre-filled with the level).
* **The tag**: the line nearest the crosshair gets its name and price on the
  right edge of the price pane, so a trader reads "PDH 212.40" without
  hunting for the line's own small label.
Lines are only a handful, so each is its own item; none of them costs a
repaint of the candles.
"""

from __future__ import annotations

from typing import Any, Callable

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QInputDialog, QMenu

from shared.market.levels import GROUPS, NAMES

from .quiet_line import QuietLine

AUTO_COLOURS = {"prior": "#90a4ae", "pre": "#64b5f6", "or": "#ffb74d"}
USER_COLOUR = "#e0e0e0"


def _group(name: str) -> str:
    return next(g for g, names in GROUPS.items() if name in names)


class UserLine(pg.InfiniteLine):
    """A draggable level with a label; double-click labels it, right-click offers Label / Delete."""

    def __init__(self, layer: "LevelLayer", price: float, label: str):
        pen = pg.mkPen(USER_COLOUR, width=1.5)
        super().__init__(pos=price, angle=0, movable=True, pen=pen, hoverPen=pg.mkPen("#ffffff", width=2.5),
                         label="", labelOpts={"position": 0.45, "color": USER_COLOUR, "anchors": [(0, 1), (0, 1)]})
        self.layer = layer
        self.text = ""
        self.set_text(label)
        self.setZValue(30)
        self.sigPositionChangeFinished.connect(lambda *_: layer.changed())

    def set_text(self, text: str) -> None:
        self.text = text.strip()
        safe = self.text.replace("{", "{{").replace("}", "}}")
        self.label.setFormat((safe + "  " if safe else "") + "{value:,.2f}")
        self.label.valueChanged()

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802 (Qt)
        ev.accept()
        self.layer.ask_label(self)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph)
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            menu = QMenu()
            menu.addAction("Label…", lambda: self.layer.ask_label(self))
            menu.addAction("Delete", lambda: self.layer.remove(self))
            if self.layer.on_alert is not None:
                kind = self.layer.cross_kind(float(self.value()))
                text = f"Alert when price crosses {kind} this level" if kind else "Alert at this level…"
                menu.addAction(text, lambda: self.layer.alert(float(self.value())))
            menu.exec(ev.screenPos().toPoint())
            return
        super().mouseClickEvent(ev)


class AutoLine(QuietLine):
    """An automatic level (fixed); right-click offers *Alert…* when the window wired alerts."""

    def __init__(self, layer: "LevelLayer", **kw: Any):
        super().__init__(**kw)
        self.layer = layer

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph)
        if ev.button() == Qt.MouseButton.RightButton and self.layer.on_alert is not None:
            ev.accept()
            menu = QMenu()
            menu.addAction("Alert…", lambda: self.layer.alert(float(self.value()), ask=True))
            menu.exec(ev.screenPos().toPoint())
            return
        super().mouseClickEvent(ev)


class LevelLayer:
    def __init__(self, plot: Any, th: Any):
        self.plot = plot
        self.user: list[UserLine] = []
        self.auto: dict[str, pg.InfiniteLine] = {}
        self.values: dict[str, float | None] = {}
        self.groups = {g: True for g in GROUPS}
        self.armed = False
        self.on_change: Callable[[list[dict]], None] | None = None
        self.ask_text: Callable[[str], str | None] = self._dialog  # tests replace the dialog
        # An alert at a level: on_alert(price, kind, ask); kind is above/below against price_now() (None:
        # no price yet); ask: open the dialog rather than add it at once.
        self.on_alert: Callable[[float, str | None, bool], None] | None = None
        self.price_now: Callable[[], float | None] = lambda: None
        for name in NAMES:
            colour = AUTO_COLOURS[_group(name)]
            line = AutoLine(self, angle=0, movable=False,
                            pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                            label=NAMES[name] + " {value:,.2f}",
                            labelOpts={"position": 0.72, "color": colour, "anchors": [(0, 1), (0, 1)]})
            line.setVisible(False)
            line.setZValue(20)
            plot.addItem(line, ignoreBounds=True)
            self.auto[name] = line
        self.tag = QuietLine(angle=0, movable=False, pen=pg.mkPen(None), label="",
                                   labelOpts={"position": 0.9, "color": "#000000", "fill": USER_COLOUR})
        self.tag.setVisible(False)
        self.tag.setZValue(45)
        plot.addItem(self.tag, ignoreBounds=True)

    # ---------------------------------------------------------------- user lines
    def set_user(self, rows: list[dict]) -> None:
        """Replace the user's lines with ``rows`` (a symbol's stored levels); no on_change."""
        for line in self.user:
            self.plot.removeItem(line)
        self.user = []
        for r in rows:
            try:
                self._add(float(r["price"]), str(r.get("label") or ""))
            except (KeyError, TypeError, ValueError):
                continue  # a hand-edited store with a bad row: skip it, keep the rest

    def rows(self) -> list[dict]:
        return [{"price": round(float(line.value()), 6), "label": line.text} for line in self.user]

    def _add(self, price: float, label: str) -> UserLine:
        line = UserLine(self, price, label)
        self.plot.addItem(line, ignoreBounds=True)
        self.user.append(line)
        return line

    def add(self, price: float, label: str = "") -> UserLine:
        line = self._add(price, label)
        self.changed()
        return line

    def remove(self, line: UserLine) -> None:
        if line in self.user:
            self.user.remove(line)
            self.plot.removeItem(line)
            self.tag.setVisible(False)
            self.changed()

    def set_label(self, line: UserLine, text: str) -> None:
        line.set_text(text)
        self.changed()

    def ask_label(self, line: UserLine) -> None:
        text = self.ask_text(line.text)
        if text is not None:
            self.set_label(line, text)

    def _dialog(self, current: str) -> str | None:
        text, ok = QInputDialog.getText(None, "Label this level", "Label:", text=current)
        return text if ok else None

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.rows())

    def click(self, y: float) -> bool:
        """A click on the price pane at price ``y``: adds a line when armed (L)."""
        if not self.armed:
            return False
        self.armed = False
        self.add(y)
        return True

    def cross_kind(self, price: float) -> str | None:
        """"above" when the level is above the last price, "below" when not; None with no price yet."""
        last = self.price_now()
        return None if last is None else ("above" if price > last else "below")

    def alert(self, price: float, ask: bool = False) -> None:
        """The level's alert action: hands (price, kind, ask) to :attr:`on_alert`."""
        if self.on_alert is not None:
            self.on_alert(price, self.cross_kind(price), ask)

    # ---------------------------------------------------------------- automatic lines
    def set_auto(self, levels: dict) -> None:
        self.values = {k: levels.get(k) for k in NAMES}
        self._show_auto()

    def set_group(self, group: str, on: bool) -> None:
        self.groups[group] = on
        self._show_auto()

    def _show_auto(self) -> None:
        for name, line in self.auto.items():
            v = self.values.get(name)
            on = v is not None and self.groups[_group(name)]
            line.setVisible(on)  # first: a hidden line's label ignores value changes
            if on:
                line.setValue(v)

    def clear(self) -> None:
        self.values = {}
        self.armed = False
        self._show_auto()
        self.tag.setVisible(False)

    # ---------------------------------------------------------------- the tag
    def nearest(self, y: float) -> tuple[str, float, str] | None:
        """(name, price, colour) of the visible line nearest the price ``y``."""
        cands = [(line.text or "Level", float(line.value()), USER_COLOUR) for line in self.user]
        cands += [(NAMES[n], float(line.value()), AUTO_COLOURS[_group(n)]) for n, line in self.auto.items()
                  if line.isVisible()]
        return min(cands, key=lambda c: abs(c[1] - y)) if cands else None

    def tag_near(self, y: float | None) -> None:
        near = self.nearest(y) if y is not None else None
        if near is None:
            self.tag.setVisible(False)
            return
        name, price, colour = near
        self.tag.setVisible(True)
        self.tag.label.fill = pg.mkBrush(colour)
        self.tag.label.setFormat(name.replace("{", "{{").replace("}", "}}") + " {value:,.2f}")
        self.tag.setValue(price)
        self.tag.label.valueChanged()
