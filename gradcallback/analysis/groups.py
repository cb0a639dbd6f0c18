"""Declared spurious-token groups: how much attribution goes to tokens that should not matter.

A group is a list of words (their word pieces count for them), a regular expression
matched against whole words, or the string "special_tokens". Shares are computed from
`Attribution`s, so every method gets the same monitor.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from ..alerts import Alert
from ..attribution import Attribution, normalize_l1_share
from ..views.tables import escape_markdown, word_groups, words

SPECIAL = "special_tokens"


class SpuriousAttributionError(RuntimeError):
    """Raised by `on_alert="raise"`; carries the figures that crossed the threshold and the `Alert`
    (`error.alert`), which the callback still writes before the exception ends training."""

    def __init__(self, message: str, shares: Mapping[str, float], thresholds: Mapping[str, float], step: int,
                 alert: Alert | None = None):
        super().__init__(message)
        self.shares, self.thresholds, self.step, self.alert = dict(shares), dict(thresholds), step, alert


def check_groups(groups: Any) -> dict[str, Any]:
    """Validate `spurious=`: name -> list of words, compiled regex, or "special_tokens"."""
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"Expected spurious to be a non-empty dict of name -> words, regex or "
                         f"'{SPECIAL}'. Received: spurious={groups!r}")
    out = {}
    for name, spec in groups.items():
        if spec == SPECIAL or isinstance(spec, re.Pattern):
            out[str(name)] = spec
        elif isinstance(spec, (list, tuple, set, frozenset)) and spec and all(isinstance(w, str) for w in spec):
            out[str(name)] = frozenset(w.lower() for w in spec)
        else:
            raise ValueError(f"Expected a list of words, a compiled regex or '{SPECIAL}' for group {name!r}. "
                             f"Received: spurious[{name!r}]={spec!r}")
    return out


def group_mask(a: Attribution, spec: Any) -> np.ndarray:
    """Which tokens of `a` belong to the group: all pieces of a matching word count."""
    special = a.special_mask if a.special_mask is not None else np.zeros(len(a.tokens), bool)
    if spec == SPECIAL:
        return special.copy()
    mask = np.zeros(len(a.tokens), bool)
    labels = words(a)[0]
    for label, positions in zip(labels, word_groups(a)):
        if special[positions[0]]:
            continue
        hit = bool(spec.search(label)) if isinstance(spec, re.Pattern) else label.lower() in spec
        mask[positions] = hit
    return mask


def group_shares(attributions: Sequence[Attribution], spec: Any) -> np.ndarray:
    """Per probe: the group's share of the probe's attribution mass."""
    return np.array([float(normalize_l1_share(a.scores)[group_mask(a, spec)].sum()) for a in attributions])


def share_where_present(attributions: Sequence[Attribution], spec: Any) -> float | None:
    """Mean share over only the probes that contain the group (None when none does): the mean over
    all probes is diluted by probes without any of its tokens."""
    present = [a for a in attributions if group_mask(a, spec).any()]
    return float(group_shares(present, spec).mean()) if present else None


def shares_by_class(attributions: Sequence[Attribution], shares: np.ndarray) -> dict[int, float]:
    """Mean share per predicted class (classification), so a shortcut used for one class shows."""
    by_class = defaultdict(list)
    for a, share in zip(attributions, shares):
        if a.prediction.label is not None:
            by_class[a.prediction.label].append(share)
    return {label: float(np.mean(values)) for label, values in sorted(by_class.items())}


def offenders_table(attributions: Sequence[Attribution], spec: Any, limit: int = 15) -> str:
    """The group's tokens with the most attribution mass, and the probes they occur in."""
    mass, probes = defaultdict(float), defaultdict(set)
    for i, a in enumerate(attributions):
        shares, mask = normalize_l1_share(a.scores), group_mask(a, spec)
        for label, positions in zip(words(a)[0], word_groups(a)):
            if mask[positions[0]]:
                mass[label] += float(shares[positions].sum()) / len(attributions)
                probes[label].add(i)
    rows = ["| token | mean share | probes |", "|---|---:|---|"]
    for label in sorted(mass, key=lambda t: (-mass[t], t))[:limit]:
        rows.append(f"| {escape_markdown(label)} | {mass[label]:.3f} | {', '.join(map(str, sorted(probes[label])))} |")
    return "\n".join(rows)
