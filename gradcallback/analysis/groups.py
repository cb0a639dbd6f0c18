"""Declared spurious-token groups: how much attribution goes to tokens that should not matter.

A group is a list of words and phrases (a phrase's words when adjacent; every word with all its
pieces; case and accents ignored), a regular expression matched against single whole words, or the
string "special_tokens". Words are the tokenizer's (`adapters.words.word_spans`, by its scheme).
Shares are computed from `Attribution`s, so every method gets the same monitor.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..adapters.tokenizers import split_words
from ..adapters.words import fold, word_spans, word_text
from ..alerts import Alert
from ..attribution import Attribution, Prediction, normalize_l1_share
from ..views.tables import escape_markdown, word_groups, words

SPECIAL = "special_tokens"


class SpuriousAttributionError(RuntimeError):
    """Raised by `on_alert="raise"`; carries the figures that crossed the threshold and the `Alert`
    (`error.alert`), which the callback still writes before the exception ends training."""

    def __init__(self, message: str, shares: Mapping[str, float], thresholds: Mapping[str, float], step: int,
                 alert: Alert | None = None):
        super().__init__(message)
        self.shares, self.thresholds, self.step, self.alert = dict(shares), dict(thresholds), step, alert


@dataclass(frozen=True)
class WordList:
    """A group given as words and phrases: the entries as given, and each entry's words as matched
    (`split_words`, folded: "Quiet River" -> ("quiet", "river"), "don't" -> ("don", "'", "t"))."""

    entries: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, entries: Any) -> "WordList":
        """The `WordList` of `entries`: duplicates dropped (first kept), each entry split into folded words."""
        given = tuple(dict.fromkeys(str(e) for e in entries))
        return cls(given, tuple(tuple(fold(w) for w in split_words(e)) for e in given))


def check_groups(groups: Any) -> dict[str, Any]:
    """Validate `spurious=`: name -> list of words and phrases, compiled regex, or "special_tokens"."""
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"Expected spurious to be a non-empty dict of name -> words, regex or "
                         f"'{SPECIAL}'. Received: spurious={groups!r}")
    out = {}
    for name, spec in groups.items():
        if spec == SPECIAL or isinstance(spec, re.Pattern):
            out[str(name)] = spec
        elif isinstance(spec, (list, tuple, set, frozenset)) and spec and all(isinstance(w, str) for w in spec) \
                and all(split_words(w) for w in spec):
            out[str(name)] = WordList.of(sorted(spec) if isinstance(spec, (set, frozenset)) else spec)
        else:
            raise ValueError(f"Expected a list of words, a compiled regex or '{SPECIAL}' for group {name!r}. "
                             f"Received: spurious[{name!r}]={spec!r}")
    return out


def group_mask(a: Attribution, spec: Any) -> np.ndarray:
    """Which tokens of `a` belong to the group: all pieces of a matching word count."""
    return token_mask(a.tokens, a.scheme, a.special_mask, spec)


def token_mask(tokens: Sequence[str], scheme: str | None, special: Sequence[bool] | None, spec: Any) -> np.ndarray:
    """`group_mask` on raw tokens (a probe's encoding before anything is explained)."""
    special = np.zeros(len(tokens), bool) if special is None else np.asarray(special, bool)
    if spec == SPECIAL:
        return special.copy()
    if isinstance(spec, (list, tuple, set, frozenset)):  # words given directly, not through check_groups
        spec = WordList.of(sorted(spec) if isinstance(spec, (set, frozenset)) else spec)
    if isinstance(spec, WordList):
        return phrase_mask(tokens, scheme, special, spec.phrases)
    mask = np.zeros(len(tokens), bool)
    for positions in word_spans(tokens, scheme, special):
        if not special[positions[0]]:
            mask[positions] = bool(spec.search(word_text([tokens[i] for i in positions], scheme)))
    return mask


def phrase_mask(tokens: Sequence[str], scheme: str | None, special: np.ndarray,
                phrases: Sequence[tuple[str, ...]]) -> np.ndarray:
    """Tokens of every occurrence of a phrase: its words adjacent, each a whole word (all its pieces).

    Words are compared as `WordList` splits them, so a BPE word "'s" is the phrase's "'" and "s"."""
    spans, units, owners = _word_units(tokens, scheme, special)
    mask = np.zeros(len(tokens), bool)
    for phrase in phrases:
        n = len(phrase)
        for i in (i for i in range(len(units) - n + 1) if units[i] == phrase[0]):
            first, last = owners[i], owners[i + n - 1]
            whole = (i == 0 or owners[i - 1] != first) and (i + n == len(units) or owners[i + n] != last)
            if whole and tuple(units[i:i + n]) == phrase:
                mask[[p for k in range(first, last + 1) for p in spans[k]]] = True
    return mask


def _word_units(tokens: Sequence[str], scheme: str | None, special: np.ndarray) -> tuple[list, list, list]:
    """(word spans, the words' folded pieces of text in order, the word each piece is from); a
    special token is a None piece, so no phrase runs across it."""
    spans = word_spans(tokens, scheme, special)
    units: list[str | None] = []
    owners: list[int] = []
    for k, span in enumerate(spans):
        text = word_text([tokens[i] for i in span], scheme)
        parts = [None] if special[span[0]] else [fold(w) for w in split_words(text)]
        units += parts
        owners += [k] * len(parts)
    return spans, units, owners


def never_matching(tokenizer: Any, encodings: Sequence[Any], spec: Any) -> list[tuple[str, str]]:
    """(entry, why) for each entry of a `WordList` group that matches none of the probes: the
    tokenizer cannot produce it ([UNK], or pieces that do not join back into it), or no probe has it.

    Args:
        tokenizer: the run's tokenizer adapter (`adapters.wrap_tokenizer`), with its `scheme`.
        encodings: the probe encodings the run explains.
        spec: one group as `check_groups` returns it; other kinds have no entries to check.
    """
    if not isinstance(spec, WordList):
        return []
    probes = probe_tokens(tokenizer, encodings)
    out = []
    for entry, phrase in zip(spec.entries, spec.phrases):
        if any(phrase_mask(tokens, tokenizer.scheme, special, [phrase]).any() for tokens, special in probes):
            continue
        alone = tokenizer.encode(entry, None)
        pieces = [t for t, s in zip(tokenizer.convert_ids_to_tokens(alone.ids), alone.special_mask) if not s]
        if phrase_mask(pieces, tokenizer.scheme, np.zeros(len(pieces), bool), [phrase]).any():
            out.append((entry, f"occurs in none of the {len(encodings)} probes"))
        elif tokenizer.unk_token is not None and tokenizer.unk_token in pieces:
            out.append((entry, f"the tokenizer cannot produce it: it becomes {pieces} (unknown)"))
        else:
            out.append((entry, f"the tokenizer cannot produce it: its pieces {pieces} do not join back into it"))
    return out


def probe_tokens(tokenizer: Any, encodings: Sequence[Any]) -> list[tuple[list[str], np.ndarray]]:
    """(tokens, special mask) of each probe encoding: what the checks before training match groups against."""
    return [(list(tokenizer.convert_ids_to_tokens(e.ids)), np.asarray(e.special_mask, bool)) for e in encodings]


def z_ceiling(tokenizer: Any, encodings: Sequence[Any], spec: Any) -> float:
    """The highest `membership_z` these probes allow the group: every probe's attribution on the group's
    tokens alone. Few probes holding the group, or short ones, bound it (a permutation null has only so
    many arrangements): under a z limit above it, the z rule could never fire."""
    ideal = []
    for e, (tokens, special) in zip(encodings, probe_tokens(tokenizer, encodings)):
        mask = token_mask(tokens, tokenizer.scheme, special, spec)
        ideal.append(Attribution(tokens=tokens, token_ids=np.asarray(e.ids), scores=mask.astype(np.float32),
                                 method="ideal", target=0, prediction=Prediction(), special_mask=special,
                                 scheme=tokenizer.scheme))
    return membership_z(ideal, spec)["z"] if ideal else 0.0


def group_shares(attributions: Sequence[Attribution], spec: Any) -> np.ndarray:
    """Per probe: the group's share of the probe's attribution mass."""
    return shares_and_presence(attributions, spec)[0]


def group_masks(attributions: Sequence[Attribution], spec: Any) -> list[np.ndarray]:
    """`group_mask` of every probe: built once a step, read by the share, presence and z figures alike."""
    return [group_mask(a, spec) for a in attributions]


def shares_and_presence(attributions: Sequence[Attribution], spec: Any,
                        masks: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per probe, from one mask each (`masks`, or built here): the group's share of the attribution
    mass, and whether the probe holds any of the group's tokens."""
    masks = group_masks(attributions, spec) if masks is None else masks
    shares = np.array([float(normalize_l1_share(a.scores)[m].sum()) for a, m in zip(attributions, masks)])
    return shares, np.array([m.any() for m in masks], bool)


def where_present(shares: np.ndarray, present: np.ndarray) -> float | None:
    """Mean share over only the probes that contain the group (None when none does): the mean over
    all probes is diluted by probes without any of its tokens."""
    return float(shares[present].mean()) if present.any() else None


def share_where_present(attributions: Sequence[Attribution], spec: Any) -> float | None:
    """`where_present` of `attributions` (see there)."""
    return where_present(*shares_and_presence(attributions, spec))


def outrank(a: Attribution, mask: np.ndarray) -> float | None:
    """How often a word of the group outranks another content word of the probe, by attribution mass
    (a word's pieces summed): the area under the ROC curve of "is it the group's?" over the probe's
    content words, ties counted half (Mann-Whitney U / (n_group x n_other)). 0.5 is chance whatever the
    probe's length or the group's size; 1.0, every group word above every other word. None when the
    probe holds no group word, or nothing else.
    """
    shares, spans = normalize_l1_share(a.scores), word_groups(a)
    content = [span for span in spans if not a.special_mask[span[0]]]
    mass = np.array([shares[span].sum() for span in content])  # [W] per content word
    inside = np.array([bool(mask[span].any()) for span in content], bool)
    group, other = mass[inside], mass[~inside]
    if not group.size or not other.size:
        return None
    above = (group[:, None] > other[None, :]).sum() + 0.5 * (group[:, None] == other[None, :]).sum()
    return float(above / (group.size * other.size))


def outrank_where_present(attributions: Sequence[Attribution], spec: Any) -> float | None:
    """Mean `outrank` over the probes that hold the group (None when none does)."""
    values = [v for a in attributions if (v := outrank(a, group_mask(a, spec))) is not None]
    return float(np.mean(values)) if values else None


def membership_z(attributions: Sequence[Attribution], spec: Any, draws: int = 500, seed: int = 0,
                 masks: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """z-score and permutation p-value of the group's mean share over the probes that contain it,
    against shuffled group membership: in each such probe the group's k tokens are replaced by k of
    its content tokens drawn at random (without replacement), `draws` times, and the statistic is the
    mean over the probes, as observed. Model-free: the null comes from the step's own attributions, so
    z is in the null's units, not in one model's shares (benchmarks/DETECTION.md). {"z": 0, "p": 1}
    when no probe holds the group. `masks`: the probes' group masks, when the caller has them."""
    rng = np.random.default_rng(seed)
    observed, null = [], []
    for a, mask in zip(attributions, group_masks(attributions, spec) if masks is None else masks):
        if not mask.any():
            continue
        shares, content, k = normalize_l1_share(a.scores), np.flatnonzero(~a.special_mask), int(mask.sum())
        observed.append(float(shares[mask].sum()))
        if k >= len(content):  # the group is the whole probe: no other tokens to shuffle in
            null.append(np.full(draws, observed[-1]))
            continue
        picks = np.argsort(rng.random((draws, len(content))), axis=1)[:, :k]  # [draws, k] random positions
        null.append(shares[content][picks].sum(axis=1))
    if not observed:
        return {"z": 0.0, "p": 1.0}
    obs, means = float(np.mean(observed)), np.mean(null, axis=0)  # means: [draws], the null's statistic
    sd = float(means.std())
    z = (obs - float(means.mean())) / sd if sd > 1e-12 else 0.0
    return {"z": float(z), "p": float((1 + np.sum(means >= obs)) / (draws + 1))}


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
