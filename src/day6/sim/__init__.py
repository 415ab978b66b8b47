"""Simulated time for day6's patterns: simpy drivers, a small service model, and the lab experiments.

``import day6`` never imports this package (simpy is only needed for the labs); import it
explicitly::

    from day6 import sim
    result = sim.thundering_herd(clients=100, jitter="full", seed=1)

Modules:

* :mod:`day6.sim.drivers` - :func:`retry_process`, which runs a real ``RetryPolicy`` in a simpy
  process (the policy decides, the driver waits with ``env.timeout``).
* :mod:`day6.sim.service` - :class:`SimService` (network hops, capacity, outages, random errors,
  one optimistically-concurrent row) and latency distributions.
* :mod:`day6.sim.retry_experiments` - Lab 1: delay bands, thundering herd, Brooker's contention
  experiment, retry storm vs retry budget.
* :mod:`day6.sim.sdk` - real openai SDK exceptions produced offline (the real client over a mock
  transport) and scripted callables, for demonstrating classification and retries.

* :mod:`day6.sim.breaker_experiments` - Lab 2: a breaker's trace, an outage with and without a
  breaker, the half-open stampede.
* :mod:`day6.sim.rate_experiments` - Lab 3: bucket level under bursts, the window edge, the adaptive
  limiter finding hidden capacity, priorities, a quota's day.
* :mod:`day6.sim.agent_experiments` - Lab 4: the agent's dashboard time series (imported on use:
  it loads the openai SDK).
"""

from day6.sim import breaker_experiments, rate_experiments
from day6.sim.breaker_experiments import breaker_trace, outage_comparison, stampede_comparison
from day6.sim.drivers import retry_process
from day6.sim.rate_experiments import adaptive_timeline, bucket_run, priority_run, quota_day, window_edge
from day6.sim.retry_experiments import (
    BROOKER_STRATEGIES,
    AttemptSpan,
    ContentionPoint,
    DelayBand,
    HerdResult,
    StormResult,
    brooker_policy,
    contention,
    contention_sweep,
    delay_bands,
    retry_storm,
    thundering_herd,
)
from day6.sim.sdk import ScriptedCall, scripted_call, sdk_error, sdk_network_error
from day6.sim.service import (
    AbsNormal,
    Constant,
    Exponential,
    Latency,
    ServiceStats,
    SimService,
    SimServiceError,
    Uniform,
    classify_sim,
)

__all__ = [
    "BROOKER_STRATEGIES",
    "AbsNormal",
    "AttemptSpan",
    "Constant",
    "ContentionPoint",
    "DelayBand",
    "Exponential",
    "HerdResult",
    "Latency",
    "ScriptedCall",
    "ServiceStats",
    "SimService",
    "SimServiceError",
    "StormResult",
    "Uniform",
    "adaptive_timeline",
    "breaker_experiments",
    "breaker_trace",
    "brooker_policy",
    "bucket_run",
    "classify_sim",
    "contention",
    "contention_sweep",
    "delay_bands",
    "outage_comparison",
    "priority_run",
    "quota_day",
    "rate_experiments",
    "retry_process",
    "retry_storm",
    "scripted_call",
    "sdk_error",
    "sdk_network_error",
    "stampede_comparison",
    "thundering_herd",
    "window_edge",
]
