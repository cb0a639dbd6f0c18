"""Which work a logged step runs: each attribution pass once, and the monitors the budget leaves in.

`StepPasses`: each (method, options) pass runs once per step and is shared. The images of a method and
the monitors reading it use one engine call when they ask for the same options (the default: the
monitors read `method_options`); `monitor_options` gives the monitors a pass of their own (cheaper
integrated gradients, say), still one per (method, options) however many monitors read it.

`StepBudget`: the callback's `budget=`, which thins the expensive monitors' schedule and says so.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Sequence

from ..alerts import Alert
from ..engine.registry import method_options as checked_options
from ..validate import options_per_method

PassKey = tuple  # (method, the options as sorted (name, repr(value)) pairs): hashable, equal for equal options


def pass_key(method: str, options: dict) -> PassKey:
    """The key under which a method's pass with `options` is computed once per step."""
    return method, tuple(sorted((name, repr(value)) for name, value in options.items()))


class StepPasses:
    """Which engine passes a logged step runs, and which pass the images and each monitor read."""

    def __init__(self, method_options: dict[str, dict], monitor_options: dict[str, dict] | None,
                 monitor_methods: Sequence[str]):
        self.method_options = method_options
        given = options_per_method("monitor_options", monitor_options, monitor_methods, "the monitors read")
        if any("every" in options for options in given.values()):
            raise ValueError("monitor_options take no `every`: a monitor reads its method at every step it logs. "
                             f"Received: monitor_options={monitor_options!r}")
        for method, options in given.items():
            checked_options(method, dict(options))  # unknown names and bad values raise here
        self.monitor_options = {method: dict(options) for method, options in given.items()}

    def for_images(self, method: str) -> tuple[PassKey, dict]:
        """The pass the images (and tables, scalars, dashboard) of `method` read."""
        options = self.method_options[method]
        return pass_key(method, options), options

    def for_monitor(self, monitor: Any) -> tuple[PassKey, dict]:
        """The pass `monitor` reads: its method with `monitor_options` when given, else the images' options."""
        options = self.monitor_options.get(monitor.method, self.method_options[monitor.method])
        return pass_key(monitor.method, options), options

    def plan(self, due: Sequence[str], monitors: Sequence[Any]) -> dict[PassKey, tuple[str, dict]]:
        """Every distinct pass of the step, key -> (method, options): the images' of the methods due first."""
        wanted = [self.for_images(m) for m in due] + [self.for_monitor(m) for m in monitors if m.method]
        passes: dict[PassKey, tuple[str, dict]] = {}
        for key, options in wanted:
            passes.setdefault(key, (key[0], options))
        return passes

    def run(self, plan: dict[PassKey, tuple[str, dict]], explain: Callable[[str, str, dict], Any]) -> tuple[dict, dict]:
        """Each pass of `plan` once: `explain(part, method, options)` gives its attributions or None (failed).
        Returns (pass key -> attributions, pass key -> seconds)."""
        computed, seconds = {}, {}
        for key, (method, options) in plan.items():
            begun = time.perf_counter()
            own = key != self.for_images(method)[0]  # the monitors' own pass: a failure switches off that one
            part = f"attribution ({method}, monitors)" if own else f"attribution ({method})"
            attributions = explain(part, method, options)
            if attributions is not None:
                computed[key], seconds[key] = attributions, time.perf_counter() - begun
        return computed, seconds

    def by_method(self, computed: dict[PassKey, list]) -> dict[str, list]:
        """One pass per method, for the step's other readers (dashboard, predictions): the images' when computed."""
        results: dict[str, list] = {}
        for key, attributions in computed.items():
            images = pass_key(key[0], self.method_options[key[0]])
            if key == images or key[0] not in results:
                results[key[0]] = attributions
        return results


MAX_PERIOD = 16  # a monitor the budget thins still runs at one logged step in 16
CHEAP_SHARE = 0.1  # a monitor taking less than this share of the budget is never thinned


def parse_budget(budget: Any) -> tuple[float | None, float | None]:
    """(seconds per logged step, share of the training time between logged steps); one of them or neither."""
    if budget is None:
        return None, None
    if isinstance(budget, str) and budget.endswith("%"):
        try:
            share = float(budget[:-1]) / 100
        except ValueError:
            share = -1.0
        if 0 < share <= 1:
            return None, share
    elif isinstance(budget, (int, float)) and not isinstance(budget, bool) and budget > 0:
        return float(budget), None
    raise ValueError("Expected budget to be seconds per logged step (a number > 0), a share of the training "
                     f"time between logged steps (a string like '5%'), or None. Received: budget={budget!r}")


class StepBudget:
    """Thins the expensive monitors' schedule so that a logged step stays within its budget.

    The first logged step runs everything (and compiles); from the second one on, each monitor's last
    measured cost decides: monitors that take under `CHEAP_SHARE` of the budget always run; the others
    run at every `period`-th logged step, the smallest period whose average fits what the rest of the
    step leaves of the budget (at most `MAX_PERIOD`). A change of period is returned as a note, and
    `describe()` is the progress line's fragment while it thins: never silent. It only chooses what
    runs; it never waits.
    """

    def __init__(self, budget: Any):
        self.seconds, self.share = parse_budget(budget)
        self.label = None if budget is None else (budget if isinstance(budget, str) else f"{budget:g} s")
        self.reset()

    def reset(self) -> None:
        """Forget a previous run's costs (a new run starts with every monitor at every step)."""
        self.index, self.period, self.cost, self.thinned = 0, 1, {}, ()
        self.training: float | None = None
        self._ended: float | None = None

    def due(self, monitors: Sequence[Any]) -> list:
        """The monitors that run at this logged step."""
        if self.period == 1:
            return list(monitors)
        return [m for m in monitors if m.name not in self.thinned or self.index % self.period == 0]

    def began(self, monitors: Sequence[Any]) -> list:
        """A logged step begins (the time since the previous one ended was training): the monitors it runs."""
        if self._ended is not None:
            self.training = time.perf_counter() - self._ended
        return self.due(monitors)

    def limit(self) -> float | None:
        """Seconds a logged step may take now (None: no budget, or a share before any training was timed)."""
        if self.share is not None:
            return None if self.training is None else self.share * self.training
        return self.seconds

    def done(self, step: int, seconds: float, costs: dict[str, float]) -> list[Alert]:
        """The step took `seconds`, its monitors `costs` (name -> seconds, those that ran). When the thinned
        monitors or their period change: a warning, and the note as an alert (action "note")."""
        note = self._decide(seconds, costs)
        if note is None:
            return []
        warnings.warn(note, stacklevel=3)
        return [Alert(monitor="budget", subject=None, step=step, statistic="monitor period", value=self.period,
                      limit=self.limit(), action="note", method=None, message=note)]

    def _decide(self, seconds: float, costs: dict[str, float]) -> str | None:
        self.cost.update(costs)
        self.index += 1
        self._ended = time.perf_counter()
        allowed = self.limit()
        if self.index < 2 or allowed is None:  # the first step compiles: its costs say little
            return None
        thinned = tuple(sorted(n for n, s in self.cost.items() if s > CHEAP_SHARE * allowed))
        need = sum(self.cost[n] for n in thinned)
        spare = allowed - (seconds - sum(costs.values())) - sum(s for n, s in self.cost.items() if n not in thinned)
        period = 1 if need <= spare else MAX_PERIOD if spare <= 0 else min(MAX_PERIOD, math.ceil(need / spare))
        changed = (period, thinned if period > 1 else ()) != (self.period, self.thinned)
        self.period, self.thinned = period, thinned if period > 1 else ()
        if not changed:
            return None
        if period == 1:
            return f"budget {self.label}: every monitor runs at every logged step again"
        over = "" if spare > 0 else f"; the step without them already takes {allowed - spare:.1f} s"
        return (f"budget {self.label} ({allowed:.1f} s a step): {', '.join(thinned)} (measured {need:.1f} s a step) "
                f"now run at one logged step in {period}{over}")

    def describe(self) -> str | None:
        """The progress line's fragment while the budget thins the schedule."""
        if self.period == 1:
            return None
        return f"budget {self.label}: {', '.join(self.thinned)} every {self.period} logged steps"


def monitor_costs(passes: StepPasses, due: Sequence[str], monitors: Sequence[Any], pass_seconds: dict,
                  log_seconds: dict[str, float]) -> dict[str, float]:
    """Seconds each monitor that ran cost the step: its `log`, and its share of a pass only monitors read."""
    images = {passes.for_images(m)[0] for m in due}
    keys = {m.name: passes.for_monitor(m)[0] for m in monitors if m.method and m.name in log_seconds}
    readers = {k: list(keys.values()).count(k) for k in set(keys.values())}
    return {name: seconds + (pass_seconds.get(keys[name], 0.0) / readers[keys[name]]
                             if name in keys and keys[name] not in images else 0.0)
            for name, seconds in log_seconds.items()}
