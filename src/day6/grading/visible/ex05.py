"""Visible checks for Exercise 5 (resilient_call composition)."""

from __future__ import annotations

from types import ModuleType

from day6.grading._spec import CheckSet, Observation, exception_name

CHECKS = CheckSet("ex05")


class Transient(Exception):
    retriable = True


class Permanent(Exception):
    retriable = False


class World:
    """Scripted doubles for the bucket, the breaker, fn and sleep, all writing to one call log."""

    def __init__(self, *, grants: list[bool], allows: list[bool], errors: list[Exception]) -> None:
        self.log: list[str] = []
        self.grants = grants
        self.allows = allows
        self.errors = errors
        self.raised: list[Exception] = []
        self.breaker = _Breaker(self)
        self.bucket = _Bucket(self)

    def fn(self) -> str:
        self.log.append("fn")
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return "ok"

    def delay_for(self, attempt: int) -> float:
        return 0.5 * attempt

    def sleep(self, seconds: float) -> None:
        self.log.append(f"sleep {seconds}")


class _Breaker:
    def __init__(self, world: World) -> None:
        self._world = world

    def allow_request(self) -> bool:
        self._world.log.append("allow_request")
        return self._world.allows.pop(0) if self._world.allows else True

    def record_success(self) -> None:
        self._world.log.append("record_success")

    def record_failure(self) -> None:
        self._world.log.append("record_failure")


class _Bucket:
    def __init__(self, world: World) -> None:
        self._world = world

    def try_acquire(self, tokens: float = 1.0) -> bool:
        self._world.log.append("try_acquire" if tokens == 1.0 else f"try_acquire({tokens})")
        return self._world.grants.pop(0) if self._world.grants else True


def run(ex: ModuleType, world: World, **kwargs: int) -> Observation:
    """Call resilient_call in ``world``; describe the result and the exact call log."""
    call = ex.resilient_call
    try:
        result: Observation = {
            "returned": call(
                world.fn,
                breaker=world.breaker,
                bucket=world.bucket,
                delay_for=world.delay_for,
                sleep=world.sleep,
                **kwargs,
            )
        }
    except (NotImplementedError, MemoryError):
        raise
    except Exception as exc:
        if isinstance(exc, ex.CircuitOpenError):
            name = "CircuitOpenError"
        elif isinstance(exc, ex.RateLimitedError):
            name = "RateLimitedError"
        elif world.raised and exc is world.raised[-1]:
            name = "the last error from fn"
        elif exc in world.raised:
            name = "an earlier error from fn"
        else:
            name = exception_name(exc)
        result = {"raised": name}
    return {"result": result, "log": world.log}


@CHECKS.check(points=2, title="success on the first attempt: try_acquire, allow_request, fn, record_success")
def first_try(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[], allows=[], errors=[]))


@CHECKS.check(points=2, title="a retriable failure is recorded, slept on (delay_for(1)), and retried")
def retries_transient(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[], allows=[], errors=[Transient("busy")]), attempts=3)


@CHECKS.check(points=2, title="an open breaker fails fast with CircuitOpenError: fn not called, no sleep")
def breaker_open(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[], allows=[False], errors=[]), attempts=3)


@CHECKS.check(points=2, title="an empty bucket raises RateLimitedError before the breaker is asked")
def rate_limited(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[False], allows=[], errors=[]), attempts=3)


@CHECKS.check(points=2, title="a non-retriable error is recorded and re-raised at once (same object)")
def permanent_not_retried(ex: ModuleType) -> Observation:
    return run(ex, World(grants=[], allows=[], errors=[Permanent("bad")]), attempts=3)
