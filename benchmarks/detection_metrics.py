"""Rates from the detection runs (records written by detection.py): per monitor configuration, the
detection rate, lag and false-alarm rate; discovery's rank of the planted word; the length check.

A run's ground truth comes from its flip rates (gradcallback.analysis.counterfactual) after training
starts (at step 0 a fresh random classifier head can flip anything: MiniLM's did 61% in one seed):
*learned* at the first logged step >= 1 whose rate reaches LEARNED, *unused* when no rate from step 1
on reaches UNUSED, else ambiguous (left out of both rates). The token monitors watch a word the length scenario never plants, so length
runs count as unused for them; the length check is judged on the length scenario alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from gradcallback.analysis.counterfactual import LEARNED, UNUSED, learned_at

METHODS = ("gradient_norm", "gradient_x_input", "integrated_gradients")
LEVELS = {"threshold": (0.2, 0.3, 0.4, 0.5), "rise": (0.1, 0.2, 0.3, 0.4), "chance": (2.0, 3.0, 4.0)}
GAPS = (0.05, 0.08, 0.1, 0.15, 0.2)
TOP = 3  # discovery "finds" the planted word when a candidate holding it ranks in the top 3


@dataclass(frozen=True)
class Config:
    """One way to alert: `method`'s `statistic` against a `rule` at `level` (patience 1); with
    `discovery`, also when discovery ranks a watched word in its top 3."""

    method: str
    statistic: str  # "overall" or "where_present"
    rule: str  # "threshold" (value > level), "rise" (value > step-0 value + level), "chance" (value > level x chance)
    level: float
    discovery: bool = False

    @property
    def label(self) -> str:
        rule = {"threshold": f"> {self.level:g}", "rise": f"rise > {self.level:g} over step 0",
                "chance": f"> {self.level:g} x chance share"}[self.rule]
        return f"{self.method}, {self.statistic.replace('_', ' ')}, {rule}" + (", + discovery" if self.discovery else "")


def configs() -> list[Config]:
    out = []
    for method, rule in itertools.product(METHODS, LEVELS):
        statistics = ("where_present",) if rule == "chance" else ("where_present", "overall")
        for statistic, level, discovery in itertools.product(statistics, LEVELS[rule], (False, True)):
            out.append(Config(method, statistic, rule, level, discovery))
    return out


def limit(config: Config, steps: list[dict], k: int) -> float:
    """The share the statistic must exceed at logged step k (the rise rule cannot fire at step 0)."""
    if config.rule == "threshold":
        return config.level
    if config.rule == "rise":
        return steps[0][config.method][config.statistic] + config.level if k > 0 else float("inf")
    return config.level * steps[k]["chance"]


def crossed(config: Config, steps: list[dict], k: int) -> bool:
    if config.discovery and (steps[k][config.method]["rank"] or TOP + 1) <= TOP:
        return True
    return steps[k][config.method][config.statistic] > limit(config, steps, k)


def alert_step(config: Config, run: dict) -> int | None:
    return next((k for k in range(len(run["steps"])) if crossed(config, run["steps"], k)), None)


def truth(run: dict, watched: str = "token") -> tuple[str, int | None]:
    """("learned", step) | ("unused", None) | ("ambiguous", None) for the token group or the length cue."""
    if (run["scenario"] == "length") != (watched == "length"):
        return "unused", None
    rates = [s["flip_rate"] for s in run["steps"]][1:]  # from step 1: at step 0 nothing has been learned
    step = learned_at(rates, range(1, len(rates) + 1), LEARNED)  # (a fresh random head may flip anything)
    if step is not None:
        return "learned", step
    return ("unused", None) if max(rates) < UNUSED else ("ambiguous", None)


def rates(config: Config, runs: list[dict]) -> dict:
    lags, false, unused = [], 0, 0
    for run in runs:
        kind, learned = truth(run)
        alert = alert_step(config, run)
        if kind == "learned":
            lags.append(None if alert is None else alert - learned)
        elif kind == "unused":
            unused += 1
            false += alert is not None
    caught = [lag for lag in lags if lag is not None]
    return {"learned": len(lags), "detected": len(caught) / max(len(lags), 1),
            "within_1": sum(lag <= 1 for lag in caught) / max(len(lags), 1),
            "median_lag": float(np.median(caught)) if caught else float("nan"),
            "max_lag": max(caught) if caught else None, "unused": unused, "false": false / max(unused, 1)}


def margin(config: Config, runs: list[dict]) -> float:
    """How far the statistic stays from the limit on the wrong side of either edge, in share units:
    the smallest of (last step's value - limit) over learned runs and (limit - value) over every
    step of the unused runs. Negative: some run is missed or alarms."""
    gaps = []
    for run in runs:
        kind, _ = truth(run)
        steps, stat = run["steps"], lambda k: run["steps"][k][config.method][config.statistic]
        if kind == "learned":
            gaps.append(stat(len(steps) - 1) - limit(config, steps, len(steps) - 1))
        elif kind == "unused":
            gaps += [limit(config, steps, k) - stat(k) for k in range(len(steps)) if k or config.rule != "rise"]
    return min(gaps) if gaps else float("nan")


def meets(r: dict) -> bool:
    return r["within_1"] >= 0.95 and r["false"] <= 0.05


def choose(runs: list[dict]) -> list[tuple[Config, dict]]:
    """Every configuration with its rates and margin, best first: targets met, then the most caught
    within one logged step less twice the false alarms, then no discovery (simpler), then the widest
    margin (the limit farthest from both failure edges)."""
    scored = []
    for c in configs():
        r = rates(c, runs)
        r["margin"] = margin(c, runs)
        scored.append((c, r))
    key = lambda item: (meets(item[1]), round(item[1]["within_1"] - 2 * item[1]["false"], 6),
                        not item[0].discovery, item[1]["margin"])
    return sorted(scored, key=key, reverse=True)


def discovery_found(runs: list[dict], method: str) -> tuple[int, int]:
    """(learned token runs whose last logged step ranks a watched word in the top 3, learned token runs)."""
    learned = [run for run in runs if truth(run)[0] == "learned"]
    return sum((run["steps"][-1][method]["rank"] or TOP + 1) <= TOP for run in learned), len(learned)


def length_flags(runs: list[dict], gap: float) -> tuple[int, int, int, int]:
    """(flagged learned length runs, learned length runs, flagged others, others): a run is flagged
    when the delete-vs-mask gap exceeds `gap` at any logged step."""
    counts = [0, 0, 0, 0]
    for run in runs:
        kind, _ = truth(run, "length")
        if kind == "ambiguous":
            continue
        flagged = any(s["length"]["gap"] > gap for s in run["steps"])
        slot = 0 if kind == "learned" else 2
        counts[slot] += flagged
        counts[slot + 1] += 1
    return counts[0], counts[1], counts[2], counts[3]
