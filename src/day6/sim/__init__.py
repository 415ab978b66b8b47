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

Later labs add their experiment modules beside these and re-export them here.
"""

from day6.sim.drivers import retry_process
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
    "brooker_policy",
    "classify_sim",
    "contention",
    "contention_sweep",
    "delay_bands",
    "retry_process",
    "retry_storm",
    "scripted_call",
    "sdk_error",
    "sdk_network_error",
    "thundering_herd",
]
