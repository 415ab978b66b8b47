"""Fixtures for the JupyterLab browser tests: a loopback Lab server, headless Chromium, a lab run.

Run them with ``make test-browser`` (``pytest -m browser tests/browser``). A plain ``pytest tests``
(``make unit``) deselects them: they need Chromium and take a minute, and ``make test`` runs them
in their own step. Chromium missing is a skip on a workstation, with the command that fixes it,
and a failure under CI (``CI`` set), where a silent skip would hide a broken pipeline.

Fixture layering (cheap to expensive, each cleaned up even when a test fails):

* ``chromium`` (session): the browser executable, or skip / fail as above;
* ``lab_server`` (session): :class:`~tests.browser._server.LabServer` on a copy of ``notebooks/``;
* ``browser`` (session): one headless Chromium with a fresh profile, allowed to reach only
  127.0.0.1 (every other request is blocked and recorded);
* ``lab_run`` (module, parametrised by notebook): the notebook opened in its own workspace,
  outputs cleared, *Run All Cells* done, widgets rendered, a screenshot taken. Tests on the same
  notebook share one run; its kernel is shut down before the next notebook opens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser._config import (
    ARTIFACTS,
    HERE,
    NOTEBOOKS,
    REPO,
    SCREENSHOTS,
    UPDATE_SCREENSHOTS,
    browser_requested,
    in_ci,
)
from tests.browser._server import LabServer

if TYPE_CHECKING:  # playwright itself is imported lazily, so collection never needs it
    from playwright.sync_api import BrowserContext

    from tests.browser._ui import LabRun

VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1280, 900  # screenshots at this size, device scale 1

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    # Defence in depth next to the request filter: no name but 127.0.0.1 resolves at all.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)

# --- selection ---------------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the browser tests unless they were asked for (``-m browser`` or a tests/browser path)."""
    if browser_requested(config):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        in_here = HERE in Path(str(item.path)).resolve().parents
        (drop if in_here and item.get_closest_marker("browser") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- session fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to Chromium (the Debian package); skip without it, except under CI where it must exist."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not found on PATH: `apt-get install chromium` to run the JupyterLab browser tests"
        if in_ci():
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """artifacts/browser/, emptied once per session so no screenshot is left from an earlier run."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab_server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 (free port, random token) serving a temporary copy of notebooks/."""
    with LabServer(notebooks=NOTEBOOKS, home=tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@dataclass
class Browser:
    """The browser context all pages open in, and every request it refused to send."""

    context: BrowserContext
    blocked: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile; requests to anything but 127.0.0.1 are blocked."""
    from playwright.sync_api import Route, sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
            device_scale_factor=1,
            locale="en-US",
            timezone_id="UTC",
        )
        session = Browser(context=context)

        def only_loopback(route: Route) -> None:
            url = route.request.url
            if url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
                route.continue_()
            else:
                session.blocked.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", only_loopback)
        try:
            yield session
        finally:
            context.close()


# --- one lab run -------------------------------------------------------------------------------------


def _save_screenshot(run: LabRun, name: str, *, clean: bool) -> None:
    from tests.browser._ui import screenshot

    shot = ARTIFACTS / f"{name}.png"
    screenshot(run, shot)
    _shrink_png(shot)
    published = SCREENSHOTS / f"{name}.png"
    # The README copy changes only on request (or when missing), and never shows a failing lab.
    if clean and (not published.exists() or os.environ.get(UPDATE_SCREENSHOTS) == "1"):
        published.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, published)


def _shrink_png(path: Path) -> None:
    """Re-encode as an adaptive 256-colour palette PNG: a UI screenshot stays legible at ~1/3 the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(path, optimize=True)


@pytest.fixture(scope="module")
def lab_run(
    request: pytest.FixtureRequest, artifacts: Path, lab_server: LabServer, browser: Browser
) -> Iterator[LabRun]:
    """The notebook ``request.param`` (a path under the served root) opened and run in the browser."""
    from tests.browser import _ui

    path: str = request.param
    page = browser.context.new_page()
    run = _ui.LabRun(path=path, page=page)
    page.on(
        "console",
        lambda message: run.console_errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: run.console_errors.append(f"uncaught: {error}"))
    blocked_before = len(browser.blocked)
    started = time.monotonic()
    try:
        _ui.open_notebook(page, lab_server.url, path, token=lab_server.token, workspace=f"day6-{run.name}")
        _ui.run_all(page, path)
        run.seconds = time.monotonic() - started
        run.cells = _ui.read_cells(page, path)
        for cell in run.widget_cells:
            try:
                _ui.wait_widgets_rendered(run, cell)
            except AssertionError as problem:
                run.render_problems.append(str(problem))
        run.errors = _ui.error_outputs(page)
        clean = not (run.errors or run.unexecuted or run.render_problems)
        _save_screenshot(run, run.name, clean=clean)
        run.blocked = browser.blocked[blocked_before:]
    except BaseException:
        with contextlib.suppress(Exception):  # never mask the real failure
            page.screenshot(path=str(ARTIFACTS / f"{run.name}-setup-failed.png"))
        page.close()
        lab_server.shutdown_kernels()
        raise
    try:
        yield run
    finally:
        request.config.stash.setdefault(_RUNS, []).append(run)
        page.close()
        lab_server.shutdown_kernels()


_RUNS = pytest.StashKey[list["LabRun"]]()
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if getattr(report, "when", "") == "call" and getattr(report, "failed", False):
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a failed test on a lab, save what the page showed (artifacts/browser/<lab>-<test>.png)."""
    yield
    if "lab_run" in request.fixturenames and request.node.stash.get(_FAILED, False):
        run = request.getfixturevalue("lab_run")
        run.page.screenshot(path=str(ARTIFACTS / f"{run.name}-{request.node.originalname}-failed.png"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Per lab: how long open + Run All took, how many panels, and which control changed which plot."""
    runs = config.stash.get(_RUNS, [])
    if not runs:
        return
    terminalreporter.section("JupyterLab runs")
    for run in runs:
        terminalreporter.write_line(
            f"{run.path}: {run.seconds:.1f} s to open and run, {len(run.cells)} cells, "
            f"{len(run.widget_cells)} widget panel(s)"
        )
        for note in run.notes:
            terminalreporter.write_line(f"    {note}")
    terminalreporter.write_line(
        f"screenshots: {ARTIFACTS.relative_to(REPO)}/ (README copies: docs/screenshots/)"
    )
