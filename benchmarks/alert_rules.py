"""Alert rules judged offline on alert_study.py's records: chosen on the selection half, reported on the other.

A rule reads one statistic of the watched group from one integrated-gradients pass at every logged step
and alerts when it exceeds a level (from logged step 1 on: at step 0 a fresh classifier head explains
nothing) or its step-0 value plus a rise, for `patience` logged steps running. The candidates and the
order of choice below were fixed before the runs they judge were made (seeds 16-19).

The margin, in the statistic's own units: the smallest of (a learned run's value at its last logged steps
- the limit) and (the limit - an unused run's value at any logged step from 1 on); with patience 2, an
unused run's value is the larger of each two consecutive steps' smaller one, a learned run's the smaller
of its last two. Negative: some run is missed, or alarms. Ground truth: detection_metrics.truth.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Internal modules (benchmarks): fix these imports only.
from detection_metrics import split_half, truth

PASSES = ("reference", "steps_8")
BOUNDED = ("where_present", "excess", "outrank")  # statistics in [0, 1] (or [-1, 1]): margin target 0.1
LEVELS = {("where_present", "level"): (0.15, 0.2, 0.3), ("where_present", "rise"): (0.1, 0.15, 0.2, 0.3),
          ("excess", "level"): (0.1, 0.15, 0.2), ("z", "level"): (4.0, 6.0, 8.0), ("z", "rise"): (4.0, 6.0, 8.0),
          ("outrank", "level"): (0.7, 0.75, 0.8, 0.85, 0.9), ("outrank", "rise"): (0.1, 0.2, 0.3)}
TARGETS = {"within_1": 0.95, "false": 0.05, "margin": 0.1, "margin_z": 2.0}
CURRENT = ("where_present", "rise", 0.2, 1, "reference")  # SpuriousGroups' default before this study


@dataclass(frozen=True)
class Rule:
    statistic: str  # "where_present", "excess" (where present - chance share), "z" (null_z), "outrank"
    kind: str  # "level" (value > level from step 1 on) or "rise" (value > step-0 value + level)
    level: float
    patience: int
    ig: str  # which pass: "reference" (32 points) or "steps_8"

    @property
    def label(self) -> str:
        what = {"where_present": "share where present", "excess": "share where present - chance",
                "z": "z vs shuffled membership", "outrank": "outrank rate"}[self.statistic]
        how = f"> {self.level:g}" if self.kind == "level" else f"rise > {self.level:g} over step 0"
        ig = "32 points" if self.ig == "reference" else "8 points"
        return f"{what} {how}, patience {self.patience} (IG {ig})"


def rules() -> list[Rule]:
    return [Rule(statistic, kind, level, patience, ig)
            for (statistic, kind), levels in LEVELS.items() for level, patience, ig
            in itertools.product(levels, (1, 2), PASSES)]


def values(rule: Rule, run: dict) -> list[float]:
    """The statistic at every logged step."""
    out = []
    for step in run["steps"]:
        figures = step[rule.ig]
        excess = figures["where_present"] - figures["chance"]
        out.append(excess if rule.statistic == "excess" else figures[rule.statistic])
    return out


def limit(rule: Rule, series: list[float]) -> float:
    return rule.level if rule.kind == "level" else series[0] + rule.level


def alert_step(rule: Rule, run: dict) -> int | None:
    series = values(rule, run)
    bar, strikes = limit(rule, series), 0
    for k in range(1, len(series)):
        strikes = strikes + 1 if series[k] > bar else 0
        if strikes == rule.patience:
            return k
    return None


def held(rule: Rule, series: list[float]) -> tuple[float, float]:
    """(a learned run's value at its end, an unused run's highest value that `patience` steps hold)."""
    later = series[1:]
    end = min(later[-rule.patience:])
    windows = [min(later[k:k + rule.patience]) for k in range(len(later) - rule.patience + 1)]
    return end, max(windows) if windows else float("-inf")


def judge(rule: Rule, runs: list[dict]) -> dict:
    """Caught within one logged step, false alarms, margin (own units) and spread on `runs`."""
    lags, false, unused, gaps, ends, highs = [], 0, 0, [], [], []
    for run in runs:
        kind, learned = truth(run)
        series = values(rule, run)
        end, high = held(rule, series)
        alert = alert_step(rule, run)
        if kind == "learned":
            lags.append(None if alert is None else alert - learned)
            gaps.append(end - limit(rule, series))
            ends.append(end)
        elif kind == "unused":
            unused += 1
            false += alert is not None
            gaps.append(limit(rule, series) - high)
            highs.append(high - (series[0] if rule.kind == "rise" else 0.0))
    spread = float(np.median(ends) - np.median(highs)) if ends and highs else float("nan")
    return {"learned": len(lags), "within_1": sum(lag is not None and lag <= 1 for lag in lags) / max(len(lags), 1),
            "unused": unused, "false": false / max(unused, 1), "margin": min(gaps) if gaps else float("nan"),
            "spread": spread}


def meets(rule: Rule, r: dict) -> dict:
    wanted = TARGETS["margin"] if rule.statistic in BOUNDED else TARGETS["margin_z"]
    return {"caught": r["within_1"] >= TARGETS["within_1"], "false": r["false"] <= TARGETS["false"],
            "margin": r["margin"] >= wanted}


def by_corpus(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for run in runs:
        out.setdefault(run["corpus"], []).append(run)
    return out


def choose(runs: list[dict]) -> list[tuple[Rule, dict]]:
    """Every rule with its figures per corpus on `runs`, best first: caught and false-alarm targets met
    on every corpus, then the margin target met on every corpus, then the smallest over the corpora of
    the margin as a share of the statistic's spread (so share, rate and z margins compare), then the
    8-point pass (cheaper), then patience 1 (sooner)."""
    corpora = by_corpus(runs)
    scored = [(rule, {c: judge(rule, rs) for c, rs in corpora.items()}) for rule in rules()]

    def key(item: tuple[Rule, dict]) -> tuple:
        rule, per = item
        met = [meets(rule, r) for r in per.values()]
        relative = min(r["margin"] / r["spread"] if r["spread"] > 0 else float("-inf") for r in per.values())
        return (not all(m["caught"] and m["false"] for m in met), not all(m["margin"] for m in met),
                -relative, rule.ig != "steps_8", rule.patience)
    return sorted(scored, key=key)


def row(rule: Rule, half: str, per: dict) -> str:
    cells = []
    for corpus in ("real", "synthetic"):
        r = per.get(corpus)
        if r is None:
            cells.append("-")
            continue
        unit = "" if rule.statistic in BOUNDED else " z"
        cells.append(f"{round(r['within_1'] * r['learned'])}/{r['learned']} caught, "
                     f"{round(r['false'] * r['unused'])}/{r['unused']} alarms, margin {r['margin']:+.2f}{unit}")
    return f"| {rule.label} | {half} | {cells[0]} | {cells[1]} |"


def report(runs: list[dict], shown: int = 8) -> str:
    """The Markdown section: the best rules on the selection half, each with its report-half figures."""
    selection, held_out = split_half(runs)
    ranked = choose(selection)
    report_half = {rule: {c: judge(rule, rs) for c, rs in by_corpus(held_out).items()} for rule, _ in ranked}
    current = Rule(*CURRENT)
    lines = ["| rule | half | real sentences | synthetic sentences |", "|---|---|---|---|"]
    picked = [rule for rule, _ in ranked[:shown]] + ([current] if current not in [r for r, _ in ranked[:shown]] else [])
    chosen = dict(ranked)
    for rule in picked:
        lines.append(row(rule, "selection", chosen[rule]))
        lines.append(row(rule, "**report**", report_half[rule]))
    best = ranked[0][0]
    lines += ["", f"Chosen on the selection half ({len(selection)} runs): **{best.label}**; report half: "
              f"{len(held_out)} runs."]
    return "\n".join(lines)


# The length check: the delete-vs-mask gap (the monitor's statistic) against the signed alternatives
# (alert_study.length_figures), flagged when over a level at any logged step from 1 on.
LENGTH_LEVELS = {"gap": (0.05, 0.08, 0.1, 0.15), "direction": (0.02, 0.05, 0.1, 0.15),
                 "direction_z": (4.0, 8.0, 16.0)}
LENGTH_TARGETS = (0.9, 0.05)  # flagged: >= 90% of learned length runs, <= 5% of the others


def length_judge(statistic: str, level: float, runs: list[dict]) -> dict:
    """Learned length runs flagged, other runs flagged, and the margin (own units): the smallest of a
    learned run's highest value - level and level - another run's highest value (steps from 1 on)."""
    flagged, learned, false, others, gaps = 0, 0, 0, 0, []
    for run in runs:
        kind, _ = truth(run, "length")
        if kind == "ambiguous":
            continue
        high = max(step["length"][statistic] for step in run["steps"][1:])
        if kind == "learned":
            learned, flagged = learned + 1, flagged + (high > level)
            gaps.append(high - level)
        else:
            others, false = others + 1, false + (high > level)
            gaps.append(level - high)
    return {"flagged": flagged, "learned": learned, "false": false, "others": others,
            "margin": min(gaps) if gaps else float("nan")}


def length_choice(runs: list[dict]) -> list[tuple[str, float, dict]]:
    """Every length rule on `runs`, best first: both targets met, then the margin relative to the level."""
    scored = [(s, level, length_judge(s, level, runs)) for s, levels in LENGTH_LEVELS.items() for level in levels]

    def key(item: tuple[str, float, dict]) -> tuple:
        _, level, r = item
        met = r["flagged"] >= LENGTH_TARGETS[0] * r["learned"] and r["false"] <= LENGTH_TARGETS[1] * r["others"]
        return (not met, -r["margin"] / level)
    return sorted(scored, key=key)
