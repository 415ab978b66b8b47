"""The resilient agent end to end: real SDK, embedded backend, injected faults, fake time."""

from __future__ import annotations

import logging
import random

import pytest

from day6.agent import ResilientAgent
from day6.backend import EmbeddedBackend
from day6.circuit_breaker import CircuitState
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.errors import ErrorKind
from day6.faults import SCENARIOS
from day6.memory import ConversationMemory


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may talk to a real endpoint because a developer has a key exported."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)


def make_agent(clock: FakeClock, **kwargs: object) -> ResilientAgent:
    return ResilientAgent(clock=clock, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def test_offline_default_answers(clock: FakeClock) -> None:
    """With no key and no URL the agent answers from the embedded backend, first attempt."""
    agent = make_agent(clock)
    reply = agent.chat("What is jitter?")
    assert agent.offline
    assert reply.ok
    assert not reply.degraded
    assert reply.model == "day6-mini"
    assert reply.attempts == 1
    assert "jitter" in reply.text.lower()
    assert [m.role for m in agent.memory.messages] == ["user", "assistant"]


def test_flaky_backend_every_request_answered(clock: FakeClock) -> None:
    """Under the flaky scenario (20 % failures) retries keep every answer coming."""
    agent = make_agent(clock)
    agent.injector.activate("flaky")
    replies = [agent.chat(f"question {i}") for i in range(100)]
    assert all(r.ok for r in replies)
    assert sum(r.attempts for r in replies) > 100  # faults really happened and were retried
    snap = agent.stats()
    assert snap.requests.total == 100


def test_dead_backend_is_one_retry_layer_and_degrades(clock: FakeClock) -> None:
    """Against a dead backend a call makes at most the policy's attempts per model, then apologises."""
    backend = EmbeddedBackend(clock=clock)
    agent = make_agent(clock, backend=backend)
    agent.injector.inject("server_error", probability=1.0)
    reply = agent.chat("hello?")
    assert not reply.ok
    assert reply.degraded
    assert reply.kind is ErrorKind.SERVER_ERROR
    attempts = agent.config.retry.attempts
    assert len(agent.models) < reply.attempts <= attempts * len(agent.models)
    assert len(agent.injector.log) == reply.attempts  # every attempt is one request: no SDK retries
    assert "could not get an answer" in reply.text
    assert len(agent.memory) == 0  # a failed turn is not remembered


def test_breaker_opens_then_fails_fast(clock: FakeClock) -> None:
    """After the failure threshold the breaker opens and later calls spend no upstream attempt."""
    agent = make_agent(clock)
    agent.injector.inject("server_error", probability=1.0)
    for _ in range(10):
        agent.chat("ping")
        if all(b.state is CircuitState.OPEN for b in agent.breakers.values()):
            break
    assert all(b.state is CircuitState.OPEN for b in agent.breakers.values())
    before = len(agent.injector.log)
    reply = agent.chat("still there?")
    assert len(agent.injector.log) == before
    assert reply.attempts == 0  # both models refused at their breakers: nothing was sent
    assert any("circuit open" in n for n in reply.notes)


def test_recovers_after_outage(clock: FakeClock) -> None:
    """Once the outage ends and the recovery timeout passes, the primary model answers again."""
    cfg = ReliabilityConfig.profile("production")
    agent = make_agent(clock, config=cfg)
    agent.injector.inject("overloaded", probability=1.0, duration=5.0)
    for _ in range(3):
        agent.chat("during the outage")
    clock.advance(cfg.circuit_breaker.recovery_timeout + 1)
    replies = [agent.chat("after the outage") for _ in range(cfg.circuit_breaker.success_threshold)]
    assert all(r.ok for r in replies)
    assert replies[-1].model == agent.models[0]
    assert agent.breakers[agent.models[0]].state is CircuitState.CLOSED


def test_fallback_model_when_primary_breaker_open(clock: FakeClock) -> None:
    """An open primary breaker sends the question to the fallback model: a degraded answer."""
    agent = make_agent(clock)
    agent.breakers[agent.models[0]].force_open()
    reply = agent.chat("what is a bulkhead?")
    assert reply.ok
    assert reply.degraded
    assert reply.model == agent.models[1]


def test_quota_error_is_not_retried(clock: FakeClock) -> None:
    """A 429 insufficient_quota is not retriable: one attempt per model, honest reply."""
    agent = make_agent(clock)
    agent.injector.activate("quota_exhausted")
    reply = agent.chat("hi")
    assert not reply.ok
    assert reply.kind is ErrorKind.QUOTA_EXHAUSTED
    assert reply.attempts == len(agent.models)


def test_rate_limit_honours_retry_after(clock: FakeClock) -> None:
    """A 429 with Retry-After: 1 s makes the retry wait at least that long."""
    agent = make_agent(clock)
    agent.injector.inject("rate_limit", count=1, retry_after=1.0)
    reply = agent.chat("hi")
    assert reply.ok
    assert reply.attempts == 2
    assert max(clock.sleeps) >= 1.0


def test_timeout_fault_is_retried_in_fake_time(clock: FakeClock) -> None:
    """A hung request times out after the client's timeout (fake time) and is retried."""
    agent = make_agent(clock)
    agent.injector.inject("timeout", count=1)
    reply = agent.chat("hi")
    assert reply.ok
    assert reply.attempts == 2
    assert clock.now() >= agent.config.agent.request_timeout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_never_raises(clock: FakeClock, scenario: str) -> None:
    """For every named scenario, chat returns a reply (answer or apology), never an exception."""
    agent = make_agent(clock)
    agent.injector.activate(scenario)
    for i in range(15):
        reply = agent.chat(f"message {i}")
        assert reply.text
        clock.advance(1.0)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_every_scenario_async(clock: FakeClock, scenario: str) -> None:
    """achat walks the same path with the async SDK client."""
    agent = make_agent(clock)
    agent.injector.activate(scenario)
    replies = []
    for i in range(10):
        replies.append(await agent.achat(f"message {i}"))
        clock.advance(1.0)
    assert all(r.text for r in replies)
    if scenario in ("none", "flaky", "slow"):
        assert all(r.ok for r in replies)


def test_failed_turn_keeps_history_consistent(clock: FakeClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A failure between two good turns leaves the saved history as question/answer pairs."""
    mem = ConversationMemory(tmp_path / "m.json")
    agent = make_agent(clock, memory=mem)
    agent.chat("first")
    agent.injector.inject("server_error", probability=1.0, count=6)
    assert not agent.chat("lost").ok
    agent.chat("third")
    saved = ConversationMemory(tmp_path / "m.json").messages
    assert [m.role for m in saved] == ["user", "assistant"] * 2
    assert [m.content for m in saved if m.role == "user"] == ["first", "third"]


def test_a_memory_save_failure_is_a_note_not_an_exception(clock: FakeClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """When the memory file cannot be written the answer still arrives, with a note saying why."""
    folder = tmp_path / "gone"
    agent = make_agent(clock, memory=ConversationMemory(folder / "m.json"))
    folder.write_text("")  # the memory folder is now a file: every save fails
    reply = agent.chat("hello")
    assert reply.ok
    assert any(n.startswith("memory: could not save") for n in reply.notes)
    assert len(agent.memory) == 2


def test_prompt_fallback_while_a_breaker_is_probing(clock: FakeClock) -> None:
    """While the primary breaker is half-open the agent sends only the last turn and says so."""
    cfg = ReliabilityConfig.profile("production")  # success_threshold 2: half-open for two probes
    agent = make_agent(clock, config=cfg)
    for i in range(3):
        agent.chat(f"turn {i}")
    breaker = agent.breakers[agent.models[0]]
    for _ in range(cfg.circuit_breaker.failure_threshold):
        breaker.record_failure(breaker.try_acquire(), ConnectionError("down"))
    assert breaker.state is CircuitState.OPEN
    clock.advance(cfg.circuit_breaker.recovery_timeout + 1)
    first = agent.chat("first probe")  # the breaker was still open when the prompt was built
    assert first.ok
    assert breaker.state is CircuitState.HALF_OPEN
    reply = agent.chat("second probe")
    assert reply.ok
    assert reply.degraded
    assert reply.model == agent.models[0]
    assert any("circuit breaker probing" in n for n in reply.notes)
    assert breaker.state is CircuitState.CLOSED


def test_wrong_key_gets_clear_reply_and_session_goes_on(clock: FakeClock) -> None:
    """A wrong key (401) is reported as an auth problem, not retried, and the agent keeps working."""
    backend = EmbeddedBackend(clock=clock, api_key="sk-right-key-000000000000")
    agent = make_agent(clock, api_key="sk-wrong-key-111111111111", backend=backend)
    reply = agent.chat("hello")
    assert not reply.ok
    assert reply.kind is ErrorKind.AUTH
    assert reply.attempts == len(agent.models)
    assert "sk-wrong" not in reply.text


def test_unreachable_base_url_is_a_clear_network_failure(clock: FakeClock) -> None:
    """A base URL nobody listens on (loopback port 9) ends in a network-kind apology."""
    agent = make_agent(clock, api_key="sk-test-unreachable-0000", base_url="http://127.0.0.1:9/v1")
    assert not agent.offline
    reply = agent.chat("anyone?")
    assert not reply.ok
    assert reply.kind is ErrorKind.NETWORK


def test_prompt_fallback_when_limiter_nearly_empty(clock: FakeClock) -> None:
    """With the limiter nearly empty the agent sends only the last turn and says so."""
    agent = make_agent(clock)
    for i in range(3):
        agent.chat(f"turn {i}")
        clock.advance(60)
    while agent.limiter.try_acquire(1):
        pass
    clock.advance(1.5)  # a token or so comes back: the next call can go, but capacity is scarce
    reply = agent.chat("short please")
    assert reply.ok
    assert reply.degraded
    assert any("prompt fallback" in n for n in reply.notes)


def test_reset_restores_a_clean_slate(clock: FakeClock) -> None:
    """reset() disarms faults, closes breakers and zeroes the stats; memory is kept."""
    agent = make_agent(clock)
    agent.chat("keep me")
    agent.injector.inject("server_error", probability=1.0)
    for _ in range(3):
        agent.chat("x")
    agent.reset()
    assert agent.stats().requests.total == 0
    reply = agent.chat("fresh")
    assert reply.ok
    assert not reply.degraded
    assert len(agent.memory) == 4


def test_health_reflects_open_breaker(clock: FakeClock) -> None:
    """An open primary breaker makes the overall health unhealthy, with the reason."""
    agent = make_agent(clock)
    assert agent.health().status.value == "healthy"
    agent.breakers[agent.models[0]].force_open()
    report = agent.health()
    assert report.status.value == "unhealthy"
    assert any("breaker" in c.name for c in report.checks if c.status.value != "healthy")


CANARY = "sk-canary-7f3a9c21d4e8b6a0"


def test_api_key_never_leaks(clock: FakeClock, tmp_path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """A planted key appears in no reply, note, log line (DEBUG), repr, stats, config or saved file."""
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "day6"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    backend = EmbeddedBackend(clock=clock, api_key=CANARY)
    mem_path = tmp_path / "memory.json"
    agent = make_agent(clock, api_key=CANARY, backend=backend, memory=ConversationMemory(mem_path))
    seen: list[str] = []
    seen.append(agent.chat("hello").text)
    agent.injector.activate("flaky")
    for i in range(10):
        r = agent.chat(f"q{i}")
        seen += [r.text, *r.notes, repr(r)]
    agent.injector.clear()
    agent.injector.inject("server_error", probability=1.0)
    r = agent.chat("fail")
    seen += [r.text, *r.notes, repr(r)]
    seen += [repr(agent), agent.describe_config(), agent.stats().to_text(), repr(agent.stats())]
    seen += [repr(agent.health()), repr(agent.config), str(agent.config.to_dict())]
    seen += [caplog.text, mem_path.read_text()]
    blob = "\n".join(seen)
    assert agent.chat  # the agent really ran with the key
    assert CANARY not in blob
    assert CANARY[-8:] not in blob


async def test_aclose_closes_both_clients(clock: FakeClock) -> None:
    """aclose() closes the sync and the async SDK clients."""
    agent = make_agent(clock)
    agent.chat("sync")
    await agent.achat("async")
    await agent.aclose()
    assert agent.client.is_closed()
    assert agent.async_client.is_closed()
