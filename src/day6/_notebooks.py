"""Notebook pipeline: execute the labs reproducibly and check what is committed.

Two sub-commands, both run by ``make``::

    python -m day6._notebooks execute notebooks/*.ipynb   # make notebooks
    python -m day6._notebooks check notebooks/*.ipynb     # structural checks (tests/test_notebooks.py)

``execute`` runs each notebook top to bottom in a **fresh kernel of the current environment** (not
whatever kernelspec called ``python3`` happens to be first on the Jupyter path), with the
environment in :data:`KERNEL_ENV`, saves the outputs in place and rewrites the jupytext pair
(``notebooks/NAME.py``, percent format) so the two never drift.

``check`` fails when a committed notebook was not executed top to bottom (a code cell without
``execution_count``, counts not 1, 2, 3, ...), when a code cell has no output (every lab cell shows
something, so an empty one means it was never run or its output was stripped), when an output is
an error or a ``stderr`` stream (a warning leaked into the lesson), or when the ``.py`` pair's cells
differ from the notebook's.

Why the environment matters: nbval (``make notebooks-check``) re-runs every cell and compares the
text outputs with the stored ones, so both runs must see the same world:

* ``DAY6_STATIC=1`` makes :meth:`day6.widgets.Panel.show` draw a static figure at the panel's
  defaults instead of a live widget (there is no widget frontend in a headless kernel).
* ``PYTHONHASHSEED=0`` fixes ``set``/``dict``-of-str iteration order should any output depend on it.

Figures: nbval ignores ``image/png`` unless run with ``--nbdime``, and compares the ``text/plain``
twin (``<Figure size 800x400 with 2 Axes>``), which is stable. The PNG bytes themselves are stable
too for a given matplotlib version (Agg is deterministic), so re-executing gives a clean git diff.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CELL_TIMEOUT", "KERNEL_ENV", "Problem", "check_notebook", "execute_notebook", "main"]

KERNEL_ENV: Mapping[str, str] = {"DAY6_STATIC": "1", "PYTHONHASHSEED": "0"}
"""Environment variables every lab kernel runs with (keep ``make notebooks-check`` in sync)."""

CELL_TIMEOUT = 60.0
"""Seconds one cell may run before execution fails (a whole lab must take < 30 s); nbval uses the same."""

_PAIR_FORMAT = "py:percent"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a committed notebook is not acceptable."""

    path: Path
    cell: int | None  # 0-based cell index, None for whole-notebook problems
    message: str

    def __str__(self) -> str:
        where = f"{self.path}" if self.cell is None else f"{self.path} cell {self.cell}"
        return f"{where}: {self.message}"


def _current_env_kernel_manager_class() -> type[Any]:
    """A kernel manager whose ``python3`` is *this* interpreter (as nbval's ``--nbval-current-env``).

    Passed to nbclient as a class (not an instance), so nbclient owns the kernel and shuts it
    down when the notebook is done.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class _CurrentEnvSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
            )

    class _CurrentEnvKernelManager(AsyncKernelManager):
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return _CurrentEnvSpecs(data_dir=self.data_dir)

    return _CurrentEnvKernelManager


def _nbformat() -> Any:
    """nbformat, imported on use (its functions are untyped, hence ``Any``)."""
    import nbformat

    return nbformat


def pair_path(notebook: Path) -> Path:
    """The jupytext pair of ``notebook``: same stem, ``.py``, percent format."""
    return notebook.with_suffix(".py")


def _coalesce_streams(nb: Any) -> None:
    """Merge consecutive stream outputs of a cell, so a saved notebook does not depend on how the
    kernel happened to flush one cell's prints (which would make re-runs differ in git)."""
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        merged: list[Any] = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (
                output.get("output_type") == "stream"
                and last is not None
                and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")
            ):
                last["text"] = "".join(last["text"]) + "".join(output["text"])
            else:
                merged.append(output)
        cell["outputs"] = merged


def execute_notebook(path: Path, *, timeout: float = CELL_TIMEOUT) -> None:
    """Run ``path`` in a fresh current-env kernel, save outputs in place, rewrite its ``.py`` pair."""
    import jupytext
    from nbclient import NotebookClient

    nbformat = _nbformat()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=_current_env_kernel_manager_class(),
        timeout=int(timeout),
        allow_errors=False,
        record_timing=False,  # timing metadata would change on every run
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute(env={**os.environ, **KERNEL_ENV}, cwd=str(path.parent.resolve()))
    _coalesce_streams(nb)
    nb.metadata.setdefault("jupytext", {})["formats"] = f"ipynb,{_PAIR_FORMAT}"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    jupytext.write(nb, pair_path(path), fmt=_PAIR_FORMAT)


def _cell_signature(cells: Sequence[Any]) -> list[tuple[str, str]]:
    return [(str(c.cell_type), str(c.source).strip()) for c in cells]


def check_notebook(path: Path) -> list[Problem]:
    """Every reason ``path`` (and its jupytext pair) should not be committed; empty when fine."""
    import jupytext

    nbformat = _nbformat()
    problems: list[Problem] = []
    nb = nbformat.read(path, as_version=4)
    expected_count = 1
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None:
            problems.append(Problem(path, index, "code cell was never executed (no execution_count)"))
        elif cell.execution_count != expected_count:
            problems.append(
                Problem(
                    path,
                    index,
                    f"execution_count {cell.execution_count}, expected {expected_count}: "
                    "re-run top to bottom in a fresh kernel (make notebooks)",
                )
            )
        expected_count += 1
        if not cell.outputs:
            problems.append(Problem(path, index, "code cell has no stored output"))
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(Problem(path, index, f"stored error output: {output.get('ename')}"))
            elif output.output_type == "stream" and output.get("name") == "stderr":
                first = str(output.get("text", "")).strip().splitlines()[:1]
                problems.append(Problem(path, index, f"stderr output (a warning leaked?): {first}"))

    pair = pair_path(path)
    if not pair.exists():
        problems.append(Problem(path, None, f"jupytext pair {pair.name} is missing (make notebooks)"))
    else:
        paired = jupytext.read(pair, fmt=_PAIR_FORMAT)
        if _cell_signature(paired.cells) != _cell_signature(nb.cells):
            problems.append(
                Problem(path, None, f"{pair.name} and the notebook differ: run `jupytext --sync {path}`")
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m day6._notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("execute", "check"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=float, default=CELL_TIMEOUT, help="seconds per cell")
    args = parser.parse_args(argv)

    if args.command == "execute":
        for path in args.notebooks:
            print(f"executing {path} ...", flush=True)
            execute_notebook(path, timeout=args.timeout)
        return 0
    failures = [problem for path in args.notebooks for problem in check_notebook(path)]
    for problem in failures:
        print(problem, file=sys.stderr)
    if not failures:
        print(f"{len(args.notebooks)} notebook(s) OK")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
