"""DETECTION.md's sections on the second and third alert studies (seeds 20-23, 24-27): the rules chosen again on
new seeds, the group's masking effect beside the attribution statistics, the attribution-or-behaviour rules and
the length check's stretch (seeds 24-27), and the default rule on every study's halves."""

from __future__ import annotations

# Internal modules (benchmarks): fix these imports only.
from alert_rules import EITHER, Rule, alert_step, by_corpus, choose, judge, recorded, report, rules, values
from detection_metrics import split_half, truth
from length_rules import length_choice, length_judge, length_row

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


def _targets(rule: Rule, runs: list[dict]) -> list[str]:
    """The chosen rule's targets table on `runs` (a report half), per corpus."""
    per = {c: judge(rule, x) for c, x in by_corpus(runs).items()}
    unit = " z" if rule.statistic not in ("where_present", "excess", "outrank") else ""
    wanted = 2.0 if unit else 0.1
    rows = [("caught within one logged step >= 95%", lambda r: f"{round(r['within_1'] * r['learned'])}/{r['learned']}",
             all(r["within_1"] >= 0.95 for r in per.values())),
            ("false alarms <= 5%", lambda r: f"{round(r['false'] * r['unused'])}/{r['unused']}",
             all(r["false"] <= 0.05 for r in per.values())),
            (f"margin >= {wanted:g}{unit}", lambda r: f"{r['margin']:+.2f}{unit}",
             all(r["margin"] >= wanted for r in per.values()))]
    return ["| target | real sentences | synthetic sentences | met |", "|---|---|---|---|",
            *[f"| {name} | {fmt(per['real'])} | {fmt(per['synthetic'])} | {'yes' if ok else '**no**'} |"
              for name, fmt, ok in rows]]


def either_rows(rule: Rule, studies: dict[str, list[dict]]) -> list[str]:
    """`rule` (an attribution-or-behaviour rule) on every study that recorded masking, both halves."""
    lines = ["| study | half | real sentences | synthetic sentences |", "|---|---|---|---|"]
    for study, runs in studies.items():
        if not recorded(rule, runs):
            continue
        for half, rs in zip(("selection", "**report**"), split_half(runs)):
            per = {c: judge(rule, x) for c, x in by_corpus(rs).items()}
            lines.append(f"| {study} | {half} | {_cells(per['real'], True)} | {_cells(per['synthetic'], True)} |")
    return lines


def stretch_rows(runs: list[dict], shown: int = 6) -> list[str]:
    """The length rules on seeds 24-27, best first on the selection half, and the monitor's default."""
    selection, held_out = split_half(runs)
    ranked = [(s, level) for s, level, _ in length_choice(selection)][:shown]
    ranked += [("gap", 0.1)] if ("gap", 0.1) not in ranked else []
    lines = ["| length rule | half | learned length runs flagged | other runs flagged | margin |",
             "|---|---|---:|---:|---:|"]
    for statistic, level in ranked:
        lines += [length_row(statistic, level, "selection", length_judge(statistic, level, selection)),
                  length_row(statistic, level, "**report**", length_judge(statistic, level, held_out))]
    return lines


def third_section(studies: dict[str, list[dict]]) -> str:
    """The section on seeds 24-27: the rules chosen a third time, the either rules, the stretch."""
    third = studies["seeds 24-27"]
    selection, held_out = split_half(third)
    ranked = choose(selection)
    best = ranked[0][0]
    best_either = next(rule for rule, _ in ranked if rule.statistic in EITHER)
    minutes = sum(r["seconds"] for r in third) / 60
    return "\n".join([
        "## The alert statistic a third time, on seeds 24-27: attribution or behaviour, and the length stretch", "",
        "`python benchmarks/alert_study.py --seeds 24 25 26 27 --runs benchmarks/alert_runs_stretch.jsonl` (80 runs, "
        f"as the studies above; {minutes:.0f} min of runs on 2 cores). Written before these seeds ran (git log: "
        f"7f6c0eb): {sum(rule.statistic in EITHER for rule in rules())} rules that alert when z vs shuffled membership "
        "passes its level *or* masking the group moves the prediction more than masking random tokens "
        "(masking's z past its own level), for the learned runs whose attribution falls back at their last steps "
        "while the model still uses the cue; and, for the length check, the *stretch*: the same quiet tokens "
        "deleted against doubled (`alert_study.stretch_figures`; a model that reads length moves a class up as "
        "the text grows and down as it shrinks, one that does not moves either way), its size and its z over "
        "the probes. The order of choice is unchanged (alert_rules.choose, length_rules.length_choice).", "",
        report(third), "",
        "### Targets (report half of seeds 24-27, the chosen rule)", "",
        *_targets(best, held_out), "",
        "### The default rule on the three studies", "",
        *default_rows(studies), "",
        *third_reading(studies, best), "",
        f"### The best attribution-or-behaviour rule: {best_either.label}", "",
        "Its figures on every study that recorded the masking effect (seeds 20-23 were read before the rule was "
        "written: their figures are not held out for it):", "",
        *either_rows(best_either, studies), "",
        "Reading it: the attribution part of such a rule alarms where z alone does (seeds 24-27's selection "
        "half: the untrained name above), and on the report half its margins are "
        + " and ".join(f"{judge(best_either, x)['margin']:+.2f} z ({c})" for c, x in by_corpus(held_out).items())
        + "; but the choice is made on the selection half, where it ranks below the rules above. A rule is not "
        "made the default on the figures of its report half.", "",
        "### The length check on seeds 24-27, the stretch beside the gap", "",
        *stretch_rows(third), "",
        "The stretch does not separate the learned length runs from the others: models that never saw a length "
        "cue move as much when their quiet tokens are doubled rather than deleted (a transformer's prediction "
        "depends on the sequence length, cue or not). No length rule meets both targets on the selection half, "
        "and `length_gap=0.1` stays the default: the check is a hint, and DETECTION.md says so.", ""])


def third_reading(studies: dict[str, list[dict]], chosen: Rule) -> list[str]:
    """What the third study says of the default: its false alarm, named, and its margins on three report halves."""
    default = Rule(*DEFAULT, "reference")
    alarms = [f"{r['model']} {r['scenario']} seed {r['seed']} (z {max(values(default, r)[1:]):.1f} while its flip "
              f"rate stayed at or under {max(s['flip_rate'] for s in r['steps']):.2f})"
              for rs in split_half(studies["seeds 24-27"]) for r in rs if r["corpus"] == "real"
              and truth(r)[0] == "unused" and alert_step(default, r) is not None]
    judged = [judge(default, x) for runs in studies.values() for x in by_corpus(split_half(runs)[1]).values()]
    caught = sum(round(r["within_1"] * r["learned"]) for r in judged), sum(r["learned"] for r in judged)
    false = sum(round(r["false"] * r["unused"]) for r in judged), sum(r["unused"] for r in judged)
    report_met = [all(judge(default, x)["margin"] >= 2 for x in by_corpus(split_half(runs)[1]).values())
                  for runs in studies.values()]
    rep = {c: judge(chosen, x) for c, x in by_corpus(split_half(studies["seeds 24-27"])[1]).items()}
    return [
        f"Reading it: the selection half chose **{chosen.label}**, and on the report half its real-sentence margin "
        f"is {rep['real']['margin']:+.2f} z (target 2 z): the behavioural statistic, chosen, does not hold either. "
        f"The default (z > 4, 2 logged steps) alarmed on {len(alarms)} unused real run(s) of these seeds: "
        + ("; ".join(alarms) or "none") + ": a word the model never trained on can hold attribution without being "
        f"used. On the report halves of the three studies the default caught {caught[0]}/{caught[1]} learned runs "
        f"within one logged step, alarmed on {false[0]}/{false[1]} unused ones, and met the margin on "
        f"{sum(report_met)} of {len(report_met)}. The margin target "
        "is not met reliably by any rule; the default stays as it is."]
