"""ReliabilityConfig: defaults, validation, profiles, TOML and environment loading, secrets."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from day6.circuit_breaker import CircuitBreaker
from day6.clock import FakeClock
from day6.config import (
    PROFILES,
    AgentConfig,
    CircuitBreakerConfig,
    MonitoringConfig,
    QuotaConfig,
    RateLimitConfig,
    ReliabilityConfig,
    RetryConfig,
    Secret,
)
from day6.errors import ConfigError
from day6.monitoring import Monitor, SLATargets, SLATracker
from day6.retry import RetryPolicy

PLANTED = "sk-proj-PLANTED-SECRET-do-not-print-0123456789"


def write(tmp_path: Path, text: str, name: str = "day6.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Defaults and wiring
# --------------------------------------------------------------------------------------------


def test_defaults_are_the_lessons() -> None:
    """The defaults are the lesson's numbers."""
    cfg = ReliabilityConfig()
    assert cfg.retry == RetryConfig(
        attempts=3,
        base_delay=0.1,
        multiplier=2.0,
        max_delay=10.0,
        jitter="proportional",
        jitter_ratio=0.25,
        deadline=None,
        honour_retry_after=True,
    )
    assert (cfg.circuit_breaker.failure_threshold, cfg.circuit_breaker.recovery_timeout) == (5, 60.0)
    assert (cfg.rate_limit.requests_per_minute, cfg.rate_limit.burst_size) == (60, 10)
    assert cfg.rate_limit.adaptive_enabled is True
    assert cfg.rate_limit.rate_per_second == 1.0
    assert cfg.monitoring.sla_targets() == SLATargets()
    assert cfg.agent.model == "day6-mini"
    assert cfg.agent.api_key is None
    assert cfg.profile_name is None


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_sections_feed_the_real_constructors(profile: str | None) -> None:
    """Field names match the pattern constructors: kwargs() wires straight into them."""
    cfg = ReliabilityConfig() if profile is None else ReliabilityConfig.profile(profile)
    clock = FakeClock()
    policy = RetryPolicy(**cfg.retry.kwargs(), clock=clock)
    assert (policy.attempts, policy.max_delay, policy.deadline) == (
        cfg.retry.attempts,
        cfg.retry.max_delay,
        cfg.retry.deadline,
    )
    breaker = CircuitBreaker("llm", **cfg.circuit_breaker.kwargs(), clock=clock)
    assert breaker.state == "closed"
    monitor = Monitor(clock=clock, **cfg.monitoring.monitor_kwargs())
    tracker = SLATracker(
        monitor,
        cfg.monitoring.sla_targets(),
        short_window=cfg.monitoring.burn_short_window,
        long_window=cfg.monitoring.burn_long_window,
    )
    assert tracker.targets.availability == cfg.monitoring.availability


def test_sections_are_immutable() -> None:
    """Config records are frozen; variants come from override()."""
    cfg = ReliabilityConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.retry.attempts = 9  # type: ignore[misc]
    changed = cfg.override(retry__attempts=9)
    assert (cfg.retry.attempts, changed.retry.attempts) == (3, 9)


def test_values_are_normalized() -> None:
    """Integers given for float fields become floats; lists become tuples; a str key a Secret."""
    cfg = ReliabilityConfig.profile(
        "development", retry={"base_delay": 1, "max_delay": 2}, agent={"fallback_models": ["a", "b"]}
    )
    assert isinstance(cfg.retry.base_delay, float)
    assert cfg.agent.fallback_models == ("a", "b")
    agent = AgentConfig(api_key=PLANTED)  # type: ignore[arg-type]
    assert isinstance(agent.api_key, Secret)
    assert agent.api_key.reveal() == PLANTED


# --------------------------------------------------------------------------------------------
# Validation: every field, with its path, value and rule
# --------------------------------------------------------------------------------------------

INVALID: list[tuple[type[Any], str, Any, str]] = [
    (RetryConfig, "attempts", 0, "an integer from 1 to 100"),
    (RetryConfig, "attempts", 101, "an integer from 1 to 100"),
    (RetryConfig, "attempts", 2.5, "an integer"),
    (RetryConfig, "attempts", True, "an integer"),
    (RetryConfig, "attempts", "3", "an integer"),
    (RetryConfig, "base_delay", -0.1, "> 0"),
    (RetryConfig, "base_delay", 0.0, "> 0"),
    (RetryConfig, "base_delay", math.nan, "finite"),
    (RetryConfig, "multiplier", 0.5, ">= 1"),
    (RetryConfig, "multiplier", math.inf, "finite"),
    (RetryConfig, "max_delay", 0.05, "retry.base_delay"),
    (RetryConfig, "jitter", "random", "one of none, proportional, full, equal, decorrelated"),
    (RetryConfig, "jitter_ratio", 1.5, "<= 1"),
    (RetryConfig, "jitter_ratio", -0.1, ">= 0"),
    (RetryConfig, "deadline", 0, "> 0"),
    (RetryConfig, "deadline", -5.0, "or none"),
    (RetryConfig, "honour_retry_after", "yes", "true or false"),
    (CircuitBreakerConfig, "failure_threshold", 0, "an integer >= 1"),
    (CircuitBreakerConfig, "recovery_timeout", 0.0, "> 0"),
    (CircuitBreakerConfig, "recovery_timeout", math.nan, "finite"),
    (CircuitBreakerConfig, "half_open_max_calls", 0, "an integer >= 1"),
    (CircuitBreakerConfig, "success_threshold", 0, "an integer >= 1"),
    (CircuitBreakerConfig, "failure_rate_threshold", 0.0, "> 0 and <= 1"),
    (CircuitBreakerConfig, "failure_rate_threshold", 1.5, "> 0 and <= 1"),
    (CircuitBreakerConfig, "window_size", 0, "an integer >= 1"),
    (CircuitBreakerConfig, "minimum_calls", 0, "an integer >= 1"),
    (CircuitBreakerConfig, "minimum_calls", 101, "circuit_breaker.window_size"),
    (CircuitBreakerConfig, "slow_call_threshold", -1.0, "> 0"),
    (RateLimitConfig, "requests_per_minute", 0, "> 0"),
    (RateLimitConfig, "requests_per_minute", math.inf, "finite"),
    (RateLimitConfig, "burst_size", 0, "an integer >= 1"),
    (RateLimitConfig, "adaptive_enabled", 1, "true or false"),
    (RateLimitConfig, "min_rate_per_minute", 0.0, "> 0"),
    (RateLimitConfig, "min_rate_per_minute", 61.0, "rate_limit.requests_per_minute"),
    (RateLimitConfig, "max_rate_per_minute", 59.0, "rate_limit.requests_per_minute"),
    (QuotaConfig, "requests_per_day", 0, "an integer >= 1, or none"),
    (QuotaConfig, "tokens_per_day", -5, "an integer >= 1, or none"),
    (QuotaConfig, "cost_per_day", 0.0, "> 0"),
    (QuotaConfig, "requests_per_month", 1.5, "an integer"),
    (QuotaConfig, "tokens_per_month", 0, "an integer >= 1"),
    (QuotaConfig, "cost_per_month", math.nan, "finite"),
    (MonitoringConfig, "availability", 1.0, "< 1"),
    (MonitoringConfig, "availability", 0.0, "> 0"),
    (MonitoringConfig, "p95_latency", 0.0, "> 0"),
    (MonitoringConfig, "recovery_time", -1.0, "> 0"),
    (MonitoringConfig, "retry_waste", -0.01, ">= 0"),
    (MonitoringConfig, "rate_window", 0.0, "> 0"),
    (MonitoringConfig, "history", 30.0, "monitoring.rate_window"),
    (MonitoringConfig, "latency_accuracy", 0.6, "<= 0.5"),
    (MonitoringConfig, "burn_short_window", 0.0, "> 0"),
    (MonitoringConfig, "burn_long_window", 100.0, "monitoring.burn_short_window"),
    (AgentConfig, "model", "", "a non-empty string"),
    (AgentConfig, "model", None, "a non-empty string"),
    (AgentConfig, "fallback_models", ("ok", ""), "a list of non-empty strings"),
    (AgentConfig, "fallback_models", "day6-large", "a list of non-empty strings"),
    (AgentConfig, "base_url", "ftp://example", "an http:// or https:// URL"),
    (AgentConfig, "api_key", "", "a non-empty string"),
    (AgentConfig, "api_key", 12345, "a non-empty string"),
    (AgentConfig, "request_timeout", 0.0, "> 0"),
    (AgentConfig, "memory_path", "   ", "a non-empty string"),
    (AgentConfig, "max_history_messages", 1, "an integer >= 2"),
]


@pytest.mark.parametrize(
    ("section", "name", "value", "rule"),
    INVALID,
    ids=[f"{s.section}.{n}={v!r}" for s, n, v, _ in INVALID],
)
def test_every_invalid_field_names_path_value_and_rule(
    section: type[Any], name: str, value: Any, rule: str
) -> None:
    """An invalid field raises ConfigError naming ``section.field``, the value and what is allowed."""
    with pytest.raises(ConfigError) as info:
        section(**{name: value})
    err = info.value
    assert err.setting == f"{section.section}.{name}"
    assert rule in err.allowed
    if name != "api_key":
        assert repr(value if not isinstance(value, list) else tuple(value)) in str(err) or value is None


def test_every_field_has_a_validation_case() -> None:
    """The table above covers every field of every section (new fields need a case)."""
    covered = {(s.section, n) for s, n, _, _ in INVALID}
    sections: list[Any] = [
        RetryConfig,
        CircuitBreakerConfig,
        RateLimitConfig,
        QuotaConfig,
        MonitoringConfig,
        AgentConfig,
    ]
    every = {(s.section, f.name) for s in sections for f in dataclasses.fields(s)}
    assert every - covered == set()


def test_sections_must_have_the_right_type() -> None:
    """Passing a dict where a section belongs is a ConfigError naming the section."""
    with pytest.raises(ConfigError, match="a RetryConfig"):
        ReliabilityConfig(retry={"attempts": 3})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Profiles and consistency
# --------------------------------------------------------------------------------------------


def test_profiles_exist_and_differ() -> None:
    """development, staging and production are distinct, valid configs that remember their name."""
    configs = {name: ReliabilityConfig.profile(name) for name in ("development", "staging", "production")}
    assert len({json.dumps(c.to_dict(), sort_keys=True) for c in configs.values()}) == 3
    assert configs["production"].profile_name == "production"
    assert configs["development"].retry.attempts < configs["production"].retry.attempts
    assert not configs["development"].rate_limit.adaptive_enabled


def test_unknown_profile_lists_the_known_ones() -> None:
    """An unknown profile name is a ConfigError listing the profiles that exist."""
    with pytest.raises(ConfigError, match="one of development, staging, production") as info:
        ReliabilityConfig.profile("prod")
    assert info.value.setting == "profile"


def test_profile_overrides_in_every_form() -> None:
    """Overrides as section mappings, section__field keywords or whole sections."""
    cfg = ReliabilityConfig.profile(
        "production",
        retry={"attempts": 5},
        circuit_breaker__failure_threshold=7,
        quota=QuotaConfig(requests_per_day=1000),
    )
    assert cfg.retry.attempts == 5
    assert cfg.retry.deadline == PROFILES["production"]["retry"]["deadline"]  # rest of the profile kept
    assert cfg.circuit_breaker.failure_threshold == 7
    assert cfg.quota.requests_per_day == 1000


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"retyr": {"attempts": 5}}, "retyr"),
        ({"retry": {"atempts": 5}}, "retry.atempts"),
        ({"retry__atempts": 5}, "retry__atempts"),
        ({"nosuch__attempts": 5}, "nosuch__attempts"),
        ({"retry": 5}, "retry"),
    ],
)
def test_unknown_override_keys_suggest_the_fix(overrides: dict[str, Any], setting: str) -> None:
    """A misspelt override names the key and suggests the closest known one."""
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.profile("staging", **overrides)
    assert info.value.setting == setting
    assert "known:" in info.value.allowed or "RetryConfig" in info.value.allowed


def test_production_is_consistent_with_its_sla() -> None:
    """The production (and every other) profile passes check_consistency."""
    for name in PROFILES:
        assert ReliabilityConfig.profile(name).check_consistency() == ()


def test_lesson_defaults_cannot_recover_in_30_seconds() -> None:
    """The lesson's defaults contradict its own SLA: a 60 s recovery timeout vs recovery < 30 s."""
    issues = ReliabilityConfig().check_consistency()
    assert [i.setting for i in issues] == ["circuit_breaker.recovery_timeout"]
    assert "60 s" in issues[0].message
    assert "30 s" in issues[0].message


def test_a_bad_custom_config_gets_every_violation_explained() -> None:
    """Each contradiction is reported with the setting to change and why."""
    cfg = ReliabilityConfig.profile(
        "production",
        circuit_breaker={"recovery_timeout": 45.0, "slow_call_threshold": 1.0},
        agent={"request_timeout": 1.5},
        retry={"deadline": 1.0, "max_delay": 40.0},
    )
    issues = {i.setting: i.message for i in cfg.check_consistency()}
    assert set(issues) == {
        "circuit_breaker.recovery_timeout",
        "circuit_breaker.slow_call_threshold",
        "agent.request_timeout",
        "retry.deadline",
        "retry.max_delay",
    }
    assert "p95" in issues["circuit_breaker.slow_call_threshold"]
    assert all(str(i).startswith(i.setting) for i in cfg.check_consistency())


# --------------------------------------------------------------------------------------------
# TOML: loading, errors, round trip
# --------------------------------------------------------------------------------------------


def test_file_values_apply_over_the_profile(tmp_path: Path) -> None:
    """A file's values override its profile's; the rest of the profile stays."""
    path = write(
        tmp_path,
        """
profile = "production"

[retry]
attempts = 4
deadline = "none"

[agent]
fallback_models = ["day6-large", "day6-mini"]
""",
    )
    cfg = ReliabilityConfig.load(path, env={})
    assert cfg.profile_name == "production"
    assert cfg.retry.attempts == 4
    assert cfg.retry.deadline is None
    assert cfg.retry.base_delay == PROFILES["production"]["retry"]["base_delay"]
    assert cfg.agent.fallback_models == ("day6-large", "day6-mini")


def test_malformed_toml_names_the_file_and_the_position(tmp_path: Path) -> None:
    """Broken TOML is one ConfigError naming the file and where the syntax broke."""
    path = write(tmp_path, "[retry]\nattempts = = 3\n")
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.load(path, env={})
    assert str(path) in str(info.value)
    assert "line 2" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing file names the path."""
    with pytest.raises(ConfigError, match="readable TOML file") as info:
        ReliabilityConfig.load(tmp_path / "nope.toml", env={})
    assert "nope.toml" in str(info.value)


@pytest.mark.parametrize(
    ("text", "setting", "fragment"),
    [
        ("[retyr]\nattempts = 3\n", "retyr", "did you mean 'retry'"),
        ("[retry]\natempts = 3\n", "retry.atempts", "did you mean 'attempts'"),
        ("retry = 3\n", "retry", "[retry] table"),
        ('[retry]\nattempts = "three"\n', "retry.attempts", "an integer"),
        ("[circuit_breaker]\nrecovery_timeout = -1\n", "circuit_breaker.recovery_timeout", "> 0"),
        ("profile = 3\n", "profile", "profile name"),
        ('profile = "prod"\n', "profile", "one of development"),
    ],
)
def test_file_errors_name_the_file_key_and_fix(
    tmp_path: Path, text: str, setting: str, fragment: str
) -> None:
    """Unknown sections/keys, wrong types and bad values name the key, the file and the fix."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.load(path, env={})
    assert info.value.setting == setting
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_an_api_key_in_a_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A key in a config file is refused, and the error does not repeat it."""
    path = write(tmp_path, f'[agent]\napi_key = "{PLANTED}"\n')
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.load(path, env={})
    assert info.value.setting == "agent.api_key"
    assert "OPENAI_API_KEY" in str(info.value)
    assert PLANTED not in str(info.value)
    assert PLANTED not in repr(info.value.value)


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_toml_round_trip(tmp_path: Path, profile: str | None) -> None:
    """load(to_toml(cfg)) == cfg for every profile and for custom values (secrets excluded)."""
    base = ReliabilityConfig() if profile is None else ReliabilityConfig.profile(profile)
    cfg = base.override(
        retry={"jitter": "decorrelated", "deadline": None},
        agent={"base_url": 'https://llm.example/v1?q="x"', "memory_path": "/tmp/m é.json"},
        quota={"requests_per_day": 5000, "cost_per_month": 12.5},
    )
    text = cfg.to_toml()
    tomllib.loads(text)  # valid TOML
    assert ReliabilityConfig.load(write(tmp_path, text), env={}) == cfg


@settings(max_examples=50, deadline=None)
@given(
    attempts=st.integers(1, 100),
    base=st.floats(0.0, 5.0, allow_nan=False, exclude_min=True),
    extra=st.floats(0.0, 100.0, allow_nan=False),
    ratio=st.floats(0.0, 1.0),
    deadline=st.none() | st.floats(0.001, 1e6),
    jitter=st.sampled_from(["none", "proportional", "full", "equal", "decorrelated"]),
    rate=st.floats(0.001, 0.999, exclude_min=True),
)
def test_toml_round_trip_property(
    attempts: int, base: float, extra: float, ratio: float, deadline: float | None, jitter: str, rate: float
) -> None:
    """Any valid retry/breaker settings survive to_toml and back exactly (floats included)."""
    cfg = ReliabilityConfig().override(
        retry={
            "attempts": attempts,
            "base_delay": base,
            "max_delay": base + extra,
            "jitter_ratio": ratio,
            "deadline": deadline,
            "jitter": jitter,
        },
        circuit_breaker={"failure_rate_threshold": rate},
    )
    text = cfg.to_toml()
    assert tomllib.loads(text)["retry"]["base_delay"] == base
    with tempfile.TemporaryDirectory() as folder:
        assert ReliabilityConfig.load(write(Path(folder), text), env={}) == cfg


# --------------------------------------------------------------------------------------------
# Environment and precedence
# --------------------------------------------------------------------------------------------


def test_precedence_defaults_profile_file_env_explicit(tmp_path: Path) -> None:
    """Each layer overrides the one below: defaults < profile < file < env < explicit."""
    path = write(tmp_path, "[retry]\nattempts = 4\nmax_delay = 4.0\nmultiplier = 3.0\n")
    env = {"DAY6_RETRY__ATTEMPTS": "5", "DAY6_RETRY_MAX_DELAY": "5.0"}
    cfg = ReliabilityConfig.load(path, profile="production", env=env, retry__attempts=6)
    assert cfg.retry.jitter_ratio == 0.25  # default (no layer sets it)
    assert cfg.retry.base_delay == 0.2  # production profile
    assert cfg.retry.multiplier == 3.0  # file over profile
    assert cfg.retry.max_delay == 5.0  # env over file
    assert cfg.retry.attempts == 6  # explicit over env


def test_profile_choice_argument_over_env_over_file(tmp_path: Path) -> None:
    """profile= beats DAY6_PROFILE, which beats the file's profile key."""
    path = write(tmp_path, 'profile = "development"\n')
    assert ReliabilityConfig.load(path, env={}).profile_name == "development"
    assert ReliabilityConfig.load(path, env={"DAY6_PROFILE": "staging"}).profile_name == "staging"
    assert ReliabilityConfig.load(
        path, profile="production", env={"DAY6_PROFILE": "staging"}
    ).profile_name == ("production")
    with pytest.raises(ConfigError, match="DAY6_PROFILE"):
        ReliabilityConfig.load(env={"DAY6_PROFILE": "qa"})


def test_day6_config_names_the_file(tmp_path: Path) -> None:
    """DAY6_CONFIG points load() at a file when no path is given."""
    path = write(tmp_path, "[retry]\nattempts = 7\n")
    assert ReliabilityConfig.load(env={"DAY6_CONFIG": str(path)}).retry.attempts == 7


def test_env_parsing_of_every_type() -> None:
    """Ints, floats, bools, choices, lists and 'none' parse from environment strings."""
    env = {
        "DAY6_RETRY__ATTEMPTS": "5",
        "DAY6_RETRY__DEADLINE": "12.5",
        "DAY6_RETRY__JITTER": "FULL",
        "DAY6_RETRY_HONOUR_RETRY_AFTER": "off",
        "DAY6_CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD": "none",
        "DAY6_RATE_LIMIT__ADAPTIVE_ENABLED": "yes",
        "DAY6_AGENT__FALLBACK_MODELS": "day6-large, other-model",
        "DAY6_QUOTA__REQUESTS_PER_DAY": "1000",
        "DAY6_STATIC": "1",  # belongs to the widgets, ignored here
        "UNRELATED": "x",
    }
    cfg = ReliabilityConfig.load(profile="production", env=env)
    assert cfg.retry.attempts == 5
    assert cfg.retry.deadline == 12.5
    assert cfg.retry.jitter == "full"
    assert cfg.retry.honour_retry_after is False
    assert cfg.circuit_breaker.slow_call_threshold is None
    assert cfg.rate_limit.adaptive_enabled is True
    assert cfg.agent.fallback_models == ("day6-large", "other-model")
    assert cfg.quota.requests_per_day == 1000


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"DAY6_RETRY__ATTEMPTS": "many"}, "retry.attempts", "DAY6_RETRY__ATTEMPTS"),
        ({"DAY6_RETRY__ATTEMPTS": "0"}, "retry.attempts", "DAY6_RETRY__ATTEMPTS"),
        ({"DAY6_RETRY__ATEMPTS": "5"}, "DAY6_RETRY__ATEMPTS", "did you mean 'attempts'"),
        ({"DAY6_RETYR__ATTEMPTS": "5"}, "DAY6_RETYR__ATTEMPTS", "did you mean 'retry'"),
        ({"DAY6_RETRY_HONOUR_RETRY_AFTER": "maybe"}, "retry.honour_retry_after", "true or false"),
        ({"DAY6_RETRY__ATTEMPTS": "4", "DAY6_RETRY_ATTEMPTS": "5"}, "retry.attempts", "disagree"),
        ({"DAY6_AGENT__API_KEY": PLANTED}, "agent.api_key", "OPENAI_API_KEY"),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], setting: str, fragment: str) -> None:
    """A bad environment value names the variable, the setting and the fix; never a secret."""
    with pytest.raises(ConfigError) as info:
        ReliabilityConfig.load(env=env)
    assert info.value.setting == setting
    assert fragment in str(info.value)
    assert PLANTED not in str(info.value)


def test_nothing_is_half_applied(tmp_path: Path) -> None:
    """One bad value anywhere means no config at all, and existing configs are untouched."""
    path = write(tmp_path, "[retry]\nattempts = 4\n[agent]\nrequest_timeout = -1\n")
    with pytest.raises(ConfigError, match=r"agent\.request_timeout"):
        ReliabilityConfig.load(path, env={})
    cfg = ReliabilityConfig.profile("staging")
    snapshot = cfg.to_dict()
    with pytest.raises(ConfigError):
        cfg.override(retry__attempts=5, circuit_breaker__window_size=0)
    assert cfg.to_dict() == snapshot


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_secret_masks_itself() -> None:
    """repr, str and format show a mask; reveal() gives the value; equality compares values."""
    s = Secret(PLANTED)
    assert s.reveal() == PLANTED
    for shown in (repr(s), str(s), f"{s}", f"{s:>40}", "%s" % s):  # noqa: UP031
        assert PLANTED not in shown
    assert str(s) == "sk-...6789"
    assert str(Secret("short")) == "********"
    assert s == Secret(PLANTED)
    assert s != Secret(PLANTED + "x")
    assert len({s, Secret(PLANTED)}) == 1


def test_api_key_is_read_from_the_environment_only_when_asked() -> None:
    """OPENAI_API_KEY is ignored by default and used with api_key_from_env=True."""
    env = {"OPENAI_API_KEY": PLANTED}
    assert ReliabilityConfig.load(env=env).agent.api_key is None
    cfg = ReliabilityConfig.load(env=env, api_key_from_env=True)
    assert cfg.agent.api_key is not None
    assert cfg.agent.api_key.reveal() == PLANTED
    assert AgentConfig().with_api_key_from_env(env).api_key == Secret(PLANTED)
    assert AgentConfig().with_api_key_from_env({}).api_key is None
    explicit = ReliabilityConfig.load(
        env=env, api_key_from_env=True, agent__api_key="sk-explicit-key-0000000"
    )
    assert explicit.agent.api_key == Secret("sk-explicit-key-0000000")


def test_no_dump_contains_a_planted_secret() -> None:
    """repr, str, describe, to_dict, JSON, to_toml and pickled reprs never contain the key."""
    cfg = ReliabilityConfig.load(profile="production", env={"OPENAI_API_KEY": PLANTED}, api_key_from_env=True)
    dumps = [
        repr(cfg),
        str(cfg),
        repr(cfg.agent),
        cfg.describe(),
        repr(cfg.to_dict()),
        json.dumps(cfg.to_dict()),
        cfg.to_toml(),
        repr(pickle.loads(pickle.dumps(cfg))),
    ]
    for text in dumps:
        assert PLANTED not in text
        assert PLANTED[3:-4] not in text
    assert cfg.to_dict(redact=False)["agent"]["api_key"] == PLANTED  # only on explicit request
    assert "api_key" not in tomllib.loads(cfg.to_toml())["agent"]
