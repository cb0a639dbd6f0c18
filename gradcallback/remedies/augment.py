"""`counterfactual_augment`: the cheap data-side remedy, to compare an `AttributionPrior` against.

Every text that holds a group word gets a copy with each occurrence replaced, the label unchanged: the
word then predicts nothing, since the same text says the same with and without it (counterfactual data
augmentation, as in Kaushik et al. 2020 and, for identity terms, Dixon et al. 2018 and Garg et al. 2019).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import split_words
from ..adapters.words import fold
from ..analysis.groups import SPECIAL, WordList, check_groups

NEUTRAL = "neutral"


def counterfactual_augment(texts: Sequence[str], labels: Sequence[Any], groups: dict, replacement: Any = NEUTRAL,
                           seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The texts and labels, plus one copy of each text holding a group word with every such word replaced.

    Args:
        texts: the training texts.
        labels: one label per text; a copy keeps its original's.
        groups: `SpuriousGroups`' format (words and phrases or a regex; "special_tokens" has no words to replace).
        replacement: "neutral" (words drawn from the data: frequent words about as common in every class as
            overall, never a group word), a string put in place of each word (e.g. the mask token "[MASK]"),
            or a list of words to draw from.
        seed: the random draw of replacement words.

    Returns:
        (texts, labels): the originals first, then the copies, in the originals' order.
    """
    labels = np.asarray(labels)
    if len(texts) != len(labels):
        raise ValueError(f"Expected one label per text. Received: {len(texts)} texts and {len(labels)} labels")
    patterns = [_pattern(name, spec) for name, spec in check_groups(groups).items()]
    words = _neutral_words(texts, labels, patterns) if replacement == NEUTRAL else \
        [replacement] if isinstance(replacement, str) else list(replacement)
    if not words or not all(isinstance(w, str) for w in words):
        raise ValueError(f"Expected replacement to be 'neutral', a string or a non-empty list of words. "
                         f"Received: replacement={replacement!r}")
    rng = np.random.default_rng(seed)
    copies = [(i, _replaced(t, patterns, words, rng)) for i, t in enumerate(texts)]
    copies = [(i, c) for i, c in copies if c != texts[i]]
    return list(texts) + [c for _, c in copies], np.concatenate([labels, labels[[i for i, _ in copies]]])


def _pattern(name: str, spec: Any) -> Any:
    """One regex over the text for a group: its phrases as whole words (case ignored), or its regex per word."""
    if spec == SPECIAL:
        raise ValueError(f"Expected groups of words or a regex: special tokens are not words in a text to replace. "
                         f"Received: groups[{name!r}]={SPECIAL!r}")
    if isinstance(spec, WordList):
        alternatives = [r"\s+".join(re.escape(w) for w in split_words(e)) for e in spec.entries]
        return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
    return _EachWord(spec)


class _EachWord:
    """A group's regex applied to single words (as `SpuriousGroups` matches it), with `sub` and `search`."""

    def __init__(self, spec: re.Pattern):
        self.spec = spec

    def sub(self, repl: Any, text: str) -> str:
        return re.sub(r"\w+", lambda m: repl(m) if self.spec.search(m.group(0)) else m.group(0), text)

    def search(self, text: str) -> bool:
        return any(self.spec.search(w) for w in re.findall(r"\w+", text))



def _replaced(text: str, patterns: list, words: list[str], rng: np.random.Generator) -> str:
    for pattern in patterns:
        text = pattern.sub(lambda _: str(words[rng.integers(len(words))]), text)
    return text


def _neutral_words(texts: Sequence[str], labels: np.ndarray, patterns: list, count: int = 50) -> list[str]:
    """The `count` commonest words (two letters or more, in at least 1% of texts) whose share in each class
    is within 20% of their share overall: they carry no class."""
    per_class = {c: Counter() for c in np.unique(labels)}
    for text, label in zip(texts, labels):
        per_class[label].update({fold(w) for w in split_words(text) if w.isalpha() and len(w) > 1})
    total = sum(per_class.values(), Counter())
    sizes = {c: float(np.mean(labels == c)) for c in per_class}
    neutral = [w for w, n in total.most_common() if n >= 0.01 * len(texts) and not any(p.search(w) for p in patterns)
               and all(abs(per_class[c][w] / n - sizes[c]) <= 0.2 * sizes[c] for c in per_class)]
    return neutral[:count]
