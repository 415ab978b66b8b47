"""Interactive panels for the labs: a few controls wired to an experiment and its figure.

A :class:`Panel` is three things: *controls* (declared with :class:`FloatControl`,
:class:`IntControl`, :class:`ChoiceControl`), a *compute* function that runs an experiment from the
controls' values, and a *plot* function that turns its result into a figure. Moving a control
recomputes and redraws. Labs 2-4 build theirs in a few lines::

    panel = Panel(
        compute=lambda threshold, seed: run_breaker_experiment(threshold=threshold, seed=seed),
        plot=plot_breaker,
        controls={"threshold": IntControl(5, 1, 20, label="failure threshold"),
                  "seed": IntControl(0, 0, 99, label="seed")},
    )
    panel.show()

**Static fallback.** A widget needs a live frontend to draw it. Where there is none -- nbval
re-running the notebook, ``jupyter nbconvert``, a plain ``python`` script, GitHub's notebook
preview -- :meth:`Panel.show` displays one static figure computed at the controls' defaults
instead. Which mode is used:

1. ``show(static=True/False)`` if given;
2. otherwise static when the environment variable ``DAY6_STATIC`` is ``1`` / ``true`` / ``yes``
   (``make notebooks`` and ``make notebooks-check`` set it, see :mod:`day6._notebooks`);
3. otherwise static when not running inside an IPython kernel (a plain interpreter);
4. otherwise live.

A kernel cannot tell whether its frontend renders widgets, hence the explicit variable.

ipywidgets is imported only when a live widget is built, so a static panel needs only matplotlib.
Figures are shown as PNG images rendered here (not through the inline backend), so a panel looks
the same in every frontend and a redraw replaces one image in place.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from matplotlib.figure import Figure

from day6._validate import finite
from day6.errors import ConfigError

if TYPE_CHECKING:
    from day6.sim import DelayBand, HerdResult

__all__ = [
    "ChoiceControl",
    "Control",
    "FloatControl",
    "IntControl",
    "Panel",
    "backoff_panel",
    "herd_panel",
    "is_static",
]

D = TypeVar("D")

_TRUE = frozenset({"1", "true", "yes", "on"})
_PNG_DPI = 80  # a little smaller than the default 100: faster redraws, still crisp


def is_static(static: bool | None = None) -> bool:
    """Whether panels should draw a static figure (see the module docstring for the rules)."""
    if static is not None:
        return static
    if os.environ.get("DAY6_STATIC", "").strip().lower() in _TRUE:
        return True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return True
    shell = get_ipython()
    return shell is None or not hasattr(shell, "kernel")


@dataclass(frozen=True, slots=True)
class FloatControl:
    """A float slider from ``min`` to ``max`` in steps of ``step``, starting at ``value``."""

    value: float
    min: float
    max: float
    step: float
    label: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "min", "max", "step"):
            number = getattr(self, name)
            finite(f"FloatControl.{name}", number)
        if not self.step > 0:
            raise ConfigError("FloatControl.step", self.step, "a number > 0")
        if not self.min <= self.value <= self.max:
            raise ConfigError("FloatControl.value", self.value, f"within [{self.min}, {self.max}]")

    def build(self) -> Any:
        import ipywidgets

        return ipywidgets.FloatSlider(
            value=self.value,
            min=self.min,
            max=self.max,
            step=self.step,
            description=self.label,
            continuous_update=False,  # recompute when the slider is released, not on every pixel
            readout_format=".3g",
            style={"description_width": "initial"},
        )


@dataclass(frozen=True, slots=True)
class IntControl:
    """An integer slider from ``min`` to ``max``, starting at ``value``."""

    value: int
    min: int
    max: int
    step: int = 1
    label: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "min", "max", "step"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int):
                raise ConfigError(f"IntControl.{name}", number, "an int")
        if self.step < 1:
            raise ConfigError("IntControl.step", self.step, "an int >= 1")
        if not self.min <= self.value <= self.max:
            raise ConfigError("IntControl.value", self.value, f"within [{self.min}, {self.max}]")

    def build(self) -> Any:
        import ipywidgets

        return ipywidgets.IntSlider(
            value=self.value,
            min=self.min,
            max=self.max,
            step=self.step,
            description=self.label,
            continuous_update=False,
            style={"description_width": "initial"},
        )


@dataclass(frozen=True, slots=True)
class ChoiceControl:
    """A drop-down of ``options`` (strings), starting at ``value``."""

    value: str
    options: tuple[str, ...]
    label: str = ""

    def __post_init__(self) -> None:
        if not self.options:
            raise ConfigError("ChoiceControl.options", self.options, "at least one option")
        if self.value not in self.options:
            raise ConfigError("ChoiceControl.value", self.value, "one of " + ", ".join(self.options))

    def build(self) -> Any:
        import ipywidgets

        return ipywidgets.Dropdown(
            value=self.value,
            options=list(self.options),
            description=self.label,
            style={"description_width": "initial"},
        )


Control = FloatControl | IntControl | ChoiceControl
"""A control declaration: what to show and its default; the widget is built only when needed."""


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_PNG_DPI)
    return buffer.getvalue()


@dataclass
class Panel(Generic[D]):
    """Controls -> ``compute(**values)`` -> ``plot(data)`` -> a figure, kept in sync.

    ``data`` and ``figure`` always reflect the current control values: every change to a control's
    ``value`` recomputes them (synchronously, so a test can set a value and look at the result).
    The widget itself (:attr:`widget`, :attr:`controls`) is built on first use.
    """

    compute: Callable[..., D]
    plot: Callable[[D], Figure]
    specs: Mapping[str, Control]
    title: str = ""
    _controls: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _image: Any = field(default=None, init=False, repr=False)
    _widget: Any = field(default=None, init=False, repr=False)
    _data: D | None = field(default=None, init=False, repr=False)
    _figure: Figure | None = field(default=None, init=False, repr=False)
    _computed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.specs:
            raise ConfigError("specs", self.specs, "at least one control")

    @property
    def defaults(self) -> dict[str, Any]:
        """The controls' starting values."""
        return {name: spec.value for name, spec in self.specs.items()}

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values (the defaults until a widget exists and is moved)."""
        if self._controls is None:
            return self.defaults
        return {name: control.value for name, control in self._controls.items()}

    @property
    def controls(self) -> dict[str, Any]:
        """The ipywidgets controls by name (built on first access); set ``.value`` to move one."""
        if self._controls is None:
            controls = {name: spec.build() for name, spec in self.specs.items()}
            for control in controls.values():
                control.observe(self._on_change, names="value")
            self._controls = controls
        return self._controls

    @property
    def data(self) -> D:
        """The experiment's result for the current values."""
        if not self._computed:
            self.update()
        return self._data  # type: ignore[return-value]

    @property
    def figure(self) -> Figure:
        """The figure for the current values."""
        if not self._computed:
            self.update()
        assert self._figure is not None
        return self._figure

    @property
    def widget(self) -> Any:
        """The live panel: controls above the figure (an ``ipywidgets.VBox``)."""
        if self._widget is None:
            import ipywidgets

            controls = list(self.controls.values())
            self._image = ipywidgets.Image(value=_png(self.figure), format="png")
            header = [ipywidgets.HTML(f"<b>{self.title}</b>")] if self.title else []
            self._widget = ipywidgets.VBox(
                [*header, ipywidgets.HBox(controls[:4]), ipywidgets.HBox(controls[4:]), self._image]
            )
        return self._widget

    def update(self) -> None:
        """Recompute the data and the figure from the current values (and refresh the image)."""
        self._data = self.compute(**self.values)
        self._figure = self.plot(self._data)
        self._computed = True
        if self._image is not None:
            self._image.value = _png(self._figure)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def static_figure(self) -> Figure:
        """The figure at the controls' defaults, whatever the controls show now."""
        return self.plot(self.compute(**self.defaults))

    def show(self, *, static: bool | None = None) -> None:
        """Display the live widget, or a static figure where widgets cannot render (see module doc)."""
        from IPython import display as ipython_display

        display: Any = ipython_display.display  # untyped in IPython
        image: Any = ipython_display.Image
        if is_static(static):
            display(image(data=_png(self.static_figure()), format="png"))
        else:
            display(self.widget)


# --------------------------------------------------------------------------------------------------
# Lab 1 panels
# --------------------------------------------------------------------------------------------------

_JITTERS = ("none", "proportional", "full", "equal", "decorrelated")


def backoff_panel(*, jitter: str = "proportional", samples: int = 300) -> Panel[list[DelayBand]]:
    """Delay per attempt for one backoff schedule: base delay, multiplier, cap, jitter, attempts, seed."""
    from day6 import sim, viz
    from day6.backoff import Backoff, Jitter

    def compute(
        base_delay: float, multiplier: float, cap: float, jitter: str, attempts: int, seed: int
    ) -> list[DelayBand]:
        schedule = Backoff(
            base=base_delay, multiplier=multiplier, cap=max(cap, base_delay), jitter=Jitter(jitter)
        )
        return sim.delay_bands(schedule, attempts=attempts, samples=samples, seed=seed)

    return Panel(
        compute=compute,
        plot=lambda bands: viz.plot_delay_bands(bands, title="Delay per attempt (min, median, max)"),
        specs={
            "base_delay": FloatControl(0.1, 0.01, 1.0, 0.01, label="base delay (s)"),
            "multiplier": FloatControl(2.0, 1.0, 4.0, 0.1, label="multiplier"),
            "cap": FloatControl(10.0, 0.5, 30.0, 0.5, label="cap (s)"),
            "jitter": ChoiceControl(jitter, _JITTERS, label="jitter"),
            "attempts": IntControl(6, 1, 12, label="attempts"),
            "seed": IntControl(0, 0, 99, label="seed"),
        },
        title="Backoff schedule",
    )


def herd_panel(*, clients: int = 100, jitter: str = "none") -> Panel[HerdResult]:
    """The thundering herd with every retry setting on a control: see who gets through, and when."""
    from day6 import sim, viz

    def compute(
        base_delay: float, multiplier: float, cap: float, jitter: str, attempts: int, clients: int, seed: int
    ) -> HerdResult:
        return sim.thundering_herd(
            clients=clients,
            jitter=jitter,
            attempts=attempts,
            base_delay=base_delay,
            multiplier=multiplier,
            max_delay=max(cap, base_delay),
            seed=seed,
        )

    return Panel(
        compute=compute,
        plot=lambda result: viz.plot_herd([result]),
        specs={
            "base_delay": FloatControl(0.1, 0.01, 1.0, 0.01, label="base delay (s)"),
            "multiplier": FloatControl(2.0, 1.0, 4.0, 0.1, label="multiplier"),
            "cap": FloatControl(2.0, 0.1, 10.0, 0.1, label="cap (s)"),
            "jitter": ChoiceControl(jitter, _JITTERS, label="jitter"),
            "attempts": IntControl(8, 1, 15, label="attempts"),
            "clients": IntControl(clients, 1, 300, label="clients"),
            "seed": IntControl(0, 0, 99, label="seed"),
        },
        title="Thundering herd after an outage (service down for the first 2 s)",
    )


# ---- Lab 3 ----
# Rate limiting panels: a token bucket under traffic, and the adaptive limiter's settings.

if TYPE_CHECKING:
    from day6.sim.rate_experiments import AdaptiveTimeline, BucketRun


def bucket_panel(*, pattern: str = "bursty") -> Panel[BucketRun]:
    """A token bucket under traffic: capacity, refill rate, traffic pattern and load on controls."""
    from day6 import viz
    from day6.sim import rate_experiments

    def compute(capacity: float, rate: float, pattern: str, load: float, seed: int) -> BucketRun:
        return rate_experiments.bucket_run(
            capacity=capacity, rate=rate, pattern=pattern, load=load, seed=seed
        )

    return Panel(
        compute=compute,
        plot=viz.plot_bucket,
        specs={
            "capacity": FloatControl(10.0, 1.0, 40.0, 1.0, label="capacity (tokens)"),
            "rate": FloatControl(2.0, 0.5, 10.0, 0.5, label="refill rate (/s)"),
            "pattern": ChoiceControl(pattern, rate_experiments.TRAFFIC_PATTERNS, label="traffic"),
            "load": FloatControl(2.0, 0.5, 10.0, 0.5, label="offered load (/s)"),
            "seed": IntControl(0, 0, 99, label="seed"),
        },
        title="Token bucket: level and decisions over 60 simulated seconds",
    )


def adaptive_panel(*, capacity: float = 20.0) -> Panel[AdaptiveTimeline]:
    """The adaptive limiter against a hidden capacity: start rate, AIMD settings and a capacity cut."""
    from day6 import viz
    from day6.sim import rate_experiments

    def compute(
        initial_rate: float, decrease_factor: float, evaluation_window: int, capacity_after: float, seed: int
    ) -> AdaptiveTimeline:
        return rate_experiments.adaptive_timeline(
            capacity=capacity,
            initial_rate=initial_rate,
            duration=120.0,
            bin_width=10.0,
            capacity_after=None if capacity_after == capacity else (60.0, capacity_after),
            limiter={"decrease_factor": decrease_factor, "evaluation_window": evaluation_window},
            seed=seed,
        )

    return Panel(
        compute=compute,
        plot=lambda timeline: viz.plot_adaptive([timeline]),
        specs={
            "initial_rate": FloatControl(2.0, 0.5, 200.0, 0.5, label="initial rate (/s)"),
            "decrease_factor": FloatControl(0.5, 0.1, 0.9, 0.05, label="decrease factor"),
            "evaluation_window": IntControl(10, 2, 50, label="evaluation window (calls)"),
            "capacity_after": FloatControl(capacity, 1.0, 3 * capacity, 1.0, label="capacity from t=60 s"),
            "seed": IntControl(0, 0, 99, label="seed"),
        },
        title=f"Adaptive limiter vs a hidden capacity of {capacity:g}/s",
    )


# ---- Lab 2 ----
# The circuit breaker lab's panel: the breaker's settings and the outage on controls, redrawing the
# outage figure (day6.sim.breaker_experiments.outage_run, day6.viz.plot_outage).

__all__ += ["outage_panel"]

if TYPE_CHECKING:
    from day6.sim.breaker_experiments import BreakerRun


def outage_panel(*, outage_kind: str = "hang", seed: int = 0) -> Panel[BreakerRun]:
    """A breaker facing an outage: threshold, recovery timeout, trip rule, window, outage length and kind.

    The outage starts at 30 s and the run continues 60 s after it ends. ``window`` is the number of
    recent calls the "failure rate" trip rule looks at (the "consecutive" rule has no window). One
    run per redraw (the breaker's side): the no-breaker baseline does not depend on the breaker's
    settings.
    """
    from day6 import viz
    from day6.sim import breaker_experiments as bx

    start = 30.0

    def compute(
        failure_threshold: int,
        recovery_timeout: float,
        trip_rule: str,
        window: int,
        outage_length: float,
        outage_kind: str,
        seed: int,
    ) -> BreakerRun:
        settings = bx.breaker_settings(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            trip_rule=trip_rule,
            window_size=window,
        )
        return bx.outage_run(
            breaker=settings,
            outage=(start, start + outage_length),
            duration=start + outage_length + 60.0,
            outage_kind=outage_kind,
            seed=seed,
        )

    return Panel(
        compute=compute,
        plot=lambda run: viz.plot_outage([run]),
        specs={
            "failure_threshold": IntControl(5, 1, 30, label="failure threshold"),
            "recovery_timeout": FloatControl(10.0, 1.0, 60.0, 1.0, label="recovery timeout (s)"),
            "trip_rule": ChoiceControl("consecutive", bx.TRIP_RULES, label="trip rule"),
            "window": IntControl(20, 10, 100, label="rate window (calls)"),
            "outage_length": FloatControl(60.0, 5.0, 120.0, 5.0, label="outage length (s)"),
            "outage_kind": ChoiceControl(outage_kind, bx.OUTAGE_KINDS, label="outage kind"),
            "seed": IntControl(seed, 0, 99, label="seed"),
        },
        title="A backend outage behind a circuit breaker (outage starts at 30 s)",
    )


# ---- Lab 4 ----
# The resilient agent's fire-drill dashboard on controls. The chat widget lives in
# day6.chat_widget (it drives an agent rather than redrawing a figure).

if TYPE_CHECKING:
    from day6.sim.agent_experiments import DashboardRun

_DASHBOARD_MEMORY = 4  # conversation messages the panel's drill agent keeps (see dashboard_panel)


def dashboard_panel(*, scenario: str = "outage_then_recovery", seconds: float = 60.0) -> Panel[DashboardRun]:
    """A fire drill's dashboard with the breaker's two main settings on sliders.

    Controls: the scenario, the breaker's recovery timeout and failure threshold, the seed. Every
    other setting is the production profile's. The drill agent keeps only the last
    ``_DASHBOARD_MEMORY`` conversation messages: the real openai SDK re-validates the whole
    history on every request, and a drill is about the call path, not the conversation, so a
    short memory keeps each redraw well under half a second without changing what is measured.
    """
    from day6 import viz
    from day6.config import ReliabilityConfig
    from day6.sim import agent_experiments

    def compute(scenario: str, recovery_timeout: float, failure_threshold: int, seed: int) -> DashboardRun:
        config = ReliabilityConfig.profile(
            "production",
            circuit_breaker={"recovery_timeout": recovery_timeout, "failure_threshold": failure_threshold},
            agent={"max_history_messages": _DASHBOARD_MEMORY},
        )
        return agent_experiments.dashboard_run(scenario, config=config, seconds=seconds, seed=seed)

    return Panel(
        compute=compute,
        plot=viz.plot_dashboard,
        specs={
            "scenario": ChoiceControl(scenario, agent_experiments.DRILL_SCENARIOS, label="scenario"),
            "recovery_timeout": FloatControl(15.0, 1.0, 60.0, 1.0, label="recovery timeout (s)"),
            "failure_threshold": IntControl(5, 1, 20, label="failure threshold"),
            "seed": IntControl(0, 0, 99, label="seed"),
        },
        title=f"Fire drill dashboard: {seconds:g} s of fake time, production profile",
    )


__all__ += ["dashboard_panel"]
