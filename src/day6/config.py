"""Every reliability setting in one typed, validated, immutable record, with environment profiles.

The lesson's ``ReliabilityConfig`` groups the knobs of each pattern. Here each group is a frozen
dataclass whose field names are *exactly* the keyword arguments of the class it configures, so
wiring is one line and cannot drift::

    cfg = ReliabilityConfig.load("day6.toml", profile="production")
    policy = RetryPolicy(**cfg.retry.kwargs(), clock=clock)
    breaker = CircuitBreaker("llm", **cfg.circuit_breaker.kwargs(), clock=clock)

Where a value comes from, lowest precedence first (a later layer overrides an earlier one)::

    defaults  <  profile  <  TOML file  <  DAY6_* environment  <  explicit overrides

* **defaults** are the lesson's numbers (3 attempts, 100 ms base delay, 5 failures to trip, a
  60 s recovery timeout, 60 requests/min with a burst of 10...).
* **profile** -- ``development`` (relaxed, fast feedback), ``staging`` (production-like),
  ``production`` (tuned to meet the SLA targets). Chosen by the ``profile=`` argument, else
  ``DAY6_PROFILE``, else a top-level ``profile = "..."`` key in the file.
* **file** -- TOML with one table per section (``[retry]``, ``[circuit_breaker]``...). The path
  is the ``path=`` argument, else ``DAY6_CONFIG``.
* **environment** -- ``DAY6_<SECTION>__<FIELD>`` (``DAY6_RETRY__ATTEMPTS=5``) or the single
  underscore form ``DAY6_RETRY_ATTEMPTS=5``. Variables whose name does not start with a section
  (such as ``DAY6_STATIC``) belong to other parts of day6 and are ignored; a variable that names a
  section but not one of its fields is an error (a typo must not be silently ignored).
  ``none`` unsets an optional value; lists are comma-separated.
* **explicit overrides** -- keyword arguments: ``retry={"attempts": 5}``, ``retry__attempts=5`` or
  a whole section ``retry=RetryConfig(...)``.

Everything is merged first and validated once, so a load either returns a complete valid config
or raises one :class:`~day6.errors.ConfigError` naming the field path (``retry.attempts``), the
value, what is allowed and where the value came from. Nothing is ever half-applied.

**Secrets.** An API key is a :class:`Secret`: its ``repr``/``str`` show ``sk-...abcd``, only
:meth:`Secret.reveal` gives the value. Keys are never read from files or ``DAY6_*`` variables
(files get committed); ``load(api_key_from_env=True)`` reads ``OPENAI_API_KEY`` when asked, and
:meth:`ReliabilityConfig.to_toml` never writes one.

**Consistency.** Valid fields can still contradict each other or the SLA: a 60 s recovery timeout
cannot meet "recovery under 30 s" (the lesson's own defaults do exactly that).
:meth:`ReliabilityConfig.check_consistency` explains every such conflict; the production profile
has none.
"""

from __future__ import annotations

import dataclasses
import difflib
import hmac
import json
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from day6._validate import is_real
from day6.errors import ConfigError

if TYPE_CHECKING:
    from day6.monitoring import SLATargets

__all__ = [
    "PROFILES",
    "AgentConfig",
    "CircuitBreakerConfig",
    "ConsistencyIssue",
    "MonitoringConfig",
    "QuotaConfig",
    "RateLimitConfig",
    "ReliabilityConfig",
    "RetryConfig",
    "Secret",
]


# --------------------------------------------------------------------------------------------
# Secret
# --------------------------------------------------------------------------------------------


class Secret:
    """A string that refuses to be printed: ``repr``, ``str`` and f-strings show a mask.

    The mask keeps the first three and last four characters of long values (``sk-...abcd``,
    enough to tell two keys apart in a log) and hides short ones entirely (``********``).
    :meth:`reveal` is the only way to the value, so every use of the real key is greppable.
    Equality is constant-time (``hmac.compare_digest``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigError("secret", "********", "a non-empty string")
        self._value = value

    def reveal(self) -> str:
        """The real value. Call it only where the secret is used (e.g. building the client)."""
        return self._value

    @property
    def masked(self) -> str:
        v = self._value
        return f"{v[:3]}...{v[-4:]}" if len(v) >= 16 else "********"

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


# --------------------------------------------------------------------------------------------
# Field specifications: each field carries its type and its rule, so validation, parsing and
# the error message all come from one place.
# --------------------------------------------------------------------------------------------

_BOOL_WORDS: Final = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: str  # int | float | bool | str | choice | names | secret
    allowed: str
    check: Callable[[Any], bool]
    optional: bool = False
    choices: tuple[str, ...] = ()


def _setting(default: Any, spec: _Spec) -> Any:
    return field(default=default, metadata={"spec": spec})


def _int(default: int | None, *, minimum: int, maximum: int | None = None, optional: bool = False) -> Any:
    rule = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    if optional:
        rule += ", or none"

    def ok(v: Any) -> bool:
        return v >= minimum and (maximum is None or v <= maximum)

    return _setting(default, _Spec("int", rule, ok, optional))


def _float(
    default: float | None,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    optional: bool = False,
) -> Any:
    parts = [f"> {gt:g}" if gt is not None else "", f">= {ge:g}" if ge is not None else ""]
    parts += [f"<= {le:g}" if le is not None else "", f"< {lt:g}" if lt is not None else ""]
    rule = "a finite number " + " and ".join(p for p in parts if p)
    if optional:
        rule += ", or none"

    def ok(v: Any) -> bool:
        return (
            (gt is None or v > gt)
            and (ge is None or v >= ge)
            and (le is None or v <= le)
            and (lt is None or v < lt)
        )

    return _setting(default, _Spec("float", rule.strip(), ok, optional))


def _bool(default: bool) -> Any:
    return _setting(default, _Spec("bool", "true or false", lambda v: True))


def _choice(default: str, choices: tuple[str, ...]) -> Any:
    return _setting(
        default, _Spec("choice", "one of " + ", ".join(choices), lambda v: v in choices, choices=choices)
    )


def _str(
    default: str | None,
    *,
    optional: bool = False,
    rule: str = "a non-empty string",
    check: Callable[[str], bool] | None = None,
) -> Any:
    test = check if check is not None else (lambda v: bool(v.strip()))
    return _setting(default, _Spec("str", rule + (", or none" if optional else ""), test, optional))


def _names(default: tuple[str, ...]) -> Any:
    return _setting(
        default,
        _Spec("names", "a list of non-empty strings", lambda v: all(s.strip() for s in v)),
    )


_SECRET_SPEC: Final = _Spec("secret", "a non-empty string (kept as a Secret), or none", lambda v: True, True)


def _spec(f: dataclasses.Field[Any]) -> _Spec:
    spec = f.metadata["spec"]
    assert isinstance(spec, _Spec)
    return spec


def _shown(spec: _Spec, value: Any) -> Any:
    """The value as it may appear in an error message (never a secret)."""
    if spec.kind == "secret" or isinstance(value, Secret):
        return "********"
    return value


def _normalize(setting: str, spec: _Spec, value: Any) -> Any:
    """Type-check one value and return its canonical form (float for float, tuple for lists)."""
    if value is None:
        if spec.optional:
            return None
        raise ConfigError(setting, value, spec.allowed)
    kind = spec.kind
    bad_type = False
    if kind == "int":
        bad_type = isinstance(value, bool) or not isinstance(value, int)
    elif kind == "float":
        bad_type = not is_real(value)
        if not bad_type:
            value = float(value)
    elif kind == "bool":
        bad_type = not isinstance(value, bool)
    elif kind in ("str", "choice"):
        bad_type = not isinstance(value, str)
        if not bad_type:
            value = str(value)  # a StrEnum member (e.g. Jitter.FULL) becomes its plain value
    elif kind == "names":
        if isinstance(value, list | tuple) and all(isinstance(s, str) for s in value):
            value = tuple(value)
        else:
            bad_type = True
    elif kind == "secret":
        if isinstance(value, str) and value:
            value = Secret(value)
        bad_type = not isinstance(value, Secret)
    if bad_type or not spec.check(value):
        raise ConfigError(setting, _shown(spec, value), spec.allowed)
    return value


class _Section:
    """Shared validation for the config sections (frozen dataclasses)."""

    __slots__ = ()
    section: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _normalize(f"{self.section}.{f.name}", _spec(f), getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self._check_together()

    def _check_together(self) -> None:
        """Rules that involve several fields of the section (override where needed)."""

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments for the class this section configures."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _fail(self, name: str, allowed: str) -> ConfigError:
        return ConfigError(f"{self.section}.{name}", getattr(self, name), allowed)


# --------------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------------

JITTER_MODES: Final = ("none", "proportional", "full", "equal", "decorrelated")


@dataclass(frozen=True, slots=True)
class RetryConfig(_Section):
    """:class:`~day6.retry.RetryPolicy` settings: attempts include the first call (3 = 1 + 2
    retries); delays in seconds; ``deadline`` bounds the whole loop (none = no deadline)."""

    section: ClassVar[str] = "retry"
    attempts: int = _int(3, minimum=1, maximum=100)
    base_delay: float = _float(0.1, gt=0)
    multiplier: float = _float(2.0, ge=1)
    max_delay: float = _float(10.0, ge=0)
    jitter: str = _choice("proportional", JITTER_MODES)
    jitter_ratio: float = _float(0.25, ge=0, le=1)
    deadline: float | None = _float(None, gt=0, optional=True)
    honour_retry_after: bool = _bool(True)

    def _check_together(self) -> None:
        if self.max_delay < self.base_delay:
            raise self._fail("max_delay", f"a number >= retry.base_delay ({self.base_delay:g})")


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig(_Section):
    """:class:`~day6.circuit_breaker.CircuitBreaker` settings (consecutive-failure rule, plus the
    failure-rate rule over the last ``window_size`` calls when ``failure_rate_threshold`` is set)."""

    section: ClassVar[str] = "circuit_breaker"
    failure_threshold: int = _int(5, minimum=1)
    recovery_timeout: float = _float(60.0, gt=0)
    half_open_max_calls: int = _int(1, minimum=1)
    success_threshold: int = _int(1, minimum=1)
    failure_rate_threshold: float | None = _float(None, gt=0, le=1, optional=True)
    window_size: int = _int(100, minimum=1)
    minimum_calls: int = _int(10, minimum=1)
    slow_call_threshold: float | None = _float(None, gt=0, optional=True)

    def _check_together(self) -> None:
        if self.minimum_calls > self.window_size:
            raise self._fail(
                "minimum_calls", f"an integer <= circuit_breaker.window_size ({self.window_size})"
            )


@dataclass(frozen=True, slots=True)
class RateLimitConfig(_Section):
    """Client-side rate limit: a token bucket of ``burst_size`` refilled at
    ``requests_per_minute``; when adaptive, the rate moves between the min and max (AIMD)."""

    section: ClassVar[str] = "rate_limit"
    requests_per_minute: float = _float(60.0, gt=0)
    burst_size: int = _int(10, minimum=1)
    adaptive_enabled: bool = _bool(True)
    min_rate_per_minute: float = _float(6.0, gt=0)
    max_rate_per_minute: float = _float(120.0, gt=0)

    def _check_together(self) -> None:
        if self.min_rate_per_minute > self.requests_per_minute:
            raise self._fail(
                "min_rate_per_minute",
                f"a number <= rate_limit.requests_per_minute ({self.requests_per_minute:g})",
            )
        if self.max_rate_per_minute < self.requests_per_minute:
            raise self._fail(
                "max_rate_per_minute",
                f"a number >= rate_limit.requests_per_minute ({self.requests_per_minute:g})",
            )

    @property
    def rate_per_second(self) -> float:
        """The refill rate a :class:`TokenBucket` takes (tokens per second)."""
        return self.requests_per_minute / 60.0


@dataclass(frozen=True, slots=True)
class QuotaConfig(_Section):
    """Budgets per calendar period (UTC days and months); none = no limit. Account-specific, so
    every profile leaves them unset: put yours in the file."""

    section: ClassVar[str] = "quota"
    requests_per_day: int | None = _int(None, minimum=1, optional=True)
    tokens_per_day: int | None = _int(None, minimum=1, optional=True)
    cost_per_day: float | None = _float(None, gt=0, optional=True)
    requests_per_month: int | None = _int(None, minimum=1, optional=True)
    tokens_per_month: int | None = _int(None, minimum=1, optional=True)
    cost_per_month: float | None = _float(None, gt=0, optional=True)


@dataclass(frozen=True, slots=True)
class MonitoringConfig(_Section):
    """SLA targets (the lesson's) and the monitor's windows.

    ``availability``, ``p95_latency``, ``recovery_time`` and ``retry_waste`` are the fields of
    :class:`~day6.monitoring.SLATargets` (:meth:`sla_targets`); ``rate_window``, ``history`` and
    ``latency_accuracy`` configure the :class:`~day6.monitoring.Monitor`; the burn windows the
    :class:`~day6.monitoring.SLATracker`.
    """

    section: ClassVar[str] = "monitoring"
    availability: float = _float(0.999, gt=0, lt=1)
    p95_latency: float = _float(2.0, gt=0)
    recovery_time: float = _float(30.0, gt=0)
    retry_waste: float = _float(0.05, ge=0)
    rate_window: float = _float(60.0, gt=0)
    history: float = _float(3600.0, gt=0)
    latency_accuracy: float = _float(0.01, gt=0, le=0.5)
    burn_short_window: float = _float(300.0, gt=0)
    burn_long_window: float = _float(3600.0, gt=0)

    def _check_together(self) -> None:
        if self.history < self.rate_window:
            raise self._fail("history", f"a number >= monitoring.rate_window ({self.rate_window:g})")
        if self.burn_long_window < self.burn_short_window:
            raise self._fail(
                "burn_long_window", f"a number >= monitoring.burn_short_window ({self.burn_short_window:g})"
            )
        if self.burn_long_window > self.history:
            raise self._fail("burn_long_window", f"a number <= monitoring.history ({self.history:g})")

    def sla_targets(self) -> SLATargets:
        from day6.monitoring import SLATargets

        return SLATargets(
            availability=self.availability,
            p95_latency=self.p95_latency,
            recovery_time=self.recovery_time,
            retry_waste=self.retry_waste,
        )

    def monitor_kwargs(self) -> dict[str, float]:
        """Keyword arguments for :class:`~day6.monitoring.Monitor`."""
        return {
            "rate_window": self.rate_window,
            "history": self.history,
            "latency_accuracy": self.latency_accuracy,
        }


def _is_url(v: str) -> bool:
    return v.startswith(("http://", "https://")) and len(v) > len("https://")


@dataclass(frozen=True, slots=True)
class AgentConfig(_Section):
    """The resilient agent: which model, what to fall back to, where, and how long to wait.

    ``base_url`` none means the embedded offline backend; ``api_key`` is a :class:`Secret` (a
    plain string is wrapped). ``memory_path`` none keeps the conversation in memory only.
    """

    section: ClassVar[str] = "agent"
    model: str = _str("day6-mini")
    fallback_models: tuple[str, ...] = _names(("day6-large",))
    base_url: str | None = _str(None, optional=True, rule="an http:// or https:// URL", check=_is_url)
    api_key: Secret | None = field(default=None, metadata={"spec": _SECRET_SPEC})
    request_timeout: float = _float(30.0, gt=0)
    memory_path: str | None = _str(None, optional=True)
    max_history_messages: int = _int(200, minimum=2)

    def with_api_key_from_env(self, env: Mapping[str, str] | None = None) -> AgentConfig:
        """A copy whose ``api_key`` is ``OPENAI_API_KEY`` from ``env`` (default ``os.environ``),
        or unchanged when the variable is unset or empty."""
        source = os.environ if env is None else env
        key = source.get("OPENAI_API_KEY", "")
        return dataclasses.replace(self, api_key=Secret(key)) if key else self


_SECTIONS: Final[dict[str, type[_Section]]] = {
    "retry": RetryConfig,
    "circuit_breaker": CircuitBreakerConfig,
    "rate_limit": RateLimitConfig,
    "quota": QuotaConfig,
    "monitoring": MonitoringConfig,
    "agent": AgentConfig,
}

# --------------------------------------------------------------------------------------------
# Profiles: differences from the defaults, as data a student can read at a glance
# --------------------------------------------------------------------------------------------

_Layer = dict[str, dict[str, Any]]


def _freeze(d: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in d.items()})


PROFILES: Final[Mapping[str, Mapping[str, Mapping[str, Any]]]] = MappingProxyType(
    {
        # Fast feedback on a laptop: give up quickly, recover quickly, never throttle yourself.
        "development": _freeze(
            {
                "retry": {"attempts": 2, "base_delay": 0.05, "max_delay": 1.0},
                "circuit_breaker": {"failure_threshold": 3, "recovery_timeout": 5.0},
                "rate_limit": {
                    "requests_per_minute": 600.0,
                    "burst_size": 50,
                    "adaptive_enabled": False,
                    "min_rate_per_minute": 60.0,
                    "max_rate_per_minute": 1200.0,
                },
                "monitoring": {"availability": 0.99, "p95_latency": 5.0, "retry_waste": 0.25},
                "agent": {"request_timeout": 10.0},
            }
        ),
        # Production-like, with a smaller rate so a shared test account is not exhausted.
        "staging": _freeze(
            {
                "retry": {"attempts": 3, "base_delay": 0.2, "max_delay": 8.0, "deadline": 60.0},
                "circuit_breaker": {
                    "recovery_timeout": 15.0,
                    "success_threshold": 2,
                    "failure_rate_threshold": 0.5,
                    "minimum_calls": 20,
                    "slow_call_threshold": 10.0,
                },
                "rate_limit": {"requests_per_minute": 30.0, "burst_size": 5, "max_rate_per_minute": 60.0},
                "agent": {"request_timeout": 20.0},
            }
        ),
        # Tuned to the SLA: the first probe comes after 15 s so recovery under 30 s is possible;
        # the failure-rate rule catches a flaky backend the consecutive rule misses; calls over
        # 10 s (five times the p95 target) count as failures; the loop never outlives 60 s.
        "production": _freeze(
            {
                "retry": {"attempts": 3, "base_delay": 0.2, "max_delay": 8.0, "deadline": 60.0},
                "circuit_breaker": {
                    "recovery_timeout": 15.0,
                    "success_threshold": 2,
                    "failure_rate_threshold": 0.5,
                    "minimum_calls": 20,
                    "slow_call_threshold": 10.0,
                },
                "agent": {"request_timeout": 20.0},
            }
        ),
    }
)
"""The named profiles, as overrides of the defaults (``PROFILES["production"]["retry"]``)."""


@dataclass(frozen=True, slots=True)
class ConsistencyIssue:
    """Two settings that contradict each other or an SLA target; ``message`` says how to fix it."""

    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


# --------------------------------------------------------------------------------------------
# The whole configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReliabilityConfig:
    """All reliability settings. Immutable: derive variants with :meth:`override`."""

    retry: RetryConfig = field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    quota: QuotaConfig = field(default_factory=QuotaConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    profile_name: str | None = None

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(name, value, f"a {cls.__name__}")
        if self.profile_name is not None and self.profile_name not in PROFILES:
            raise ConfigError(
                "profile_name", self.profile_name, "one of " + ", ".join(PROFILES) + ", or None"
            )

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> Self:
        """The named profile (``development``, ``staging``, ``production``) plus overrides."""
        layers = [(f"profile {name!r}", _profile_layer(name))]
        layers.append(("explicit override", _override_layer(overrides)))
        return cls._build(layers, profile_name=name)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        profile: str | None = None,
        env: Mapping[str, str] | None = None,
        api_key_from_env: bool = False,
        **overrides: Any,
    ) -> Self:
        """Build from defaults < profile < file < environment < overrides (see the module doc).

        ``env`` defaults to ``os.environ`` (pass ``{}`` to ignore the environment). With
        ``api_key_from_env=True`` the agent's key is ``OPENAI_API_KEY`` (an explicit
        ``agent__api_key=`` override still wins).
        """
        environ: Mapping[str, str] = os.environ if env is None else env
        if path is None and environ.get("DAY6_CONFIG"):
            path = environ["DAY6_CONFIG"]
        file_layer: _Layer = {}
        file_profile = None
        if path is not None:
            file_layer, file_profile = _read_file(Path(path))
        env_layers, env_profile = _read_env(environ)
        name: str | None
        if profile is not None:
            name, chosen_by = profile, "the profile= argument"
        elif env_profile is not None:
            name, chosen_by = env_profile, "DAY6_PROFILE"
        else:
            name, chosen_by = file_profile, f"file {os.fspath(path or '')}"
        layers: list[tuple[str, _Layer]] = []
        if name is not None:
            try:
                layers.append((f"profile {name!r}", _profile_layer(name)))
            except ConfigError as exc:
                raise ConfigError(exc.setting, exc.value, f"{exc.allowed} (set by {chosen_by})") from None
        if path is not None:
            layers.append((f"file {os.fspath(path)}", file_layer))
        layers.extend(env_layers)
        if api_key_from_env and environ.get("OPENAI_API_KEY"):
            layers.append(("OPENAI_API_KEY", {"agent": {"api_key": Secret(environ["OPENAI_API_KEY"])}}))
        layers.append(("explicit override", _override_layer(overrides)))
        return cls._build(layers, profile_name=name)

    def override(self, **overrides: Any) -> Self:
        """A copy with some settings changed (same forms as the explicit overrides of :meth:`load`)."""
        current = {name: getattr(self, name).kwargs() for name in _SECTIONS}
        return self._build(
            [("current settings", current), ("explicit override", _override_layer(overrides))],
            profile_name=self.profile_name,
        )

    @classmethod
    def _build(cls, layers: list[tuple[str, _Layer]], *, profile_name: str | None) -> Self:
        merged: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        origin: dict[str, str] = {}
        for source, layer in layers:
            for section, values in layer.items():
                for key, value in values.items():
                    merged[section][key] = value
                    origin[f"{section}.{key}"] = source
        built: dict[str, _Section] = {}
        for name, section_cls in _SECTIONS.items():
            try:
                built[name] = section_cls(**merged[name])
            except ConfigError as exc:
                source = origin.get(exc.setting, "the defaults")
                raise ConfigError(exc.setting, exc.value, f"{exc.allowed} (value from {source})") from None
        return cls(profile_name=profile_name, **built)  # type: ignore[arg-type]

    # -- checking ---------------------------------------------------------------------------

    def check_consistency(self) -> tuple[ConsistencyIssue, ...]:
        """Settings that are valid alone but contradict each other or the SLA targets.

        Empty means consistent. Each issue names the setting to change and explains why.
        """
        issues = []
        r, cb, m, a = self.retry, self.circuit_breaker, self.monitoring, self.agent
        if cb.recovery_timeout > m.recovery_time:
            issues.append(
                ConsistencyIssue(
                    "circuit_breaker.recovery_timeout",
                    f"the breaker waits {cb.recovery_timeout:g} s before its first probe, so no outage can "
                    f"end within the {m.recovery_time:g} s recovery target "
                    f"(monitoring.recovery_time); set it to at most {m.recovery_time:g} s, "
                    f"e.g. {m.recovery_time / 2:g} s to leave time for the probe",
                )
            )
        if cb.slow_call_threshold is not None and cb.slow_call_threshold < m.p95_latency:
            issues.append(
                ConsistencyIssue(
                    "circuit_breaker.slow_call_threshold",
                    f"calls slower than {cb.slow_call_threshold:g} s count as failures, yet the SLA allows "
                    f"a p95 of {m.p95_latency:g} s (monitoring.p95_latency): healthy traffic would trip "
                    "the breaker; set it above the p95 target",
                )
            )
        if a.request_timeout < m.p95_latency:
            issues.append(
                ConsistencyIssue(
                    "agent.request_timeout",
                    f"a {a.request_timeout:g} s timeout cuts off calls the {m.p95_latency:g} s p95 target "
                    "allows (monitoring.p95_latency); set it well above the target",
                )
            )
        if r.deadline is not None and r.deadline < a.request_timeout:
            issues.append(
                ConsistencyIssue(
                    "retry.deadline",
                    f"the {r.deadline:g} s deadline ends the retry loop before one attempt can time out "
                    f"(agent.request_timeout = {a.request_timeout:g} s); set it >= the request timeout",
                )
            )
        if r.max_delay > m.recovery_time:
            issues.append(
                ConsistencyIssue(
                    "retry.max_delay",
                    f"a single backoff sleep of up to {r.max_delay:g} s is longer than the "
                    f"{m.recovery_time:g} s recovery target (monitoring.recovery_time): clients would "
                    "still be waiting after the backend is back; lower it",
                )
            )
        return tuple(issues)

    # -- exporting --------------------------------------------------------------------------

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """Nested plain dicts (tuples become lists). Secrets are masked unless ``redact=False``."""
        out: dict[str, Any] = {"profile_name": self.profile_name}
        for name in _SECTIONS:
            section: dict[str, Any] = {}
            for key, value in getattr(self, name).kwargs().items():
                if isinstance(value, Secret):
                    value = value.masked if redact else value.reveal()
                elif isinstance(value, tuple):
                    value = list(value)
                section[key] = value
            out[name] = section
        return out

    def to_toml(self) -> str:
        """TOML that :meth:`load` reads back to an equal config (secrets are never written).

        Unset optional values are written as ``"none"`` so a reload over a profile cannot
        resurrect the profile's value.
        """
        lines = ["# day6 reliability settings (day6.config.ReliabilityConfig)"]
        if self.profile_name is not None:
            lines.append(f"profile = {_toml_value(self.profile_name)}")
        for name in _SECTIONS:
            lines.append("")
            lines.append(f"[{name}]")
            for key, value in getattr(self, name).kwargs().items():
                if isinstance(value, Secret) or (name == "agent" and key == "api_key"):
                    lines.append(f"# {key}: never stored in a file; set OPENAI_API_KEY instead")
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        """A readable listing of every setting (what a ``config`` command prints); secrets masked."""
        lines = [f"profile: {self.profile_name or 'defaults'}"]
        for name, section in self.to_dict().items():
            if name == "profile_name":
                continue
            lines.append(f"[{name}]")
            lines.extend(f"  {k} = {v!r}" for k, v in section.items())
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Layers: profile, file, environment, overrides
# --------------------------------------------------------------------------------------------


def _profile_layer(name: object) -> _Layer:
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigError("profile", name, "one of " + ", ".join(PROFILES))
    return {section: dict(values) for section, values in PROFILES[name].items()}


def _suggest(word: str, options: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    pool = list(options)
    close = difflib.get_close_matches(word, pool, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known: {', '.join(pool)}"


def _field_spec(section: str, key: str) -> _Spec | None:
    for f in fields(_SECTIONS[section]):
        if f.name == key:
            return _spec(f)
    return None


def _field_names(section: str) -> list[str]:
    return [f.name for f in fields(_SECTIONS[section])]


def _read_file(path: Path) -> tuple[_Layer, str | None]:
    where = f"config file {path}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            where, os.fspath(path), f"a readable TOML file ({type(exc).__name__}: {exc.strerror})"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(where, "<not valid TOML>", f"valid TOML; fix the syntax: {exc}") from None
    layer: _Layer = {}
    profile = None
    for top, value in data.items():
        if top == "profile":
            if not isinstance(value, str):
                raise ConfigError("profile", value, f"a profile name string (in {path})")
            profile = value
            continue
        if top not in _SECTIONS:
            raise ConfigError(
                top, value, f"not a known section or key in {path}; {_suggest(top, ['profile', *_SECTIONS])}"
            )
        if not isinstance(value, dict):
            raise ConfigError(top, value, f"a [{top}] table of settings (in {path})")
        values: dict[str, Any] = {}
        for key, v in value.items():
            spec = _field_spec(top, key)
            if spec is None:
                raise ConfigError(
                    f"{top}.{key}",
                    v,
                    f"not a setting of [{top}] in {path}; {_suggest(key, _field_names(top))}",
                )
            if spec.kind == "secret":
                raise ConfigError(
                    f"{top}.{key}",
                    "********",
                    f"not allowed in a config file ({path}): files get committed; remove it, set "
                    "OPENAI_API_KEY and load with api_key_from_env=True",
                )
            if spec.optional and isinstance(v, str) and v.strip().lower() == "none":
                v = None
            values[key] = v
        layer[top] = values
    return layer, profile


def _read_env(env: Mapping[str, str]) -> tuple[list[tuple[str, _Layer]], str | None]:
    """One layer per ``DAY6_*`` variable, labelled with its name so errors can point at it."""
    layers: list[tuple[str, _Layer]] = []
    seen: dict[str, str] = {}
    profile = None
    for var in sorted(env):
        if not var.upper().startswith("DAY6_"):
            continue
        rest = var[5:].lower()
        if rest == "profile":
            profile = env[var].strip()
            continue
        if "__" in rest:
            section, key = rest.split("__", 1)
            if section not in _SECTIONS:
                raise ConfigError(
                    var,
                    env[var],
                    f"DAY6_<SECTION>__<FIELD> with a known section; {_suggest(section, list(_SECTIONS))}",
                )
        else:
            matches = [s for s in _SECTIONS if rest.startswith(s + "_")]
            if not matches:
                continue  # DAY6_STATIC and friends belong to other parts of day6
            section = max(matches, key=len)
            key = rest[len(section) + 1 :]
        spec = _field_spec(section, key)
        if spec is None:
            raise ConfigError(
                var, env[var], f"a setting of [{section}]; {_suggest(key, _field_names(section))}"
            )
        if spec.kind == "secret":
            raise ConfigError(
                f"{section}.{key}",
                "********",
                f"not read from {var}: set OPENAI_API_KEY and use api_key_from_env=True",
            )
        setting = f"{section}.{key}"
        if setting in seen and env[seen[setting]].strip() != env[var].strip():
            raise ConfigError(
                setting, env[var], f"one value, but {seen[setting]} and {var} disagree; unset one"
            )
        seen[setting] = var
        value = _parse_text(setting, spec, env[var], var)
        layers.append((f"environment variable {var}", {section: {key: value}}))
    return layers, profile


def _parse_text(setting: str, spec: _Spec, text: str, var: str) -> Any:
    """Turn an environment string into the field's type (validation happens later, once)."""
    t = text.strip()
    if spec.optional and t.lower() in ("", "none", "null"):
        return None
    try:
        if spec.kind == "int":
            return int(t)
        if spec.kind == "float":
            return float(t)
        if spec.kind == "bool":
            return _BOOL_WORDS[t.lower()]
        if spec.kind == "choice":
            return t.lower()
        if spec.kind == "names":
            return tuple(s.strip() for s in t.split(",") if s.strip())
    except (ValueError, KeyError):
        raise ConfigError(setting, text, f"{spec.allowed} (from environment variable {var})") from None
    return text


def _override_layer(overrides: Mapping[str, Any]) -> _Layer:
    layer: _Layer = {}
    for key, value in overrides.items():
        if "__" in key:
            section, name = key.split("__", 1)
            if section not in _SECTIONS:
                raise ConfigError(
                    key, value, f"section__field with a known section; {_suggest(section, list(_SECTIONS))}"
                )
            if _field_spec(section, name) is None:
                raise ConfigError(
                    key, value, f"a setting of [{section}]; {_suggest(name, _field_names(section))}"
                )
            layer.setdefault(section, {})[name] = value
        elif key in _SECTIONS:
            if isinstance(value, _SECTIONS[key]):
                layer.setdefault(key, {}).update(value.kwargs())
            elif isinstance(value, Mapping):
                for name, v in value.items():
                    if _field_spec(key, name) is None:
                        raise ConfigError(
                            f"{key}.{name}", v, f"a setting of [{key}]; {_suggest(name, _field_names(key))}"
                        )
                    layer.setdefault(key, {})[name] = v
            else:
                raise ConfigError(key, value, f"a {_SECTIONS[key].__name__} or a mapping of its settings")
        else:
            raise ConfigError(key, value, f"a section or section__field; {_suggest(key, list(_SECTIONS))}")
    return layer


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # finite by validation; repr round-trips exactly
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
