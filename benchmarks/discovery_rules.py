"""Candidate rules for lexicon-free discovery, as pure functions of discovery_study.py's unit tables.

A rule picks a pool of units (the `pool` words with the most attribution mass, and the pairs of them in
2+ probes), keeps those whose masking flips the prediction or drops the explained probability by >=
MIN_DROP on >= MIN_FRACTION of the probes holding them (a pair: only when it drops PHRASE_GAIN more than
either word), and ranks them by `key`:
- "mean_drop": the mean drop over the probes holding the unit (the library's rule until now);
- "strong": the number of probes where masking it flips or drops >= MIN_DROP (how many probes lean on it);
- "total_drop": the summed drop over those probes;
- "z": the summed drop against masking a random other word of the same probes instead (each probe's
  other words give that probe's mean and variance): (sum d_i - sum mu_i) / sqrt(sum var_i). Model-free,
  and it grows with the number of probes that lean on the unit, not with one strong sentiment word.
`keep`: "fraction" (the MIN_FRACTION rule above), "z" (z >= Z_MIN instead), "z+strong" (both z >= Z_MIN and a
drop >= MIN_DROP or a flip in one of its probes), or "any" (a drop >= MIN_DROP or a
flip somewhere). `min_probes`: a unit in fewer probes is not a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from detection_metrics import split_half, truth
from sentiment_lexicon import LEXICON

MIN_DROP, MIN_FRACTION, PHRASE_GAIN, TOP, Z_MIN = 0.2, 0.5, 0.1, 3, 3.0


@dataclass(frozen=True)
class Rule:
    pool: int  # candidates: the `pool` words with the most mass (0: every word)
    key: str  # "mean_drop" | "strong" | "total_drop" | "z"
    min_probes: int = 1
    keep: str = "fraction"  # "fraction" | "z" | "z+strong" | "any"
    null: str = "probe"  # "probe" | "pooled" | "sampled": see _null

    @property
    def label(self) -> str:
        pool = "every word" if not self.pool else f"top {self.pool} words by mass"
        null = "" if "z" not in (self.key + self.keep) else f", {self.null} null"
        return f"{pool}, kept by {self.keep}, ranked by {self.key}, in >= {self.min_probes} probes{null}"


LIBRARY = Rule(10, "mean_drop", 1, "fraction")
RULES = [Rule(pool, key, n, keep, null) for pool in (10, 20, 0) for key in ("mean_drop", "strong", "z")
         for n in (1, 2, 3) for keep in ("fraction", "z", "z+strong") for null in ("probe", "pooled", "sampled")
         if null == "probe" or "z" in key + keep]
NULL_WORDS, SAMPLED_WORDS = 2, 4  # random words per probe of the cheap nulls: what a logged step can afford


def _null(units: dict, kind: str, pairs: bool = False) -> dict[int, tuple[float, float]]:
    """probe -> (mean, variance) of the drop when one of its words (or, with `pairs`, one of its adjacent
    pairs of words: a pair is judged against masking another pair) is masked: that probe's own
    words ("probe"); NULL_WORDS drawn per probe and pooled over all probes ("pooled": one mean, one
    variance); or SAMPLED_WORDS drawn per probe, each probe's own mean and the residuals' pooled variance
    ("sampled": a probe near the decision boundary moves more whichever word is masked)."""
    drops: dict[int, list[float]] = {}
    for unit in sorted(units):
        if (" " in unit) == pairs:
            for h in units[unit]:
                drops.setdefault(h[0], []).append(h[2])
    if kind == "probe":
        return {i: (float(np.mean(d)), float(np.var(d))) for i, d in drops.items()}
    rng = np.random.default_rng(0)
    k = NULL_WORDS if kind == "pooled" else SAMPLED_WORDS
    drawn = {i: rng.choice(drops[i], min(k, len(drops[i])), replace=False) for i in sorted(drops)}
    if not drawn:
        return {}
    if kind == "pooled":
        values = np.concatenate(list(drawn.values()))
        return {i: (float(values.mean()), float(values.var())) for i in drops}
    several = [d - d.mean() for d in drawn.values() if len(d) > 1]
    residuals = np.concatenate(several) if several else np.zeros(1)
    var = float(np.sum(residuals ** 2) / max(len(residuals) - len(several), 1))
    return {i: (float(d.mean()), var) for i, d in drawn.items()}


def _stats(hits: list, null: dict) -> dict:
    drops = np.array([h[2] for h in hits])
    strong = sum(1 for h in hits if h[3] or h[2] >= MIN_DROP)
    mu, var = sum(null[h[0]][0] for h in hits), sum(null[h[0]][1] for h in hits)
    return {"n": len(hits), "mean_drop": float(drops.mean()), "total_drop": float(drops.sum()),
            "strong": strong, "fraction": strong / len(hits),
            "z": float((drops.sum() - mu) / np.sqrt(var)) if var > 1e-12 else 0.0}


def _kept(s: dict, rule: Rule) -> bool:
    if s["n"] < rule.min_probes:
        return False
    if rule.keep == "fraction":
        return s["fraction"] >= MIN_FRACTION
    if rule.keep == "z":
        return s["z"] >= Z_MIN
    return s["z"] >= Z_MIN and s["strong"] > 0 if rule.keep == "z+strong" else s["strong"] > 0


def ranked(units: dict, probes: int, rule: Rule) -> list[str]:
    """The rule's candidates at one logged step, best first."""
    mass = {u: sum(h[1] for h in hits) / probes for u, hits in units.items()}
    singles = sorted((u for u in units if " " not in u), key=lambda u: (-mass[u], u))
    top = set(singles[:rule.pool] if rule.pool else singles)
    pool = [u for u in units if u in top or (" " in u and set(u.split(" ")) <= top and len(units[u]) > 1)]
    nulls = {False: _null(units, rule.null), True: _null(units, rule.null, pairs=True)}
    stats = {u: _stats(units[u], nulls[" " in u]) for u in pool}
    keep = [u for u in pool if _kept(stats[u], rule) and
            (" " not in u or stats[u]["mean_drop"] >= max(stats.get(w, {"mean_drop": 0.0})["mean_drop"]
                                                          for w in u.split(" ")) + PHRASE_GAIN)]
    return sorted(keep, key=lambda u: (-stats[u][rule.key], -stats[u]["mean_drop"], u))


def names_cue(candidate: str, group: list[str]) -> bool:
    """Whether a candidate shares a word with a watched entry ("quiet" names the phrase "quiet river")."""
    watched = {w for entry in group for w in entry.lower().split(" ")}
    return bool(watched & set(candidate.split(" ")))


def figures(runs: list[dict], rule: Rule) -> dict:
    """(a) learned runs naming the cue in the top 3 at the last step, (a') at some step from learning on,
    (b) sentiment words among the learned runs' top-3 entries, (c) unused control_both runs naming their
    word in the top 3 at some step >= 1: each (hits, of)."""
    a = a_once = b = b_of = c = c_of = learned = 0
    for run in runs:
        state, at = truth(run)
        tops = [ranked(s["units"], len(run["labels"]), rule)[:TOP] for s in run["steps"][1:]]
        if state == "learned":
            learned += 1
            a += any(names_cue(t, run["group"]) for t in tops[-1])
            a_once += any(names_cue(t, run["group"]) for top in tops[at - 1:] for t in top)
            b += sum(bool(LEXICON & set(t.split(" "))) for t in tops[-1])
            b_of += len(tops[-1])
        elif state == "unused" and run["scenario"] == "control_both":
            c_of += 1
            c += any(names_cue(t, run["group"]) for top in tops for t in top)
    return {"a": (a, learned), "a_once": (a_once, learned), "b": (b, b_of), "c": (c, c_of)}


def affordable(rule: Rule) -> bool:
    """Whether the library can run the rule at every logged step: a pool of the top 10 or 20 words (each
    masked in the probes holding it: a few forward rows per probe), and the pooled null's NULL_WORDS words
    and NULL_WORDS pairs per probe (4 rows) or no null; not every word of every probe (~50 rows per probe on
    a snippet, words and pairs), as a pool or as the "probe" null, nor SAMPLED_WORDS of each (8 rows)."""
    return rule.pool != 0 and (rule.null == "pooled" or "z" not in rule.key + rule.keep)


def score(f: dict, rule: Rule) -> tuple:
    """Selection order, fixed before any run was read: affordable rules first, then controls at <= 10%, then
    the most learned runs named, then the fewest sentiment words; on a tie, a drop >= MIN_DROP asked for too
    (z+strong: a candidate must move the prediction somewhere, not only a little everywhere), then the
    smallest pool (the cheapest)."""
    c, c_of = f["c"]
    return (affordable(rule), c <= 0.1 * c_of, f["a"][0] / max(f["a"][1], 1), -f["b"][0] / max(f["b"][1], 1),
            rule.keep == "z+strong", -(rule.pool or 10_000))


def choose(runs: list[dict]) -> tuple[Rule, list[tuple[Rule, dict, dict]]]:
    """The rule chosen on the selection half, and every rule's figures on both halves (selection order)."""
    selection, report_half = split_half(runs)
    rows = [(rule, figures(selection, rule), figures(report_half, rule)) for rule in RULES]
    rows.sort(key=lambda row: score(row[1], row[0]), reverse=True)
    return rows[0][0], rows


def _pct(pair: tuple[int, int]) -> str:
    hits, of = pair
    return f"{hits}/{of} ({100 * hits / of:.0f}%)" if of else "0/0"


def summarize(runs: list[dict], shown: int = 8) -> dict:
    """What DETECTION.md shows, as JSON (the runs' raw tables hold the snippets' words: they stay out of the
    repository): the first `shown` rules in selection order, the best rule of each null, the rule until now;
    the chosen rule's and the old rule's top 3 per report run."""
    chosen, rows = choose(runs)
    best = {(r.null if "z" in r.key + r.keep else "none"): r for r, _, _ in reversed(rows)}
    keep = list(dict.fromkeys([r for r, _, _ in rows[:shown]] + list(best.values()) + [LIBRARY]))
    _, report_half = split_half(runs)
    per_run = [{"scenario": run["scenario"], "seed": run["seed"], "truth": truth(run)[0],
                "top": [ranked(run["steps"][-1]["units"], len(run["labels"]), rule)[:TOP]
                        for rule in (chosen, LIBRARY)]} for run in report_half]
    return {"runs": len(runs), "seeds": sorted({r["seed"] for r in runs}), "chosen": chosen.label,
            "rules": [{"label": r.label, "until_now": r == LIBRARY, "affordable": affordable(r),
                       "selection": sel, "report": rep} for r, sel, rep in rows if r in keep],
            "report_runs": per_run}


def _reading(summary: dict) -> str:
    """The chosen rule against the rule until now, in words."""
    chosen = next(r for r in summary["rules"] if r["label"] == summary["chosen"])
    old = next(r for r in summary["rules"] if r["until_now"])
    parts = [f"{half} half: the cue in the top 3 {_pct(chosen[half]['a'])} (until now {_pct(old[half]['a'])}), "
             f"sentiment words {_pct(chosen[half]['b'])} of the top-3 entries (until now {_pct(old[half]['b'])}), "
             f"a control's name {_pct(chosen[half]['c'])}" for half in ("report", "selection")]
    return ("How to read it: " + "; ".join(parts) + ". The controls are few (2 unused control_both runs a "
            "half): their 0% is thin. The library (gradcallback.analysis.discovery) runs the chosen rule with its "
            "own random words (seed 0) for the null; the study draws them from the recorded table, so a run's "
            "list can differ in a word between the two.")


def section(summary: dict) -> str:
    """DETECTION.md's "Discovery, rule by rule" section from `summarize`'s record."""
    lines = ["| rule | affordable | selection: (a) cue in top 3 | (a') at some step | (b) sentiment words | "
             "(c) control's word | report: (a) cue in top 3 | (a') at some step | (b) sentiment words | "
             "(c) control's word |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rule in summary["rules"]:
        bold = "**" if rule["label"] == summary["chosen"] else ""
        cells = [_pct(rule[half][k]) for half in ("selection", "report") for k in ("a", "a_once", "b", "c")]
        lines.append(f"| {bold}{rule['label']}{' (until now)' if rule['until_now'] else ''}{bold} | "
                     f"{'yes' if rule['affordable'] else 'no'} | " + " | ".join(cells) + " |")
    per_run = ["| scenario | seed | truth | top 3 (last logged step), chosen rule | the rule until now |",
               "|---|---:|---|---|---|"]
    per_run += [f"| {r['scenario']} | {r['seed']} | {r['truth']} | {' ; '.join(r['top'][0]) or '-'} | "
                f"{' ; '.join(r['top'][1]) or '-'} |" for r in summary["report_runs"]]
    return "\n".join([
        "## Discovery, rule by rule (real sentences, fresh seeds)", "",
        f"`python benchmarks/discovery_study.py --seeds {' '.join(map(str, summary['seeds']))}`: {summary['runs']} "
        "runs, the tiny BERT on MiniLM's vocabulary, every real scenario, 5 epochs; after each epoch every content "
        "word and every adjacent pair of every probe is masked (integrated gradients at 8 points give the mass), "
        "so each rule is a pure function of the records (benchmarks/discovery_rules.py; the records hold the "
        "snippets' words and stay out of the repository: benchmarks/discovery_summary.json holds what is shown "
        "here). Selection half: the lower two seeds of each scenario; report half: the other two. The order of "
        "choice is fixed in `discovery_rules.score`: rules the library can afford at every logged step first (no "
        "null, or the pooled null: 4 forward rows a probe), then controls named <= 10%, the cue named most, "
        "sentiment words fewest. An earlier version of these runs (pairs only where they occurred in 2+ probes) "
        "was read on both halves while the rules were written; the runs were made again after that, with every "
        "pair. (a) learned runs whose top 3 at the last logged step holds a word of the planted cue; (a') at "
        "some step from learning on; (b) words of those top-3 lists that are sentiment words (benchmarks/"
        "sentiment_lexicon.py); (c) unused control_both runs whose name is in the top 3 at some step >= 1. "
        "Shown: the first rules in the order of choice, the best of each null, and the rule until now.", "",
        f"Chosen on the selection half: **{summary['chosen']}**.", "", *lines, "", _reading(summary), "",
        "The chosen rule's top 3 on the report half, beside the rule until now:", "", *per_run, ""])
