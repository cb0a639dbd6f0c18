"""The `Monitor` protocol: checks the callback runs at every logged step, like Keras callbacks in a list.

A monitor is any object with these attributes and methods (subclassing `Monitor` is optional):

    name: str                      tag prefix and the name in `report` and the progress line
    method: str | None             the attribution method it reads; the callback computes it at
                                   every step the monitor logs (None: it needs no attributions)
    tasks: tuple[str, ...]         probe-set tasks it works on (checked before training starts)
    check(context)                 set-up checks against the model and probes: raise ValueError
    start(context, step)           once per run, before the first logged step
    log(step, attributions)        every logged step, with `method`'s attributions of the probes;
        -> list[Alert] | None      returns the step's alerts (`gradcallback.alerts.Alert`; None: none)
    columns() -> [(header, tag)]   the scalars `gradcallback report` shows per step
    progress(step) -> str | None   its fragment of the callback's verbose line
    stop_reason: str | None        set it to ask the callback to stop training (at the epoch's end)

It writes its figures through `context.events` (an `EventWriter`: scalar, text, image, histogram),
under tags that start with its `name`, and may add rows to `context.records` (a `JsonlWriter`;
give them a "kind"). Alerts are not written by the monitor: it returns them, and the callback
writes each under `<name>/alerts`, to records.jsonl, the progress line, the Attributions tab and
`gradcallback report` (`Monitor.alert` builds one). Arguments are validated in the monitor's own
`__init__`, so a mistake fails where it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..alerts import Alert
from ..attribution import TASKS, Attribution

# Chosen by benchmarks/DETECTION.md: saturated units hide shortcuts from gradients.
DEFAULT_METHOD = "integrated_gradients"
# The integrated-gradients setting the demo and the README's recommended configuration give the images and
# the monitors together (one pass serves both): benchmarks/DETECTION.md found 8 fixed Gauss-Legendre points
# the cheapest setting that keeps the monitors' caught and false-alarm counts on its selection and report
# halves (4 points lose the selection half), a quarter of the gradient rows of the engine's 32.
RECOMMENDED_IG_OPTIONS = {"steps": 8}


@dataclass
class RunContext:
    """What a monitor may use: the run's explainer (adapter, tokenizer), probes, writers and encodings."""

    explainer: Any
    probes: Any
    events: Any
    encodings: Any = None  # the probe encodings the run explains
    records: Any = None  # the run's JsonlWriter, for monitor rows ({"kind": ...}) tools read back
    strict: bool = False  # the callback's strict mode: a set-up doubt a monitor would warn about raises


class Monitor:
    """Base class with the protocol's defaults; override what your monitor needs."""

    name: str = "monitor"
    method: str | None = DEFAULT_METHOD
    tasks: tuple[str, ...] = TASKS
    stop_reason: str | None = None

    def check(self, context: RunContext) -> None:
        """Raise ValueError for a set-up this monitor cannot work with (before training starts)."""

    def start(self, context: RunContext, step: int) -> None:
        """Keep the run's context; called once per run, before the first logged step."""
        self.context = context

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert] | None:
        """Write the step's figures; return its alerts (an empty list or None when there are none)."""
        raise NotImplementedError

    def alert(self, step: int, statistic: str, value: float | None, limit: float | None, message: str, *,
              subject: str | None = None, action: str = "warn") -> Alert:
        """An `Alert` from this monitor (its name and method) about `subject` at `step`."""
        return Alert(monitor=self.name, subject=subject, step=step, statistic=statistic, value=value,
                     limit=limit, action=action, method=self.method, message=message)

    def columns(self) -> list[tuple[str, str]]:
        """The (header, tag) scalars `gradcallback report` shows per step; none by default."""
        return []

    def progress(self, step: int) -> str | None:
        """This monitor's fragment of the callback's verbose line; None (nothing) by default."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, method={self.method!r})"


REQUIRED = ("name", "method", "tasks", "check", "start", "log", "columns", "progress")


def check_monitor(monitor: Any, methods: Sequence[str]) -> None:
    """ValueError unless `monitor` follows the protocol and names a known method."""
    missing = [a for a in REQUIRED if not hasattr(monitor, a)]
    if missing:
        raise ValueError(f"Expected a monitor with {list(REQUIRED)} (see gradcallback.monitors.Monitor); "
                         f"missing {missing}. Received: monitor={monitor!r}")
    if monitor.method is not None and monitor.method not in methods:
        raise ValueError(f"Expected a monitor's method in {sorted(methods)}. Received: {monitor!r}")


def token_groups(monitors: Sequence[Any]) -> dict[str, Any]:
    """Every monitor's token groups (SpuriousGroups'), for the dashboard's outlines and filters."""
    return {name: spec for m in monitors for name, spec in (getattr(m, "groups", None) or {}).items()}


def check_name(name: Any) -> str:
    """A monitor's name: the first part of all its tags, so a non-empty string without "/"."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"Expected a monitor name: a non-empty string without '/'. Received: name={name!r}")
    return name


def check_tasks(monitor: Any, task: str) -> None:
    """ValueError unless `monitor` works on the probe set's task."""
    if task not in monitor.tasks:
        raise ValueError(f"{type(monitor).__name__} works on {', '.join(monitor.tasks)} probes. "
                         f"Received: a {task} probe set")
