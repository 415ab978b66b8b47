"""Driving JupyterLab like a student does, and reading back what they would see.

The actions go through the real UI: the notebook is opened by URL, outputs are cleared with
*Edit > Clear Outputs of All Cells* and the lab is run with *Run > Run All Cells*; sliders are moved
with the keyboard, dropdowns are changed, buttons are clicked. The checks read the DOM the student
sees (error output nodes, rendered widget views, the bytes of each plot image), plus JupyterLab's
own models where the DOM is ambiguous (which outputs are widget views, the kernel's status);
``window.jupyterapp`` is exposed for that by the server's ``expose_app_in_browser`` setting.

Every wait is for a condition (a selector, the kernel going idle, an image's bytes changing) with
a bounded timeout; nothing sleeps and hopes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

OPEN_TIMEOUT = 90.0
"""Seconds for JupyterLab to load, open the notebook and start its kernel."""

RUN_TIMEOUT = 240.0
"""Seconds for *Run All Cells* to finish (a lab must run in < 30 s; the browser and 2 busy cores add)."""

RENDER_TIMEOUT = 30.0
"""Seconds for every widget view to render after the run."""

CONTROL_TIMEOUT = 15.0
"""Seconds one control may take to change its panel's plot (the labs promise < 0.5 s re-draws)."""

MAX_CONTROLS = 4
"""Controls tried per panel before concluding that none of them changes the plot."""

STDERR_MIME = "application/vnd.jupyter.stderr"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# What counts as a control, in the DOM that @jupyter-widgets/jupyterlab-manager renders.
_CONTROLS = ", ".join(
    (
        ".widget-slider .noUi-handle",  # IntSlider, FloatSlider, *LogSlider, *RangeSlider
        ".widget-dropdown select",
        ".widget-toggle-buttons",
        ".widget-radio-box",
        ".widget-checkbox input[type=checkbox]",
        ".widget-text input[type=number]",  # IntText, FloatText, Bounded*Text
    )
)

# --- JavaScript run in the page ----------------------------------------------------------------------

_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  return [...app.shell.widgets('main')].find((w) => w.context && w.context.path === path) || null;
};
"""

_READY = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel || !panel.context.isReady || !panel.sessionContext.isReady) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""
)

# Tag each cell's node with its index so Python locators can address cells, and summarise the
# models: which cells ran, what they output.
_CELLS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  return panel.content.widgets.map((cell, index) => {
    cell.node.setAttribute('data-day6-cell', String(index));
    const model = cell.model;
    const code = model.type === 'code';
    const outputs = code ? model.outputs.toJSON() : [];
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    return {
      index,
      type: model.type,
      source: model.sharedModel.getSource(),
      executionCount: code ? model.executionCount : null,
      prompt: prompt ? prompt.textContent.trim() : '',
      mimeTypes: outputs.flatMap((o) => Object.keys(o.data || {})),
      errors: outputs.filter((o) => o.output_type === 'error').map((o) => `${o.ename}: ${o.evalue}`),
    };
  });
}"""
)

_STARTED = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const cells = findPanel(path).content.widgets.filter((c) => c.model.type === 'code');
  const prompt = (c) => (c.node.querySelector('.jp-InputPrompt') || {}).textContent || '';
  return cells.some((c) => prompt(c).includes('*')) || cells.every((c) => c.model.executionCount !== null);
}"""
)

_FINISHED = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const prompt = (c) => (c.node.querySelector('.jp-InputPrompt') || {}).textContent || '';
  return !panel.content.widgets.some((c) => c.model.type === 'code' && prompt(c).includes('*'));
}"""
)

# Every error or stderr node in the notebook, including inside Output widgets (a panel callback
# that raises shows its traceback there, not in the cell's own outputs).
_STDERR_NODES = f"""() => [
  ...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]')
].map((node) => {{
  const cell = node.closest('[data-day6-cell]');
  return {{cell: cell ? Number(cell.getAttribute('data-day6-cell')) : -1, text: node.innerText}};
}})"""

_WIDGETS_RENDERED = """(outputs) => {
  const text = outputs.innerText;
  if (text.includes('Loading widget') || text.includes('Error displaying widget')) return false;
  return outputs.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length > 0;
}"""

_IMAGE_SOURCES = "(cell) => [...cell.querySelectorAll('.jp-OutputArea-output img')].map((img) => img.src)"

_IMAGES_CHANGED = """([cell, before]) => {
  const now = [...cell.querySelectorAll('.jp-OutputArea-output img')].map((img) => img.src);
  return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before);
}"""

# data: and blob: URLs both fetch from memory (no network); hashing the bytes means a blob: URL
# that changed but holds the same picture does not count as a new plot.
_IMAGE_DIGESTS = """async (cell) => {
  const digests = [];
  for (const img of cell.querySelectorAll('.jp-OutputArea-output img')) {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const hash = await crypto.subtle.digest('SHA-256', bytes);
    digests.push([...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, '0')).join(''));
  }
  return digests;
}"""

_CONTROL_KIND = """(el) => {
  if (el.classList.contains('noUi-handle')) return 'slider';
  if (el.tagName === 'SELECT') return 'dropdown';
  if (el.classList.contains('widget-toggle-buttons')) return 'toggle-buttons';
  if (el.classList.contains('widget-radio-box')) return 'radio';
  if (el.type === 'checkbox') return 'checkbox';
  return 'number';
}"""

_NEW_ANSWER_LINE = """([outputs, before, message]) => {
  const old = new Set(before.split('\\n').map((line) => line.trim()));
  return outputs.innerText.split('\\n').map((line) => line.trim()).some(
    (line) => line.length >= 8 && !old.has(line) && !line.endsWith(message) && !line.includes('Traceback'));
}"""

_TABLE_APPEARED = """([outputs, tablesBefore, textsBefore]) => {
  if (outputs.querySelectorAll('table').length > tablesBefore) return true;
  const old = new Set(textsBefore);
  return [...outputs.querySelectorAll('.jp-OutputArea-output pre')].some((pre) => {
    if (old.has(pre.innerText)) return false;
    const rows = pre.innerText.split('\\n').filter(
      (line) => /[|│┃].*[|│┃]/.test(line) || /^[\\s─━═+\\-|]{8,}$/.test(line));
    return rows.length >= 3;
  });
}"""


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One notebook cell as JupyterLab's model saw it after the run."""

    index: int
    type: str
    source: str
    execution_count: int | None
    prompt: str
    mime_types: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def is_code(self) -> bool:
        return self.type == "code"

    @property
    def has_widget(self) -> bool:
        return WIDGET_MIME in self.mime_types

    def describe(self) -> str:
        lines = [line.strip() for line in self.source.splitlines() if line.strip()]
        first = next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")
        return f"cell {self.index} ({first[:60]!r})"


@dataclass(frozen=True, slots=True)
class ErrorOutput:
    """An error or stderr output node shown in the page."""

    cell: int
    text: str

    def __str__(self) -> str:
        lines = [line for line in self.text.strip().splitlines() if line.strip()]
        shown = "\n    ".join(lines[:3] + (["...", *lines[-2:]] if len(lines) > 5 else lines[3:]))
        return f"cell {self.cell}:\n    {shown}"


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What moving one control did to its panel's plot."""

    kind: str
    label: str
    changed: bool

    def __str__(self) -> str:
        return f"{self.kind} {self.label!r}: {'plot changed' if self.changed else 'plot unchanged'}"


@dataclass
class LabRun:
    """A notebook opened and run in the browser, with what the checks need."""

    path: str
    page: Page
    cells: list[Cell] = field(default_factory=list)
    errors: list[ErrorOutput] = field(default_factory=list)
    seconds: float = 0.0  # open + Run All, until the kernel is idle
    console_errors: list[str] = field(default_factory=list)
    render_problems: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # requests refused because they left 127.0.0.1
    notes: list[str] = field(default_factory=list)  # what the checks did, for the run summary

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def unexecuted(self) -> list[Cell]:
        return [c for c in self.cells if c.is_code and c.execution_count is None]

    @property
    def widget_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.has_widget]

    def locator(self, cell: Cell) -> Locator:
        """The whole cell: its source editor and its outputs."""
        return self.page.locator(f'[data-day6-cell="{cell.index}"]')

    def output(self, cell: Cell) -> Locator:
        """Only the cell's output area (text checks must not read the cell's source code)."""
        return self.locator(cell).locator(".jp-Cell-outputWrapper")


# --- actions -----------------------------------------------------------------------------------------


def open_notebook(page: Page, base_url: str, path: str, *, token: str, workspace: str) -> None:
    """Open ``path`` in a fresh workspace and wait until its kernel is idle.

    A workspace per notebook means no tab from an earlier lab is restored next to it. The token
    is passed once in the URL; the server answers with a cookie and strips it.
    """
    page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{path}?token={token}")
    try:
        page.wait_for_function(_READY, arg=path, timeout=OPEN_TIMEOUT * 1000, polling=200)
    except PlaywrightTimeoutError:
        dialog = page.locator(".jp-Dialog")
        detail = f"; a dialog is open: {dialog.first.inner_text()!r}" if dialog.count() else ""
        raise AssertionError(
            f"{path}: notebook or kernel not ready after {OPEN_TIMEOUT:.0f} s{detail}"
        ) from None
    # More room for the notebook (and a cleaner screenshot): fold the file browser away.
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")


def _menu(page: Page, menu: str, item: str) -> None:
    page.locator(f".lm-MenuBar-itemLabel:text-is('{menu}')").click()
    page.locator(f".lm-Menu-content .lm-Menu-itemLabel:text-is('{item}')").click()


def run_all(page: Page, path: str) -> None:
    """Clear every stored output, then *Run > Run All Cells* and wait for the kernel to finish.

    Clearing first makes "done" unambiguous: a committed notebook already shows ``[1]:``, ``[2]:``
    ..., while a cleared one shows ``[ ]:`` until the cell really runs. Done means the kernel is idle
    and no cell is queued (``[*]``); an error stops the queue, which also ends the run.
    """
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function(_STARTED, arg=path, timeout=30_000, polling=100)
    try:
        page.wait_for_function(_FINISHED, arg=path, timeout=RUN_TIMEOUT * 1000, polling=250)
    except PlaywrightTimeoutError:
        raise AssertionError(f"{path}: Run All Cells did not finish within {RUN_TIMEOUT:.0f} s") from None


def read_cells(page: Page, path: str) -> list[Cell]:
    """Every cell's state, from JupyterLab's models (and tag the DOM nodes with their index)."""
    raw: list[dict[str, Any]] = page.evaluate(_CELLS, path)
    return [
        Cell(
            index=c["index"],
            type=c["type"],
            source=c["source"],
            execution_count=c["executionCount"],
            prompt=c["prompt"],
            mime_types=tuple(c["mimeTypes"]),
            errors=tuple(c["errors"]),
        )
        for c in raw
    ]


def error_outputs(page: Page) -> list[ErrorOutput]:
    """Every error/stderr output node currently shown (tracebacks render with the stderr type)."""
    return [ErrorOutput(cell=e["cell"], text=e["text"]) for e in page.evaluate(_STDERR_NODES)]


def wait_widgets_rendered(run: LabRun, cell: Cell) -> None:
    """Wait until ``cell`` shows live widget views (no 'Loading widget...', no 'Error displaying widget')."""
    try:
        handle = run.output(cell).element_handle(timeout=5_000)
        run.page.wait_for_function(_WIDGETS_RENDERED, arg=handle, timeout=RENDER_TIMEOUT * 1000, polling=200)
    except PlaywrightTimeoutError:
        text = run.output(cell).inner_text()[-300:]
        raise AssertionError(
            f"{run.path} {cell.describe()}: widget did not render within {RENDER_TIMEOUT:.0f} s; "
            f"it shows: {text!r}"
        ) from None


def image_digests(run: LabRun, cell: Cell) -> list[str]:
    """SHA-256 of every image in the cell's outputs (including inside Output widgets)."""
    digests: list[str] = run.page.evaluate(_IMAGE_DIGESTS, run.locator(cell).element_handle())
    return digests


def _label(control: Locator) -> str:
    """The control's visible description (its widget's label), for messages."""
    text: str = control.evaluate(
        "(el) => { const w = el.closest('.widget-inline-hbox, .widget-box, .widget-toggle-buttons');"
        " const l = w && w.querySelector('.widget-label'); return l ? l.innerText : ''; }"
    )
    return text.strip()


def _nudge(control: Locator, kind: str) -> bool:
    """Move ``control`` one step the way a student would; False when it cannot move."""
    if kind == "slider":
        now = control.get_attribute("aria-valuenow")
        top = control.get_attribute("aria-valuemax")
        control.focus()
        control.press("ArrowLeft" if now is not None and now == top else "ArrowRight")
        return True
    if kind == "dropdown":
        options = control.locator("option")
        count = options.count()
        if count < 2:
            return False
        current: int = control.evaluate("(el) => el.selectedIndex")
        control.select_option(index=(current + 1) % count)
        return True
    if kind == "toggle-buttons":
        others = control.locator("button:not(.mod-active):not([disabled])")
        if not others.count():
            return False
        others.first.click()
        return True
    if kind == "radio":
        others = control.locator("input[type=radio]:not(:checked):not([disabled])")
        if not others.count():
            return False
        others.first.check()
        return True
    if kind == "checkbox":
        control.click()
        return True
    control.focus()  # a number box: one step up, committed with Enter
    control.press("ArrowUp")
    control.press("Enter")
    return True


def move_controls_until_plot_changes(
    run: LabRun, cell: Cell, *, timeout: float = CONTROL_TIMEOUT, max_controls: int = MAX_CONTROLS
) -> list[ControlResult]:
    """Move the panel's controls one at a time until one changes its plot's bytes.

    Returns what each tried control did; the last entry has ``changed=True`` on success. A control
    counts as changing the plot only when an image's *bytes* differ afterwards (a re-render of the
    same picture does not count).
    """
    cell_locator = run.locator(cell)
    handle = cell_locator.element_handle()
    results: list[ControlResult] = []
    controls = cell_locator.locator(_CONTROLS)
    for position in range(min(controls.count(), max_controls)):
        control = controls.nth(position)
        if control.is_disabled():
            continue
        kind: str = control.evaluate(_CONTROL_KIND)
        label = _label(control)
        before_digests = image_digests(run, cell)
        sources: list[str] = run.page.evaluate(_IMAGE_SOURCES, handle)
        if not _nudge(control, kind):
            continue
        changed = _wait_new_image(run, cell, sources, before_digests, timeout)
        results.append(ControlResult(kind=kind, label=label, changed=changed))
        if changed:
            break
    run.notes.append(f"{cell.describe()}: " + ("; ".join(map(str, results)) or "no usable control"))
    return results


def _wait_new_image(run: LabRun, cell: Cell, sources: list[str], before: list[str], timeout: float) -> bool:
    """Wait until the cell's images differ in bytes from ``before`` (False after ``timeout`` s)."""
    handle = run.locator(cell).element_handle()
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            run.page.wait_for_function(
                _IMAGES_CHANGED, arg=[handle, sources], timeout=remaining * 1000, polling=100
            )
        except PlaywrightTimeoutError:
            return False
        if image_digests(run, cell) != before:
            return True
        sources = run.page.evaluate(_IMAGE_SOURCES, handle)  # same picture re-rendered: keep waiting
    return False


def chat_panel(run: LabRun) -> tuple[Cell, Locator, Locator] | None:
    """The widget cell holding a text box and a *Send* button: (cell, text box, send button)."""
    for cell in run.widget_cells:
        where = run.output(cell)
        box = where.locator(".widget-text input[type=text], .widget-textarea textarea")
        send = _button(where, "send")
        if box.count() and send.count():
            return cell, box.first, send.first
    return None


def send_chat_message(
    run: LabRun, cell: Cell, box: Locator, send: Locator, message: str, timeout: float
) -> str:
    """Type ``message``, press *Send*, and return the first new line of text that is not the echo."""
    where = run.output(cell)
    before = where.inner_text()
    box.fill(message)
    send.click()
    try:
        run.page.wait_for_function(
            _NEW_ANSWER_LINE,
            arg=[where.element_handle(), before, message],
            timeout=timeout * 1000,
            polling=200,
        )
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"{run.path} {cell.describe()}: no answer within {timeout:.0f} s of pressing Send; "
            f"the panel shows: {where.inner_text()[-400:]!r}"
        ) from None
    old = {line.strip() for line in before.splitlines()}
    new = [line.strip() for line in where.inner_text().splitlines() if line.strip() not in old]
    return next((line for line in new if len(line) >= 8 and not line.endswith(message)), "")


def _button(where: Locator, label: str) -> Locator:
    """Buttons whose visible label contains ``label`` as a word, case-insensitively."""
    return where.get_by_role("button", name=re.compile(rf"\b{re.escape(label)}\b", re.IGNORECASE))


def find_button(run: LabRun, label: str) -> Cell | None:
    """The first widget cell with a button labelled ``label``."""
    return next((cell for cell in run.widget_cells if _button(run.output(cell), label).count()), None)


def press_button_until_table(run: LabRun, cell: Cell, label: str, timeout: float) -> None:
    """Press the button labelled ``label`` and wait for a new table (HTML or text) in the cell."""
    where = run.output(cell)
    button = _button(where, label)
    if not button.count():
        raise AssertionError(f"{run.path} {cell.describe()}: no button labelled {label!r}")
    tables = where.locator("table").count()
    texts = where.locator(".jp-OutputArea-output pre").all_inner_texts()
    button.first.click()
    try:
        run.page.wait_for_function(
            _TABLE_APPEARED, arg=[where.element_handle(), tables, texts], timeout=timeout * 1000, polling=200
        )
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"{run.path} {cell.describe()}: no table (HTML <table>, or a text table of 3+ rows) within "
            f"{timeout:.0f} s of pressing {label!r}; the panel shows: {where.inner_text()[-400:]!r}"
        ) from None


def screenshot(run: LabRun, path: Path) -> None:
    """A viewport screenshot with the first widget panel (or the top of the notebook) in view."""
    target = run.widget_cells[0] if run.widget_cells else None
    if target is not None:
        run.locator(target).evaluate("(el) => el.scrollIntoView({block: 'start'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    run.page.screenshot(path=str(path))
