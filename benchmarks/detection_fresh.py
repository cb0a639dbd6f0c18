"""DETECTION.md's section on the fresh seeds (issues 23 and 25): runs on seeds no earlier run used, the
monitors' cheapest integrated-gradients setting (chosen on their selection half, reported on their report
half), the rules of issue 23 and discovery on them."""

from __future__ import annotations

from detection_metrics import Config, alert_step, discovery_found, discovery_found_once, score, split_half, truth
from detection_report import discovery_rows, margin_text, pct, top_rows, yes
from detection_settings import (
    REFERENCE,
    RULES,
    cheapest,
    keeps,
    largest_gap,
    moved,
    on,
    options_of,
    outcome,
    per_step,
)

COMMANDS = """```
python benchmarks/detection.py --corpus real --seeds 4 --first-seed 8 --minilm-seeds 0 \\
    --runs benchmarks/detection_real_fresh_runs.jsonl
python benchmarks/detection.py --corpus synthetic --seeds 2 --first-seed 8 --minilm-seeds 0 \\
    --runs benchmarks/detection_fresh_runs.jsonl
python benchmarks/detection.py --corpus real --seeds 0 --first-seed 8 --minilm-seeds 2 --append \\
    --runs benchmarks/detection_real_fresh_runs.jsonl   # MiniLM, name and control_both, seeds 8 and 9
python benchmarks/detection.py --evaluate-only      # every table of this file from the runs files
```"""


COSTS = ("The reference is the pass the monitors read today: integrated gradients with the engine's defaults "
         "(32 Gauss-Legendre points; the monitors read `method_options`, empty by default). Issue 25 calls it "
         "adaptive to 1% with up to 33 points: that setting is recorded too (`steps='auto'`, tolerance 0.01, "
         "max_steps 33). Gradient rows: path points with a gradient, summed over the 32 probes (the fixed "
         "Gauss-Legendre settings add two forward passes per probe, for f(x) and f(b); the adaptive rule's "
         "endpoints are among its points, and it never stops below 17). Seconds: the pass's wall clock on the "
         "shared 2 cores (load 4-7), to read beside the rows, not as a target. Largest gaps: the largest "
         "|where-present share - the reference's| and |z - the reference's| over every logged step of every run.")


READING = """Reading the committed fresh runs (64 runs, 2026-12-02):
- The monitors' setting: 8 Gauss-Legendre points keep every count on the selection half and on the report half
  (on the report half no run's first alert moves), at a quarter of the reference's gradient rows. 4 points
  lose the selection half: under z > 8 they drop MiniLM's step-0 alarm (counts must match, both ways: the
  setting reads another statistic), with MiniLM's shares off by up to 0.30 and z by up to 5.7.
  8 points move MiniLM's where-present share by up to 0.05 and z by up to 0.5, against a rise of 0.2 and
  a z level of 8: a margin to read with the monitors' own
  (16 points: 0.03 and 0.24). MiniLM holds 4 of the 64 runs (2 seeds): its figures are thin.
- `z > 8` on the fresh report half: 16/16 caught within one logged step, 0/7 false alarms, margin +2.1 z
  (target 2 z met). On the fresh selection half it alarmed once in 7 unused runs: MiniLM's control_both at
  step 0, where the pretrained model already gives the names z > 8 before any training. An absolute z
  alerts on what a pretrained model attends to from the start; it needs a step-0 guard (or the rise, whose
  random-head baseline failed before) before it can be the default.
- With a step-0 guard (z > 8 read from logged step 1 on), MiniLM's step-0 alarm goes: 0/7 false alarms on
  both fresh halves, every learned run caught within one step, margins +0.68 z (selection) and +2.11 z
  (report). On the synthetic sentences z tops out at 9-11 (a short sentence bounds how far the group's
  share can stand above a random one): on the synthetic selection half it caught 4/5 within one step and
  a learned run ended below 8 (margin -0.17 z). The guarded z is not a default for short texts, and the
  share's rise stays the default.
- Discovery's top 3 at the last logged step, with the rule of these runs: 9/16 of the fresh report half's
  learned runs (14/16 at some step from learning on). Its rule since then ("Discovery, rule by rule"
  below, seeds 12-15): 14/14 on that study's report half."""


def extra_cost(runs: list[dict]) -> str:
    """What recording the cheaper settings added to the runs, per model."""
    out = []
    for model in sorted({run["model"] for run in runs}):
        mine = [run for run in runs if run["model"] == model]
        extra = sum(v["seconds"] for run in mine for step in run["steps"] for k, v in step.items()
                    if k.startswith(REFERENCE + "@"))
        total = sum(run.get("seconds", 0) for run in mine)
        out.append(f"{model}: {extra:.0f} s of {total:.0f} s ({pct(extra / total) if total else '-'})")
    return "Recording the cheaper settings cost, over these runs: " + "; ".join(out) + "."


def counts_text(config: Config, runs: list[dict]) -> str:
    """"real 10/10 caught, 0/5 alarms; synthetic ..." (caught within one logged step, false alarms)."""
    return "; ".join(f"{corpus} {c}/{n} caught, {f}/{u} alarms" for corpus, c, n, f, u in outcome(config, runs))


def gap_text(gap: float | None) -> str:
    return "-" if gap is None else f"{gap:.3f}"


def setting_rows(table: list[dict], selection: list[dict], report: list[dict], settings: dict) -> list[str]:
    reference_rows = per_step(selection + report, REFERENCE, "rows")
    models = sorted({run["model"] for run in selection + report})
    head = " | ".join(f"{half}: {r.label.split(', ', 2)[2]}" for half in ("selection", "report") for r in RULES)
    rows = [f"| setting | gradient rows per logged step | vs the reference | seconds per logged step | {head} | "
            f"keeps (selection) | keeps (report) | report runs whose alert step moved | largest share gap "
            f"({' / '.join(models)}) | largest z gap ({' / '.join(models)}) |",
            "|---|---:|---:|---:|" + "---|" * (2 * len(RULES)) + "---|---|---:|---:|---:|"]
    for t in [{"method": REFERENCE}] + table:
        m = t["method"]
        name = "reference (engine default: 32 Gauss-Legendre points)" if m == REFERENCE else \
            f"`{options_of(m, settings)[REFERENCE]}`"
        cells = [counts_text(on(r, m), half) for half in (selection, report) for r in RULES]
        rows_m, seconds = per_step(selection + report, m, "rows"), per_step(selection + report, m, "seconds")
        ratio = f"{rows_m / reference_rows:.2f}x" if rows_m and reference_rows else "-"
        kept = ["-"] * 2 if m == REFERENCE else [yes(keeps(m, half)) for half in (selection, report)]
        gaps = [" / ".join(gap_text(largest_gap([r for r in selection + report if r["model"] == model], m, s))
                           for model in models) for s in ("where_present", "z")]
        rows.append(f"| {name} | {rows_m or 0:.0f} | {ratio} | {seconds or 0:.2f} | {' | '.join(cells)} | "
                    f"{' | '.join(kept)} | {sum(moved(r, m, report) for r in RULES)} | "
                    + " | ".join(gaps) + " |")
    return rows


def run_rows(runs: list[dict], best: str | None) -> list[str]:
    """Every run: its ground truth and the first alert of each rule on the reference pass and the chosen setting."""
    heads = " | ".join(f"{r.label.split(', ', 2)[2]}: reference / chosen" for r in RULES)
    rows = [f"| model | scenario | seed | truth (learned at) | {heads} | last z (reference) |",
            "|---|---|---:|---|" + "---|" * len(RULES) + "---:|"]
    for run in runs:
        kind, at = truth(run)
        cells = []
        for rule in RULES:
            steps = [alert_step(on(rule, m), run) if (rule.statistic in run["steps"][0].get(m, {})) else "n/a"
                     for m in (REFERENCE, best or REFERENCE)]
            cells.append(" / ".join("none" if s is None else str(s) for s in steps))
        z = run["steps"][-1][REFERENCE].get("z")
        rows.append(f"| {run['model']} | {run['scenario']} | {run['seed']} | {kind}{'' if at is None else f' ({at})'}"
                    f" | {' | '.join(cells)} | {'-' if z is None else f'{z:.1f}'} |")
    return rows


def rule_lines(runs: list[dict], half: str, method: str = REFERENCE) -> list[str]:
    out = []
    for rule in RULES:
        if rule.statistic not in runs[0]["steps"][0].get(method, {}) if runs else True:
            continue
        r = score(on(rule, method), runs)
        out.append(f"- {half}, {on(rule, method).label}: caught within one logged step {pct(r['within_1'])} of "
                   f"{r['learned']} learned runs (caught at all {pct(r['detected'])}); false alarms "
                   f"{pct(r['false'])} of {r['unused']} unused runs; margin {margin_text(rule, r)} (target "
                   f"{'2 z' if rule.rule.startswith('null') else '0.1'}: "
                   f"{'met' if r['margin'] >= (2.0 if rule.rule.startswith('null') else 0.1) else 'not met'})")
    return out


def guarded_z(runs: list[dict], key: str, level: float = 8.0) -> str:
    """`z > level` read from logged step 1 on (step 0 cannot alert: nothing has been learned yet): caught
    within one logged step / learned, false alarms / unused, and the margin in z (the learned runs' last z
    minus the level, the unused runs' level minus every z from step 1)."""
    caught = learned = false = unused = 0
    gaps = []
    for run in runs:
        state, at = truth(run)
        zs = [step[key]["z"] for step in run["steps"] if key in step]
        if len(zs) != len(run["steps"]):
            continue
        alert = next((k for k in range(1, len(zs)) if zs[k] > level), None)
        if state == "learned":
            learned, caught = learned + 1, caught + (alert is not None and alert - at <= 1)
            gaps.append(zs[-1] - level)
        elif state == "unused":
            unused, false = unused + 1, false + (alert is not None)
            gaps += [level - z for z in zs[1:]]
    return (f"caught within one logged step {caught}/{learned}, false alarms {false}/{unused}, margin "
            f"{min(gaps):+.2f} z" if gaps else "no runs")


def guarded_lines(real: list[dict], synthetic: list[dict], best: str | None) -> list[str]:
    """The z rule with a step-0 guard on both fresh halves (and the synthetic runs, on the chosen setting)."""
    halves = dict(zip(("selection", "report"), split_half(real)))
    lines = [f"- fresh {half} half, z > 8 from logged step 1 on: {guarded_z(runs, REFERENCE)}"
             for half, runs in halves.items()]
    if best:
        lines += [f"- fresh {half} half, synthetic sentences, {best}, z > 8 from step 1 on: {guarded_z(runs, best)}"
                  for half, runs in zip(("selection", "report"), split_half(synthetic))]
    return lines


def fresh_section(real: list[dict], synthetic: list[dict], settings: dict) -> list[str]:
    """The section, or nothing when no fresh run is recorded."""
    runs = real + synthetic
    if not runs:
        return []
    selection, report = split_half(runs)
    best, table = cheapest(selection)
    seeds = sorted({run["seed"] for run in runs})
    lines = ["## Fresh seeds: the monitors' integrated-gradients setting, the null rule, discovery", "",
             f"**Every figure in this section is on fresh seeds** ({', '.join(map(str, seeds))}): seeds no run "
             f"above used, {len(real)} runs on real sentences (all {len({r['scenario'] for r in real})}"
             f" scenarios) and {len(synthetic)} on synthetic ones. They split as every run does "
             "(detection_metrics.split_half: within a corpus and scenario the lower seed selects, the higher "
             f"reports): {len(selection)} selection runs, {len(report)} report runs. Made with:", "", COMMANDS, "",
             "At every logged step each run also records integrated gradients at cheaper settings (shares, z, "
             "gradient rows, seconds). A setting *keeps* the monitors' alerts when, on each corpus and model, both "
             "rules read on it catch as many learned runs within one logged step and alarm on as many unused runs as "
             "on the reference pass; the cheapest setting that keeps them on the selection half is chosen "
             "(detection_settings.cheapest). Counts are (caught within one logged step)/(learned) and "
             "(false alarms)/(unused); the synthetic runs hold no z on the reference pass, so there only the share "
             "rule is compared.", "", COSTS, "", *setting_rows(table, selection, report, settings), "",
             extra_cost(runs), ""]
    if best:
        lines += [f"Chosen on the selection half: **{best.split('@')[1]}**, `monitor_options="
                  f"{options_of(best, settings)}`; on the report half it keeps the alerts: "
                  f"**{'yes' if keeps(best, report) else 'no'}**.", ""]
    else:
        lines += ["No cheaper setting keeps the alerts on the selection half.", ""]
    fresh_sel, fresh_rep = split_half(real)
    lines += ["### The rules of issue 23 on fresh real sentences", "",
              "`z > 8` was picked after reading the earlier report half; no fresh seed was seen by any choice, so "
              "both fresh halves are honest for it (the report half is the one the setting choice also left alone).",
              "", *rule_lines(fresh_rep, "fresh report half"), *rule_lines(fresh_sel, "fresh selection half"),
              *(rule_lines(fresh_rep, "fresh report half, the chosen setting", best) if best else []),
              *rule_lines(split_half(synthetic)[1], "fresh report half, synthetic sentences"), "",
              "The z rule with a step-0 guard (computed from the same records after the fresh runs were read: not a "
              "held-out figure for the guard itself):", "", *guarded_lines(real, synthetic, best), "",
              "Every fresh run (ground truth; the logged step of each rule's first alert, on the reference pass and on "
              "the chosen setting):", "", *run_rows(runs, best), "",
              "### Discovery on fresh real sentences", "",
              f"Planted word in integrated gradients' top 3 at the last logged step: report half "
              f"{'/'.join(map(str, discovery_found(fresh_rep, REFERENCE)))}, selection half "
              f"{'/'.join(map(str, discovery_found(fresh_sel, REFERENCE)))}, at some step from learning on (report) "
              f"{'/'.join(map(str, discovery_found_once(fresh_rep, REFERENCE)))} (target >= 90% of learned runs).",
              "", "Report half:", "", *discovery_rows(fresh_rep, rule=True), "", *top_rows(fresh_rep), "",
              "Selection half:", "", *discovery_rows(fresh_sel, rule=True), "", *top_rows(fresh_sel), "", READING, ""]
    return lines
