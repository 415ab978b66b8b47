"""``day6 chat``: the resilient agent in a terminal, with the lesson's operator commands.

Anything you type is sent to the agent, except these commands (also written with a leading
slash, ``/stats``; an unknown ``/word`` gets a one-line hint instead of going to the model):

=================  ==========================================================================
``stats``          the monitor's snapshot: requests, latency percentiles, retries, breakers
``health``         component health, rolled up into one status
``config``         the effective reliability settings (the API key is masked)
``test [NAME]``    a fire drill: run fault scenario NAME in fake time and report attempts,
                   breaker transitions, fallbacks and recovery time (``test`` lists scenarios)
``inject NAME``    arm fault scenario NAME on this live session (until ``reset``)
``reset``          disarm faults, close breakers, refill the limiter, zero the stats
``help``           this list
``quit``           leave (also ``exit`` or end of input)
=================  ==========================================================================

The session is a plain object (:class:`ChatSession`) that turns one input line into output text,
so tests drive it directly and ``day6 chat`` works the same with a pipe as with a keyboard.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from day6.agent import ResilientAgent
from day6.errors import ConfigError
from day6.faults import SCENARIOS

__all__ = ["COMMANDS", "ChatSession", "run_repl"]

COMMANDS: dict[str, str] = {
    "stats": "show request, latency, retry, breaker and limiter statistics",
    "health": "show component health",
    "config": "show the effective settings (secrets masked)",
    "test": "test [scenario]: fire drill in fake time (no argument lists scenarios)",
    "inject": "inject <scenario>: arm a fault scenario on this live session until reset",
    "reset": "disarm faults, close breakers, refill the limiter, zero the stats",
    "help": "show this help",
    "quit": "leave the chat (also: exit)",
}


@dataclass
class Output:
    """One response of the session: the text to print and whether the session should end."""

    text: str
    done: bool = False


class ChatSession:
    """Interprets lines: commands for the operator, everything else for the agent."""

    def __init__(self, agent: ResilientAgent) -> None:
        self.agent = agent

    def handle(self, line: str) -> Output:
        text = line.strip()
        if not text:
            return Output("")
        word, _, rest = text.partition(" ")
        command = word.lower().removeprefix("/")
        rest = rest.strip()
        if word.startswith("/") and command not in COMMANDS and command != "exit":
            return Output(f"unknown command {word!r}; type 'help' for the list")
        if command in ("quit", "exit"):
            return Output("bye", done=True)
        if command == "help":
            return Output(_help())
        if command == "stats":
            return Output(self.agent.stats().to_text())
        if command == "health":
            return Output(_health_text(self.agent))
        if command == "config":
            return Output(self.agent.describe_config())
        if command == "reset":
            self.agent.reset()
            return Output("reset: faults disarmed, breakers closed, limiter refilled, stats zeroed")
        if command == "test":
            return Output(self._test(rest))
        if command == "inject":
            return Output(self._inject(rest))
        reply = self.agent.chat(text)
        lines = [reply.text]
        if reply.notes:
            lines.append("  [" + "; ".join(reply.notes) + "]")
        return Output("\n".join(lines))

    def _test(self, name: str) -> str:
        from day6.scenarios import run_scenario

        if not name:
            return "scenarios:\n" + _scenario_list()
        if name not in SCENARIOS:
            return f"unknown scenario {name!r}; try one of: {', '.join(sorted(SCENARIOS))}"
        report = run_scenario(name, config=self.agent.config)
        return report.to_text()

    def _inject(self, name: str) -> str:
        if name not in SCENARIOS:
            return f"unknown scenario {name!r}; try one of: {', '.join(sorted(SCENARIOS))}"
        try:
            self.agent.injector.activate(name)
        except ConfigError as exc:
            return f"cannot arm {name!r}: {exc}"
        return f"armed scenario {name!r} on this session: {SCENARIOS[name].description} (`reset` disarms)"


def _help() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = [f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()]
    return "commands (anything else is sent to the agent):\n" + "\n".join(rows)


def _scenario_list() -> str:
    return "\n".join(f"  {name}: {s.description}" for name, s in sorted(SCENARIOS.items()))


def _health_text(agent: ResilientAgent) -> str:
    report = agent.health()
    lines = [f"overall: {report.status.value}"]
    lines += [f"  {c.name}: {c.status.value} - {c.reason}" for c in report.checks]
    return "\n".join(lines)


def run_repl(agent: ResilientAgent, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read lines until ``quit`` or end of input; works interactively and through a pipe."""
    session = ChatSession(agent)
    interactive = stdin.isatty()
    mode = "embedded offline backend" if agent.offline else "remote endpoint"
    print(f"day6 chat ({mode}, model {agent.models[0]}). Type 'help' for commands.", file=stdout)
    for line in _lines(stdin, stdout, interactive):
        try:
            out = session.handle(line)
        except (TypeError, ValueError) as exc:
            out = Output(f"error: {exc}")
        if out.text:
            print(out.text, file=stdout, flush=True)
        if out.done:
            break
    return 0


def _lines(stdin: TextIO, stdout: TextIO, interactive: bool) -> Iterable[str]:
    while True:
        if interactive:
            print("you> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            return
        yield line
