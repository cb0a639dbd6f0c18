"""Perturbation checks that need no lexicon: shortcut candidates, and length/position effects.

Both score all perturbed probes of a step in one batched forward-only engine call.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from .adapters.tokenizers import Encoding
from .attribution import Attribution, normalize_l1_share
from .tables import escape_markdown


@dataclass(frozen=True)
class Candidate:
    """A token whose removal changes the prediction on enough of the probes that contain it."""

    token: str
    probes: tuple[int, ...]
    flip_rate: float  # share of those probes whose predicted class flips when it is masked
    mean_drop: float  # mean drop of the explained class's probability
    mean_share: float  # mean share of attribution mass it holds in those probes


def shortcut_candidates(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], *,
                        replacement: int, max_candidates: int = 10, min_drop: float = 0.2,
                        min_fraction: float = 0.5) -> list[Candidate]:
    """Tokens with the most attribution mass across probes (up to `max_candidates`) whose masking
    flips the prediction or drops the target probability by >= `min_drop` on >= `min_fraction`
    of the probes containing them."""
    share, where = defaultdict(float), defaultdict(list)
    for i, a in enumerate(attributions):
        shares = normalize_l1_share(a.scores)
        for token_id in set(a.token_ids[~a.special_mask].tolist()):
            share[token_id] += float(shares[a.token_ids == token_id].sum()) / len(attributions)
            where[token_id].append(i)
    ranked = sorted(share, key=lambda t: -share[t])[:max_candidates]
    jobs = [(t, i) for t in ranked for i in where[t]]
    if not jobs:
        return []
    masked = [replace(encodings[i], ids=np.where(encodings[i].ids == t, replacement, encodings[i].ids))
              for t, i in jobs]
    after = explainer.class_distributions(masked)  # [jobs, C]
    rows = defaultdict(list)  # token id -> (probe, drop, flipped, share)
    for (t, i), dist in zip(jobs, after):
        a = attributions[i]
        drop = float(a.prediction.probabilities[a.target] - dist[a.target])
        flipped = int(np.argmax(dist)) != a.prediction.label
        rows[t].append((i, drop, flipped, float(normalize_l1_share(a.scores)[a.token_ids == t].sum())))
    out = []
    for t, hits in rows.items():
        strong = [h for h in hits if h[2] or h[1] >= min_drop]
        if len(strong) / len(hits) >= min_fraction:
            out.append(Candidate(explainer.tokenizer.convert_ids_to_tokens([t])[0], tuple(h[0] for h in hits),
                                 float(np.mean([h[2] for h in hits])), float(np.mean([h[1] for h in hits])),
                                 float(np.mean([h[3] for h in hits]))))
    return sorted(out, key=lambda c: (-c.mean_drop, c.token))


def candidates_table(candidates: Sequence[Candidate]) -> str:
    rows = ["| token | probes containing it | flip rate | mean drop | mean share |", "|---|---|---:|---:|---:|"]
    rows += [f"| {escape_markdown(c.token)} | {', '.join(map(str, c.probes))} | {c.flip_rate:.2f} | "
             f"{c.mean_drop:.3f} | {c.mean_share:.3f} |" for c in candidates]
    return "\n".join(rows)


def delete_vs_mask(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], *,
                   replacement: int, max_positions: int = 8) -> dict[str, float]:
    """Mean |change| of the explained class's probability when one content token is deleted
    (the sequence gets shorter) vs masked in place, over up to `max_positions` content tokens per
    probe, evenly spaced (2 forward passes each: the cost is bounded whatever the length).

    A large gap means the model reacts to length or position, which no token attribution shows.
    """
    masked, deleted, base = [], [], []
    for a, enc in zip(attributions, encodings):
        content = np.flatnonzero(~a.special_mask)
        if len(content) > max_positions:
            content = content[np.unique(np.linspace(0, len(content) - 1, max_positions).round().astype(int))]
        for pos in content:
            masked.append(replace(enc, ids=np.where(np.arange(len(enc.ids)) == pos, replacement, enc.ids)))
            keep = np.arange(len(enc.ids)) != pos
            deleted.append(Encoding(enc.ids[keep], enc.segment_ids[keep], enc.special_mask[keep], enc.context_mask[keep]))
            base.append((float(a.prediction.probabilities[a.target]), a.target))
    if not base:
        return {"delete": 0.0, "mask": 0.0, "gap": 0.0}
    targets = [t for _, t in base]
    p0 = np.array([p for p, _ in base])
    delete = float(np.mean(np.abs(p0 - explainer.class_probabilities(deleted, targets))))
    mask = float(np.mean(np.abs(p0 - explainer.class_probabilities(masked, targets))))
    return {"delete": delete, "mask": mask, "gap": delete - mask}
