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
# # Lab 4: The resilient agent, end to end
#
# **Objectives.** By the end of this lab you can
#
# 1. name every layer a chat request passes through in `ResilientAgent` and say what each one
#    protects against;
# 2. run fault scenarios against the whole agent as *fire drills* and read their reports:
#    availability, attempts, waste, degraded answers, recovery time;
# 3. read an on-call dashboard of a drill (request rate, error rate, p95 latency, breaker state,
#    limiter headroom) and explain every bend in it;
# 4. check the lesson's production targets by experiment, next to the plain OpenAI SDK;
# 5. chat with the agent yourself, break it on purpose, and diagnose it with `stats`, `health`
#    and `config`, using the troubleshooting guide.
#
# Labs 1 to 3 took the patterns apart. Here they work together, on the real `openai` SDK, against
# day6's embedded offline backend (no key, no network, no cost). The drills run in *fake time*:
# one `FakeClock` is shared by the whole stack, so two minutes of outage take a fraction of a
# second and give the same numbers on every run. Run the cells top to bottom; the lab takes well
# under 30 seconds.
#
# The interactive panels need a live notebook (JupyterLab: `make lab`). Where widgets cannot
# render (a static preview, the test pipeline, which sets `DAY6_STATIC=1`), the dashboard panel
# shows its figure at the default settings and the chat shows a scripted conversation.

# %%
# %matplotlib inline
import random

import day6
from day6 import FakeClock, ReliabilityConfig, ResilientAgent, readiness, run_scenario, viz, widgets
from day6.chat_widget import ChatWidget
from day6.sim import agent_experiments as drills

print(f"day6 {day6.__version__}: ready")

# %% [markdown]
# ## 1. The agent, built from the pieces
#
# `ResilientAgent.chat(text)` walks this path, outermost first. Every layer is a class you met in
# Labs 1 to 3, and every one reads the same injected clock:
#
# | layer | class | protects against |
# |---|---|---|
# | quota | `QuotaManager` | spending a budget you do not have (refuses *before* a wasted call) |
# | rate limiter | `AdaptiveRateLimiter` | sending faster than the server takes; adapts to 429s and errors |
# | circuit breaker | `CircuitBreaker`, one per model | hammering a backend that is down; fails fast, falls back |
# | retries | `RetryPolicy` + `RetryBudget` | transient failures; classifies, backs off with jitter, honours `Retry-After` |
# | SDK | `openai.OpenAI(max_retries=0)` | nothing: exactly **one** retry layer, ours |
# | transport | `FaultTransport` | (the fault injector lives here, for drills) |
# | backend | `EmbeddedBackend` | (or any OpenAI-compatible endpoint, with a key) |
#
# When a model cannot answer, the agent degrades in order: the fallback model, a shorter prompt
# (only the last turn) while capacity is scarce, and finally an honest apology that says what
# failed. `chat` never raises for a fault the lesson covers.
#
# We build it with the **production profile**, a `FakeClock` and a seeded generator. `env={}`
# makes sure an `OPENAI_API_KEY` in your environment cannot send this lab to a paid endpoint.

# %%
config = ReliabilityConfig.profile("production")
agent = ResilientAgent(config=config, clock=FakeClock(), rng=random.Random(0), env={})
print(agent.describe_config())

# %% [markdown]
# Each layer is an attribute you can inspect, and the SDK's own retries are off:

# %%
sdk = agent.client  # the openai.OpenAI client, built on first use
print("quota:   ", agent.quota, "(no budget configured: the profiles leave quotas to you)")
print("limiter: ", agent.limiter)
for breaker in agent.breakers.values():
    print("breaker: ", breaker)
print("retry:   ", agent.retry)
print("SDK:     ", type(sdk).__name__, "max_retries =", sdk.max_retries)
print("injector:", agent.injector)

# %% [markdown]
# One question, then the same agent with the `flaky` scenario armed (one attempt in five fails
# with a 500, a 503 or a reset connection). `AgentReply` says which model answered, after how
# many attempts, how long it took (fake time) and whether the answer is degraded.

# %%
reply = agent.chat("What is a circuit breaker?")
print(reply.text)
print(f"-> model {reply.model}, {reply.attempts} attempt(s), {reply.latency:.2f} s, degraded={reply.degraded}")

agent.injector.activate("flaky")
for i in range(6):
    reply = agent.chat(f"How do retries with backoff work? (question {i})")
    print(f"question {i}: {reply.model}, {reply.attempts} attempt(s), {reply.latency:.3f} s, notes={reply.notes}")
print()
print(agent.stats().to_text())

# %% [markdown]
# The failed attempts never reached you: the retry policy classified each one as transient,
# backed off (the latency is the backoff delay: the embedded backend itself answers instantly
# in fake time) and tried again. `stats` counts them as retries, and the `faults` line shows
# what the injector did.
#
# ## 2. Fire drills
#
# A fire drill (`day6.run_scenario`, also `test NAME` in `day6 chat`) builds a fresh agent,
# arms a scenario and sends one request per second of fake time, long enough to cover the faults
# and the breaker's recovery. `drills.fire_drills` runs the lesson's five scenarios with our
# configuration:
#
# * `flaky`: 20 % of attempts fail with a 500, a 503 or a reset connection;
# * `outage_then_recovery`: every request gets a 503 for 10 s, then 30 % get a 500 for 10 s more;
# * `rate_limited`: half the requests get a 429 `rate_limit_exceeded` with `Retry-After: 1`;
# * `quota_exhausted`: every request gets a 429 `insufficient_quota`;
# * `slow`: one request in ten hangs until the client's timeout, the rest are 2 s late.
#
# *attempts* are the requests the agent really sent (an attempt its own open breaker refused
# costs the backend nothing and is not counted); *waste* is (attempts - answers) / answers;
# *recovery* is the time from the end of the faults to the primary model's next answer.

# %%
reports = drills.fire_drills(config=config, seed=0)
print(drills.drills_table(reports))

# %% [markdown]
# Read the table row by row:
#
# * **flaky**: every user got an answer; the cost is the extra attempts, close to what random
#   failures force on *any* client (see section 4).
# * **outage_then_recovery**: nothing can answer while every request fails. The breakers open
#   after a few failures, so most of the outage costs no backend calls at all (refused attempts
#   are instant), and the answers that do come are degraded (fallback model, short prompt).
# * **rate_limited**: the weak spot, shown honestly. These 429s do not depend on how fast we
#   send (think of a quota shared with other clients), but the adaptive limiter reads every 429
#   as "slow down" and cuts its rate towards its floor (`rate_limit.min_rate_per_minute`, 6 per
#   minute). Requests then queue for a token, each for up to `agent.request_timeout`: most are
#   answered, late and with a short prompt (degraded), and the ones whose wait would be longer
#   fail. The dashboard below shows the queue, and the troubleshooting guide (section 6) names
#   the settings that change it.
# * **quota_exhausted**: not retriable, so nothing is answered, but every request costs just two
#   attempts (one per model) instead of a retry loop each.
# * **slow**: everything is answered, slowly: each hung call holds the user for
#   `agent.request_timeout` (20 s here) before the retry.
#
# The outage drill is the one the production profile was tuned for. Its report lists every
# breaker transition:

# %%
print(reports[1].to_text())

# %% [markdown]
# The same drill with the lesson's own defaults (a 60 s recovery timeout) recovers much later:
# the breaker cannot probe before its timeout, whatever the backend does.
# `check_consistency()` had warned about exactly this.

# %%
lesson_defaults = ReliabilityConfig()
print(run_scenario("outage_then_recovery", config=lesson_defaults, seed=0).to_text())
print()
for issue in lesson_defaults.check_consistency():
    print("check_consistency:", issue)

# %% [markdown]
# ## 3. The live dashboard
#
# A report tells *what* happened; an on-call engineer watches it *happen*. `drills.dashboard_run`
# drives the same drill and samples the agent every simulated second, even in the middle of a
# call (its fake clock stops on every whole second while a retry backs off or the limiter makes a
# request wait): request rate, error rate and p95 latency over the last 10 s, each breaker's
# state, and the limiter's tokens and adaptive rate. `viz.plot_dashboard` draws them on one time
# axis; grey spans are the fault windows.

# %%
outage = drills.dashboard_run("outage_then_recovery", config=config, seconds=90, seed=0)
print(outage.to_text())

# %%
viz.plot_dashboard(outage)

# %% [markdown]
# What to look for:
#
# * **Error rate 100 %, p95 falling to 0** during the outage: once the breakers are open, calls
#   fail *fast*, which is the point: no user waits for a backend that cannot answer.
# * **The breaker bands**: open after a few failures, a half-open probe after the 15 s recovery
#   timeout (red again if the probe fails: the backend is still limping), then closed for good.
# * **After the recovery, the answers are orange** (degraded): the limiter's rate was cut while
#   the backend failed and climbs back step by step, its bucket stays nearly empty, and while it
#   is below 20 % the agent sends a short prompt. Recovery of the *backend* and recovery of the
#   *client* are two different things.
#
# The `rate_limited` drill, on the same axes: the refill rate falls towards its floor within
# seconds and each request waits in the limiter's queue for tens of seconds (see the p95): the
# client, not the server, is now the bottleneck.

# %%
limited = drills.dashboard_run("rate_limited", config=config, seconds=90, seed=0)
viz.plot_dashboard(limited)

# %% [markdown]
# **Try it.** Pick a scenario and move the breaker's recovery timeout and failure threshold:
# watch the bands and the error rate. (The panel's drill keeps a short conversation memory so
# each redraw stays fast.)

# %%
# NBVAL_IGNORE_OUTPUT
widgets.dashboard_panel().show()

# %% [markdown]
# ## 4. Production readiness, measured
#
# The lesson promises 99.9 % availability, recovery under 30 s, under 5 % retry waste and a p95
# under 2 s. `readiness.run_readiness` checks each promise by experiment, twice under identical
# faults: once with day6's agent (production profile) and once with a plain `openai.OpenAI`
# client and its *default* retries, which is what most code in the wild runs. It is the table
# `day6 simulate readiness` prints; the notes under it define every number.

# %%
report = readiness.run_readiness(seed=0)
print(report.to_text())

# %%
viz.plot_readiness(report)

# %% [markdown]
# Two results deserve a second look:
#
# * **Recovery**: the bare SDK "recovers" faster because it never stops sending to a dead
#   backend; day6 waits for its breaker's recovery timeout. Look at the note: the bare client
#   spent many more attempts inside the outages. That is the trade a breaker makes on purpose.
# * **Retry waste under 10 % random 5xx** is reported as information, not as a verdict: when a
#   tenth of all attempts fail at random, *every* client that answers wastes about
#   p / (1 - p) = 11 % per answer, whatever its retry policy.
#
# ## 5. Chat with the agent
#
# Now a real conversation: the agent below runs in **real time** (`SystemClock`, the default)
# on the embedded offline backend. Type a question and press **Send** (or Enter). The grey line
# under each answer says which model answered, after how many attempts, and how long it took.
#
# The buttons are `day6 chat`'s operator commands (you can also type them): **stats**,
# **health**, **config**, **reset**. Choose a scenario and press **inject** to break the backend
# on purpose, then ask again and watch the notes, the attempts and `stats`; **reset** heals it.
# Things to try: inject `outage_then_recovery` and send a message every few seconds for half a
# minute; inject `rate_limited` and press `health`.

# %%
live_agent = ResilientAgent(config=config, env={})
chat = ChatWidget(live_agent)
chat

# %% [markdown]
# ## 6. Troubleshooting guide
#
# Four problems the lesson names, and for each: what you see, the command or snapshot field that
# tells you why, and the setting that fixes it. Commands work in `day6 chat` and in the chat above;
# fields are those of `agent.stats()` (a `MonitorSnapshot`); settings are `ReliabilityConfig`
# fields written `section.field`. The same guide is in `docs/troubleshooting.md`.
#
# Before anything else: `config` prints the settings in effect, and
# `ReliabilityConfig.check_consistency()` lists settings that contradict each other or the SLA
# targets; `stats` ends with a `faults` line whenever injected faults fired (a scenario armed with
# `inject` stays armed until `reset`); `health` pings the backend through the same transport, so
# its `backend:` line tells "the backend is down" apart from "our client is refusing".
#
# ### Circuit breaker stuck open
#
# **Symptom.** Notes such as `day6-mini: circuit open, next probe in 41.2 s`; answers from the
# fallback model, or none, long after the backend seems fine again.
#
# **Diagnose.** `health`: `breaker:day6-mini: unhealthy - circuit open: calls are failing fast`;
# compare with the `backend:` line (backend unhealthy too: the outage is real). `stats`:
# `breaker day6-mini: open (N transitions; ...)`; in the snapshot, `breakers["day6-mini"]` has
# `state`, `since`, `current_outage`, `recoveries`, `max_recovery` and `rejections`. An open
# breaker turns half-open *lazily*, when a call arrives after `recovery_timeout`: with no traffic
# it looks stuck, so send one message. `transitions` climbing while `recoveries` stays 0 means
# every probe fails.
#
# **Fix.** `circuit_breaker.recovery_timeout` (the production profile uses 15 s; the lesson's
# 60 s cannot meet the 30 s recovery target); `circuit_breaker.success_threshold` and
# `half_open_max_calls` (probes needed to close); `circuit_breaker.failure_threshold`, or the
# failure-rate rule `failure_rate_threshold` with `window_size` and `minimum_calls` (too sensitive
# and a blip trips it); `circuit_breaker.slow_call_threshold` above `monitoring.p95_latency`.
# `reset` closes the breakers and disarms injected faults at once.
#
# ### Rate limit exceeded
#
# **Symptom.** Notes `client-side rate limit, capacity returns in 11.0 s` (our limiter refused)
# or `rate_limit after 3 attempt(s): HTTP 429` (the server refused); degraded answers with
# `prompt fallback: sent only the last turn (rate limiter nearly empty)`.
#
# **Diagnose.** `stats`: `limiter client: N allowed, M rejected, headroom H` and `errors
# rate_limit K` (the server's 429s); in the snapshot `limiters["client"].rejected`, `.headroom`,
# `.rate` (current refill rate per second) and `.rate_changes`,
# `requests.errors_by_kind["rate_limit"]`. `health`: `rate_limiter: degraded - bucket empty`. The
# adaptive limiter pauses for `Retry-After` and cuts its rate at each episode of 429s; when the
# 429s do not depend on your rate it sinks to its floor (`.rate` equals
# `rate_limit.min_rate_per_minute / 60`). A request waits for a token at most
# `agent.request_timeout`, then is refused. `insufficient_quota` is not a rate limit:
# it is never retried.
#
# **Fix.** `rate_limit.requests_per_minute` (your provider's RPM, not above);
# `rate_limit.burst_size` (back-to-back requests after a quiet spell);
# `rate_limit.adaptive_enabled`, `min_rate_per_minute`, `max_rate_per_minute` (raise the floor if
# random 429s starve the client); keep `retry.honour_retry_after = true`; `quota.requests_per_day`,
# `tokens_per_day`, `cost_per_day` (and per month) to refuse early once a budget is spent.
#
# ### High latency
#
# **Symptom.** Slow answers; `stats` shows a p95 above `monitoring.p95_latency` (2 s).
#
# **Diagnose.** `stats`: `latency p50 ... p95 ...` (a high p50: everything is slow; a high p95
# alone: a tail of retries, limiter waits or hung calls); `attempts N (K retries)`, and in the
# snapshot `retries.total_delay` (seconds spent backing off) and `retries.by_kind`; `limiter ...
# headroom 0` (requests waiting for tokens); `faults timeout ..., slow ...` (the `slow` drill:
# each hung call holds the user for `agent.request_timeout`). Backend faults also cut the adaptive
# limiter's rate, so right after an outage requests may queue for tokens (the dashboard above).
#
# **Fix.** `agent.request_timeout` (the longest one attempt may take; keep it well above the p95
# target); `retry.deadline` (a bound on the whole retry loop); `retry.attempts`,
# `base_delay`, `max_delay`, `multiplier`; `circuit_breaker.slow_call_threshold` (count slow
# calls as failures so the agent fails over instead of waiting); `rate_limit.requests_per_minute`
# and `burst_size` if the time goes to limiter waits.
#
# ### Memory growth
#
# **Symptom.** A long-running agent's process grows, or requests get slower as the conversation
# gets longer.
#
# **Diagnose.** `len(agent.memory)`: every request sends the whole history, so the model's work
# and the SDK's validation grow with it (one offline request cost about 3 ms of CPU with 2
# messages of history and about 12 ms with 200 when this lab was written). `config`:
# `agent.max_history_messages`, `agent.memory_path` (with a path, each turn rewrites the file).
# The monitor is bounded by construction: a fixed latency sketch
# (`monitor.latency_sketch.bucket_count`, about 1,270 counters) and a ring of
# `monitoring.history / 1 s` rate buckets (`monitor.ring_size`); counters exist per label value,
# never per request. The chat widget keeps at most `max_entries` log entries.
#
# **Fix.** `agent.max_history_messages` (default 200; oldest whole turns dropped first) or
# `agent.memory.clear()`; leave `agent.memory_path` unset for an in-memory conversation;
# `monitoring.history` and `monitoring.latency_accuracy`; `ChatWidget(agent, max_entries=...)`.
#
# ## Key points
#
# * **Order matters.** Quota, then limiter, then breaker, then retries, then *one* SDK call with
#   the SDK's own retries off: each layer refuses as early and as cheaply as it can.
# * **Fail fast, then degrade.** An open breaker answers in no time; the agent falls back to
#   another model, then to a shorter prompt, then to an honest apology. It never raises for a
#   fault the lesson covers.
# * **Drill it.** Fault scenarios in fake time turn "it should survive an outage" into numbers:
#   availability, attempts, recovery time, the same on every run.
# * **Watch it.** Rates, p95 and breaker state over time show what a summary hides, such as a
#   backend that is back while the client is still throttling itself.
# * **Measure the promises, and say where they fail.** The readiness report checks each target
#   against the bare SDK; the `rate_limited` drill shows a limit of adaptive rate limiting.
#
# ## Exercises
#
# * `exercises/ex05_integration.py`: compose a rate limiter, a circuit breaker and retries into
#   `resilient_call`, the core loop of this agent.
# * Revisit `exercises/ex03_circuit_breaker.py` and `exercises/ex04_rate_limit.py` if a layer
#   of the stack is still unclear.
#
# Check your work offline with `day6 check ex05` in a terminal, or `day6.grading.check("ex05")` in a
# notebook cell.
