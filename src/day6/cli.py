"""The ``day6`` command. Each subcommand is two small functions: one adds its arguments, one runs it.

Adding a subcommand is a few lines: write ``_add_NAME(parser)`` and ``_run_NAME(args) -> int``,
then list them in :data:`_COMMANDS`. ``main`` returns the process exit code (0 success, 1 a
runtime failure, 2 a usage error) and never prints a traceback for a usage error.

    day6 simulate {list,readiness,herd,contention,storm} [...]
    day6 check [EXERCISE ...] / day6 grade SUBMISSIONS_DIR [...]
    day6 chat  [--profile NAME] [--config FILE] [--memory PATH] [--scenario NAME] [--seed N]
    day6 serve [--host 127.0.0.1] [--port 8006] [--rpm N] [--tpm N] [--scenario NAME] [--seed N]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from day6.errors import ConfigError

__all__ = ["build_parser", "main"]


# --------------------------------------------------------------------------------------------------
# day6 chat
# --------------------------------------------------------------------------------------------------

_DEFAULT_MEMORY = "~/.day6/memory.json"


def _add_chat(parser: argparse.ArgumentParser) -> None:
    from day6.faults import SCENARIOS

    parser.add_argument(
        "--profile",
        default=None,
        choices=("development", "staging", "production"),
        help="reliability profile (default: DAY6_PROFILE, the config file, or the lesson's defaults)",
    )
    parser.add_argument("--config", default=None, metavar="FILE", help="a TOML file of settings")
    parser.add_argument(
        "--memory",
        default=None,
        metavar="PATH",
        help=f"conversation file (default: {_DEFAULT_MEMORY}; '' keeps memory in-process only)",
    )
    parser.add_argument(
        "--scenario", default="none", choices=sorted(SCENARIOS), help="fault scenario to start with"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for jitter and fault draws")


def _run_chat(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from day6.agent import ResilientAgent
    from day6.config import ReliabilityConfig
    from day6.memory import ConversationMemory
    from day6.repl import run_repl

    config = ReliabilityConfig.load(args.config, profile=args.profile)
    memory_path = args.memory if args.memory is not None else config.agent.memory_path or _DEFAULT_MEMORY
    # The session shows memory problems itself (below, and as reply notes), so logging's
    # last-resort handler must not print them a second time.
    logging.getLogger("day6.memory").addHandler(logging.NullHandler())
    memory = ConversationMemory(
        os.path.expanduser(memory_path) if memory_path else None,
        max_messages=config.agent.max_history_messages,
    )
    for warning in memory.warnings:
        print(f"day6 chat: {warning}", file=sys.stderr)
    config = dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, memory_path=memory_path or None)
    )
    agent = ResilientAgent(config=config, memory=memory, rng=random.Random(args.seed))
    if args.scenario != "none":
        agent.injector.activate(args.scenario)
    try:
        return run_repl(agent)
    except KeyboardInterrupt:
        print("\nbye", flush=True)
        return 0
    finally:
        agent.close()


# --------------------------------------------------------------------------------------------------
# day6 serve
# --------------------------------------------------------------------------------------------------


def _add_serve(parser: argparse.ArgumentParser) -> None:
    from day6.faults import SCENARIOS

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8006, help="port to bind; 0 picks a free one (default: 8006)"
    )
    parser.add_argument(
        "--rpm", type=int, default=None, metavar="N", help="server-side requests-per-minute limit"
    )
    parser.add_argument(
        "--tpm", type=int, default=None, metavar="N", help="server-side tokens-per-minute limit"
    )
    parser.add_argument(
        "--scenario",
        default="none",
        choices=sorted(SCENARIOS),
        help="fault scenario to start with (switch at runtime: POST /admin/faults)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fault draws (repeatable runs)")
    parser.add_argument(
        "--latency", type=float, default=0.05, metavar="S", help="seconds before each reply (default: 0.05)"
    )
    parser.add_argument(
        "--token-latency",
        type=float,
        default=0.002,
        metavar="S",
        help="extra seconds per completion token (default: 0.002)",
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, metavar="N", help="shed load (503) beyond N"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (the admin endpoints have no authentication)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def _run_serve(args: argparse.Namespace) -> int:
    from day6.backend import BackendServer, EmbeddedBackend, is_loopback
    from day6.faults import FaultInjector

    if not args.allow_remote and not is_loopback(args.host):
        raise ConfigError(
            "--host",
            args.host,
            "must be a loopback address (127.0.0.1, ::1, localhost); pass --allow-remote to expose the "
            "server to the network (its admin endpoints have no authentication)",
        )
    backend = EmbeddedBackend(
        requests_per_minute=args.rpm,
        tokens_per_minute=args.tpm,
        base_latency=args.latency,
        per_token_latency=args.token_latency,
        max_concurrent=args.max_concurrent,
    )
    injector = FaultInjector(clock=backend.clock, rng=random.Random(args.seed))
    if args.scenario != "none":
        injector.activate(args.scenario)
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None
    server = BackendServer(
        backend, injector, host=args.host, port=args.port, allow_remote=args.allow_remote, access_log=log
    )
    limits = ", ".join(
        f"{name} {value}" for name, value in (("rpm", args.rpm), ("tpm", args.tpm)) if value is not None
    )
    print(
        f"day6 serve: OpenAI-compatible backend on {server.url} (scenario: {args.scenario}"
        f"{'; ' + limits if limits else ''}); faults at {server.url.removesuffix('/v1')}/admin/faults; "
        "Ctrl-C to stop",
        flush=True,
    )
    server.start()
    try:
        # Waiting on an Event (not join()) keeps the main thread responsive to Ctrl-C.
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    print("day6 serve: stopped", flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
# day6 check / day6 grade (argument parsing lives in day6.grading.cli)
# --------------------------------------------------------------------------------------------------


def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from day6 import simulate_cli

    simulate_cli.add_arguments(parser)


def _run_simulate(args: argparse.Namespace) -> int:
    from day6 import simulate_cli

    return simulate_cli.run(args)


def _add_passthrough(parser: argparse.ArgumentParser) -> None:
    """Listed in ``day6 --help`` only: :func:`main` hands their arguments to day6.grading as is."""


def _cli_check(argv: list[str]) -> int:
    from day6.grading import cli_check

    return cli_check(argv)


def _cli_grade(argv: list[str]) -> int:
    from day6.grading import cli_grade

    return cli_grade(argv)


_PASSTHROUGH: dict[str, Callable[[list[str]], int]] = {"check": _cli_check, "grade": _cli_grade}


def _run_passthrough(args: argparse.Namespace) -> int:
    return _PASSTHROUGH[args.command]([])


# --------------------------------------------------------------------------------------------------
# The command table and main
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


_COMMANDS: tuple[_Command, ...] = (
    _Command(
        "simulate",
        "run the workbook's experiments (readiness, herd, contention, storm)",
        _add_simulate,
        _run_simulate,
    ),
    _Command(
        "check", "self-check your exercises (offline, visible checks)", _add_passthrough, _run_passthrough
    ),
    _Command(
        "grade", "grade a folder of submissions into a CSV gradebook", _add_passthrough, _run_passthrough
    ),
    _Command(
        "chat",
        "talk to the resilient agent (offline by default; OPENAI_API_KEY for a real endpoint)",
        _add_chat,
        _run_chat,
    ),
    _Command(
        "serve", "run the embedded OpenAI-compatible backend over HTTP on loopback", _add_serve, _run_serve
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``day6`` argument parser, one subparser per entry of :data:`_COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="day6",
        description="day6: the LLM-agent resilience workbook (retries, breakers, rate limits, faults).",
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``day6`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _PASSTHROUGH:
        return _PASSTHROUGH[arguments[0]](arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except ConfigError as error:
        print(f"day6 {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the port is taken
        print(f"day6 {args.command}: {error.strerror or error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
