"""Shared fixtures: a fake clock, a seeded generator, a simpy environment."""

from __future__ import annotations

import random

import pytest

from day6.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when something sleeps on it or a test advances it."""
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    """A seeded generator, so jitter and fault draws repeat exactly."""
    return random.Random(0)


@pytest.fixture
def env():  # type: ignore[no-untyped-def]
    """A fresh simpy environment (imported lazily: core modules never need simpy)."""
    simpy = pytest.importorskip("simpy")
    return simpy.Environment()
