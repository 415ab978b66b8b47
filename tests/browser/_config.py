"""Where things are, which labs exist, and when the browser tests are wanted."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Protocol

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "browser"
SCREENSHOTS = REPO / "docs" / "screenshots"

UPDATE_SCREENSHOTS = "DAY6_UPDATE_SCREENSHOTS"
"""Set to 1 to refresh docs/screenshots/ (otherwise a README copy is written only when missing)."""


def in_ci() -> bool:
    """The same rule as the Makefile's ``[ -n "$CI" ]``."""
    return bool(os.environ.get("CI"))


def require_playwright() -> None:
    """Skip the calling test module without the playwright package, except under CI: there it fails."""
    if importlib.util.find_spec("playwright") is not None:
        return
    message = "the playwright package is missing (a dev dependency): pip install -e '.[dev]'"
    if in_ci():
        pytest.fail(f"CI: {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def lab_params() -> list[Any]:
    """One ``pytest.param`` per notebooks/NN_*.ipynb that exists now (labs are added over time)."""
    labs = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not labs:
        return [
            pytest.param(None, id="no-labs", marks=pytest.mark.skip(reason="no notebooks/NN_*.ipynb yet"))
        ]
    return [pytest.param(lab.name, id=lab.stem) for lab in labs]


class _Options(Protocol):
    markexpr: str


class _Config(Protocol):
    @property
    def option(self) -> _Options: ...
    @property
    def args(self) -> list[str]: ...


def browser_requested(config: _Config) -> bool:
    """True for ``-m browser`` (or any mark expression naming it) or a path inside tests/browser."""
    if "browser" in (config.option.markexpr or ""):
        return True
    for arg in config.args:
        target = Path(str(arg).split("::", 1)[0]).resolve()
        if target == HERE or HERE in target.parents:
            return True
    return False
