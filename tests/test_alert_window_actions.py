"""A chart level becomes an alert, and an alert is edited from the Alerts panel (real feed, real window).

The feed runs on the scripted tape (stand-in upstream); the window charts its
symbol. A user line above the last price gets "Alert when price crosses
above", one below gets "below" (the handler the line's menu calls), an
automatic level's *Alert…* opens the dialog pre-filled; the feed's own list
(a control request, not the window's copy) holds them. *Edit…* on a row opens
the dialog with the alert's values and the feed reports the new ones.
"""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtWidgets import QDialog, QMenu

from tests.alert_tape import SYM, frames
from tests.feed_process_util import clean_env, run_feed
from tests.polygon_standin import run_standin
from tests.test_alerts_feed import Client, feed_args
from tests.test_watch_window import open_window, until
from ui_process.window.alert_panel import AlertDialog


@pytest.fixture
def feed(tmp_path):
    env = clean_env(POLYGON_API_KEY="k", LIVE_MONITOR_ALERTS_FILE=str(tmp_path / "alerts.json"))
    with run_standin(frames(), [SYM]) as up, run_feed(*feed_args(up), env=env) as f:
        c = Client(f.control, f.data, [])
        f.client = c
        try:
            yield f
        finally:
            c.close()


class RightClick:
    def button(self):
        return Qt.MouseButton.RightButton

    def accept(self):
        pass

    def screenPos(self):  # noqa: N802 (pyqtgraph)
        return QPointF(0, 0)


def menu_texts(line, monkeypatch) -> list[str]:
    """The texts of the menu a right-click on ``line`` opens (the menu is not shown)."""
    got: list[str] = []
    monkeypatch.setattr(QMenu, "exec", lambda self, *a: got.extend(x.text() for x in self.actions()))
    line.mouseClickEvent(RightClick())
    return got


def feed_alerts(feed) -> list[dict]:
    return feed.client.request(type="alert", op="list")["alerts"]


def test_levels_become_alerts_and_an_alert_is_edited_from_the_panel(qtbot, feed, tmp_path, monkeypatch):
    w = open_window(qtbot, feed.control, tmp_path, symbol=SYM)
    until(qtbot, lambda: w.chart_last_price() is not None)
    last = float(w.chart_last_price())
    levels = w.chart.levels
    hi, lo = levels.add(round(last + 50, 2)), levels.add(round(last - 50, 2))
    assert levels.cross_kind(hi.value()) == "above" and levels.cross_kind(lo.value()) == "below"
    assert menu_texts(hi, monkeypatch) == ["Label…", "Delete", "Alert when price crosses above this level"]
    assert menu_texts(lo, monkeypatch)[-1] == "Alert when price crosses below this level"
    assert menu_texts(levels.auto["prior_high"], monkeypatch) == ["Alert…"]
    levels.alert(float(hi.value()))  # what the line's "Alert when price crosses above this level" calls
    levels.alert(float(lo.value()))
    want = {("above", round(last + 50, 2)), ("below", round(last - 50, 2))}
    until(qtbot, lambda: want <= {(a["kind"], a["value"]) for a in feed_alerts(feed)})
    assert all(a["symbol"] == SYM and a["armed"] for a in feed_alerts(feed))

    # an automatic level's "Alert…": the dialog, pre-filled with the level (accepted as it is)
    seen: list[dict] = []

    def accept_as_is(self):
        seen.append(self.spec())
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AlertDialog, "exec", accept_as_is)
    levels.alert(round(last + 70, 2), ask=True)
    assert seen == [{"symbol": SYM, "kind": "above", "value": round(last + 70, 2)}]
    until(qtbot, lambda: ("above", round(last + 70, 2)) in {(a["kind"], a["value"]) for a in feed_alerts(feed)})

    # Edit…: the selected row's alert, pre-filled; OK sends what changed
    panel = w.watch.alerts
    until(qtbot, lambda: len(panel.alerts) == 3)
    row = next(i for i, a in enumerate(panel.alerts) if a["kind"] == "below")
    target = panel.alerts[row]
    prefilled: list[tuple] = []

    def edit_values(self):
        prefilled.append((self.symbol.text(), self.kind.currentText(), self.value.value(), self.symbol.isEnabled(),
                          self.hysteresis is not None, self.rearm is not None))
        self.value.setValue(round(last - 40, 2))
        self.note.setText("edited from the window")
        if self.hysteresis is not None:
            self.hysteresis.setValue(0.5)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AlertDialog, "exec", edit_values)
    panel.defined.setCurrentRow(row)
    assert panel.edit_selected()
    assert prefilled[0][:4] == (SYM, "below", round(last - 50, 2), False)

    def edited() -> dict:
        return next(a for a in feed_alerts(feed) if a["id"] == target["id"])

    until(qtbot, lambda: edited()["value"] == round(last - 40, 2))
    a = edited()
    assert a["note"] == "edited from the window" and a["kind"] == "below"
    assert prefilled[0][4:] == (True, False)  # a below alert has a hysteresis and no re-arm minutes
    assert a["hysteresis"] == 0.5
    # the panel follows the feed; a double-click on the row opens the same dialog
    until(qtbot, lambda: any(x["id"] == target["id"] and x["value"] == round(last - 40, 2) for x in panel.alerts))
    row = next(i for i, x in enumerate(panel.alerts) if x["id"] == target["id"])
    panel.defined.setCurrentRow(row)
    panel.defined.itemDoubleClicked.emit(panel.defined.item(row))
    assert len(prefilled) == 2 and prefilled[1][2] == round(last - 40, 2)
    w.close()
