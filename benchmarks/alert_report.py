"""DETECTION.md's section on the second alert study (seeds 20-23): the rules chosen again on new seeds, the
group's masking effect beside the attribution statistics, and the default rule on both studies' halves."""

from __future__ import annotations

# Internal modules (benchmarks): fix these imports only.
from alert_rules import Rule, by_corpus, choose, judge, report, rules
from detection_metrics import split_half, truth
from length_rules import length_choice, length_judge

DEFAULT = ("z", "level", 4.0, 2)  # SpuriousGroups' default since 0.4 (chosen on seeds 16-19)


def _cells(r: dict, z: bool) -> str:
    return (f"{round(r['within_1'] * r['learned'])}/{r['learned']} caught, {round(r['false'] * r['unused'])}/"
            f"{r['unused']} alarms, margin {r['margin']:+.2f}{' z' if z else ''}")


def default_rows(studies: dict[str, list[dict]]) -> list[str]:
    """The default rule (on either IG pass) on each study's two halves."""
    lines = ["| study | IG pass | half | real sentences | synthetic sentences | margin >= 2 z on both |",
             "|---|---|---|---|---|---|"]
    for study, runs in studies.items():
        for ig, label in (("reference", "32 points (the engine's default)"), ("steps_8", "8 points (the demo's)")):
            rule = Rule(*DEFAULT, ig)
            for half, rs in zip(("selection", "**report**"), split_half(runs)):
                per = {c: judge(rule, x) for c, x in by_corpus(rs).items()}
                met = "yes" if all(r["margin"] >= 2 for r in per.values()) else "**no**"
                lines.append(f"| {study} | {label} | {half} | {_cells(per['real'], True)} | "
                             f"{_cells(per['synthetic'], True)} | {met} |")
    return lines


def length_rows(studies: dict[str, list[dict]]) -> list[str]:
    lines = ["| study | length rule | half | learned length runs flagged | other runs flagged |",
             "|---|---|---|---:|---:|"]
    for study, runs in studies.items():
        for level in (0.1, 0.15):
            for half, rs in zip(("selection", "**report**"), split_half(runs)):
                r = length_judge("gap", level, rs)
                lines.append(f"| {study} | gap > {level:g} | {half} | {r['flagged']}/{r['learned']} | "
                             f"{r['false']}/{r['others']} |")
    return lines


def length_ranges(runs: list[dict]) -> tuple[float, float, float]:
    """(lowest, highest) of the learned length runs' highest gap, and the other runs' highest, steps from 1 on."""
    highs = {kind: [max(s["length"]["gap"] for s in r["steps"][1:]) for r in runs if truth(r, "length")[0] == kind]
             for kind in ("learned", "unused")}
    return min(highs["learned"]), max(highs["learned"]), max(highs["unused"])


def replication_section(first: list[dict], second: list[dict]) -> str:
    """The section, from alert_study.py's two runs files."""
    selection, _ = split_half(second)
    best = choose(selection)[0][0]
    masking = next(rule for rule, _ in choose(selection) if rule.ig == "masking")
    masking_report = {c: judge(masking, x) for c, x in by_corpus(split_half(second)[1]).items()}
    length_best = length_choice(selection)[0]
    studies = {"seeds 16-19": first, "seeds 20-23": second}
    low, high, others = length_ranges(first + second)
    minutes = sum(r["seconds"] for r in second) / 60
    return "\n".join([
        "## The alert statistic again, on seeds 20-23, with the group's masking effect", "",
        "`python benchmarks/alert_study.py --seeds 20 21 22 23 --runs benchmarks/alert_runs_masking.jsonl` (80 runs, "
        f"as the study above; {minutes:.0f} min of runs on 2 quiet cores). Each step also records what the "
        "prediction does when the watched group is masked in place "
        "(`gradcallback.analysis.reliance.masking_effect`: the class distribution's total variation, its z "
        "against masking as many random other tokens of the same probes, "
        "and the share of probes that flip), a behavioural statistic beside the attribution ones, to see whether "
        "it keeps the margin where a learned run's attribution falls back while the model still uses its cue. "
        f"Its {sum(rule.ig == 'masking' for rule in rules())} rules joined the others in alert_rules.LEVELS, and the "
        "order of choice stayed as it was; both were "
        "committed before these seeds ran (git log: 9cba6d2).", "",
        report(second), "",
        f"Chosen again on the selection half: **{best.label}**, the default's statistic and rule (the default "
        "reads whichever integrated-gradients pass the callback computes: 32 points unless `method_options` "
        "say otherwise, 8 in the demo's and the README's configuration). The behavioural statistic did not win: "
        f"its best rule ({masking.label}) ends with a real-sentence margin of {masking_report['real']['margin']:+.2f} "
        "z on the report half: masking too moves the prediction less in some learned runs at their last "
        "steps, as their probabilities change.", "",
        "### The default rule on both studies", "",
        *default_rows(studies), "",
        "Reading it: on the new seeds the default keeps every target, the margin included, on both halves from "
        "the engine's 32-point pass, and on the report half from the demo's 8 points (its selection half's "
        "synthetic margin is under 2 z); on "
        "seeds 16-19 the real report half did not (an articles run's z fell to 2.5 at its last step while its "
        "counterfactuals still flipped). The margin target is met on one of two fresh report halves, so it is "
        "not met reliably: a user should read an alert, and a quiet run, with the offenders table and the "
        "counterfactual flip rate beside the z curve.", "",
        "### The length check on both studies", "",
        *length_rows(studies), "",
        f"The new selection half would choose gap > {length_best[1]:g} (it meets both targets there: "
        f"{length_best[2]['flagged']}/{length_best[2]['learned']} flagged, {length_best[2]['false']}/"
        f"{length_best[2]['others']} others); on seeds 16-19 no level met both on the selection half. Neither level "
        "meets both targets (>= 90% flagged, <= 5% others) on a report half, the learned length runs' highest gaps "
        f"({low:.2f}-{high:.2f}, both studies) overlap the other runs' (up to {others:.2f}), and the default stays "
        "`length_gap=0.1`: the check is a hint, and says so.", ""])
