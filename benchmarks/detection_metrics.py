"""Rates from the detection runs (records written by detection.py): per monitor configuration, the
detection rate, lag and false-alarm rate; discovery's rank of the planted word; the length check.

A run's ground truth comes from its flip rates (gradcallback.analysis.counterfactual) after training
starts (at step 0 a fresh random classifier head can flip anything: MiniLM's did 61% in one seed):
*learned* at the first logged step >= 1 whose rate reaches LEARNED, *unused* when no rate from step 1
on reaches UNUSED, else ambiguous (left out of both rates). The token monitors watch a word the length
scenario never plants, so length runs count as unused for them; the length check is judged on the length
scenario alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Internal modules (moving to gradcallback.analysis): fix this import only.
from gradcallback.analysis.counterfactual import LEARNED, UNUSED, learned_at

METHODS = ("gradient_norm", "gradient_x_input", "integrated_gradients")
LEVELS = {"threshold": (0.2, 0.3, 0.4, 0.5), "rise": (0.1, 0.2, 0.3, 0.4), "chance": (2.0, 3.0, 4.0),
          "null": (2.0, 3.0, 4.0, 6.0, 8.0), "null_rise": (2.0, 4.0, 6.0, 8.0)}
GAPS = (0.05, 0.08, 0.1, 0.15, 0.2)
TOP = 3  # discovery "finds" the planted word when a candidate holding it ranks in the top 3


@dataclass(frozen=True)
class Config:
    """One way to alert: `method`'s `statistic` against a `rule` at `level` (patience 1); with
    `discovery`, also when discovery ranks a watched word in its top 3."""

    method: str
    statistic: str  # "overall", "where_present" or "z" (the null rule's z-score of the where-present share)
    rule: str  # "threshold" (value > level), "rise" (value > step-0 value + level), "chance" (value > level x
    # chance), "null" (z > level: the where-present share against shuffled group membership, detection_stats.null_z)
    level: float
    discovery: bool = False

    @property
    def label(self) -> str:
        rule = {"threshold": f"> {self.level:g}", "rise": f"rise > {self.level:g} over step 0",
                "chance": f"> {self.level:g} x chance share", "null": f"z > {self.level:g} vs shuffled membership",
                "null_rise": f"z rise > {self.level:g} over step 0 vs shuffled membership"}[self.rule]
        statistic = "where present" if self.rule.startswith("null") else self.statistic.replace("_", " ")
        return f"{self.method}, {statistic}, {rule}" + (", + discovery" if self.discovery else "")


def configs() -> list[Config]:
    out = []
    for method, rule in itertools.product(METHODS, LEVELS):
        statistics = {"chance": ("where_present",), "null": ("z",), "null_rise": ("z",)}.get(
            rule, ("where_present", "overall"))
        for statistic, level, discovery in itertools.product(statistics, LEVELS[rule], (False, True)):
            out.append(Config(method, statistic, rule, level, discovery))
    return out


def limit(config: Config, steps: list[dict], k: int) -> float:
    """The share the statistic must exceed at logged step k (the rise rule cannot fire at step 0)."""
    if config.rule == "threshold":
        return config.level
    if config.rule in ("rise", "null_rise"):
        return steps[0][config.method][config.statistic] + config.level if k > 0 else float("inf")
    if config.rule == "null":
        return config.level
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
        steps = run["steps"]

        def stat(k: int, steps: list[dict] = steps) -> float:
            return steps[k][config.method][config.statistic]

        if kind == "learned":
            gaps.append(stat(len(steps) - 1) - limit(config, steps, len(steps) - 1))
        elif kind == "unused":
            gaps += [limit(config, steps, k) - stat(k) for k in range(len(steps)) if k or "rise" not in config.rule]
    return min(gaps) if gaps else float("nan")


def meets(r: dict) -> bool:
    return r["within_1"] >= 0.95 and r["false"] <= 0.05


def available(config: Config, runs: list[dict]) -> bool:
    """Whether every run recorded the configuration's statistic (the synthetic runs hold no z-score on the
    reference passes; runs made before the cheaper integrated-gradients settings hold none of those)."""
    return every_step(runs, lambda step: config.statistic in step.get(config.method, {}))


def spread(config: Config, runs: list[dict]) -> float:
    """The statistic's own scale on these runs: the median last-step value of the learned runs less the
    median of the unused runs' highest value from step 1 on (share units, or z units)."""
    learned, unused = [], []
    for run in runs:
        kind, _ = truth(run)
        values = [s[config.method][config.statistic] for s in run["steps"]]
        if kind == "learned":
            learned.append(values[-1])
        elif kind == "unused":
            unused.append(max(values[1:] or values))
    return float(np.median(learned) - np.median(unused)) if learned and unused else float("nan")


def score(config: Config, runs: list[dict]) -> dict:
    r = rates(config, runs)
    r["margin"] = margin(config, runs)
    scale = spread(config, runs)
    # the margin as a share of the statistic's separation on these runs: share and z margins compare
    r["relative_margin"] = r["margin"] / scale if scale > 0 else float("-inf")
    return r


def choose(runs: list[dict], candidates: list[Config] | None = None) -> list[tuple[Config, dict]]:
    """Every configuration the runs can evaluate, with its rates and margin, best first: targets met,
    then the most caught within one logged step less twice the false alarms, then no discovery
    (simpler), then the widest margin relative to the statistic's spread (share units and z units differ)."""
    scored = [(c, score(c, runs)) for c in (candidates or configs()) if available(c, runs)]

    def key(item: tuple[Config, dict]) -> tuple:
        return (meets(item[1]), round(item[1]["within_1"] - 2 * item[1]["false"], 6),
                not item[0].discovery, item[1]["relative_margin"])

    return sorted(scored, key=key, reverse=True)


def split_half(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(selection half, report half) by seed, stratified: within every (corpus, model, scenario), the
    runs are ordered by seed and alternate, the 1st, 3rd, ... seed selecting and the 2nd, 4th, ...
    reporting (seeds 0, 1, 2, 3: 0 and 2 select, 1 and 3 report). A pure function of the records."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run.get("corpus", "synthetic"), run["model"], run["scenario"]), []).append(run)
    rank = {id(run): k for group in groups.values() for k, run in enumerate(sorted(group, key=lambda r: r["seed"]))}
    return [r for r in runs if rank[id(r)] % 2 == 0], [r for r in runs if rank[id(r)] % 2 == 1]


def choose_default(runs: list[dict], candidates: list[Config] | None = None
                   ) -> tuple[Config, list[tuple[Config, dict]], dict]:
    """The default configuration chosen on the selection half only, the selection half's ranking, and
    the default's figures on the report half (the honest ones)."""
    selection, held_out = split_half(runs)
    scored = choose(selection, candidates)
    default = scored[0][0]
    return default, scored, score(default, held_out)


def discovery_found(runs: list[dict], method: str, key: str = "rank") -> tuple[int, int]:
    """(learned token runs whose last logged step ranks a watched word in the top 3, learned token runs);
    key="rank_rule": discovery's candidates filtered by the random-word rule (real-sentence runs only)."""
    learned = [run for run in runs if truth(run)[0] == "learned" and key in run["steps"][-1][method]]
    return sum((run["steps"][-1][method][key] or TOP + 1) <= TOP for run in learned), len(learned)


def discovery_found_once(runs: list[dict], method: str) -> tuple[int, int]:
    """(learned token runs where discovery ranks a watched word in its top 3 at some logged step from the
    step of learning on, learned token runs): the callback logs every step, not only the last."""
    learned = [(run, truth(run)[1]) for run in runs if truth(run)[0] == "learned"]
    found = sum(any((s[method]["rank"] or TOP + 1) <= TOP for s in run["steps"][at:]) for run, at in learned)
    return found, len(learned)


def sentiment_share(runs: list[dict], method: str, lexicon: frozenset, key: str = "top") -> tuple[int, int]:
    """(words of discovery's top 3 at the last logged step that are sentiment words, words) over the
    learned runs; a two-word candidate counts when either word is."""
    tops = [t for run in runs if truth(run)[0] == "learned" and key in run["steps"][-1][method]
            for t in run["steps"][-1][method][key]]
    return sum(bool(lexicon & set(t.split(" "))) for t in tops), len(tops)


def control_in_top(runs: list[dict], method: str, key: str = "rank") -> tuple[int, int]:
    """(unused control_both runs whose planted word is in discovery's top 3 at any logged step >= 1,
    unused control_both runs): the word is in both classes alike, and the model does not use it."""
    controls = [run for run in runs if run["scenario"] == "control_both" and truth(run)[0] == "unused"
                and key in run["steps"][-1][method]]
    hit = sum(any((s[method][key] or TOP + 1) <= TOP for s in run["steps"][1:]) for run in controls)
    return hit, len(controls)


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


def every_step(runs: list[dict], holds) -> bool:
    """Whether `holds(step)` is true at every logged step of every run."""
    return all(holds(step) for run in runs for step in run["steps"])
