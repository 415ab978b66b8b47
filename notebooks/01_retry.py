# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 1: Retries, backoff and jitter
#
# **Objectives.** By the end of this lab you can
#
# 1. tell a failure worth retrying from one that is not, by classifying *real* OpenAI SDK errors;
# 2. read an exponential backoff schedule and explain what each jitter mode does to it;
# 3. watch a thundering herd form after an outage, and watch jitter break it up;
# 4. reproduce Marc Brooker's "Exponential Backoff And Jitter" experiment (AWS Architecture Blog,
#    2015) and say which strategy wins, on work and on time;
# 5. stop a retry storm with a shared retry budget.
#
# Everything here runs day6's own `RetryPolicy`, the class that also protects `day6 chat`. The
# experiments run it inside *simulated* time (simpy): minutes of simulated traffic take a
# fraction of a real second, and every run is seeded, so you get exactly the numbers printed
# below. Run the cells top to bottom; the whole lab takes well under 30 seconds.
#
# The interactive panels need a live notebook (JupyterLab: `make lab`). Where widgets cannot
# render (a static preview, the test pipeline, which sets `DAY6_STATIC=1`), each panel shows
# its figure at the default settings instead.

# %%
# %matplotlib inline
import day6
from day6 import Backoff, FakeClock, Jitter, RetryError, RetryPolicy, classify, sim, viz, widgets

print(f"day6 {day6.__version__}: ready")

# %% [markdown]
# ## 1. Which failures deserve another attempt?
#
# A retry bets that *the same request* will succeed a moment later. That is a good bet for
# transient failures (a rate limit, an overloaded or failing server, a timeout, a dropped
# connection) and a bad one for everything that needs a change first: a wrong API key, an
# invalid request, a prompt that is too long, a spent quota. Retrying those wastes time and
# quota, and hides the real problem.
#
# `classify()` answers three questions about a failure: what *kind* is it, is it *retriable*,
# and did the server say *when* to come back (`Retry-After`)? Here it judges the exceptions the
# real `openai` SDK raises: `sim.sdk_error` runs the genuine client against an in-process mock
# transport (nothing leaves your machine) and hands back what the SDK raised.

# %%
failures = [
    sim.sdk_error(429, code="rate_limit_exceeded", headers={"retry-after": "2"}),
    sim.sdk_error(429, code="insufficient_quota", type="insufficient_quota"),
    sim.sdk_error(500),
    sim.sdk_error(503),
    sim.sdk_network_error("timeout"),
    sim.sdk_network_error("connect"),
    sim.sdk_error(400, code="context_length_exceeded"),
    sim.sdk_error(401, code="invalid_api_key"),
]
print(f"{'SDK exception':26} {'kind':16} {'retriable':9}  retry_after")
for exc in failures:
    verdict = classify(exc)
    print(f"{type(exc).__name__:26} {verdict.kind.value:16} {verdict.retriable!s:9}  {verdict.retry_after}")

# %% [markdown]
# Look at the two 429s: the same status, opposite verdicts. `rate_limit_exceeded` clears up in
# seconds (and the server even says when: 2 s); `insufficient_quota` will not clear up until
# someone pays, so retrying it only burns attempts. Classification reads the error's `code`
# and `type`, never its message text.
#
# ### The policy acts on the verdict
#
# `RetryPolicy` classifies each failure, waits a backoff delay (at least what `Retry-After`
# asks), and stops after `attempts` attempts. Here it runs on a `FakeClock`: sleeping only moves
# fake time forward and records the delay, so we see the exact schedule without waiting.
# `sim.scripted_call` plays a script of outcomes: fail with a 503, then with a 429 that asks for
# 0.5 s, then succeed.

# %%
clock = FakeClock()
policy = RetryPolicy(attempts=4, base_delay=0.1, jitter="none", clock=clock)
flaky = sim.scripted_call(sim.sdk_error(503), sim.sdk_error(429, headers={"retry-after": "0.5"}), "hello")
print("result:       ", policy.call(flaky))
print("attempts made:", flaky.calls)
print("delays slept: ", clock.sleeps)

# %% [markdown]
# The first delay is the backoff (0.1 s); the second would be 0.2 s, but the server asked for
# 0.5 s, so the policy waits 0.5 s. A non-retriable error is raised at once, unwrapped, after a
# single attempt; a retriable one that never clears ends in a `RetryError` that carries the
# history.

# %%
bad_key = sim.scripted_call(sim.sdk_error(401, code="invalid_api_key"), "never reached")
try:
    policy.call(bad_key)
except Exception as exc:
    print(f"{type(exc).__name__} after {bad_key.calls} attempt: not retried")

always_down = sim.scripted_call(*[sim.sdk_error(503)] * 4)
try:
    policy.call(always_down)
except RetryError as exc:
    print(exc)
    for record in exc.attempts:
        after = f"waited {record.delay} s" if record.delay is not None else "gave up"
        print(f"  attempt {record.number}: {record.outcome}, then {after}")

# %% [markdown]
# ## 2. Backoff and jitter
#
# **Exponential backoff.** After failed attempt *n* the policy waits
# `raw(n) = min(cap, base * multiplier ** (n - 1))`: with the lesson's defaults 0.1 s, 0.2 s,
# 0.4 s, ... never more than the cap. Each failure buys a struggling server more time.
#
# **Jitter.** Clients that failed together would still wait the same delays and retry
# together. Jitter randomises each delay (`d = raw(n)`, `U(a, b)` a uniform draw):
#
# | jitter | delay | idea |
# |---|---|---|
# | `none` | `d` | the plain exponential curve |
# | `proportional` | `d * (1 + U(-0.25, 0.25))` | the lesson's +-25 %: keeps the curve's shape |
# | `full` | `U(0, d)` | spreads retries the most; sometimes retries almost at once |
# | `equal` | `d/2 + U(0, d/2)` | always waits at least half the backoff |
# | `decorrelated` | `min(cap, U(base, 3 * previous))` | grows from the previous delay, not from *n* |
#
# The figure shows each mode's median delay per attempt and, shaded, the band between the
# smallest and the largest of 1000 draws; the dashed line is the un-jittered curve.

# %%
bands = [
    band
    for mode in Jitter
    for band in sim.delay_bands(Backoff(base=0.1, cap=5.0, jitter=mode), attempts=7, samples=1000, seed=1)
]
viz.plot_delay_bands(bands)

# %% [markdown]
# **Try it.** Move the sliders: the base delay scales the curve, the multiplier bends it, the cap
# flattens it, and the jitter mode decides the band around it.

# %%
# NBVAL_IGNORE_OUTPUT
widgets.backoff_panel().show()

# %% [markdown]
# ## 3. The thundering herd
#
# 100 clients each make one call to a service that is **down for the first 2 s**. After that it
# serves at most 10 requests at a time, 50 ms each (200 requests per second), and sheds anything
# beyond that with a 503, as an overloaded server does. Every client retries with
# `RetryPolicy(attempts=8, base_delay=0.1, max_delay=2.0)`, once without jitter and once with
# full jitter. Top: each client's attempts (red failed, green succeeded). Bottom: the load
# reaching the service, against its capacity.

# %%
herd = [sim.thundering_herd(clients=100, jitter=mode, seed=1) for mode in ("none", "full")]
for run in herd:
    peak = run.peak_load(0.1, since=run.outage[1])
    print(
        f"{run.label:12} succeeded {run.succeeded:3}/{run.clients}   attempts {run.calls:4}"
        f"   peak load after recovery {peak:5.0f} requests/s"
    )

# %%
viz.plot_herd(herd)

# %% [markdown]
# Without jitter the clients stay in lock-step: every retry round arrives as one spike of
# about 100 requests within a few milliseconds. The recovered service can take 10 of them; the
# other 90 fail *again*, wait the same delay, and collide again. Most clients run out of
# attempts although the service is healthy most of the time. Full jitter spreads each round
# over the whole backoff interval, so the load after recovery stays near capacity and almost
# every client gets through, with fewer attempts in total.
#
# **Try it.** Give the herd more clients, a larger base delay, or a different jitter mode.

# %%
# NBVAL_IGNORE_OUTPUT
widgets.herd_panel().show()

# %% [markdown]
# ## 4. Brooker's experiment: work and time under contention
#
# In "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015), Marc Brooker had *N*
# clients start at the same moment, each updating one shared database row once under
# **optimistic concurrency**: read the row's version, then write it *conditionally*. The write
# succeeds only if no other write landed since the read; otherwise it conflicts (409) and the
# client backs off and tries again. Every network hop takes |Normal(10 ms, 2 ms)|. Strategies:
# no backoff, exponential backoff (base 5 ms, cap 2 s) without jitter, and with full, equal and
# decorrelated jitter. **Work** is the number of conditional writes the server handled;
# **time** is when the last client succeeded.
#
# `sim.contention_sweep` runs exactly that model with day6's `RetryPolicy` making every
# decision. The post averaged 100 trials per point; we use 10 to keep the lab fast
# (`benchmarks/contention_sweep.py` runs the full sweep).

# %%
points = sim.contention_sweep([10, 25, 50, 100], trials=10, seed=2015)
at_100 = {p.strategy: p for p in points if p.clients == 100}
exponential = at_100["exponential"]
print("100 clients, mean of 10 trials:")
for p in at_100.values():
    print(
        f"  {p.label:20} work {p.work:6.0f} writes ({p.work / exponential.work:4.0%} of exponential)"
        f"   time {p.time:6.2f} s"
    )

# %%
viz.plot_contention(points)

# %% [markdown]
# The post's findings, reproduced:
#
# * **Jitter cuts the work by more than half** compared with exponential backoff without it:
#   full and equal jitter need well under half the conditional writes.
# * **Full and equal jitter do about the same work; decorrelated does somewhat more.**
# * **Plain exponential loses on both counts**: it does more work than any jittered strategy
#   *and* takes an order of magnitude longer, because clients that collided once keep
#   colliding, just less often.
# * **Equal jitter takes noticeably longer than full jitter**: always waiting at least half the
#   backoff costs time without saving work.
# * No backoff at all finishes fast here but does the most work of all: it is the server that
#   pays.
#
# Brooker's conclusion, and day6's default advice: use capped exponential backoff *with*
# jitter (full jitter when in doubt).
#
# ## 5. Retry storms and the retry budget
#
# Per-call attempt limits do not protect a service during an outage: if every call fails, every
# caller retries, and a service that was failing at 50 calls per second now receives several
# times that, exactly when it can least take it. A **retry budget** is shared by all calls: it
# counts failures and successes across them (gRPC's retry throttling: every failure costs a
# token, every success earns back 0.1, retries are allowed only while the bucket is more than
# half full) and refuses *retries*, never first attempts, once most calls are failing.
#
# Steady traffic of 50 calls per second meets a 10 s outage; each call may make 5 attempts.

# %%
storms = [sim.retry_storm(budget=budget, seed=3) for budget in (False, True)]
for run in storms:
    print(
        f"{run.label:18} {run.requests} calls, {run.calls} attempts;"
        f" {run.outage_amplification:.1f} attempts per call during the outage;"
        f" {run.refused_by_budget} retries refused by the budget"
    )

# %%
viz.plot_storm(storms)

# %% [markdown]
# Without a budget the outage multiplies the load by about the number of attempts. With the
# budget, a handful of failures drain the bucket, retries stop, and the load stays at the
# traffic the callers actually offer, so a recovering service is not buried under retries.
# The calls during the outage fail either way; the budget only refuses the retries that could
# not have helped.
#
# ## Key points
#
# * **Classify before you retry.** Retry transient failures (rate limits, 5xx, timeouts,
#   network errors); never retry auth errors, invalid requests, too-long prompts or a spent
#   quota. Read the error's `code`, not just its status.
# * **Honour `Retry-After`.** The server knows when it can take you back.
# * **Back off exponentially, with a cap, and add jitter.** Without jitter, clients that fail
#   together retry together: the thundering herd. Full jitter does the least work.
# * **Bound everything:** attempts, the total deadline, and retries across all calls (a retry
#   budget), so a failing dependency is not hit harder because it is failing.
# * **Time and randomness are injected.** The same `RetryPolicy` ran on a fake clock, inside a
#   simulation, and runs for real in `day6 chat`.
#
# ## Exercises
#
# * `exercises/ex01_retry.py`: write exponential backoff with jitter and a retry loop that only
#   retries what is worth it.
# * `exercises/ex02_classify.py`: classify failures and parse `Retry-After`.
#
# Check your work offline with `day6 check ex01` in a terminal, or `day6.grading.check("ex01")` in
# a notebook cell.
