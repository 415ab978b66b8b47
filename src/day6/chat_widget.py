"""The resilient agent in a notebook: a chat box with the operator buttons of ``day6 chat``.

``ChatWidget(agent)`` shows a conversation log, a text box with a **Send** button, the operator
buttons **stats**, **health**, **config** and **reset**, and a scenario drop-down with an
**inject** button that arms a fault scenario on the live agent::

    from day6.agent import ResilientAgent
    from day6.chat_widget import ChatWidget

    chat = ChatWidget(ResilientAgent(env={}))   # offline: the embedded backend, real time
    chat                                         # the last expression of a cell displays it

Design choices a reader may wonder about:

* **One interpreter.** Every line, typed or clicked, goes through
  :class:`day6.repl.ChatSession`, exactly what ``day6 chat`` runs in a terminal; the widget only
  *renders* its output (a stats report as an HTML ``<table>``, the configuration folded away,
  an answer with a grey line saying how it was obtained). Typing ``stats`` works too.
* **How an answer was obtained** (model, attempts, answered / degraded / failed) is read from
  the agent's monitor: a snapshot before and after the line; when exactly one request was
  recorded, the difference is that request. ``ChatSession`` returns only text, and the monitor
  is where an operator would look anyway.
* **Static fallback.** Where widgets cannot render (``DAY6_STATIC=1``, no kernel: see
  :func:`day6.widgets.is_static`), displaying the widget prints a short scripted transcript
  instead: :data:`DEMO_SCRIPT` sent to an *offline twin* of the agent (same settings, embedded
  backend, a :class:`~day6.clock.FakeClock` and a seeded generator). The transcript is therefore
  identical on every run, which is what a notebook checked by nbval needs; the real agent is not
  touched (its conversation and statistics stay the student's).
* **Bounded.** The log keeps the last ``max_entries`` entries: a widget left open all day must
  not grow without limit.

ipywidgets is imported only when the live widget is built.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from day6.config import AgentConfig
from day6.errors import ConfigError
from day6.faults import SCENARIOS
from day6.repl import ChatSession

if TYPE_CHECKING:
    from day6.agent import ResilientAgent
    from day6.monitoring import MonitorSnapshot

__all__ = ["COMMAND_BUTTONS", "DEMO_SCRIPT", "TWIN_LATENCY", "ChatWidget", "LogEntry", "exchange"]

DEMO_SCRIPT: tuple[str, ...] = ("What is jitter?", "How does a circuit breaker recover?", "stats")
"""What the static fallback sends to the offline twin: two questions, then ``stats``."""

TWIN_LATENCY: tuple[float, float] = (0.35, 0.012)
"""The offline twin's backend latency: seconds to the first token, seconds per token (a hosted
small model, as in :data:`day6.readiness.LATENCY_FAKE`)."""

COMMAND_BUTTONS: tuple[str, ...] = ("stats", "health", "config", "reset")
"""The operator commands that get a button of their own (all handled by ``ChatSession``)."""

_LOG_HEIGHT = "22em"
_MUTED = "color:#666;font-size:85%"
_TABLE = "border-collapse:collapse;font-size:90%;margin:2px 0"
_CELL = "border:1px solid #ddd;padding:1px 6px;text-align:left;vertical-align:top"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One item of the conversation, as HTML (the live log) and as plain text (transcripts)."""

    kind: str  # "you", "answer", "command" or "error"
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class _Turn:
    """What the monitor recorded for the one request a line produced."""

    outcome: str
    attempts: int
    model: str | None


def _turn(before: MonitorSnapshot, after: MonitorSnapshot) -> _Turn | None:
    """The request recorded between two snapshots, or None if there was not exactly one."""
    old, new = before.requests, after.requests
    if new.total != old.total + 1:
        return None
    outcome = next((k for k, v in new.by_outcome.items() if v > old.by_outcome.get(k, 0)), "ok")
    model = next((m for m, v in new.by_model.items() if v > old.by_model.get(m, 0)), None)
    return _Turn(outcome=outcome, attempts=new.attempts - old.attempts, model=model)


def _describe(turn: _Turn) -> str:
    """``day6-mini · 2 attempts (1 retry) · answered``."""
    attempts = f"{turn.attempts} attempt{'s' if turn.attempts != 1 else ''}"
    retries = turn.attempts - 1
    if retries > 0:
        attempts += f" ({retries} retr{'ies' if retries != 1 else 'y'})"
    outcome = {"ok": "answered", "fallback": "degraded answer", "failed": "failed"}.get(
        turn.outcome, turn.outcome
    )
    return " · ".join([turn.model or "no model", attempts, outcome])


def _answer_entry(output: str, turn: _Turn, latency: float | None) -> LogEntry:
    """The agent's reply; ``ChatSession`` puts the reply's notes on a last ``  [...]`` line."""
    answer, notes = output, ""
    head, sep, last = output.rpartition("\n")
    if sep and last.startswith("  [") and last.endswith("]"):
        answer, notes = head, last.strip()[1:-1]
    meta = _describe(turn)
    shown_meta = meta if latency is None else f"{meta} · {latency:.2f} s"
    color = {"ok": "#1a7f37", "fallback": "#b35900", "failed": "#c62828"}.get(turn.outcome, "#333")
    parts = [
        f'<div style="margin:4px 0"><b style="color:{color}">agent</b>: {_para(answer)}',
        f'<div style="{_MUTED}">{html.escape(shown_meta)}</div>',
    ]
    if notes and notes not in answer:  # an apology already quotes its notes
        parts.append(f'<div style="{_MUTED}">notes: {html.escape(notes)}</div>')
    parts.append("</div>")
    text = f"agent> {answer}\n       [{meta}]" + (
        f"\n       notes: {notes}" if notes and notes not in answer else ""
    )
    return LogEntry("answer", text, "".join(parts))


def _para(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _stats_table(output: str) -> str:
    """``MonitorSnapshot.to_text()`` lines (``label   value``) as a two-column HTML table."""
    rows = []
    for line in output.splitlines():
        label, _, value = line.strip().partition(" ")
        rows.append(
            f'<tr><th style="{_CELL}">{html.escape(label)}</th>'
            f'<td style="{_CELL}">{html.escape(value.strip())}</td></tr>'
        )
    return f'<table style="{_TABLE}">{"".join(rows)}</table>'


def _command_entry(command: str, output: str) -> LogEntry:
    """A command's output: stats as a table, config folded away, anything else preformatted."""
    title = f'<div style="margin:4px 0"><b>{html.escape(command)}</b>'
    if command == "stats":
        body = _stats_table(output)
    elif command == "config":
        summary = f'<summary style="{_MUTED}">show the settings</summary>'
        body = f"<details>{summary}<pre>{html.escape(output)}</pre></details>"
    else:
        body = f'<pre style="margin:2px 0;white-space:pre-wrap">{html.escape(output)}</pre>'
    return LogEntry("command", output, f"{title}{body}</div>")


def _you_entry(line: str) -> LogEntry:
    return LogEntry("you", f"you> {line}", f'<div style="margin:4px 0"><b>you</b>: {_para(line)}</div>')


def _error_entry(message: str) -> LogEntry:
    return LogEntry("error", message, f'<div style="color:#c62828">{html.escape(message)}</div>')


def exchange(session: ChatSession, line: str, *, with_latency: bool = True) -> list[LogEntry]:
    """Run one input line through ``session`` and return the log entries it produces.

    The line is echoed first. A line the agent answered gets an answer entry (with how it was
    obtained, and its latency on the agent's clock when ``with_latency``); a command gets its
    output; bad input gets an error entry, as ``day6 chat`` prints it.
    """
    line = line.strip()
    if not line:
        return []
    agent = session.agent
    entries = [_you_entry(line)]
    before = agent.stats()
    started = agent.clock.now()
    try:
        out = session.handle(line)
    except (TypeError, ValueError) as exc:
        return [*entries, _error_entry(f"error: {exc}")]
    took = agent.clock.now() - started
    turn = _turn(before, agent.stats())
    if turn is not None:
        entries.append(_answer_entry(out.text, turn, took if with_latency else None))
    elif out.text:
        command = line.split(maxsplit=1)[0].lower().removeprefix("/")
        entries.append(_command_entry(command, out.text))
    return entries


def _offline_twin(agent: ResilientAgent, seed: int) -> ResilientAgent:
    """The agent's settings on the embedded backend, in fake time, with no memory file.

    The backend's latency model is on (:data:`TWIN_LATENCY`), so the twin's statistics show
    plausible latencies rather than zeros; in fake time they are the same on every run.
    """
    from day6.agent import ResilientAgent
    from day6.backend import EmbeddedBackend
    from day6.clock import FakeClock

    config = agent.config
    settings = replace(config.agent, api_key=None, base_url=None, memory_path=None)
    if not agent.offline:  # a remote model name means nothing to the embedded backend
        defaults = AgentConfig()
        settings = replace(settings, model=defaults.model, fallback_models=defaults.fallback_models)
    clock = FakeClock()
    first_token, per_token = TWIN_LATENCY
    return ResilientAgent(
        config=replace(config, agent=settings),
        clock=clock,
        rng=random.Random(seed),
        backend=EmbeddedBackend(clock=clock, base_latency=first_token, per_token_latency=per_token),
        env={},
        system_prompt=agent.system_prompt,
    )


class ChatWidget:
    """Chat with a :class:`~day6.agent.ResilientAgent` in a notebook; see the module docs.

    Headless use (tests, scripts) needs no frontend: set :attr:`text` ``.value`` and call
    :attr:`send_button` ``.click()`` (or :meth:`send`), press ``buttons["stats"].click()``, pick
    a :attr:`scenario` and press ``buttons["inject"].click()``; then read :attr:`entries`,
    :attr:`transcript` or the log's HTML (``log.value``).

    Args:
        agent: the agent to talk to (it keeps its own clock: real time for a student).
        scenarios: the fault scenarios offered in the drop-down (default: every named
            scenario except ``none``).
        max_entries: how many log entries are kept (oldest dropped first).
        title: the heading above the log.
    """

    def __init__(
        self,
        agent: ResilientAgent,
        *,
        scenarios: Sequence[str] | None = None,
        max_entries: int = 200,
        title: str = "day6 chat: the resilient agent",
    ) -> None:
        names = (
            tuple(scenarios) if scenarios is not None else tuple(s for s in sorted(SCENARIOS) if s != "none")
        )
        unknown = [s for s in names if s not in SCENARIOS]
        if not names or unknown:
            raise ConfigError("scenarios", list(names), f"names from {', '.join(sorted(SCENARIOS))}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigError("max_entries", max_entries, "an integer >= 1")
        self.agent = agent
        self.session = ChatSession(agent)
        self.scenarios = names
        self.max_entries = max_entries
        self.title = title
        self._entries: list[LogEntry] = []
        self._ui: dict[str, Any] | None = None

    # ---- the live widget ----------------------------------------------------------------------

    def _build(self) -> dict[str, Any]:
        if self._ui is None:
            import ipywidgets

            # continuous_update=False: the value reaches the kernel on Enter (or when the box
            # loses focus), which is when we send; the deprecated on_submit is not needed.
            text = ipywidgets.Text(
                placeholder="Ask the agent, or type a command (help)",
                continuous_update=False,
                layout=ipywidgets.Layout(flex="1 1 auto", width="auto"),
            )
            send = ipywidgets.Button(description="Send", button_style="primary", icon="paper-plane")
            buttons = {name: ipywidgets.Button(description=name) for name in COMMAND_BUTTONS}
            scenario = ipywidgets.Dropdown(
                options=list(self.scenarios),
                value=self.scenarios[0],
                description="scenario",
                style={"description_width": "initial"},
            )
            buttons["inject"] = ipywidgets.Button(description="inject", button_style="warning")
            log = ipywidgets.HTML(value=self._log_html())
            status = ipywidgets.HTML(value=self._status())
            text.observe(self._on_text, names="value")
            send.on_click(lambda _button: self.send())
            for name in COMMAND_BUTTONS:
                buttons[name].on_click(self._command_handler(name))
            buttons["inject"].on_click(lambda _button: self.inject())
            box = ipywidgets.VBox(
                [
                    ipywidgets.HTML(f"<b>{html.escape(self.title)}</b>"),
                    log,
                    ipywidgets.HBox([text, send]),
                    ipywidgets.HBox([*(buttons[n] for n in COMMAND_BUTTONS), scenario, buttons["inject"]]),
                    status,
                ]
            )
            self._ui = {
                "text": text,
                "send": send,
                "buttons": buttons,
                "scenario": scenario,
                "log": log,
                "status": status,
                "box": box,
            }
        return self._ui

    @property
    def widget(self) -> Any:
        """The live panel (an ``ipywidgets.VBox``), built on first use."""
        return self._build()["box"]

    @property
    def text(self) -> Any:
        """The message box (``ipywidgets.Text``)."""
        return self._build()["text"]

    @property
    def send_button(self) -> Any:
        """The button labelled *Send*."""
        return self._build()["send"]

    @property
    def buttons(self) -> dict[str, Any]:
        """The operator buttons by label: ``stats``, ``health``, ``config``, ``reset``, ``inject``."""
        buttons: dict[str, Any] = self._build()["buttons"]
        return buttons

    @property
    def scenario(self) -> Any:
        """The scenario drop-down the *inject* button arms."""
        return self._build()["scenario"]

    @property
    def log(self) -> Any:
        """The conversation log (an ``ipywidgets.HTML``; newest entry at the bottom)."""
        return self._build()["log"]

    # ---- actions ------------------------------------------------------------------------------

    def send(self, message: str | None = None) -> None:
        """Send ``message`` (default: the text box's content, which is then cleared)."""
        if message is None:
            message = str(self.text.value) if self._ui is not None else ""
            if self._ui is not None:
                self._ui["text"].value = ""
        self._run(message)

    def command(self, name: str) -> None:
        """Run an operator command (``stats``, ``health``, ``config``, ``reset``, ``help``...)."""
        self._run(name)

    def inject(self, scenario: str | None = None) -> None:
        """Arm ``scenario`` (default: the drop-down's choice) on the live agent until ``reset``."""
        name = scenario if scenario is not None else str(self.scenario.value)
        self._run(f"inject {name}")

    @property
    def entries(self) -> tuple[LogEntry, ...]:
        """The log, oldest first."""
        return tuple(self._entries)

    @property
    def transcript(self) -> str:
        """The log as plain text, one entry after another."""
        return "\n".join(entry.text for entry in self._entries)

    def _command_handler(self, name: str) -> Callable[[Any], None]:
        return lambda _button: self.command(name)

    def _on_text(self, change: dict[str, Any]) -> None:
        if str(change.get("new", "")).strip():
            self.send()

    def _run(self, line: str) -> None:
        if not line.strip():
            return
        controls = self._controls()
        for control in controls:
            control.disabled = True
        self._set_status("working...")
        try:
            self._entries.extend(exchange(self.session, line))
            del self._entries[: max(0, len(self._entries) - self.max_entries)]
        finally:
            for control in controls:
                control.disabled = False
            self._set_status(self._status())
            if self._ui is not None:
                self._ui["log"].value = self._log_html()

    def _controls(self) -> list[Any]:
        if self._ui is None:
            return []
        return [self._ui["text"], self._ui["send"], self._ui["scenario"], *self._ui["buttons"].values()]

    def _set_status(self, text: str) -> None:
        if self._ui is not None:
            self._ui["status"].value = text

    def _status(self) -> str:
        where = "embedded offline backend" if self.agent.offline else "remote endpoint"
        models = ", ".join(self.agent.models)
        return f'<span style="{_MUTED}">{where}; models {html.escape(models)}</span>'

    def _log_html(self) -> str:
        # column-reverse keeps the scroll position pinned to the newest (bottom) entry.
        body = "".join(entry.html for entry in self._entries) or (
            f'<div style="{_MUTED}">Type a message and press Send, or press a button.</div>'
        )
        return (
            f'<div style="height:{_LOG_HEIGHT};overflow-y:auto;display:flex;flex-direction:column-reverse;'
            f'border:1px solid #ddd;padding:4px 8px"><div>{body}</div></div>'
        )

    # ---- display ------------------------------------------------------------------------------

    def static_transcript(self, script: Sequence[str] = DEMO_SCRIPT, *, seed: int = 0) -> str:
        """``script`` sent to an offline twin of the agent in fake time, as plain text.

        The twin has the agent's settings, the embedded backend, a ``FakeClock`` and
        ``random.Random(seed)``, so the transcript is the same on every run and the live
        agent is left untouched.
        """
        twin = _offline_twin(self.agent, seed)
        try:
            session = ChatSession(twin)
            entries = [e for line in script for e in exchange(session, line, with_latency=False)]
        finally:
            twin.close()
        header = (
            "(static preview: no widget frontend here. In a live notebook this is a chat box with "
            "Send, stats, health, config, reset and inject buttons. Below, a scripted conversation "
            "with an offline twin of this agent, in fake time.)"
        )
        return "\n".join([header, *(entry.text for entry in entries)])

    def show(self, *, static: bool | None = None) -> None:
        """Display the live widget, or print :meth:`static_transcript` where widgets cannot render."""
        from IPython import display as ipython_display

        from day6.widgets import is_static

        if is_static(static):
            print(self.static_transcript())
        else:
            display: Any = ipython_display.display  # untyped in IPython
            display(self.widget)

    def _ipython_display_(self) -> None:
        """Make ``chat`` as the last expression of a cell show the widget (or its fallback)."""
        self.show()

    def __repr__(self) -> str:
        return f"ChatWidget({self.agent!r}, entries={len(self._entries)})"
