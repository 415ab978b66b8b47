"""Hidden checks for Exercise 2. Instructor only: never ship this folder to students."""

from __future__ import annotations

from types import ModuleType

from day6.grading._spec import CheckSet, Observation, outcome

CHECKS = CheckSet("ex02", hidden=True)

_STATUSES: list[tuple[int | None, str | None]] = [
    (100, None),
    (200, None),
    (302, None),
    (400, "context_length_exceeded"),
    (400, "invalid_request_error"),
    (403, None),
    (405, None),
    (409, None),
    (410, None),
    (413, "context_length_exceeded"),
    (418, None),
    (422, "context_length_exceeded"),
    (422, None),
    (429, ""),
    (429, "QUOTA_EXCEEDED"),
    (499, None),
    (501, None),
    (504, None),
    (529, None),
    (599, None),
    (600, None),
    (None, "connection_reset"),
    (None, " timeout"),
    (408, "insufficient_quota"),
]


@CHECKS.check(points=5, partial=True, title="classify follows every row of the table, edges included")
def full_table(ex: ModuleType) -> Observation:
    classify = ex.classify
    rows = []
    for status, code in _STATUSES:
        verdict = classify(status, code)
        rows.append([[status, code], [verdict.kind, verdict.retriable]])
    return rows


@CHECKS.check(points=3, partial=True, title="parse_retry_after handles edge values as specified")
def retry_after_edges(ex: ModuleType) -> Observation:
    parse = ex.parse_retry_after
    cases: list[dict[str, str]] = [
        {"retry-after": "-1"},
        {"retry-after": "inf"},
        {"retry-after": "1e3"},
        {"retry-after": " 2 "},
        {"retry-after": ""},
        {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"retry-after-ms": "0"},
        {"RETRY-AFTER-MS": "1500", "Retry-After": "9"},
        {"retry-after-ms": "-5", "retry-after": "4"},
        {"retry-after-ms": "later"},
        {"x-other": "1"},
    ]
    return [[headers, outcome(lambda h=headers: parse(h))] for headers in cases]


@CHECKS.check(points=2, title="the results have the specified types: retriable a bool, delays a float")
def result_types(ex: ModuleType) -> Observation:
    verdict = ex.classify(503, None)
    seconds = ex.parse_retry_after({"retry-after": "3"})
    return [type(verdict.retriable).__name__, type(verdict.kind).__name__, type(seconds).__name__]
