"""The length check judged offline on alert_study.py's records: chosen on the selection half, reported on the other.

A length rule flags a run when one statistic of alert_study.length_figures exceeds a level at any logged step
from 1 on. The statistics: the delete-vs-mask gap (the monitor's, `delete_vs_mask`), the signed change of a
class's probability when a set of quiet tokens is deleted rather than masked (`direction`) and its z, and,
recorded from seed 24 on, the same tokens deleted against doubled (`stretch`: a model that reads length moves
one class up when the text grows and down when it shrinks; one that does not moves either way, so over a
balanced probe set its mean change stays near 0) and its z over the probes (`stretch_z`). The levels below
and the order of choice were committed before the seeds that judge them ran (git log).
"""

from __future__ import annotations

# Internal modules (benchmarks): fix these imports only.
from detection_metrics import every_step, truth

LENGTH_LEVELS = {"gap": (0.05, 0.08, 0.1, 0.15), "direction": (0.02, 0.05, 0.1, 0.15),
                 "direction_z": (4.0, 8.0, 16.0),
                 # Added before seeds 24-27 ran: deleted against doubled (alert_study.stretch_figures).
                 "stretch": (0.02, 0.05, 0.1, 0.15), "stretch_z": (3.0, 4.0, 6.0, 8.0)}
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
    """Every recorded length rule on `runs`, best first: both targets met, then the margin relative to the level."""
    scored = [(s, level, length_judge(s, level, runs)) for s, levels in LENGTH_LEVELS.items()
              if every_step(runs, lambda step, s=s: s in step["length"]) for level in levels]

    def key(item: tuple[str, float, dict]) -> tuple:
        _, level, r = item
        met = r["flagged"] >= LENGTH_TARGETS[0] * r["learned"] and r["false"] <= LENGTH_TARGETS[1] * r["others"]
        return (not met, -r["margin"] / level)
    return sorted(scored, key=key)


def length_row(statistic: str, level: float, half: str, r: dict) -> str:
    return (f"| {statistic} > {level:g} | {half} | {r['flagged']}/{r['learned']} | {r['false']}/{r['others']} | "
            f"{r['margin']:+.3f} |")
