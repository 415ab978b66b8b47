"""The browser harness itself: it sees errors, stopped runs, live panels, and plots that do not change.

A check that cannot fail proves nothing, so the harness runs a canary notebook built to trip each
check once: a panel whose plot follows its slider, a panel whose plot ignores its slider, a cell
that raises, and a cell after it that therefore never runs. The tests assert the harness reports
exactly those, in the same browser and Lab server the labs use.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.browser._config import HERE, NOTEBOOKS, browser_requested, require_playwright
from tests.browser._server import LabServer, lab_environment

require_playwright()

from tests.browser._ui import (  # noqa: E402  (needs playwright, checked just above)
    LabRun,
    image_digests,
    move_controls_until_plot_changes,
)

CANARY = "_harness/canary.ipynb"


def new_markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def new_code_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


_CELLS = [
    new_markdown_cell("# Harness canary"),
    new_code_cell(
        "import os\n"
        "import ipywidgets as widgets\n"
        "import matplotlib.pyplot as plt\n"
        "from IPython.display import display\n"
        "print('kernel env:', os.environ.get('DAY6_STATIC'), 'OPENAI_API_KEY' in os.environ)"
    ),
    new_code_cell(  # live: the plot follows the slider (committed on release / key, not while dragging)
        "live = widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.5, description='slope', "
        "continuous_update=False)\n"
        "def draw(slope):\n"
        "    fig, ax = plt.subplots(figsize=(4, 2.5))\n"
        "    ax.plot([0, 1, 2], [0, slope, 2 * slope])\n"
        "    plt.show()\n"
        "display(widgets.VBox([live, widgets.interactive_output(draw, {'slope': live})]))"
    ),
    new_code_cell(  # dead: the slider is wired, but the picture never depends on it
        "dead = widgets.IntSlider(value=2, min=0, max=5, description='ignored')\n"
        "def same(ignored):\n"
        "    fig, ax = plt.subplots(figsize=(4, 2.5))\n"
        "    ax.plot([0, 1], [1, 1])\n"
        "    plt.show()\n"
        "display(widgets.VBox([dead, widgets.interactive_output(same, {'ignored': dead})]))"
    ),
    new_code_cell(  # a request that must be refused: nothing but 127.0.0.1 may be reached
        "from IPython.display import HTML\n"
        'display(HTML(\'<img alt="offsite" src="http://day6-offsite.invalid/pixel.png">\'))'
    ),
    new_code_cell("raise ValueError('canary failure')"),
    new_code_cell("print('never runs')"),
]


@pytest.fixture(scope="session")
def canary(lab_server: LabServer) -> str:
    """The canary notebook, written next to the served copy of the labs."""
    path = lab_server.root / CANARY
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": _CELLS,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 4,  # 4, not 5: cells need no ids
    }
    path.write_text(json.dumps(notebook, indent=1))
    return CANARY


# -- browser ----------------------------------------------------------------------------------------

on_canary = pytest.mark.parametrize("lab_run", [pytest.param(CANARY, id="canary")], indirect=True)


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_reports_the_error_and_the_cells_it_stopped(lab_run: LabRun) -> None:
    """An exception is reported with its cell and text, and the cells after it as never run."""
    reported = [(error.cell, "ValueError: canary failure" in error.text) for error in lab_run.errors]
    assert reported == [(5, True)]
    assert [cell.index for cell in lab_run.unexecuted] == [6]
    assert [cell.execution_count for cell in lab_run.cells if cell.is_code][:5] == [1, 2, 3, 4, 5]


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_records_and_blocks_an_offsite_request(lab_run: LabRun) -> None:
    """An output that points outside 127.0.0.1 is refused by the browser and reported."""
    # A set: the browser may ask again when the output is re-attached; every ask is refused.
    assert set(lab_run.blocked) == {"http://day6-offsite.invalid/pixel.png"}


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_kernel_runs_offline_with_live_widgets(lab_run: LabRun) -> None:
    """The lab kernel has no DAY6_STATIC and no OPENAI_API_KEY: live panels, embedded backend."""
    text = lab_run.locator(lab_run.cells[1]).locator(".jp-OutputArea-output").inner_text()
    assert text.strip() == "kernel env: None False"


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_widget_frontend_is_loaded(lab_run: LabRun) -> None:
    """JupyterLab loads @jupyter-widgets/jupyterlab-manager (jupyterlab_widgets), so widgets render live."""
    names = lab_run.page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
        ".federated_extensions.map((extension) => extension.name)"
    )
    assert "@jupyter-widgets/jupyterlab-manager" in names


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_finds_both_panels_rendered(lab_run: LabRun) -> None:
    """Both widget cells are found, render, and show one plot each."""
    assert [cell.index for cell in lab_run.widget_cells] == [2, 3]
    assert lab_run.render_problems == []
    assert [len(image_digests(lab_run, cell)) for cell in lab_run.widget_cells] == [1, 1]


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_sees_a_slider_change_the_plot(lab_run: LabRun) -> None:
    """Moving the live slider yields a plot with different bytes."""
    tried = move_controls_until_plot_changes(lab_run, lab_run.cells[2])
    assert [(result.kind, result.label, result.changed) for result in tried] == [("slider", "slope", True)]


@pytest.mark.usefixtures("canary")
@on_canary
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_sees_a_slider_that_changes_nothing(lab_run: LabRun) -> None:
    """Moving a slider whose plot ignores it is reported as 'plot unchanged' (the check can fail)."""
    tried = move_controls_until_plot_changes(lab_run, lab_run.cells[3], timeout=3.0)
    assert [(result.kind, result.changed) for result in tried] == [("slider", False)]


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_server_starts_on_loopback_and_stops_completely(tmp_path: Path) -> None:
    """The Lab server answers only with its token on 127.0.0.1, and stop() leaves no process or port."""
    server = LabServer(notebooks=NOTEBOOKS, home=tmp_path)
    with server:
        pid = server.pid
        assert pid is not None
        unauthenticated = urllib.request.Request(f"{server.url}/api/kernels")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(unauthenticated, timeout=5)
        assert refused.value.code == 403
        assert server.kernels() == []
        config = json.loads((tmp_path / "config" / "jupyter_server_config.json").read_text())
        assert config["LabApp"]["news_url"] is None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # signal 0 only asks whether the process group still exists
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0


# -- no browser needed --------------------------------------------------------------------------------


def test_lab_environment_drops_keys_and_the_static_switch(tmp_path: Path) -> None:
    """The kernel env loses OPENAI_*, DAY6_* and Jupyter dirs, and keeps PATH and the hash seed."""
    env = lab_environment(
        {
            "PATH": "/usr/bin",
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            "OPENAI_BASE_URL": "https://example.invalid/v1",
            "DAY6_STATIC": "1",
            "DAY6_PROFILE": "production",
            "JUPYTER_CONFIG_DIR": "/home/someone/.jupyter",
        },
        tmp_path,
    )
    assert env["PATH"] == "/usr/bin"
    assert env["PYTHONHASHSEED"] == "0"
    assert not [key for key in env if key.startswith(("OPENAI_", "DAY6_"))]
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "config")
    assert "sk-test-not-a-real-key" not in json.dumps(env)


def test_browser_tests_are_selected_only_on_request() -> None:
    """`pytest tests` leaves the browser tests out; `-m browser` or a tests/browser path brings them in."""

    def config(markexpr: str, *args: str) -> SimpleNamespace:
        return SimpleNamespace(option=SimpleNamespace(markexpr=markexpr), args=list(args))

    assert not browser_requested(config("", "tests"))
    assert not browser_requested(config("not slow", str(NOTEBOOKS.parent / "tests")))
    assert browser_requested(config("browser", "tests"))
    assert browser_requested(config("", str(HERE)))
    assert browser_requested(config("", f"{HERE}/test_labs.py::test_page_stays_on_loopback"))
