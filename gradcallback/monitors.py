"""Monitors: checks the callback runs at every logged step, built from the step's `Attribution`s.

A monitor has `start(context)` (once per run, after the probe set and model are known)
and `log(step, results)`; it writes through the run's `EventWriter`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from .attribution import Attribution, normalize_l1_share
from .tables import escape_markdown, word_groups
from .vocabulary import VocabularyCheck, coverage


@dataclass
class RunContext:
    """What a monitor may use: the run's explainer (adapter, tokenizer), probes and writer."""

    explainer: Any
    probes: Any
    events: Any


def _tag_safe(text: str) -> str:
    return re.sub(r"[^\w.-]", "_", text)


def fragmented_share(a: Attribution, min_pieces: int) -> float:
    """Share of this probe's attribution mass on pieces of words cut into >= min_pieces pieces."""
    shares = normalize_l1_share(a.scores)
    return float(sum(shares[g].sum() for g in word_groups(a) if len(g) >= min_pieces))


class VocabularyMonitor:
    """Coverage tables at train begin; fragmented-word share and custom-token health every step."""

    def __init__(self, check: VocabularyCheck):
        self.check = check
        self.warned: set[str] = set()

    def start(self, context: RunContext, step: int) -> None:
        self.context = context
        tok, events = context.explainer.tokenizer, context.events
        probe_texts = [" ".join(x) if isinstance(x, tuple) else x for x in context.probes.inputs]
        samples = {"probes": probe_texts, "training_texts": list(self.check.texts)}
        for name, texts in samples.items():
            if texts:
                report = coverage(tok.tokenizer, texts, terms=self.check.terms, min_pieces=self.check.min_pieces)
                events.text(f"vocabulary/{name}", report.as_markdown(), step, f"Tokenizer coverage of the {name}")
                for kind, share in report.summary()["by_frequency"].items():
                    events.scalar(f"vocabulary/{name}/{kind}_share", share, step,
                                  f"Share of word occurrences in the {name} that are {kind}")
        tokens = self.check.custom_tokens if self.check.custom_tokens is not None else tok.added_tokens()
        self.custom = {t: tok.token_id(t) for t in tokens}
        self.initial = dict(zip(self.custom, self._rows()))
        # "Appears in training" as far as we can see: in the probes or the training-text sample.
        seen = {int(i) for e in context.probes.encodings for i in e.ids}
        seen |= {int(i) for text in self.check.texts for i in tok.encode(text, None).ids}
        self.appears = {t: i in seen for t, i in self.custom.items()}

    def _rows(self) -> np.ndarray:
        """The tracked tokens' embedding rows only (the whole matrix is tens of MB)."""
        matrix = self.context.explainer.adapter.embedding_matrix()
        return tf.gather(matrix, list(self.custom.values())).numpy() if self.custom else np.zeros((0, 0))

    def log(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        events = self.context.events
        for method, attributions in results.items():
            share = np.mean([fragmented_share(a, self.check.min_pieces) for a in attributions])
            events.scalar(f"vocabulary/{method}/fragmented_share", share, step,
                          f"method: {method}; share of attribution mass on pieces of words cut into "
                          f"{self.check.min_pieces}+ pieces")
        if self.custom:
            self._custom_tokens(step, results)

    def _custom_tokens(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        events = self.context.events
        for k, ((token, index), row) in enumerate(zip(self.custom.items(), self._rows())):
            tag = f"vocabulary/custom/{k:02d}_{_tag_safe(token)}"
            moved = float(np.linalg.norm(row - self.initial[token]))
            events.scalar(f"{tag}/embedding_norm", float(np.linalg.norm(row)), step, f"token {token!r}")
            events.scalar(f"{tag}/moved", moved, step, f"L2 distance of {token!r}'s embedding from train begin")
            for method, attributions in results.items():
                share = np.mean([normalize_l1_share(a.scores)[a.token_ids == index].sum() for a in attributions])
                events.scalar(f"{tag}/{method}/attribution_share", share, step, f"method: {method}; token {token!r}")
            if step > 0 and moved == 0.0 and self.appears[token] and token not in self.warned:
                self.warned.add(token)
                message = (f"Added token {token!r} appears in the training texts or probes but its embedding has "
                           f"not moved since train begin: is the embedding layer frozen?")
                warnings.warn(message, stacklevel=2)
                events.text("vocabulary/alerts", escape_markdown(message), step, "Custom-token alerts")
