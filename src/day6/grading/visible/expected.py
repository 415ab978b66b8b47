"""Expected observations of the visible checks. Generated; do not edit.

Regenerate with ``python -m day6.grading.checks --write-expected solutions`` after changing a
visible check or a reference solution (tests/test_grading.py fails until you do).
"""

import json

from day6.grading._spec import Observation

EXPECTED: dict[str, Observation] = json.loads(
    r"""
{
 "ex01.capped": [
  1.0,
  2.0,
  4.0,
  5.0,
  5.0,
  5.0
 ],
 "ex01.doubling": [
  0.1,
  0.2,
  0.4,
  0.8,
  1.6
 ],
 "ex01.gives_up": {
  "calls": 3,
  "raised_the_last_error": true,
  "sleeps": [
   0.1,
   0.2
  ]
 },
 "ex01.permanent_not_retried": {
  "calls": 1,
  "raised_the_same_error": true,
  "sleeps": []
 },
 "ex01.rejects_invalid": [
  {
   "raised": "ValueError"
  },
  {
   "raised": "ValueError"
  },
  {
   "raised": "ValueError"
  }
 ],
 "ex01.retry_recovers": {
  "calls": 3,
  "result": {
   "returned": "ok"
  },
  "sleeps": [
   0.1,
   0.2
  ]
 },
 "ex01.seeded_jitter": {
  "delays": [
   0.9119163824165812,
   1.650849173924502,
   4.301868946079708,
   6.289745146670171
  ],
  "draws": 4
 },
 "ex02.codes_normalised": [
  [
   [
    429,
    " Insufficient_Quota "
   ],
   [
    "quota_exhausted",
    false
   ]
  ],
  [
   [
    null,
    "TIMEOUT"
   ],
   [
    "timeout",
    true
   ]
  ],
  [
   [
    400,
    "Context_Length_Exceeded"
   ],
   [
    "context_length",
    false
   ]
  ]
 ],
 "ex02.common_failures": [
  [
   [
    429,
    "rate_limit_exceeded"
   ],
   [
    "rate_limit",
    true
   ]
  ],
  [
   [
    500,
    null
   ],
   [
    "server_error",
    true
   ]
  ],
  [
   [
    502,
    null
   ],
   [
    "server_error",
    true
   ]
  ],
  [
   [
    503,
    null
   ],
   [
    "overloaded",
    true
   ]
  ],
  [
   [
    401,
    null
   ],
   [
    "auth",
    false
   ]
  ],
  [
   [
    400,
    null
   ],
   [
    "bad_request",
    false
   ]
  ],
  [
   [
    404,
    null
   ],
   [
    "not_found",
    false
   ]
  ],
  [
   [
    408,
    null
   ],
   [
    "timeout",
    true
   ]
  ],
  [
   [
    null,
    "timeout"
   ],
   [
    "timeout",
    true
   ]
  ],
  [
   [
    null,
    null
   ],
   [
    "network",
    true
   ]
  ]
 ],
 "ex02.quota_is_not_rate_limit": [
  [
   [
    429,
    null
   ],
   [
    "rate_limit",
    true
   ]
  ],
  [
   [
    429,
    "insufficient_quota"
   ],
   [
    "quota_exhausted",
    false
   ]
  ],
  [
   [
    429,
    "billing_hard_limit_reached"
   ],
   [
    "quota_exhausted",
    false
   ]
  ]
 ],
 "ex02.retry_after_invalid": [
  {
   "returned": null
  },
  {
   "returned": null
  },
  {
   "returned": 2.0
  }
 ],
 "ex02.retry_after_ms_wins": {
  "returned": 0.25
 },
 "ex02.retry_after_seconds": [
  {
   "returned": 3.0
  },
  {
   "returned": 1.5
  }
 ],
 "ex03.call_wraps": {
  "calls": [
   "ok",
   "fail"
  ],
  "reraised": "same error",
  "value": 42,
  "when_open": "CircuitOpenError"
 },
 "ex03.half_open_after_timeout": {
  "at_10s": true,
  "at_9.5s": false,
  "state": "half_open"
 },
 "ex03.opens_at_threshold": {
  "allowed": [
   true,
   true,
   true
  ],
  "allowed_after": false,
  "states": [
   "closed",
   "closed",
   "closed",
   "open"
  ]
 },
 "ex03.probe_failure_reopens": {
  "at_+10s": true,
  "at_+9.5s": false,
  "state": "open"
 },
 "ex03.probe_success_closes": [
  "closed",
  true
 ],
 "ex03.success_resets_count": [
  "closed",
  "open"
 ],
 "ex04.capped_at_capacity": 2.0,
 "ex04.refills": {
  "after_0.25s": false,
  "after_0.5s": true,
  "drain": [
   true,
   true
  ]
 },
 "ex04.starts_full": [
  true,
  true,
  true,
  false
 ],
 "ex04.time_until_available": {
  "then_acquire": true,
  "waits": [
   1.0,
   0.5,
   0.0
  ]
 },
 "ex04.window_boundary": {
  "retry_after": 0.5,
  "t=0": true,
  "t=1.5": false,
  "t=2.0": true
 },
 "ex04.window_limit": {
  "t=0": [
   true,
   true,
   false
  ],
  "t=0.5": false,
  "t=1.0": [
   true,
   true,
   false
  ]
 },
 "ex05.breaker_open": {
  "log": [
   "try_acquire",
   "allow_request"
  ],
  "result": {
   "raised": "CircuitOpenError"
  }
 },
 "ex05.first_try": {
  "log": [
   "try_acquire",
   "allow_request",
   "fn",
   "record_success"
  ],
  "result": {
   "returned": "ok"
  }
 },
 "ex05.permanent_not_retried": {
  "log": [
   "try_acquire",
   "allow_request",
   "fn",
   "record_failure"
  ],
  "result": {
   "raised": "the last error from fn"
  }
 },
 "ex05.rate_limited": {
  "log": [
   "try_acquire"
  ],
  "result": {
   "raised": "RateLimitedError"
  }
 },
 "ex05.retries_transient": {
  "log": [
   "try_acquire",
   "allow_request",
   "fn",
   "record_failure",
   "sleep 0.5",
   "try_acquire",
   "allow_request",
   "fn",
   "record_success"
  ],
  "result": {
   "returned": "ok"
  }
 }
}
"""
)
