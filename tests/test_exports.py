"""The public surface: curated, sorted, and every name really importable from ``day6``."""

from __future__ import annotations

import importlib

import day6


def test_all_is_sorted_and_unique() -> None:
    """`__all__` is sorted (constants, classes, then functions, as ruff's RUF022) with no duplicates."""

    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert list(day6.__all__) == sorted(set(day6.__all__), key=group)


def test_every_exported_name_resolves() -> None:
    """Each name in `__all__` is an attribute of the package."""
    missing = [name for name in day6.__all__ if not hasattr(day6, name)]
    assert missing == []


def test_public_classes_are_exported() -> None:
    """Every public class defined in a public day6 module appears in `day6.__all__`."""
    not_exported = []
    for name, value in vars(day6).items():
        if name.startswith("_") or not isinstance(value, type):
            continue
        if value.__module__.startswith("day6") and name not in day6.__all__:
            not_exported.append(name)
    assert not_exported == []


def test_lesson_names_importable() -> None:
    """The names the lesson uses are importable from the top-level package."""
    lesson = ["ResilienceError", "ErrorKind", "Clock", "FakeClock", "SystemClock"]
    for name in lesson:
        assert getattr(importlib.import_module("day6"), name)


def test_core_import_does_not_pull_heavy_optional_modules() -> None:
    """Importing day6 never imports matplotlib, ipywidgets or simpy (DESIGN: core stays light)."""
    import subprocess
    import sys

    code = (
        "import sys, day6; "
        "bad = [m for m in ('matplotlib', 'ipywidgets', 'simpy') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
