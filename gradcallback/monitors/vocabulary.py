"""`VocabularyCheck`: tokenizer coverage at train begin; fragmented-word share and added-token health."""

from __future__ import annotations

import re
import warnings
from typing import Any, Sequence

import numpy as np

from ..alerts import Alert
from ..analysis.coverage import coverage, kind_meaning
from ..attribution import Attribution, normalize_l1_share
from ..validate import positive_int
from ..views.tables import word_groups
from .base import DEFAULT_METHOD, Monitor, check_name


def fragmented_share(a: Attribution, min_pieces: int) -> float:
    """Share of this probe's attribution mass on the pieces of words cut into >= min_pieces pieces (the
    report's "attribution on fragmented words"; not the share of such words, which coverage counts)."""
    shares = normalize_l1_share(a.scores)
    return float(sum(shares[g].sum() for g in word_groups(a) if len(g) >= min_pieces))


def _tag_safe(text: str) -> str:
    return re.sub(r"[^\w.-]", "_", text)


def _strings(name: str, values: Any) -> list[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"Expected a list of strings for {name}. Received: {name}={values!r}")
    return list(values)


class VocabularyCheck(Monitor):
    """Seed 001's lesson as a monitor: words the tokenizer cuts into pieces spread attribution thin.

    At train begin it logs the coverage of the probes, of a training-text sample and of `terms`;
    every logged step the share of attribution on pieces of fragmented words, and for tokens added
    with `tokenizer.add_tokens` their embedding norm, distance moved and attribution share, with a
    warning when an added token appears but its embedding never moves (a frozen new token).

    Args:
        terms: domain words (names, product codes) always reported with their pieces.
        texts: a sample of training texts whose coverage is logged at train begin.
        min_pieces: pieces from which a word counts as fragmented.
        custom_tokens: added tokens to track; None takes the tokenizer's added tokens.
        method: the attribution method read.
        name: the first part of its tags.

    Two figures count fragmented words differently: `<name>/probes/fragmented_share` is the share of
    word occurrences the tokenizer fragments (coverage, at train begin; the report's "fragmented
    words"), `<name>/fragmented_share` the share of attribution mass on their pieces, every logged step
    (the report's "attribution on fragmented words").

    Tags: `<name>/{probes,training_texts}` (coverage tables) and `.../<kind>_share` (kinds: whole,
    split, fragmented, unknown; they add up to 1), `<name>/fragmented_share`,
    `<name>/custom/NN_<token>/{embedding_norm,moved,attribution_share}`, `<name>/alerts` (a frozen added
    token); rows of kind "coverage" in records.jsonl (each part's shares and min_pieces).
    """

    def __init__(self, terms: Sequence[str] = (), texts: Sequence[str] = (), min_pieces: int = 3,
                 custom_tokens: Sequence[str] | None = None, method: str = DEFAULT_METHOD, name: str = "vocabulary"):
        positive_int("min_pieces", min_pieces, low=2)
        self.terms, self.texts = _strings("terms", terms), _strings("texts", texts)
        self.custom_tokens = None if custom_tokens is None else _strings("custom_tokens", custom_tokens)
        self.min_pieces, self.method, self.name = min_pieces, method, check_name(name)
        self.warned: set[str] = set()

    def start(self, context: Any, step: int) -> None:
        """Log the coverage of the probes and the training-text sample; note the added tokens' starting embeddings."""
        self.context, self.latest = context, None
        tok, events = context.explainer.tokenizer, context.events
        probe_texts = [" ".join(x) if isinstance(x, tuple) else x for x in context.probes.inputs]
        for name, texts in {"probes": probe_texts, "training_texts": self.texts}.items():
            if texts:
                report = coverage(tok.tokenizer, texts, terms=self.terms, min_pieces=self.min_pieces)
                events.text(f"{self.name}/{name}", report.as_markdown(), step, f"Tokenizer coverage of the {name}")
                summary = report.summary()
                for kind, share in summary["by_frequency"].items():
                    events.scalar(f"{self.name}/{name}/{kind}_share", share, step,
                                  f"Share of word occurrences in the {name} that {kind_meaning(kind, self.min_pieces)}"
                                  " (coverage; not the attribution on them)")
                if context.records is not None:  # what `report` prints, without reading a text back
                    context.records.write({"step": step, "kind": "coverage", "monitor": self.name, "part": name,
                                           "min_pieces": self.min_pieces, "summary": summary})
        tokens = self.custom_tokens if self.custom_tokens is not None else tok.added_tokens()
        self.custom = {t: tok.token_id(t) for t in tokens}
        self.initial = dict(zip(self.custom, self._rows()))
        # "Appears in training" as far as we can see: in the probes or the training-text sample.
        seen = {int(i) for e in context.encodings for i in e.ids}
        seen |= {int(i) for text in self.texts for i in tok.encode(text, None).ids}
        self.appears = {t: i in seen for t, i in self.custom.items()}

    def _rows(self) -> np.ndarray:
        """The tracked tokens' embedding rows only (the whole matrix is tens of MB)."""
        adapter = self.context.explainer.adapter
        adapter.sync()
        return adapter.word_embeddings(np.array([list(self.custom.values())]))[0] if self.custom else np.zeros((0, 0))

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        """Write the attribution share on fragmented words and the added tokens' figures; alert on a frozen one."""
        self.latest = float(np.mean([fragmented_share(a, self.min_pieces) for a in attributions]))
        self.context.events.scalar(f"{self.name}/fragmented_share", self.latest, step,
                                   f"method: {self.method}; attribution on fragmented words: share of attribution "
                                   f"mass on the pieces of words cut into {self.min_pieces}+ pieces (not the share "
                                   f"of such words: {self.name}/probes/fragmented_share)")
        return self._custom_tokens(step, attributions) if self.custom else []

    def _custom_tokens(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        events, alerts = self.context.events, []
        for k, ((token, index), row) in enumerate(zip(self.custom.items(), self._rows())):
            tag = f"{self.name}/custom/{k:02d}_{_tag_safe(token)}"
            moved = float(np.linalg.norm(row - self.initial[token]))
            events.scalar(f"{tag}/embedding_norm", float(np.linalg.norm(row)), step, f"token {token!r}")
            events.scalar(f"{tag}/moved", moved, step, f"L2 distance of {token!r}'s embedding from train begin")
            share = np.mean([normalize_l1_share(a.scores)[a.token_ids == index].sum() for a in attributions])
            events.scalar(f"{tag}/attribution_share", share, step, f"method: {self.method}; token {token!r}")
            if step > 0 and moved == 0.0 and self.appears[token] and token not in self.warned:
                self.warned.add(token)
                message = (f"Added token {token!r} appears in the training texts or probes but its embedding has "
                           f"not moved since train begin: is the embedding layer frozen?")
                warnings.warn(message, stacklevel=2)
                alerts.append(self.alert(step, "embedding moved since train begin", moved, 0.0, message,
                                         subject=token))
        return alerts

    def columns(self) -> list[tuple[str, str]]:
        """The report column: the share of attribution mass on pieces of fragmented words."""
        return [("attribution on fragmented words", f"{self.name}/fragmented_share")]

    def progress(self, step: int) -> str | None:
        """Its progress-line fragment: the latest attribution on fragmented words."""
        return None if self.latest is None else f"attribution on fragmented words {self.latest:.2f}"
