"""day6.widgets: panels recompute when a control moves, and fall back to a static figure headlessly."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure

from day6 import viz
from day6.backoff import Jitter
from day6.errors import ConfigError
from day6.widgets import (
    ChoiceControl,
    FloatControl,
    IntControl,
    Panel,
    backoff_panel,
    herd_panel,
    is_static,
)


def _counting_panel() -> tuple[Panel[list[float]], list[dict[str, object]]]:
    calls: list[dict[str, object]] = []

    def compute(level: float, count: int, mode: str) -> list[float]:
        calls.append({"level": level, "count": count, "mode": mode})
        return [level * (2 if mode == "double" else 1)] * count

    def plot(data: list[float]) -> Figure:
        return viz.plot_level(list(range(len(data))), data)

    panel = Panel(
        compute=compute,
        plot=plot,
        specs={
            "level": FloatControl(1.0, 0.0, 10.0, 0.5, label="level"),
            "count": IntControl(3, 1, 10, label="count"),
            "mode": ChoiceControl("single", ("single", "double"), label="mode"),
        },
    )
    return panel, calls


def test_panel_computes_at_the_defaults_first() -> None:
    """Before any control moves, data and figure come from the declared defaults (computed once)."""
    panel, calls = _counting_panel()
    assert panel.data == [1.0, 1.0, 1.0]
    assert isinstance(panel.figure, Figure)
    assert calls == [{"level": 1.0, "count": 3, "mode": "single"}]


def test_setting_a_control_value_recomputes_data_and_figure() -> None:
    """Moving a control (setting .value) recomputes synchronously with the new values."""
    panel, calls = _counting_panel()
    before = panel.figure
    panel.controls["count"].value = 5
    assert panel.data == [1.0] * 5
    panel.controls["mode"].value = "double"
    assert panel.data == [2.0] * 5
    assert panel.values == {"level": 1.0, "count": 5, "mode": "double"}
    assert panel.figure is not before
    assert calls[-1] == {"level": 1.0, "count": 5, "mode": "double"}


def test_live_widget_image_is_redrawn_when_a_control_moves() -> None:
    """The live panel shows a PNG; moving a control replaces it with the new figure's PNG."""
    panel, _ = _counting_panel()
    widget = panel.widget
    image = widget.children[-1]
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG")
    panel.controls["level"].value = 7.5
    assert bytes(image.value) != first
    assert bytes(image.value).startswith(b"\x89PNG")


def test_static_figure_uses_the_defaults_whatever_the_controls_show() -> None:
    """The static fallback is always the figure at the declared defaults."""
    panel, calls = _counting_panel()
    panel.controls["count"].value = 9
    panel.static_figure()
    assert calls[-1] == {"level": 1.0, "count": 3, "mode": "single"}


def test_show_falls_back_to_a_static_image_and_can_show_the_live_widget(capsys) -> None:  # type: ignore[no-untyped-def]
    """show(static=True) displays a PNG image; show(static=False) displays the widget box."""
    panel, _ = _counting_panel()
    panel.show(static=True)
    assert "Image object" in capsys.readouterr().out
    panel.show(static=False)
    assert capsys.readouterr().out.startswith("VBox(")


def test_is_static_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit argument wins; DAY6_STATIC=1 forces static; a plain interpreter is static."""
    monkeypatch.delenv("DAY6_STATIC", raising=False)
    assert is_static(False) is False
    assert is_static(True) is True
    assert is_static() is True  # pytest is not an IPython kernel
    monkeypatch.setenv("DAY6_STATIC", "1")
    assert is_static() is True
    assert is_static(False) is False


def test_is_static_is_false_in_a_kernel_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside an IPython kernel (a shell with a kernel) and without DAY6_STATIC, panels are live."""
    import IPython

    class _KernelShell:
        kernel = object()

    monkeypatch.delenv("DAY6_STATIC", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: _KernelShell())
    assert is_static() is False
    monkeypatch.setenv("DAY6_STATIC", "yes")
    assert is_static() is True


def test_backoff_panel_recomputes_bands_from_its_controls() -> None:
    """Changing jitter and base delay changes the delay bands the panel plots."""
    panel = backoff_panel()
    assert {band.jitter for band in panel.data} == {Jitter.PROPORTIONAL}
    panel.controls["jitter"].value = "none"
    assert [band.median for band in panel.data][:3] == pytest.approx([0.1, 0.2, 0.4])
    panel.controls["base_delay"].value = 0.5
    assert [band.median for band in panel.data][:3] == pytest.approx([0.5, 1.0, 2.0])
    assert set(panel.controls) == {"base_delay", "multiplier", "cap", "jitter", "attempts", "seed"}


def test_herd_panel_reruns_the_simulation_from_its_controls() -> None:
    """Clients, jitter and seed feed the thundering-herd simulation behind the panel."""
    panel = herd_panel(clients=40)
    assert panel.data.clients == 40
    assert panel.data.jitter is Jitter.NONE
    before = panel.data
    panel.controls["jitter"].value = "full"
    assert panel.data.jitter is Jitter.FULL
    assert panel.data.spans != before.spans
    panel.controls["clients"].value = 10
    assert panel.data.clients == 10
    assert len(panel.figure.axes) == 2


@pytest.mark.parametrize(
    ("factory", "setting"),
    [
        (lambda: FloatControl(5.0, 0.0, 1.0, 0.1), "FloatControl.value"),
        (lambda: FloatControl(0.5, 0.0, 1.0, 0.0), "FloatControl.step"),
        (lambda: FloatControl(float("nan"), 0.0, 1.0, 0.1), "FloatControl.value"),
        (lambda: IntControl(0, 1, 10), "IntControl.value"),
        (lambda: IntControl(1, 1, 10, step=0), "IntControl.step"),
        (lambda: ChoiceControl("c", ("a", "b")), "ChoiceControl.value"),
        (lambda: ChoiceControl("a", ()), "ChoiceControl.options"),
    ],
)
def test_controls_reject_invalid_declarations(factory, setting: str) -> None:  # type: ignore[no-untyped-def]
    """A control refuses a default outside its range, a zero step or an unknown choice."""
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        factory()


def test_static_panel_needs_no_ipywidgets() -> None:
    """Computing and rendering the static fallback never imports ipywidgets."""
    code = (
        "import sys\n"
        "from day6.widgets import backoff_panel\n"
        "backoff_panel().static_figure()\n"
        "assert 'ipywidgets' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
