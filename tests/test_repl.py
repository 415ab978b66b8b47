"""`day6 chat`: the REPL driven through its session object and through a real pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from day6.agent import ResilientAgent
from day6.clock import FakeClock
from day6.config import ReliabilityConfig
from day6.memory import ConversationMemory
from day6.repl import ChatSession


@pytest.fixture
def session(clock: FakeClock) -> ChatSession:
    return ChatSession(ResilientAgent(clock=clock, env={}))


def test_chat_line_goes_to_agent(session: ChatSession) -> None:
    """A plain line is answered by the agent."""
    out = session.handle("what is a token bucket?")
    assert "token bucket" in out.text.lower()
    assert not out.done


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("stats", "requests"),
        ("health", "overall:"),
        ("config", "retry"),
        ("help", "commands"),
        ("test", "outage_then_recovery"),
        ("/stats", "requests"),
    ],
)
def test_commands(session: ChatSession, line: str, expected: str) -> None:
    """Each operator command answers with its view."""
    assert expected in session.handle(line).text


def test_unknown_slash_command_gets_a_hint(session: ChatSession) -> None:
    """An unknown /command gets a one-line hint, not a model call."""
    out = session.handle("/bogus")
    assert out.text.startswith("unknown command")
    assert "\n" not in out.text


def test_unknown_scenario_gets_a_hint(session: ChatSession) -> None:
    """test and inject with an unknown scenario list the valid ones in one line."""
    for line in ("test nosuch", "inject nosuch"):
        out = session.handle(line)
        assert out.text.startswith("unknown scenario 'nosuch'")
        assert "flaky" in out.text


def test_fire_drill_reports_transitions_and_recovery(session: ChatSession) -> None:
    """`test outage_then_recovery` shows the breaker opening and the recovery time."""
    text = session.handle("test outage_then_recovery").text
    assert "->open" in text
    assert "->closed" in text
    assert "answering again" in text


def test_fire_drill_never_writes_the_live_memory_file(clock: FakeClock, tmp_path: Path) -> None:
    """`test NAME` drills on its own agent: the session's conversation file is left as it was."""
    path = tmp_path / "memory.json"
    config = ReliabilityConfig().override(agent={"memory_path": str(path)})
    agent = ResilientAgent(config=config, clock=clock, env={}, memory=ConversationMemory(path))
    session = ChatSession(agent)
    session.handle("hello")
    before = path.read_bytes()
    assert "answered" in session.handle("test flaky").text
    assert path.read_bytes() == before
    assert len(ConversationMemory(path)) == 2


def test_fire_drill_of_a_remote_session_stays_offline(clock: FakeClock) -> None:
    """A remote session's drill runs on the embedded backend, not on the session's endpoint."""
    agent = ResilientAgent(
        api_key="sk-test-remote-drill-0000",
        base_url="http://127.0.0.1:9/v1",  # nobody listens: a drill sent here would fail every request
        model="gpt-remote-only",
        clock=clock,
        env={},
    )
    assert not agent.offline
    text = ChatSession(agent).handle("test none").text
    assert "answered (100.0%), 0 degraded, 0 failed" in text


def test_inject_then_reset(session: ChatSession) -> None:
    """inject arms a scenario on the live session; reset disarms it."""
    session.handle("inject quota_exhausted")
    assert "could not get an answer" in session.handle("hello").text
    session.handle("reset")
    assert "could not get an answer" not in session.handle("hello").text


def test_quit(session: ChatSession) -> None:
    """quit and exit end the session."""
    assert session.handle("quit").done
    assert session.handle("exit").done


def test_day6_chat_through_a_pipe() -> None:
    """`day6 chat` works with piped stdin: answers, commands, hints, and a clean exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    script = "what is jitter?\nstats\n/nope\ntest nosuch\nhealth\nquit\n"
    proc = subprocess.run(
        [sys.executable, "-m", "day6.cli", "chat", "--memory", ""],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "jitter" in proc.stdout.lower()
    assert "unknown command '/nope'" in proc.stdout
    assert "unknown scenario 'nosuch'" in proc.stdout
    assert "overall:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


CANARY = "sk-canary-remote-5b1e0f9a7c3d2e48"


def test_day6_chat_remote_endpoint_never_prints_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`day6 chat` with OPENAI_API_KEY and OPENAI_BASE_URL talks to that endpoint (here `day6 serve`
    on loopback, demanding the key) and the key appears nowhere: output, errors, memory file."""
    from day6.backend import BackendServer, EmbeddedBackend

    server = BackendServer(EmbeddedBackend(api_key=CANARY), host="127.0.0.1", port=0).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DAY6_"))}
        env |= {"OPENAI_API_KEY": CANARY, "OPENAI_BASE_URL": server.url}
        memory = tmp_path / "memory.json"
        script = "what is a bulkhead?\nconfig\nstats\nhealth\ntest flaky\nquit\n"
        proc = subprocess.run(
            [sys.executable, "-m", "day6.cli", "chat", "--memory", str(memory)],
            input=script,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert "remote endpoint" in proc.stdout
    assert "bulkhead" in proc.stdout.lower()  # the remote backend accepted the key and answered
    assert "Traceback" not in proc.stdout + proc.stderr
    everything = proc.stdout + proc.stderr + memory.read_text()
    assert CANARY not in everything
    assert CANARY[-10:] not in everything


def test_day6_chat_wrong_key_is_a_clear_message_and_the_session_goes_on() -> None:
    """A rejected key gets an auth message per turn; commands still work; no traceback."""
    from day6.backend import BackendServer, EmbeddedBackend

    server = BackendServer(EmbeddedBackend(api_key="sk-the-right-key-0000000000"), port=0).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DAY6_"))}
        env |= {"OPENAI_API_KEY": "sk-a-wrong-key-1111111111", "OPENAI_BASE_URL": server.url}
        proc = subprocess.run(
            [sys.executable, "-m", "day6.cli", "chat", "--memory", ""],
            input="hello\nhealth\nquit\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert "auth" in proc.stdout
    assert "overall:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "sk-a-wrong-key" not in proc.stdout + proc.stderr
