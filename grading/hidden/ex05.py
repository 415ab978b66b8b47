"""Hidden checks for Exercise 5. Instructor only: never ship this folder to students."""

from __future__ import annotations

from types import ModuleType

from day6.grading._spec import CheckSet, Observation
from day6.grading.visible.ex05 import Permanent, Transient, World, run

CHECKS = CheckSet("ex05", hidden=True)


@CHECKS.check(points=2, title="after `attempts` failures the last error is re-raised; no sleep after it")
def gives_up(ex: ModuleType) -> Observation:
    return run(
        ex, World(grants=[], allows=[], errors=[Transient("a"), Transient("b"), Transient("c")]), attempts=3
    )


@CHECKS.check(points=2, title="a breaker opening between attempts stops retries (CircuitOpenError)")
def breaker_opens_mid_retry(ex: ModuleType) -> Observation:
    return run(
        ex, World(grants=[], allows=[True, False], errors=[Transient("a"), Transient("b")]), attempts=4
    )


@CHECKS.check(points=2, title="a bucket running dry between attempts stops retries (RateLimitedError)")
def bucket_dry_mid_retry(ex: ModuleType) -> Observation:
    return run(
        ex, World(grants=[True, True, False], allows=[], errors=[Transient("a"), Transient("b")]), attempts=5
    )


@CHECKS.check(points=1, title="attempts=0 raises ValueError and touches nothing")
def zero_attempts(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[], allows=[], errors=[]), attempts=0)


@CHECKS.check(points=3, title="the default is 3 attempts, with delay_for(1) and delay_for(2) between them")
def defaults(ex: ModuleType) -> Observation:
    world = World(grants=[], allows=[], errors=[Transient("a"), Transient("b"), Permanent("never reached")])
    return run(ex, world)
