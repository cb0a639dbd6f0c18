"""DETECTION.md from the detection runs: the chosen default, the configuration table, per-scenario
figures, discovery and the length check (the numbers come from detection_metrics.py)."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from detection_metrics import GAPS, METHODS, Config, choose, discovery_found, length_flags, rates, truth


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def lag_text(r: dict) -> str:
    return "-" if r["max_lag"] is None else f"{r['median_lag']:+.1f} / {r['max_lag']:+d}"


def config_rows(scored: list[tuple[Config, dict]], limit: int = 40) -> list[str]:
    rows = ["| configuration | caught (lag <= 1) | caught at all | lag median / max | false alarms | margin |",
            "|---|---:|---:|---:|---:|---:|"]
    for c, r in scored[:limit]:
        rows.append(f"| {c.label} | {pct(r['within_1'])} | {pct(r['detected'])} | {lag_text(r)} | {pct(r['false'])} | "
                    f"{r['margin']:+.2f} |")
    return rows


def best_per_method(scored: list[tuple[Config, dict]]) -> list[tuple[Config, dict]]:
    """Each method's best configuration with discovery and without (the order of `scored`)."""
    seen, out = set(), []
    for c, r in scored:
        if (c.method, c.discovery) not in seen:
            seen.add((c.method, c.discovery))
            out.append((c, r))
    return out


def scenario_rows(default: Config, runs: list[dict]) -> list[str]:
    rows = ["| model | scenario | runs | learned / unused / ambiguous | caught (lag <= 1) | lag median / max | "
            "false alarms | discovery top 3 | seconds per run |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    groups = defaultdict(list)
    for run in runs:
        groups[(run["model"], run["scenario"])].append(run)
    for (model, scenario), group in groups.items():
        kinds = [truth(run, "length" if scenario == "length" else "token")[0] for run in group]
        r = rates(default, group)
        found, learned = discovery_found(group, default.method)
        counts = "/".join(str(kinds.count(k)) for k in ("learned", "unused", "ambiguous"))
        caught = pct(r["within_1"]) if r["learned"] else "-"
        false = f"{pct(r['false'])} of {r['unused']}" if r["unused"] else "-"
        rows.append(f"| {model} | {scenario} | {len(group)} | {counts} | {caught} | {lag_text(r)} | {false} | "
                    f"{f'{found}/{learned}' if learned else '-'} | {np.mean([x.get('seconds', 0) for x in group]):.0f} |")
    return rows


def discovery_rows(runs: list[dict]) -> list[str]:
    rows = ["| method | learned runs with the planted word in discovery's top 3 (last logged step) |", "|---|---:|"]
    for method in METHODS:
        found, learned = discovery_found(runs, method)
        rows.append(f"| {method} | {found}/{learned} ({pct(found / max(learned, 1))}) |")
    return rows


def length_rows(runs: list[dict]) -> list[str]:
    rows = ["| gap above | learned length runs flagged | other runs flagged |", "|---:|---:|---:|"]
    for gap in GAPS:
        hit, learned, other_hit, others = length_flags(runs, gap)
        rows.append(f"| {gap:g} | {hit}/{learned} ({pct(hit / max(learned, 1))}) | "
                    f"{other_hit}/{others} ({pct(other_hit / max(others, 1))}) |")
    return rows


def demo_rows(demo: dict) -> list[str]:
    rows = ["| run | names' share where present, step 0 | at the last step | alerts at steps | seconds |",
            "|---|---:|---:|---|---:|"]
    for kind, figures in demo.items():
        series = figures["where_present"]
        rows.append(f"| {kind} | {series[0][1]:.2f} | {series[-1][1]:.2f} | {figures['alerts'] or 'none'} | "
                    f"{figures['seconds']:.0f} |")
    ratio = demo["planted"]["where_present"][-1][1] / max(demo["control"]["where_present"][-1][1], 1e-9)
    return rows + ["", f"At the last step the demo's statistic is {ratio:.1f}x the control's (target >= 2x)."]


RULES = """Rules compared: an absolute threshold on the statistic; a rise over the statistic's value at
step 0 (the run's own baseline); a multiple of the *chance share*, the share the watched tokens would
hold if every content token held the same attribution (a model-free control). Statistics: the share
of the attribution mass over all probes (overall), or over the probes that contain the watched word
(where present). "+ discovery" also alerts when lexicon-free discovery ranks a watched word in its top 3.
The margin is in share units: every learned run ends at least that far above the limit, and no step
of an unused run comes closer than that to it (negative: some run is missed or alarms). The winner:
targets met, then caught-within-one-step less twice the false alarms, then no discovery, then margin."""


NOTES = """## Notes

- A first version of the word-pieces scenario put the three-piece word in place of one word, which
  made class-1 texts two tokens longer. The delete-vs-mask check flagged those runs, rightly: the
  models had learned the length too. The scenario now replaces three words, and the check is quiet.
- The delete-vs-mask check first deleted one token at a time: a length model barely moves when one
  token goes (1 of 2 learned length runs flagged at a gap of 0.1, in a first short run). It now deletes vs masks a quarter
  of the content tokens, drawn from the less attributed half.
- Step 0's flip rate is left out of the ground truth: MiniLM's fresh random classifier head flipped
  61% of the pairs in one seed before any training.
- The default's margin is thin (see above): read an alert with the offenders table beside it, and
  raise `rise` for a group whose share is noisy on your probes.
- Seconds per run include the measurements at every logged step (three methods, discovery and the
  delete-vs-mask check on 32 probes, 128 counterfactual texts), which the callback does not all run."""


def target_rows(default_rates: dict, runs: list[dict], demo: dict | None) -> list[str]:
    from gradcallback.monitors.perturbation import DEFAULT_LENGTH_GAP

    found, learned = discovery_found(runs, default_rates["method"])
    hit, n_length, other_hit, others = length_flags(runs, DEFAULT_LENGTH_GAP)
    rows = ["| target | measured | met |", "|---|---|---|",
            f"| detection >= 95% of learned runs, lag <= 1 logged step | {pct(default_rates['within_1'])} of "
            f"{default_rates['learned']} | {yes(default_rates['within_1'] >= 0.95)} |",
            f"| false alarms <= 5% of the unused runs | {pct(default_rates['false'])} of {default_rates['unused']} | "
            f"{yes(default_rates['false'] <= 0.05)} |",
            f"| discovery ranks the planted word in its top 3 in >= 90% of learned runs | {found}/{learned} | "
            f"{yes(found >= 0.9 * learned)} |",
            f"| delete-vs-mask (gap > {DEFAULT_LENGTH_GAP:g}) flags >= 90% of learned length runs | {hit}/{n_length} | "
            f"{yes(hit >= 0.9 * n_length)} |",
            f"| ... and <= 5% of the other runs | {other_hit}/{others} | {yes(other_hit <= 0.05 * others)} |"]
    if demo:
        ratio = demo["planted"]["where_present"][-1][1] / max(demo["control"]["where_present"][-1][1], 1e-9)
        rows.append(f"| the demo's statistic at the last step >= 2x the control's | {ratio:.1f}x | {yes(ratio >= 2)} |")
    return rows


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


INTRO = ("Each run fine-tunes a fresh model on a scenario with a planted shortcut (or a control), and at every "
         "logged step (step 0, then each epoch) measures whether the model *uses* the cue: the share of held-out "
         "texts of the other class that the cue flips (gradcallback/counterfactual.py). Learned: the first step "
         "after step 0 at which that rate reaches 0.5 (at step 0 a fresh random head can flip anything); unused: "
         "from step 1 on it never reaches 0.2 (any alert is then false); in between: ambiguous, left out. "
         "Lag: logged steps from learning to the first alert (negative: early).")


def default_lines(default: Config, r: dict, runs: list[dict]) -> list[str]:
    lines = [f"Chosen on all runs (tiny BERT and MiniLM): **{default.label}** (patience 1).", "",
             f"- caught within one logged step: {pct(r['within_1'])} of {r['learned']} learned runs (target >= 95%); "
             f"lag median {r['median_lag']:+.1f}, max {r['max_lag']}",
             f"- false alarms: {pct(r['false'])} of {r['unused']} runs where the watched word was unused (target <= 5%)",
             f"- margin: {r['margin']:+.2f} (share of attribution): every learned run ends at least this far above "
             "the limit, and no step of an unused run comes closer to it"]
    for name, model in (("tiny BERT", "tiny"), ("MiniLM", "minilm")):
        subset = [run for run in runs if run["model"] == model]
        if subset:
            m = rates(default, subset)
            lines.append(f"- {name}: caught within one logged step in {pct(m['within_1'])} of {m['learned']} "
                         f"learned runs, false alarms in {pct(m['false'])} of {m['unused']} unused runs")
    return lines


def report(runs: list[dict], demo: dict | None = None) -> str:
    scored = choose(runs)  # both models: a limit that suits only the tiny model's shares would not do
    default, r = scored[0]
    seconds = sum(run.get("seconds", 0) for run in runs) + sum(d["seconds"] for d in (demo or {}).values())
    lines = ["# How well shortcut detection works", "",
             f"`python benchmarks/detection.py` ({len(runs)} runs{' and the demo pair' if demo else ''}, "
             f"{seconds / 60:.0f} minutes on {os.cpu_count()} cores). " + INTRO, "",
             "## The default", "", *default_lines(default, r, runs), "",
             "## Targets (the default configuration)", "", *target_rows({**r, "method": default.method}, runs, demo),
             "", RULES, "", "## Per scenario (the default)", "", *scenario_rows(default, runs), "",
             "## Each method's best configuration (all runs)", "", *config_rows(best_per_method(scored)), "",
             "## Configurations (all runs, best first; margin: see above)", "", *config_rows(scored), "",
             "## Discovery without a lexicon (all runs)", "", *discovery_rows(runs), "",
             "## The delete-vs-mask check on the length-only shortcut (all runs)", "", *length_rows(runs), ""]
    if demo:
        lines += ["## The demo and its control", "",
                  "`gradcallback demo` (MiniLM, 3 epochs, 24 probes) and `gradcallback demo --control` (the same "
                  "sentences with names in both classes alike), the default SpuriousGroups monitor:", "",
                  *demo_rows(demo), ""]
    return "\n".join(lines + [NOTES, ""])
