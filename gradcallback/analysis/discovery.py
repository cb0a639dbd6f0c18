"""Perturbation checks that need no lexicon: shortcut candidates (words and phrases), and length/position effects.

Both score all perturbed probes of a step in one batched forward-only engine call.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from ..attribution import Attribution, normalize_l1_share
from ..views.tables import escape_markdown, word_groups, words
from .faithfulness import replaced


@dataclass(frozen=True)
class Candidate:
    """A word or a two-word phrase whose masking moves the prediction, on the probes that contain it, more
    than masking a random other word of those probes does."""

    token: str  # the word (its pieces merged) or "word word", lowercased
    probes: tuple[int, ...]
    flip_rate: float  # share of those probes whose predicted class flips when it is masked
    mean_drop: float  # mean drop of the explained class's probability
    mean_share: float  # mean share of attribution mass it holds in those probes
    z: float = 0.0  # its summed drop against masking random words instead, in standard errors


PHRASE_GAIN = 0.1  # a phrase is reported when masking it drops the probability this much more than its words
# The rule below was chosen on the selection half of benchmarks/discovery_study.py (real snippets) and
# reported on the other half (benchmarks/DETECTION.md, "Discovery, rule by rule").
MIN_Z = 3.0  # a candidate's summed drop must beat the random-word null by this many standard errors
MIN_PROBES = 3  # ... over at least this many probes: a shortcut is a cue the model leans on again and again
NULL_WORDS = 2  # random words, and pairs, masked per probe for the null (four forward rows per probe)


def _units(attributions: Sequence[Attribution], probe_shares: Sequence[np.ndarray]) -> tuple[dict, dict]:
    """Words (all their pieces) and adjacent word pairs, keyed by their lowercased text:
    (unit -> mean share of the attribution mass per probe, unit -> {probe: its token positions there})."""
    mass: dict[str, float] = defaultdict(float)
    where: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for i, (a, shares) in enumerate(zip(attributions, probe_shares)):
        for unit, positions in content_units(a):
            mass[unit] += float(shares[positions].sum()) / len(attributions)
            where[unit][i] = where[unit].get(i, []) + positions  # every occurrence is masked
    return mass, where


def content_units(a: Attribution) -> list[tuple[str, list[int]]]:
    """A probe's content words (lowercased, with their pieces' positions), then its adjacent pairs of them:
    the units discovery masks (benchmarks/discovery_study.py masks the same)."""
    content = [(label.lower(), g) for label, g in zip(words(a)[0], word_groups(a)) if not a.special_mask[g[0]]]
    return content + [(f"{w1} {w2}", g1 + g2) for (w1, g1), (w2, g2) in zip(content, content[1:])]


def _ranked_units(mass: dict, where: dict, max_candidates: int) -> list[str]:
    """The `max_candidates` words with the most mass, and the pairs of them that occur in 2+ probes."""
    singles = sorted((u for u in mass if " " not in u), key=lambda u: (-mass[u], u))[:max_candidates]
    top = set(singles)
    pairs = [u for u in mass if " " in u and set(u.split(" ")) <= top and len(where[u]) > 1]
    return singles + pairs


def _null_jobs(attributions: Sequence[Attribution], probes: set[int]) -> list[tuple[str, int, list[int]]]:
    """NULL_WORDS content words and NULL_WORDS adjacent pairs of them of each probe in `probes`, drawn at
    random (seed 0): the null's masked inputs, keyed " " for a pair (a pair is judged against masking pairs)."""
    rng, jobs = np.random.default_rng(0), []
    for i in sorted(probes):
        units = content_units(attributions[i])
        for kind in ("", " "):
            of_kind = [positions for unit, positions in units if (" " in unit) == (kind == " ")]
            for k in rng.choice(len(of_kind), min(NULL_WORDS, len(of_kind)), replace=False):
                jobs.append((kind, i, of_kind[k]))
    return jobs


def _null(jobs: list, drops: np.ndarray) -> dict[bool, tuple[float, float]]:
    """The null's (mean, standard deviation) of the drop, for single words (False) and for pairs (True)."""
    out = {}
    for pairs in (False, True):
        picked = [d for (kind, _, _), d in zip(jobs, drops) if (kind == " ") == pairs]
        out[pairs] = (float(np.mean(picked)), float(np.std(picked))) if picked else (0.0, 0.0)
    return out


def shortcut_candidates(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], *,
                        replacement: int, max_candidates: int = 10, min_drop: float = 0.2,
                        min_z: float = MIN_Z) -> list[Candidate]:
    """Words with the most attribution mass across probes (up to `max_candidates`), masked with all
    their pieces, and adjacent pairs of them (a phrase is kept when masking it drops the probability
    `PHRASE_GAIN` more than masking either word). Kept: those in >= MIN_PROBES probes whose summed drop
    of the explained class's probability beats a null by >= `min_z` standard errors, and that flip the
    prediction or drop it by >= `min_drop` in one probe at least. The null: masking NULL_WORDS random
    content words (for a pair: adjacent pairs) of each of the same probes instead, z = (sum of drops -
    n mu) / (sigma sqrt(n)), mu and sigma those random words' mean and standard deviation, pooled over
    the probes. Sorted by mean drop, largest first."""
    probe_shares = [normalize_l1_share(a.scores) for a in attributions]
    mass, where = _units(attributions, probe_shares)
    jobs = [(u, i, positions) for u in _ranked_units(mass, where, max_candidates) for i, positions in where[u].items()]
    if not jobs:
        return []
    null_jobs = _null_jobs(attributions, {i for _, i, _ in jobs})
    drops, flips = _drops(explainer, attributions, encodings, jobs + null_jobs, replacement)
    null = _null(null_jobs, drops[len(jobs):])
    rows = defaultdict(list)  # unit -> (probe, drop, flipped, share)
    for (unit, i, positions), drop, flipped in zip(jobs, drops, flips):
        rows[unit].append((i, float(drop), bool(flipped), float(probe_shares[i][positions].sum())))
    found = {u: _candidate(u, hits, *null[" " in u]) for u, hits in rows.items()}
    found = {u: c for u, c in found.items() if " " not in u or
             c.mean_drop >= max(found[w].mean_drop for w in u.split(" ")) + PHRASE_GAIN}
    kept = [c for c in found.values() if len(c.probes) >= MIN_PROBES and c.z >= min_z and
            any(h[2] or h[1] >= min_drop for h in rows[c.token])]
    return sorted(kept, key=lambda c: (-c.mean_drop, c.token))


def _drops(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], jobs: list,
           replacement: int) -> tuple[np.ndarray, np.ndarray]:
    """Per job (unit, probe, positions masked): the drop of the explained probability, and whether the prediction
    flipped. Classification: the explained class; causal LM: the explained continuation (one token for a
    next-token attribution), flipped when greedy decoding gains or loses it."""
    masked = [replaced(encodings[i], positions, replacement) for _, i, positions in jobs]
    owners = [i for _, i, _ in jobs]
    if attributions[0].task == "causal_lm":
        continuations = [a.info.get("target_ids", [a.target[1]]) for a in attributions]
        before, greedy = explainer.continuation_probabilities(encodings, continuations)
        after, greedy_after = explainer.continuation_probabilities(masked, [continuations[i] for i in owners])
        return before[owners] - after, greedy[owners] != greedy_after
    after = explainer.class_distributions(masked)  # [jobs, C]
    explained = [attributions[i].target for i in owners]
    before = np.array([attributions[i].prediction.probabilities[t] for i, t in zip(owners, explained)])
    flipped = np.array([int(np.argmax(d)) != attributions[i].prediction.label for d, i in zip(after, owners)])
    return before - after[np.arange(len(jobs)), explained], flipped


def _candidate(unit: str, hits: list, mu: float, sigma: float) -> Candidate:
    drops = np.array([h[1] for h in hits])  # one per probe holding the unit (all its occurrences masked)
    spread = sigma * np.sqrt(len(hits))
    z = float((drops.sum() - len(hits) * mu) / spread) if spread > 1e-12 else 0.0
    return Candidate(unit, tuple(sorted({h[0] for h in hits})), float(np.mean([h[2] for h in hits])),
                     float(drops.mean()), float(np.mean([h[3] for h in hits])), z)


def candidates_table(candidates: Sequence[Candidate]) -> str:
    """Shortcut candidates as a Markdown table: the probes containing each, flip rate, mean drop, z, mean share."""
    rows = ["| token | probes containing it | flip rate | mean drop | z vs random words | mean share |",
            "|---|---|---:|---:|---:|---:|"]
    rows += [f"| {escape_markdown(c.token)} | {', '.join(map(str, c.probes))} | {c.flip_rate:.2f} | "
             f"{c.mean_drop:.3f} | {c.z:.1f} | {c.mean_share:.3f} |" for c in candidates]
    return "\n".join(rows)


@dataclass(frozen=True)
class DeletionSets:
    """The sets of quiet content tokens `delete_vs_mask` removes, each as its probe's drop mask and the
    probe's encoding with those tokens masked in place and deleted."""

    owner: list[int]  # the probe index of each set
    drops: list[np.ndarray]  # [tokens] bool per set: the positions removed
    masked: list[Encoding]
    deleted: list[Encoding]


def deletion_sets(attributions: Sequence[Attribution], encodings: Sequence[Encoding], *, replacement: int,
                  fraction: float = 0.25, max_sets: int = 8) -> DeletionSets:
    """For each probe, up to `max_sets` sets of a `fraction` of its content tokens (at least one), drawn
    with a fixed seed from its less attributed half; each masked in place and deleted."""
    rng = np.random.default_rng(0)
    sets = DeletionSets([], [], [], [])
    for i, (a, enc) in enumerate(zip(attributions, encodings)):
        content = np.flatnonzero(~a.special_mask)
        k = max(1, int(round(fraction * len(content))))
        quiet = content[np.argsort(np.abs(a.scores[content]), kind="stable")][:max(k, (len(content) + 1) // 2)]
        for _ in range(min(max_sets, len(quiet))):
            drop = np.isin(np.arange(len(enc.ids)), rng.choice(quiet, k, replace=False))
            sets.owner.append(i)
            sets.drops.append(drop)
            sets.masked.append(replaced(enc, drop, replacement))
            sets.deleted.append(Encoding(enc.ids[~drop], enc.segment_ids[~drop], enc.special_mask[~drop],
                                         enc.context_mask[~drop]))
    return sets


def delete_vs_mask(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], *,
                   replacement: int, fraction: float = 0.25, max_sets: int = 8) -> dict[str, float]:
    """Mean |change| of the explained class's probability when a set of content tokens (a `fraction`
    of them, at least one) is deleted (the sequence gets shorter) vs masked in place; up to
    `max_sets` sets per probe, drawn with a fixed seed from the less attributed half of the probe's
    content tokens (2 forward passes each: bounded cost; `deletion_sets`).

    Tokens the model does not use move the prediction neither way when masked; deleted, they still
    shorten the text, which moves a model that reads length. A large gap points at a length or
    position shortcut, which no token attribution shows (one token at a time hardly changes the
    length: sets of them do). Drawing from the less attributed tokens keeps a model that leans on
    a few tokens (a planted word) from showing a gap because its cue was cut.
    """
    sets = deletion_sets(attributions, encodings, replacement=replacement, fraction=fraction, max_sets=max_sets)
    if not sets.owner:
        return {"delete": 0.0, "mask": 0.0, "gap": 0.0}
    targets = [attributions[i].target for i in sets.owner]
    p0 = np.array([float(attributions[i].prediction.probabilities[attributions[i].target]) for i in sets.owner])
    delete = float(np.mean(np.abs(p0 - explainer.class_probabilities(sets.deleted, targets))))
    mask = float(np.mean(np.abs(p0 - explainer.class_probabilities(sets.masked, targets))))
    return {"delete": delete, "mask": mask, "gap": delete - mask}
