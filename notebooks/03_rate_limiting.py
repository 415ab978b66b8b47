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
# # Lab 3: Rate limiting
#
# **Objectives.** By the end of this lab you can
#
# 1. read a token bucket's level over time and say why the same average load can be fine or
#    ruinous depending on how bursty it is;
# 2. explain what a fixed window, a sliding window and a token bucket each promise, and find the
#    window edge where the fixed window lets twice its limit through;
# 3. watch an adaptive limiter find a server's capacity it cannot see, and read its AIMD sawtooth;
# 4. serve important callers first under saturation without starving the rest (aging);
# 5. forecast when a daily quota runs out, and say why a straight-line forecast is too late.
#
# A rate limit says how *fast* you may call; a quota says how *much*. An LLM provider enforces
# both on its side (a 429 when you exceed them); a client that limits itself *before* calling
# wastes neither requests nor money. Everything here runs day6's own limiters from
# `day6.rate_limit` -- `TokenBucket`, `SlidingWindowLimiter`, `AdaptiveRateLimiter`,
# `PriorityRateLimiter`, `QuotaManager` -- the classes that also guard `day6 chat`. The
# experiments run them in *simulated* time (the limiters only read their clock), and every run
# is seeded, so you get exactly the numbers printed below. The whole lab takes a few seconds.
#
# The interactive panels need a live notebook (JupyterLab: `make lab`). Where widgets cannot
# render (a static preview, the test pipeline, which sets `DAY6_STATIC=1`), each panel shows
# its figure at the default settings instead.

# %%
# %matplotlib inline
import day6
from day6 import viz, widgets
from day6.sim import rate_experiments as rx

print(f"day6 {day6.__version__}: ready")

# %% [markdown]
# ## 1. The token bucket
#
# A bucket holds at most `capacity` tokens and refills at `rate` tokens per second; every call
# takes one token, and a call that finds the bucket empty is refused (or waits). `capacity` is the
# burst the bucket allows at once, `rate` the pace it sustains: the lesson's "60 requests per
# minute, burst 10" is `TokenBucket(capacity=10, rate=1.0)`.
#
# `rx.bucket_run` sends traffic through a real `TokenBucket(capacity=10, rate=2)` for 60
# simulated seconds. Each request calls `try_acquire()` once. Three traffic patterns, all with the
# same average load of 2 requests per second, exactly the refill rate:
#
# * **steady**: requests arrive at random (a Poisson process);
# * **bursty**: every 10 s, twenty requests arrive within one second;
# * **spike**: half the load all along, plus a 5-second surge at five times the load.

# %%
runs = {pattern: rx.bucket_run(capacity=10, rate=2.0, pattern=pattern, load=2.0) for pattern in rx.TRAFFIC_PATTERNS}
print(f"{'traffic':8} {'requests':>8} {'admitted':>8} {'refused':>7}")
for pattern, run in runs.items():
    print(f"{pattern:8} {len(run.arrivals):8} {len(run.accepted):8} {len(run.rejected):7}   ({run.acceptance:.0%} admitted)")

# %%
viz.plot_bucket(runs["bursty"])

# %% [markdown]
# Same average load, very different fates. Steady traffic never empties the bucket: it admits
# everything. Each burst of twenty meets a full bucket of ten: ten tokens go at once, one more
# trickles in during the burst's second, and the other nine requests are refused; then the bucket
# refills for five seconds and sits full, unused, until the next burst. **The average says nothing; the burst
# must fit the capacity.**
#
# The bucket's guarantee: in any window of `t` seconds it admits at most `capacity + rate * t`
# requests (what was in the bucket at the start, plus what refilled during the window). The
# tests check it as a property over random traffic; here it is for these runs:

# %%
for t in (1.0, 10.0, 60.0):
    worst = {pattern: run.most_admitted(t) for pattern, run in runs.items()}
    print(f"any {t:4g} s window: at most {runs['bursty'].bound(t):5g} allowed;  most admitted: {worst}")

# %% [markdown]
# ## 2. Windows: fixed, sliding, and the bucket at the edge
#
# "10 requests per minute" sounds unambiguous. It is not. A **fixed window** counts per calendar
# minute and resets at :00: a client can send 10 calls at 00:59 and 10 more at 01:00, twenty within
# seconds, and never break the rule. A **sliding window** promises the limit in *any* 60 seconds:
# `SlidingWindowLimiter(mode="log")` keeps the timestamps of the calls in the window and is exact;
# `mode="counter"` keeps only per-sub-window counts (bounded memory) and errs on the safe side. A
# **token bucket** with `capacity=10, rate=10/60` promises something else again:
# `10 + t / 6` calls in any `t` seconds.
#
# `rx.window_edge` aims a greedy client at all four: one attempt every 0.25 s from t = 50 s to
# t = 110 s, straddling the minute boundary at 60 s. (The fixed window is a deliberately naive
# baseline inside the experiment; day6 ships only the sliding window.)

# %%
edge = rx.window_edge(limit=10, window=60.0, start=50.0, stop=110.0, interval=0.25)
print(f"{'limiter':26} {'admitted':>8} {'most in 60 s':>12} {'most in 15 s':>12}   promise")
for run in edge.runs:
    print(f"{run.label:26} {len(run.admitted):8} {run.most_in(60):12} {run.most_in(15):12}   {run.guarantee}")

# %%
viz.plot_window_edge(edge, short=15)

# %% [markdown]
# The fixed window admits 10 calls just before the boundary and 10 just after: **20 calls within
# about 12 seconds**, twice the limit, and a provider enforcing a true sliding window would have
# answered the second ten with 429s. Both sliding windows never exceed 10 in any 60 s (the log
# admits its 11th call at t = 110 s, exactly when the first one leaves the window). The token
# bucket takes its burst of 10 at once, then one call every 6 s: 19 in the worst minute, within
# its own promise of `10 + 60 / 6 = 20`, but only 12 in the worst 15 s, where the fixed window
# allowed 20.
#
# Which to use? Match the limit you must respect: a provider's "per minute" limit is usually
# enforced as a sliding window or a bucket, never in your favour. A client-side bucket whose
# capacity *plus* a window's refill stays under the provider's limit is safe, smooth and O(1)
# in memory.
#
# ## 3. The adaptive limiter: finding a capacity you cannot see
#
# Providers rarely publish your real capacity, and it changes with load and with your tier. A
# fixed client rate is a guess: too low wastes capacity you pay for, too high turns every extra
# call into a 429. `AdaptiveRateLimiter` moves its rate with the evidence:
#
# * **slow start**: while all is well, double the rate every evaluation window;
# * **additive increase**: after the first cut, add a small step per good window;
# * **multiplicative decrease**: a 429 cuts the rate at once (to what the server actually
#   delivered), a poor success rate halves it.
#
# Additive increase with multiplicative decrease (AIMD) is how TCP shares a network: it keeps
# probing for more, and backs off hard when told. `day6.sim_rate.adaptive_capacity` runs the real
# limiter against a simulated server that accepts 20 requests per second and answers the rest with
# 429; the client has endless work. `rx.adaptive_timeline` cuts that run into 5-second bins.

# %%
timelines = [
    rx.adaptive_timeline(capacity=20.0, initial_rate=2.0, label="starts 10x too low"),
    rx.adaptive_timeline(capacity=20.0, initial_rate=100.0, label="starts 5x too high"),
    rx.adaptive_timeline(capacity=20.0, initial_rate=2.0, capacity_after=(60.0, 10.0), label="capacity halves at 60 s"),
]
for timeline in timelines:
    run = timeline.run
    print(
        f"{timeline.label:24} goodput after 30 s {timeline.settled_goodput(30):4.0%} of capacity;"
        f"  429s {run.rejected:3} of {run.sent} sent ({run.rejected_fraction:.1%});  final rate {run.final_rate:5.2f}/s"
    )

# %%
viz.plot_adaptive(timelines)

# %% [markdown]
# Top row: the limiter's rate (blue) against the server's hidden capacity (dashed). Started far
# too low, slow start doubles its way up in a few seconds, overshoots, and the first 429s cut it
# straight to what the server delivered. Started far too high, the first 429s cut it down at
# once. From then on it saws around the capacity: it creeps up until a 429 says "too much",
# steps down a little, and creeps up again. When the provider halves the capacity at 60 s, the
# 429s drive the rate down to the new level within seconds.
#
# Bottom row: accepted requests per second (the goodput, green) and 429s (red). Once settled, the
# client uses essentially all of the capacity and wastes a 429 or so every few seconds: the
# price of probing. (The goodput can exceed 100 % of the capacity for a moment: the server's own
# bucket starts full.)
#
# ## 4. Priorities under saturation
#
# When demand exceeds the rate, someone waits. `PriorityRateLimiter` decides who: it is a token
# bucket whose waiting line is ordered by priority (`HIGH`, `NORMAL`, `LOW`), so a user's chat
# goes before a batch job's summaries. Strict priority has a flaw: while HIGH traffic keeps
# coming, a LOW caller may wait forever. **Aging** fixes it: every `aging` seconds of waiting
# promote a caller by one class, so a LOW caller is first in line after at most about
# `2 * aging` seconds.
#
# `rx.priority_run` saturates a limiter serving 4 requests per second for 60 s: HIGH callers
# arrive at 2.0/s, NORMAL at 1.6/s, LOW at 0.8/s (4.4/s in all), then arrivals stop and the line
# drains. Every caller blocks in the real `aacquire(priority=...)`. (These are asyncio tasks on an
# event loop whose clock jumps from timer to timer, as simpy does, so a minute takes milliseconds.)

# %%
priority_runs = [rx.priority_run(aging=aging) for aging in (None, 10.0, 5.0)]
print(f"{'run':28} {'class':6} {'callers':>7} {'mean wait':>9} {'p95':>6} {'max':>6}")
for run in priority_runs:
    for row in run.by_class():
        print(f"{run.label:28} {row.priority.name:6} {row.count:7} {row.mean:8.1f}s {row.p95:5.1f}s {row.max:5.1f}s")

# %%
viz.plot_priority(priority_runs)

# %% [markdown]
# With strict priority, HIGH callers barely wait (about a second at worst), and LOW callers pay
# for everyone: the longer the saturation lasts, the longer they wait, up to 46 s here, and
# without the end of the burst they would wait forever. With 10-second aging, no LOW caller waits
# much more than 20 s (two classes to climb); HIGH still waits under a second on average, though
# it now sometimes queues behind callers that aged into its class. Aging every 5 s goes further: the classes blur into one
# line and everyone waits about as long. **Aging trades a little of HIGH's speed for a bound on
# everyone's wait; its period sets the exchange rate.** Priorities only reorder the line: the
# backlog itself is the saturation, and only more capacity or less demand removes it.
#
# ## 5. Quotas: how much, per day
#
# `QuotaManager` keeps budgets per calendar period (minute, hour, day, month) for requests, tokens
# and cost, and refuses *before* the call: `reserve()` holds the estimated use (prompt tokens plus
# `max_tokens`), `commit()` records what the response actually used. Periods follow the UTC
# calendar, so a daily quota resets at midnight, and `predict_exhaustion()` extrapolates this
# period's pace so far in a straight line.
#
# `rx.quota_day` runs one simulated day: about 4000 chat requests with a daily rhythm (quiet
# night, busy working hours), against a budget of 2 million tokens per day.

# %%
day = rx.quota_day(tokens_per_day=2_000_000, requests_per_day=4_000)
print(f"requests {day.requests}, served {day.served}, refused before calling {len(day.refused)}")
print(f"first refusal at {rx.hhmm(day.first_refusal)} UTC")
for hour in (6, 9, 12, 14, 15):
    forecast = day.forecast_at(hour * 3600)
    said = "no exhaustion before midnight" if forecast is None else f"runs out at {rx.hhmm(forecast)}"
    print(f"  forecast made at {hour:02d}:00: {said}")

# %%
viz.plot_quota(day)

# %% [markdown]
# The forecast is a straight line from midnight through the usage so far. At 09:00 the quiet
# night still dominates the average, so it sees no problem at all; at noon it says late evening;
# even at 15:00, under an hour before the first refusal, it is still about an hour late. A
# straight line is blind to the daily rhythm, which is why production quota alerts compare the
# *recent* burn rate with the budget left (a burn-rate alert, like `day6.BurnRateRule`), not
# the day's average pace.
#
# From the first refusal to midnight every request is refused *before* it is sent: no latency,
# no money, a clear `QuotaExceededError` naming the budget and its reset time. Reservations
# count: the quota refuses a call whose *estimate* (prompt plus `max_tokens`) does not fit, even
# if a shorter answer would have.
#
# ## 6. Try it
#
# **The bucket.** Change the capacity, the refill rate, the traffic pattern and the load: when
# does a burst fit, and what does a larger capacity cost (hint: the worst-window bound)?

# %%
# NBVAL_IGNORE_OUTPUT
widgets.bucket_panel().show()

# %% [markdown]
# **The adaptive limiter.** Start it higher or lower, cut harder or gentler (the decrease factor),
# judge over more or fewer calls (the evaluation window), or change the server's capacity at 60 s.

# %%
# NBVAL_IGNORE_OUTPUT
widgets.adaptive_panel().show()

# %% [markdown]
# ## Key points
#
# * **A token bucket limits the pace and allows a burst:** at most `capacity + rate * t` calls in
#   any `t` seconds. The average load says little; the bursts must fit the capacity.
# * **Say which window you mean.** A fixed window admits up to twice its limit across an edge; a
#   sliding window keeps the limit in any window; a bucket keeps its own `capacity + rate * t`.
# * **Adapt to the capacity you cannot see:** slow start to find it, multiplicative decrease on
#   429, additive increase to keep probing. The sawtooth around the capacity is the cost of
#   knowing it.
# * **Under saturation, priorities decide who waits, and aging bounds how long.** Nobody is
#   served faster in total: only more capacity or less demand shrinks the line.
# * **Quotas refuse before the call.** Reserve the estimate, commit the actual use, and do not
#   trust a straight-line forecast over a day with a rhythm.
# * **Time is injected.** The same limiter classes ran on simulated clocks here, and on the real
#   clock in `day6 chat`.
#
# ## Exercises
#
# * `exercises/ex04_rate_limit.py`: write a token bucket and a sliding-window log over an injected
#   clock (the two algorithms compared in section 2).
#
# Check your work offline with `day6 check ex04` in a terminal, or `day6.grading.check("ex04")` in a
# notebook cell.
