"""day6.chat_widget: the notebook chat drives the real agent through ChatSession, headlessly."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from day6.agent import ResilientAgent
from day6.chat_widget import COMMAND_BUTTONS, DEMO_SCRIPT, ChatWidget, exchange
from day6.clock import FakeClock
from day6.errors import ConfigError
from day6.repl import ChatSession

SECRET = "sk-test-0123456789abcdefSECRET"


@pytest.fixture
def agent(clock: FakeClock) -> ResilientAgent:
    """An offline agent in fake time with a seeded generator (faults and jitter repeat)."""
    return ResilientAgent(clock=clock, rng=random.Random(0), env={})


@pytest.fixture
def chat(agent: ResilientAgent) -> ChatWidget:
    return ChatWidget(agent)


def test_importing_the_module_imports_neither_ipywidgets_nor_matplotlib() -> None:
    """The widget toolkit (and matplotlib) load only when a live widget is built."""
    code = (
        "import sys, day6.chat_widget\n"
        "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_typing_a_message_and_pressing_send_shows_the_answer(chat: ChatWidget) -> None:
    """Text box + Send: the question is echoed and the agent's answer appears in the log."""
    chat.text.value = "What is jitter?"
    chat.send_button.click()
    kinds = [entry.kind for entry in chat.entries]
    assert kinds == ["you", "answer"]
    assert "you> What is jitter?" in chat.transcript
    assert "Jitter randomises each backoff delay" in chat.transcript
    assert "Jitter randomises each backoff delay" in chat.log.value
    assert "day6-mini · 1 attempt · answered" in chat.transcript
    assert chat.text.value == ""


def test_pressing_send_with_an_empty_box_does_nothing(chat: ChatWidget) -> None:
    """A blank line is not sent (no entry, no request recorded)."""
    chat.send_button.click()
    chat.text.value = "   "
    chat.send_button.click()
    assert chat.entries == ()
    assert chat.agent.stats().requests.total == 0


def test_the_stats_button_shows_an_html_table_of_the_monitor_snapshot(chat: ChatWidget) -> None:
    """stats renders MonitorSnapshot.to_text() as a <table>, one row per line."""
    chat.send("What is a token bucket?")
    chat.buttons["stats"].click()
    entry = chat.entries[-1]
    assert entry.kind == "command"
    assert entry.text == chat.agent.stats().to_text()
    assert entry.html.count("<tr>") == len(entry.text.splitlines())
    assert "<table" in chat.log.value
    assert "<th" in entry.html
    assert ">requests</th>" in entry.html
    assert "1 (ok 1, fallback 0, failed 0)" in entry.html


def test_a_typed_stats_command_is_handled_by_the_session_and_shown_as_a_table(chat: ChatWidget) -> None:
    """Typing `stats` (or `/stats`) goes through ChatSession, not to the model."""
    chat.send("/stats")
    assert chat.agent.stats().requests.total == 0
    assert chat.entries[-1].kind == "command"
    assert "<table" in chat.entries[-1].html


@pytest.mark.parametrize("name", ["health", "config"])
def test_the_health_and_config_buttons_show_the_session_output(chat: ChatWidget, name: str) -> None:
    """health and config print exactly what `day6 chat` prints for them."""
    chat.buttons[name].click()
    expected = ChatSession(chat.agent).handle(name).text
    assert chat.entries[-1].text == expected
    assert chat.entries[-1].kind == "command"


def test_injecting_an_outage_then_sending_shows_the_failed_attempts_and_notes(chat: ChatWidget) -> None:
    """Scenario drop-down + inject arms the fault; the next answer says what failed and how often."""
    chat.scenario.value = "outage_then_recovery"
    chat.buttons["inject"].click()
    assert "armed scenario 'outage_then_recovery'" in chat.transcript
    chat.send("What is a circuit breaker?")
    answer = chat.entries[-1]
    assert answer.kind == "answer"
    assert "Sorry, I could not get an answer" in answer.text
    assert "overloaded after 3 attempt(s)" in answer.text
    assert "no model · 5 attempts (4 retries) · failed" in answer.text
    assert chat.agent.stats().requests.by_outcome["failed"] == 1


def test_a_flaky_backend_shows_a_retried_answer(agent: ResilientAgent) -> None:
    """Under the flaky scenario (seeded) some answers needed a retry, and the log says so."""
    chat = ChatWidget(agent)
    chat.inject("flaky")
    for i in range(6):
        chat.send(f"What is jitter? ({i})")
    metas = [entry.text.splitlines()[1].strip() for entry in chat.entries if entry.kind == "answer"]
    assert len(metas) == 6
    assert "[day6-mini · 2 attempts (1 retry) · answered]" in metas
    assert "[day6-mini · 1 attempt · answered]" in metas


def test_reset_disarms_the_injected_faults(chat: ChatWidget) -> None:
    """After inject + reset, the next message is answered at the first attempt."""
    chat.inject("outage_then_recovery")
    chat.buttons["reset"].click()
    assert "reset: faults disarmed" in chat.transcript
    chat.send("What is a bulkhead?")
    assert "day6-mini · 1 attempt · answered" in chat.entries[-1].text


def test_every_control_is_enabled_again_after_a_command(chat: ChatWidget) -> None:
    """Controls are disabled only while the agent works."""
    chat.send("hello")
    controls = [chat.text, chat.send_button, chat.scenario, *chat.buttons.values()]
    assert not any(control.disabled for control in controls)


def test_the_widget_has_the_labelled_controls_the_browser_tests_look_for(chat: ChatWidget) -> None:
    """A text box, a button labelled Send, the operator buttons and an inject button."""
    import ipywidgets

    assert isinstance(chat.widget, ipywidgets.VBox)
    assert isinstance(chat.text, ipywidgets.Text)
    assert chat.send_button.description == "Send"
    assert [chat.buttons[name].description for name in COMMAND_BUTTONS] == list(COMMAND_BUTTONS)
    assert chat.buttons["inject"].description == "inject"
    assert "none" not in chat.scenario.options
    assert "flaky" in chat.scenario.options


def test_the_log_keeps_at_most_max_entries(agent: ResilientAgent) -> None:
    """Oldest entries are dropped first: the log is bounded."""
    chat = ChatWidget(agent, max_entries=3)
    for i in range(4):
        chat.send(f"question {i}")
    assert len(chat.entries) == 3
    assert chat.entries[-1].kind == "answer"
    assert "question 3" in chat.entries[-2].text


def test_answers_are_html_escaped_in_the_log(chat: ChatWidget) -> None:
    """Anything the user or the model writes is escaped before it reaches the HTML log."""
    chat.send("<script>alert(1)</script>")
    assert "<script>" not in chat.log.value
    assert "&lt;script&gt;" in chat.log.value


def test_exchange_works_without_any_widget(agent: ResilientAgent) -> None:
    """The rendering core needs no ipywidgets: a session and a line are enough."""
    entries = exchange(ChatSession(agent), "What is a retry budget?", with_latency=False)
    assert [e.kind for e in entries] == ["you", "answer"]
    assert " s</div>" not in entries[1].html  # no latency when asked not to show it


def test_static_transcript_is_deterministic_and_leaves_the_live_agent_alone(chat: ChatWidget) -> None:
    """The scripted transcript runs on an offline twin in fake time: same text every run."""
    first = chat.static_transcript()
    assert first == chat.static_transcript()
    for line in DEMO_SCRIPT:
        assert f"you> {line}" in first
    assert "requests   2 (ok 2, fallback 0, failed 0)" in first
    assert chat.agent.stats().requests.total == 0
    assert len(chat.agent.memory) == 0


def test_static_transcript_of_a_remote_agent_stays_offline_and_hides_the_key() -> None:
    """A remote agent's twin uses the embedded backend; the API key never appears."""
    remote = ResilientAgent(api_key=SECRET, clock=FakeClock(), env={})
    assert not remote.offline
    text = ChatWidget(remote).static_transcript(("What is jitter?", "config"))
    assert "Jitter randomises" in text
    assert "embedded offline backend" in text
    assert SECRET not in text


def test_show_prints_the_transcript_where_widgets_cannot_render(
    chat: ChatWidget, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DAY6_STATIC=1: displaying the widget prints the static transcript instead."""
    monkeypatch.setenv("DAY6_STATIC", "1")
    chat._ipython_display_()
    assert capsys.readouterr().out.strip() == chat.static_transcript().strip()


def test_invalid_settings_are_rejected(agent: ResilientAgent) -> None:
    """Unknown scenarios and a non-positive log size raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match="scenarios"):
        ChatWidget(agent, scenarios=["no_such_scenario"])
    with pytest.raises(ConfigError, match="max_entries"):
        ChatWidget(agent, max_entries=0)
