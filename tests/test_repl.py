"""`day6 chat`: the REPL driven through its session object and through a real pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from day6.agent import ResilientAgent
from day6.clock import FakeClock
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
