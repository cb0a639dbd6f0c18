"""The monitors' integrated-gradients setting (issue 25): which of the cheaper settings recorded at every
logged step (detection.IG_SETTINGS, under "integrated_gradients@NAME") keeps the monitors' alerts.

A setting *keeps* a rule when, on every corpus and model of the runs, the rule read on the setting catches as many
learned runs within one logged step and alarms on as many unused runs as the same rule read on the
reference pass (the engine's default integrated gradients, which the monitors read today). The cheapest
setting (fewest gradient rows per logged step) that keeps every rule is the choice; chosen on the
selection half, reported on the report half.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from detection_metrics import Config, alert_step, available, rates

REFERENCE = "integrated_gradients"
# The rules the setting must keep: the SpuriousGroups default (where present, rise > 0.2 over step 0) and
# the null rule of issue 23 (z > 8 vs shuffled membership).
RULES = (Config(REFERENCE, "where_present", "rise", 0.2), Config(REFERENCE, "z", "null", 8.0))


def setting_methods(runs: list[dict]) -> list[str]:
    """The "integrated_gradients@NAME" keys every logged step of every run recorded (old runs: none)."""
    keys = [{k for k in step if k.startswith(REFERENCE + "@")} for run in runs for step in run["steps"]]
    return sorted(set.intersection(*keys)) if keys else []


def on(config: Config, method: str) -> Config:
    """The same rule read on another pass."""
    return dataclasses.replace(config, method=method)


def by_corpus(runs: list[dict]) -> dict[str, list[dict]]:
    """The runs per "corpus model" (a setting must keep the alerts on each corpus and each model)."""
    out: dict[str, list[dict]] = {}
    for run in runs:
        out.setdefault(f"{run.get('corpus', 'synthetic')} {run['model']}", []).append(run)
    return dict(sorted(out.items()))


def outcome(config: Config, runs: list[dict]) -> tuple:
    """Per corpus and model that recorded the rule's statistic (sorted): ("corpus model", caught within one logged step,
    learned, false alarms, unused), as counts."""
    out = []
    for corpus, part in by_corpus(runs).items():
        if not available(config, part):
            continue
        r = rates(config, part)
        out.append((corpus, round(r["within_1"] * r["learned"]), r["learned"], round(r["false"] * r["unused"]),
                    r["unused"]))
    return tuple(out)


def moved(config: Config, method: str, runs: list[dict]) -> int:
    """Runs whose first alert comes at another logged step (or not at all) on `method` than on the reference
    (runs that recorded the rule's statistic on both passes)."""
    both = [run for run in runs if available(config, [run]) and available(on(config, method), [run])]
    return sum(alert_step(config, run) != alert_step(on(config, method), run) for run in both)


def per_step(runs: list[dict], method: str, key: str) -> float | None:
    """The mean of a cost (`rows`: gradient rows; `seconds`) per logged step (None: not recorded)."""
    values = [step[method][key] for run in runs for step in run["steps"] if key in step.get(method, {})]
    return float(np.mean(values)) if values else None


def keeps(method: str, runs: list[dict], rules: tuple[Config, ...] = RULES) -> bool:
    """Whether, on each corpus, every rule it can read on both passes gives the reference's counts on `method`."""
    checked = [(r, part) for part in by_corpus(runs).values() for r in rules
               if available(r, part) and available(on(r, method), part)]
    return bool(checked) and all(outcome(on(r, method), part) == outcome(r, part) for r, part in checked)


def cheapest(runs: list[dict], rules: tuple[Config, ...] = RULES) -> tuple[str | None, list[dict]]:
    """The cheapest setting that keeps every rule (None: none does), and each setting's row:
    method, rows and seconds per logged step, and whether it keeps the rules, cheapest first."""
    table = [{"method": m, "rows": per_step(runs, m, "rows"), "seconds": per_step(runs, m, "seconds"),
              "keeps": keeps(m, runs, rules)} for m in setting_methods(runs)]
    table.sort(key=lambda t: float("inf") if t["rows"] is None else t["rows"])
    best = next((t["method"] for t in table if t["keeps"] and t["rows"] is not None), None)
    return best, table


def options_of(method: str, settings: dict[str, dict]) -> dict:
    """The `monitor_options` a setting stands for: {"integrated_gradients": {...}}."""
    return {REFERENCE: settings[method.split("@", 1)[1]]}


def largest_gap(runs: list[dict], method: str, statistic: str) -> float | None:
    """The largest |statistic on `method` - on the reference| over every logged step (None: not recorded)."""
    gaps = [abs(step[method][statistic] - step[REFERENCE][statistic]) for run in runs for step in run["steps"]
            if statistic in step.get(method, {}) and statistic in step[REFERENCE]]
    return max(gaps) if gaps else None
