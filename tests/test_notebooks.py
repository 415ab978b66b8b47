"""The committed labs: executed top to bottom, outputs stored, no warnings, jupytext pairs in sync.

These are the fast structural checks; ``make notebooks-check`` also re-runs every cell under
nbval and compares the outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from day6._notebooks import CELL_TIMEOUT, KERNEL_ENV, check_notebook, pair_path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LAB1 = ROOT / "notebooks" / "01_retry.ipynb"


def _code(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_lab_1_is_committed() -> None:
    """Lab 1 and its jupytext pair exist."""
    assert LAB1 in NOTEBOOKS
    assert pair_path(LAB1).exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_clean_and_in_sync(path: Path) -> None:
    """Every code cell ran in order with stored output, nothing went to stderr, the .py pair matches."""
    problems = check_notebook(path)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_pattern_code(path: Path) -> None:
    """Labs import day6 and define no functions or classes of their own (the package is the source)."""
    for source in _code(path):
        assert not re.search(r"^\s*(async\s+def|def|class)\s", source, re.MULTILINE), source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_widget_and_wall_clock_cells_skip_output_checks(path: Path) -> None:
    """NBVAL_IGNORE_OUTPUT marks exactly the cells that show a widget or time the wall clock."""
    for source in _code(path):
        varies = ".show(" in source or re.search(r"%%?time|perf_counter", source) is not None
        assert ("NBVAL_IGNORE_OUTPUT" in source) == varies, source


def test_lab_1_opens_with_objectives_and_ends_with_key_points_and_exercises() -> None:
    """Objectives first; key points and pointers to both exercises at the end."""
    cells = nbformat.read(LAB1, as_version=4).cells
    assert cells[0].cell_type == "markdown"
    assert "Objectives" in cells[0].source
    tail = "\n".join(cell.source for cell in cells[-2:])
    assert "Key points" in tail
    assert "exercises/ex01_retry.py" in tail
    assert "exercises/ex02_classify.py" in tail
    assert "import day6" in _code(LAB1)[0]


def test_makefile_runs_nbval_strictly_with_the_pipeline_environment() -> None:
    """`make notebooks-check` uses the pipeline's kernel environment, strict nbval and the sanitizer."""
    makefile = (ROOT / "Makefile").read_text()
    target = makefile[makefile.index("notebooks-check:") :].split("\n\n", 1)[0]
    for name, value in KERNEL_ENV.items():
        assert f"{name}={value}" in makefile
    assert "--nbval " in target
    assert "--nbval-lax" not in target
    assert "--nbval-current-env" in target
    assert f"--nbval-cell-timeout={CELL_TIMEOUT:g}" in target
    assert "--nbval-sanitize-with notebooks/sanitize.cfg" in target
    assert (ROOT / "notebooks" / "sanitize.cfg").exists()


# --------------------------------------------------------------------------------------------------
# The checker itself must catch what it claims to catch
# --------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, cells: list[nbformat.NotebookNode], *, pair: bool = True) -> Path:
    import jupytext

    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / "lab.ipynb"
    nbformat.write(nb, path)
    if pair:
        jupytext.write(nb, pair_path(path), fmt="py:percent")
    return path


def _ran(source: str, count: int, text: str = "ok\n", stream: str = "stdout") -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    cell.outputs = [nbformat.v4.new_output("stream", name=stream, text=text)]
    return cell


def test_checker_accepts_a_clean_notebook(tmp_path: Path) -> None:
    """Two executed cells with output and a matching pair: no problems."""
    path = _write(
        tmp_path, [nbformat.v4.new_markdown_cell("# Lab"), _ran("print('ok')", 1), _ran("print(2)", 2)]
    )
    assert check_notebook(path) == []


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([nbformat.v4.new_code_cell("print('ok')")], "never executed"),
        ([_ran("a", 1), _ran("b", 3)], "execution_count 3, expected 2"),
        ([nbformat.v4.new_code_cell("x = 1", execution_count=1)], "no stored output"),
        ([_ran("import warnings", 1, "DeprecationWarning: old\n", "stderr")], "stderr output"),
    ],
)
def test_checker_reports_unexecuted_cells_missing_output_and_stderr(
    tmp_path: Path, cells: list[nbformat.NotebookNode], message: str
) -> None:
    """Unexecuted cells, out-of-order counts, empty outputs and stderr streams are all reported."""
    problems = check_notebook(_write(tmp_path, cells))
    assert any(message in str(p) for p in problems), problems


def test_checker_reports_a_missing_or_drifted_pair(tmp_path: Path) -> None:
    """A notebook without its .py pair, or whose pair has other cells, is reported."""
    path = _write(tmp_path, [_ran("print('ok')", 1)], pair=False)
    assert any("is missing" in str(p) for p in check_notebook(path))
    pair_path(path).write_text("# %%\nprint('something else')\n")
    assert any("differ" in str(p) for p in check_notebook(path))


def test_consecutive_stream_outputs_are_coalesced() -> None:
    """Saved outputs do not depend on how the kernel flushed a cell's prints."""
    import nbformat

    from day6._notebooks import _coalesce_streams

    cell = nbformat.v4.new_code_cell("print(1); print(2)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "3"}, execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="4\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    _coalesce_streams(nb)
    kinds = [(o["output_type"], o.get("text")) for o in nb.cells[0].outputs]
    assert kinds == [("stream", "1\n2\n"), ("execute_result", None), ("stream", "4\n")]
