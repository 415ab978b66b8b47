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
# # Lab 2: Circuit breakers
#
# **Objectives.** By the end of this lab you can
#
# 1. walk a circuit breaker through its three states (closed, open, half-open) and read each
#    transition, with its reason, from the breaker's own events;
# 2. measure what a breaker buys during a backend outage: calls not wasted on a dead backend,
#    and users answered at once instead of after a timeout; and say what it costs;
# 3. pick a trip rule (consecutive failures or a failure rate) and a recovery timeout for an
#    outage and for a brownout;
# 4. explain the half-open stampede, and why a breaker lets only a few probes through at once.
#
# Everything here runs day6's own `CircuitBreaker`, the class that also guards `day6 chat`. It
# has no timers and never sleeps: it only *reads* its clock, so the same object runs on a fake
# clock in the first cell and inside a simpy simulation in the rest, where a minute of traffic
# from 20 users takes a fraction of a real second. Every run is seeded, so you get exactly the
# numbers printed below. The whole lab runs in well under 30 seconds.
#
# The interactive panel needs a live notebook (JupyterLab: `make lab`). Where widgets cannot
# render (a static preview, the test pipeline, which sets `DAY6_STATIC=1`), it shows its figure
# at the default settings instead.

# %%
# %matplotlib inline
import day6
from day6 import CircuitBreaker, CircuitOpenError, ErrorKind, FakeClock, viz, widgets
from day6.sim import breaker_experiments as bx

print(f"day6 {day6.__version__}: ready")

# %% [markdown]
# ## 1. Three states
#
# Retries help with a *blip*. When a backend is really down they make things worse: every
# caller keeps calling a service that cannot answer, each call waits for its own timeout, and
# the extra load can keep the service from coming back. A circuit breaker watches the outcomes
# of calls and, once the evidence says "this backend is unhealthy", **fails fast** for a while
# without calling it at all.
#
# * **closed**: calls flow; the breaker counts failures. `failure_threshold` failures in a row
#   (only *backend* faults count: 5xx, overload, timeouts, network errors; a 400 or a spent quota
#   says nothing about the backend's health) **open** it.
# * **open**: every call is refused at once with `CircuitOpenError`, which says when the next
#   probe is allowed. Nothing reaches the backend.
# * **half-open**: once `recovery_timeout` has passed, the next call is let through as a
#   **probe**. If it succeeds the breaker closes; if it fails it opens again.
#
# Here is the whole cycle on a `FakeClock`, through the breaker's *permit* API (the three steps
# every form of the breaker is built on: `try_acquire`, then `record_success` or
# `record_failure`). The hook collects every event the breaker emits.

# %%
clock = FakeClock()
events = []
breaker = CircuitBreaker("llm", failure_threshold=3, recovery_timeout=30.0, clock=clock, hooks=[events.append])

for _ in range(3):
    permit = breaker.try_acquire()
    breaker.record_failure(permit, ErrorKind.SERVER_ERROR)
print("after 3 failures: ", breaker.state)
try:
    breaker.try_acquire()
except CircuitOpenError as exc:
    print("refused at once:  ", exc)

clock.advance(30.0)
probe = breaker.try_acquire()
print("30 s later:       ", breaker.state, "- this call is a probe:", probe.probe)
breaker.record_success(probe)
print("probe succeeded:  ", breaker.state)

print()
for event in events:
    if event.topic == "breaker.state":
        print(f"t={event.at:5.1f} s  {event.old:>9} -> {event.new:9}  {event.reason}")

# %% [markdown]
# Note *when* the breaker became half-open: at 30 s, when a call arrived, not on a timer. The
# breaker has no timers and no threads; it moves from open to half-open lazily, the next time
# someone asks. That is what lets the very same object run in real time, in tests and in a
# simulation.
#
# ### The same machine in simulated time
#
# One client calls a backend once a second (every network hop takes 10 ms). The backend fails
# with 503 from 3 s to 12 s. The breaker trips after 3 consecutive failures and probes after
# 4.5 s. The transitions below are the breaker's own `CircuitStateChanged` events.

# %%
trace = bx.breaker_trace()
for event in trace.transitions:
    print(f"t={event.at:5.2f} s  {event.old:>9} -> {event.new:9}  {event.reason}")
print()
print("what the client got:", trace.outcomes)
metrics = trace.metrics
print(
    f"breaker metrics:     {metrics.successes} successes, {metrics.failures} failures, "
    f"{metrics.rejections} rejections, opened {metrics.times_opened} times"
)

# %%
viz.plot_breaker_trace(trace)

# %% [markdown]
# Read the figure from left to right: three successes; three 503s (the breaker opens on the
# third, at 5.02 s); refusals, which cost the client nothing and the backend nothing; at 10 s
# the first request after the 4.5 s timeout becomes a probe (the diamond), meets a backend that
# is still down, and re-opens the breaker; at 15 s the next probe succeeds and closes it. During
# the 9 s outage the backend saw 4 failing calls instead of 9.
#
# ## 2. An outage, with and without a breaker
#
# Now a realistic load: **20 users** of one application, each sending a request every 2 s on
# average (10 requests per second in all). Answers normally take 0.5 to 1.5 s. From 30 s to 90 s
# the backend **hangs**: it accepts requests and never answers, the nastiest kind of outage, so
# each client gives up after its **5 s timeout**. The application either calls the backend
# directly, or through one shared breaker (`failure_threshold=5`, `recovery_timeout=10`); a
# refused request gets an immediate fallback answer ("the assistant is unavailable, try again
# shortly"). Both runs see exactly the same users at exactly the same moments.

# %%
runs = bx.outage_comparison()
print(f"{'':13} {'backend calls':>13} {'wasted':>7} {'timeouts':>9} {'fallbacks':>10} {'user-s waiting':>15}"
      f" {'recovered after':>16}")
for run in runs:
    print(
        f"{run.label:13} {run.calls:13} {run.wasted_calls:7} {run.count('timeout'):9} {run.count('rejected'):10}"
        f" {run.failure_wait:15.0f} {run.time_to_recover:14.1f} s"
    )

# %%
viz.plot_outage(runs)

# %% [markdown]
# **Load on the backend (top).** Without a breaker the dead backend keeps receiving the full
# 10 requests per second for the whole minute: every one of them is *wasted*, and on a real
# system each holds a connection, a thread and a slot in some queue. With the breaker the load
# collapses to a single probe every cycle once it has tripped.
#
# **What users saw (bottom).** Without a breaker every request in the outage hangs for the full
# 5 s timeout and then fails (purple): over 2500 user-seconds of staring at a spinner for
# nothing. With the breaker only the first few seconds of requests wait (the breaker cannot
# know the backend is down until the first 5 timeouts come back); after that users get the
# fallback at once (grey, at zero). Nobody gets a real answer during the outage either way: the
# breaker cannot make a dead backend work. It makes failure **fast and cheap**.
#
# **The price.** Look at the last column of the table: without a breaker users are served again
# as soon as the backend is (traffic never stopped); with it they wait for the next probe, up
# to a recovery timeout plus a probe's round trip. A shorter `recovery_timeout` narrows that gap
# but probes a dead backend more often. Both runs recover by themselves: no operator needed.
#
# ### Outages come in kinds
#
# A backend that answers 503 at once is far less painful than one that hangs; a **brownout**,
# where half the calls fail, is subtler still. Three kinds of outage, and two trip rules: the
# consecutive rule (here `failure_threshold=20`, deliberately high) and the windowed rule, which
# trips when at least 50 % of the last 20 calls failed.

# %%
print(f"{'outage kind':12} {'breaker':28} {'wasted':>7} {'fallbacks':>10} {'user-s waiting':>15} {'opened':>7}")
for kind in bx.OUTAGE_KINDS:
    for rule in (None, "consecutive", "failure rate"):
        settings = None if rule is None else bx.breaker_settings(failure_threshold=20, trip_rule=rule)
        run = bx.outage_run(breaker=settings, outage_kind=kind)
        name = "none" if rule is None else f"20 in a row{' or 50 % of 20' if rule == 'failure rate' else ''}"
        print(
            f"{kind:12} {name:28} {run.wasted_calls:7} {run.count('rejected'):10}"
            f" {run.failure_wait:15.0f} {run.opened():7}"
        )

# %% [markdown]
# * In a **hang**, the timeout dominates everything; either breaker saves over 2000 user-seconds.
# * In an **error** outage the failures are already fast, so the users barely notice the
#   breaker; the *backend* does (hundreds of calls fewer while it tries to restart).
# * In a **brownout**, 50 % failures almost never produce 20 in a row, so the consecutive rule
#   never trips. The failure-rate rule sees the rate and trips. Note the flip side: while it is
#   open it also refuses the half of the calls that would have succeeded. Whether that is right
#   depends on what a failure costs you (a timeout? money? a user's patience?).
#
# ## 3. Try it
#
# The panel runs the outage through a breaker with your settings (the no-breaker baseline above
# does not depend on them). Things to try:
#
# * raise the **failure threshold** to 30: the breaker trips later, and more users wait for
#   timeouts first;
# * shorten the **recovery timeout** to 2 s: recovery after the outage is quicker, at the price
#   of more probes into a dead backend;
# * set the **outage kind** to *partial* and the threshold to 20, then switch the **trip rule**
#   to *failure rate* and move the **rate window** (how many recent calls it judges): a short
#   window trips sooner and wastes fewer calls; a long one needs more evidence, so a brief burst
#   of errors is less likely to trip it.

# %%
# NBVAL_IGNORE_OUTPUT
widgets.outage_panel().show()

# %% [markdown]
# ## 4. The half-open stampede
#
# A refusal says *when* to come back: `CircuitOpenError.retry_after` is the time until the next
# probe. Polite clients that honour it all come back **at the same moment**. What happens then
# depends on `half_open_max_calls`, the number of probes the breaker lets through at once:
#
# * with **1** (day6's default), one of them is the probe; the others are refused again and fall
#   back, until the probe reports;
# * with an **unbounded** number ("everyone through"), the whole crowd lands on the backend in the
#   same few milliseconds.
#
# And a backend that has *just* recovered is often fragile: caches are cold, connection pools
# are being rebuilt, autoscaling has not caught up. Here 20 clients (one request every 2 s each)
# use a backend that is down from 10 s to 40 s and then **warms up for 20 s**, serving only 4
# requests at once (normally 20), each taking 0.1 s, and shedding the rest with 503. A client
# refused by the breaker waits `retry_after` once and asks again. Both arms run the real
# `CircuitBreaker` (trips after 5 failures, probes after 5 s); only `half_open_max_calls` differs.

# %%
crowd = bx.stampede_comparison()
for run in crowd:
    busiest = run.peak_load(0.1) * 0.1
    print(
        f"{run.label:36} opened {run.opened():2} times, {run.opened(since=run.outage[1])} after the outage;"
        f" closed for good at {run.closed_at:5.1f} s; {run.wasted_calls:3} calls wasted;"
        f" busiest 0.1 s: {busiest:.0f} requests"
    )

# %%
viz.plot_stampede(crowd)

# %% [markdown]
# **Unbounded probes** (right): every recovery timeout, the whole crowd of waiting clients hits
# the backend at once: a spike of 15 to 20 requests in a few milliseconds. While the backend is
# down they all fail; once it is back but warming up, it can take 4 of them and sheds the rest,
# the first shed 503 counts as a failed probe, and the breaker **re-opens**. It keeps doing so
# until the backend has fully warmed up (60 s): the stampede itself keeps the breaker open, and
# every cycle wastes a crowd's worth of calls.
#
# **One probe at a time** (left): each cycle costs the backend exactly one call. The first probe
# after the outage succeeds on the warming backend (one request fits easily), the breaker
# closes, and the other clients, having fallen back, return at their own random pace, which the
# warming backend can absorb.
#
# Bounding the probes is the breaker's version of Lab 1's lesson about jitter: **never let a
# crowd that was synchronised by a failure hit a recovering service all at once.** (Clients can
# help too: add jitter to `retry_after` rather than waking exactly on it.)
#
# ## Key points
#
# * **A breaker makes failure fast and cheap.** It cannot make a dead backend answer; it stops
#   sending it work, and answers users at once (with a fallback) instead of after a timeout.
# * **Three states, driven by evidence:** closed counts failures, open refuses everything until
#   the recovery timeout, half-open lets a few probes decide. Only backend faults count.
# * **The recovery timeout is a trade-off:** shorter means users are served sooner after a
#   recovery, longer means fewer probes into a dead backend. (`recovery_backoff` grows it while
#   the backend keeps failing.)
# * **Pick the trip rule for the failure you expect:** consecutive failures catch a hard
#   outage fast; a failure rate over a window also catches a brownout.
# * **Bound the half-open probes.** A crowd released at once can knock a recovering backend
#   straight back over and keep the breaker open.
# * **Time is injected.** The breaker only reads its clock, so the same class ran on a fake
#   clock, in simpy, and runs for real in `day6 chat`.
#
# ## Exercises
#
# * `exercises/ex03_circuit_breaker.py`: build the three-state machine yourself (consecutive
#   failures, a recovery timeout read from an injected clock, one probe at a time).
#
# Check your work offline with `day6 check ex03` in a terminal, or `day6.grading.check("ex03")` in
# a notebook cell.
