"""Visible checks for Exercise 2 (error classification and Retry-After parsing)."""

from __future__ import annotations

from types import ModuleType

from day6.grading._spec import CheckSet, Observation, outcome

CHECKS = CheckSet("ex02")


def _table(ex: ModuleType, cases: list[tuple[int | None, str | None]]) -> Observation:
    classify = ex.classify
    rows = []
    for status, code in cases:
        verdict = classify(status, code)
        rows.append([[status, code], [verdict.kind, verdict.retriable]])
    return rows


@CHECKS.check(points=4, partial=True, title="classify follows the table for the common failures")
def common_failures(ex: ModuleType) -> Observation:
    return _table(
        ex,
        [
            (429, "rate_limit_exceeded"),
            (500, None),
            (502, None),
            (503, None),
            (401, None),
            (400, None),
            (404, None),
            (408, None),
            (None, "timeout"),
            (None, None),
        ],
    )


@CHECKS.check(points=2, partial=True, title="a 429 with a quota code is quota_exhausted (not retriable)")
def quota_is_not_rate_limit(ex: ModuleType) -> Observation:
    return _table(ex, [(429, None), (429, "insufficient_quota"), (429, "billing_hard_limit_reached")])


@CHECKS.check(points=1, partial=True, title="codes compare case-insensitively, ignoring surrounding spaces")
def codes_normalised(ex: ModuleType) -> Observation:
    return _table(ex, [(429, " Insufficient_Quota "), (None, "TIMEOUT"), (400, "Context_Length_Exceeded")])


@CHECKS.check(points=1, title="parse_retry_after reads retry-after seconds, any header case")
def retry_after_seconds(ex: ModuleType) -> Observation:
    parse = ex.parse_retry_after
    return [outcome(lambda: parse({"retry-after": "3"})), outcome(lambda: parse({"Retry-After": "1.5"}))]


@CHECKS.check(points=1, title="parse_retry_after prefers retry-after-ms (milliseconds) over retry-after")
def retry_after_ms_wins(ex: ModuleType) -> Observation:
    parse = ex.parse_retry_after
    return outcome(lambda: parse({"retry-after-ms": "250", "retry-after": "3"}))


@CHECKS.check(points=1, title="parse_retry_after ignores missing or invalid values (None, or the fallback)")
def retry_after_invalid(ex: ModuleType) -> Observation:
    parse = ex.parse_retry_after
    return [
        outcome(lambda: parse({})),
        outcome(lambda: parse({"retry-after": "soon"})),
        outcome(lambda: parse({"retry-after-ms": "nan", "retry-after": "2"})),
    ]
