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
from detection_metrics import every_step, split_half, truth
from length_rules import length_choice, length_judge, length_row

PASSES = ("reference", "steps_8")
BOUNDED = ("where_present", "excess", "outrank", "mask_change", "mask_flips")  # in [0, 1] (or [-1, 1]): margin 0.1
LEVELS = {("where_present", "level"): (0.15, 0.2, 0.3), ("where_present", "rise"): (0.1, 0.15, 0.2, 0.3),
          ("excess", "level"): (0.1, 0.15, 0.2), ("z", "level"): (4.0, 6.0, 8.0), ("z", "rise"): (4.0, 6.0, 8.0),
          ("outrank", "level"): (0.7, 0.75, 0.8, 0.85, 0.9), ("outrank", "rise"): (0.1, 0.2, 0.3),
          # Behaviour, not attribution (gradcallback.analysis.reliance.masking_effect, recorded from seed 20 on):
          # the group masked in place, the class distribution's total variation, its z against masking as many
          # random other tokens, the share of probes whose prediction flips. Added before seeds 20-23 ran.
          ("mask_change", "level"): (0.05, 0.1, 0.15, 0.2), ("mask_change", "rise"): (0.05, 0.1, 0.2),
          ("mask_z", "level"): (3.0, 4.0, 6.0, 8.0), ("mask_flips", "level"): (0.1, 0.2, 0.3),
          # Attribution or behaviour, added before seeds 24-27 ran: over the level when z vs shuffled membership
          # is, or when masking's z is over its own level B ("either_B"), for the learned runs whose attribution
          # falls back at their last steps while masking the cue still moves the prediction (seeds 16-19's end).
          **{(f"either_{b}", "level"): (4.0, 6.0) for b in (4, 6, 8)}}
EITHER = tuple(statistic for statistic, _ in LEVELS if statistic.startswith("either_"))
FIRST_SEED = dict.fromkeys(EITHER, 24)  # a rule judges only seeds run after it was committed (others: every seed)
MASKING = ("mask_change", "mask_z", "mask_flips")  # read from the step's "masking" record, not an IG pass
TARGETS = {"within_1": 0.95, "false": 0.05, "margin": 0.1, "margin_z": 2.0}
CURRENT = ("where_present", "rise", 0.2, 1, "reference")  # SpuriousGroups' default before this study


@dataclass(frozen=True)
class Rule:
    statistic: str  # "where_present", "excess" (where present - chance share), "z" (null_z), "outrank"
    kind: str  # "level" (value > level from step 1 on) or "rise" (value > step-0 value + level)
    level: float
    patience: int
    ig: str  # which pass: "reference" (32 points) or "steps_8"; "masking" for the behavioural statistics

    @property
    def label(self) -> str:
        what = {"where_present": "share where present", "excess": "share where present - chance",
                "z": "z vs shuffled membership", "outrank": "outrank rate",
                "mask_change": "masking's change", "mask_z": "masking's z vs random tokens",
                "mask_flips": "masking's flips"}["z" if self.statistic in EITHER else self.statistic]
        how = f"> {self.level:g}" if self.kind == "level" else f"rise > {self.level:g} over step 0"
        if self.statistic in EITHER:
            how += f" or masking's z > {self.statistic.removeprefix('either_')}"
        ig = {"reference": "IG 32 points", "steps_8": "IG 8 points", "masking": "forward only"}[self.ig]
        return f"{what} {how}, patience {self.patience} ({ig})"


def rules() -> list[Rule]:
    return [Rule(statistic, kind, level, patience, ig)
            for (statistic, kind), levels in LEVELS.items() for level, patience, ig
            in itertools.product(levels, (1, 2), ("masking",) if statistic in MASKING else PASSES)]


def recorded(rule: Rule, runs: list[dict]) -> bool:
    """Whether every run holds the rule's pass (runs before seed 20 recorded no masking)."""
    need = (rule.ig, "masking") if rule.statistic in EITHER else (rule.ig,)
    return every_step(runs, lambda step: all(name in step for name in need))


def candidate(rule: Rule, runs: list[dict]) -> bool:
    """Whether the rule may judge `runs`: every run holds what it reads, and none ran before the rule was written."""
    return recorded(rule, runs) and min(run["seed"] for run in runs) >= FIRST_SEED.get(rule.statistic, 0)


def either(rule: Rule, step: dict) -> float:
    """z vs shuffled membership, or masking's z less its own level over the rule's: one series, one limit."""
    own = float(rule.statistic.removeprefix("either_"))
    return max(step[rule.ig]["z"], step["masking"]["mask_z"] - own + rule.level)


def values(rule: Rule, run: dict) -> list[float]:
    """The statistic at every logged step."""
    out = []
    for step in run["steps"]:
        figures = step[rule.ig]
        if rule.statistic in EITHER:
            out.append(either(rule, step))
        else:
            out.append(figures["where_present"] - figures["chance"] if rule.statistic == "excess"
                       else figures[rule.statistic])
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
    scored = [(rule, {c: judge(rule, rs) for c, rs in corpora.items()}) for rule in rules() if candidate(rule, runs)]

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


def section(runs: list[dict]) -> str:
    """DETECTION.md's section on the alert statistic and the length check, from alert_study.py's runs."""
    selection, held_out = split_half(runs)
    ranked = choose(selection)
    best = ranked[0][0]
    rep = {c: judge(best, rs) for c, rs in by_corpus(held_out).items()}
    lengths = length_choice(selection)
    length_lines = ["| length rule | half | learned length runs flagged | other runs flagged | margin |",
                    "|---|---|---:|---:|---:|"]
    for statistic, level, r in lengths[:4]:
        length_lines += [length_row(statistic, level, "selection", r),
                         length_row(statistic, level, "**report**", length_judge(statistic, level, held_out))]
    seeds = sorted({r["seed"] for r in runs})
    return "\n".join([
        "## The alert statistic, rule by rule (fresh seeds): SpuriousGroups' default since 0.4", "",
        f"`python benchmarks/alert_study.py --seeds {' '.join(map(str, seeds))}` ({len(runs)} runs: the tiny BERT on "
        "every real and every synthetic scenario, and MiniLM on the name and its control, 2 seeds; records in "
        "benchmarks/alert_runs.jsonl, numbers only), then `python benchmarks/detection.py --evaluate-only`. At every "
        "logged step each run records the flip rate (the ground truth) and every statistic of the watched group a "
        "rule could read, from integrated gradients at 32 points (the engine's default) and at 8 (the demo's): the "
        "share where present, the share less the chance share, z against shuffled membership "
        "(`gradcallback.analysis.groups.membership_z`) and the outrank rate (`analysis.groups.outrank`: how often a "
        f"word of the group outranks another word of its probe). {sum(candidate(r, runs) for r in rules())} rules "
        "(alert_rules.LEVELS: a level "
        "read from logged step 1 on, or a rise over step 0; patience 1 or 2; either pass) and the order of choice "
        "(alert_rules.choose: caught within one logged step >= 95% and false alarms <= 5% on both corpora, then the "
        "margin target, then the smaller of the two corpora's margins relative to the statistic's spread, then the "
        "cheaper pass, then patience 1) were committed before these seeds ran (git log). Seeds no earlier run used; "
        "split as every run is (detection_metrics.split_half): the lower seed of each pair selects.", "",
        f"Chosen on the selection half ({len(selection)} runs): **{best.label}**, now `SpuriousGroups`' default "
        "(a group whose z these probes cannot lift over 4 is judged by a rise of 0.2 instead, with a warning: "
        "`analysis.groups.z_ceiling`).", "",
        report(runs), "",
        "### Targets (report half, the chosen rule)", "",
        "| target | real sentences | synthetic sentences | met |", "|---|---|---|---|",
        *[f"| {name} | {fmt(rep['real'])} | {fmt(rep['synthetic'])} | {ok} |" for name, fmt, ok in (
            ("caught within one logged step >= 95%", lambda r: f"{round(r['within_1'] * r['learned'])}/{r['learned']}",
             "yes" if all(r["within_1"] >= 0.95 for r in rep.values()) else "**no**"),
            ("false alarms <= 5%", lambda r: f"{round(r['false'] * r['unused'])}/{r['unused']}",
             "yes" if all(r["false"] <= 0.05 for r in rep.values()) else "**no**"),
            ("margin >= 2 z (the share rules' 0.1)", lambda r: f"{r['margin']:+.2f} z",
             "yes" if all(r["margin"] >= 2 for r in rep.values()) else "**no**"))], "",
        "Reading it: every rule above catches every learned run of the report half and alarms on none; what "
        "separates them is the margin, and no rule earns it on real text. The reason is in the learned runs: "
        "several keep flipping their counterfactuals (the model still uses the cue) while the cue's attribution "
        "falls back over the last epochs (a report run on the articles: z 20.4 at step 1, 2.5 at the last, flip "
        "rate 0.67), so a statistic "
        "of the attributions ends near its limit however it is scaled. The outrank rate, scale-free by "
        "construction, did no better (its best: margin -0.28 on the real report half). The chosen rule replaces a "
        "default that missed one of the 17 learned report runs (16/17, below the 95% target) and catches all 17 "
        "with no more false alarms; z is model-free (the null comes from the step's own attributions), and a "
        "pretrained encoder's step-0 attention to names (MiniLM's z 11) cannot alert, the rule starting at step 1. "
        "Its limit: z needs enough probes holding the group (a permutation null has only so many arrangements; 3 "
        "short probes cannot pass 4), so `SpuriousGroups.check` computes the ceiling before training and "
        "falls back to the share's rise for such a group, saying so.", "",
        "### The length check on the same runs", "",
        "The delete-vs-mask gap (the monitor's statistic, `length_gap=0.1`) against two signed alternatives "
        "recorded beside it: the largest mean change of a class's probability when a set of tokens is deleted "
        "rather than masked (`direction`), and its z (`direction_z`). Chosen the same way "
        "(alert_rules.length_choice); the best four on the selection half:", "",
        *length_lines, "",
        "No length rule meets both targets (>= 90% flagged, <= 5% others); the signed alternatives alarm more "
        "than the gap. `length_gap=0.1` stays the default, with these figures: the length check is a hint, and "
        "DETECTION.md says so.", ""])
