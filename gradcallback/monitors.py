"""Monitors: checks the callback runs at every logged step, built from the step's `Attribution`s.

A monitor has `start(context)` (once per run, after the probe set and model are known)
and `log(step, results)`; it writes through the run's `EventWriter`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from .attribution import Attribution, normalize_l1_share
from .discovery import candidates_table, delete_vs_mask, shortcut_candidates
from .faithfulness import faithfulness, plausibility
from .metrics import rank_stability
from .spurious import (SpuriousAttributionError, group_shares, offenders_table, share_where_present,
                       shares_by_class)
from .tables import escape_markdown, word_groups
from .vocabulary import VocabularyCheck, coverage


@dataclass
class RunContext:
    """What a monitor may use: the run's explainer (adapter, tokenizer), probes and writer."""

    explainer: Any
    probes: Any
    events: Any
    encodings: Any = None  # the probe encodings the run explains
    records: Any = None  # the run's JsonlWriter, for monitor rows ({"kind": ...}) tools read back


def _tag_safe(text: str) -> str:
    return re.sub(r"[^\w.-]", "_", text)


def replacement_id(context: RunContext, replace: str) -> int:
    """The [MASK] or [PAD] id perturbation monitors put in place of a token (classification only)."""
    if context.probes.task != "classification":
        raise ValueError(f"Perturbation checks need a classification probe set. Received: task={context.probes.task!r}")
    token_id = context.explainer.tokenizer.special_id(replace)
    if token_id is None:
        raise ValueError(f"The tokenizer has no [{replace.upper()}] token. Received: replace={replace!r}")
    return token_id


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
        adapter = self.context.explainer.adapter
        adapter.sync()
        return adapter.word_embeddings(np.array([list(self.custom.values())]))[0] if self.custom else np.zeros((0, 0))

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


class SpuriousMonitor:
    """Share of attribution on declared groups each step; acts when a share stays above its threshold.

    Shares come from the callback's first method (named in every description). `action`:
    "warn" (a warning and a `spurious/alerts` text entry), "stop" (asks the callback to stop
    training at the end of the epoch, recording why) or "raise" (`SpuriousAttributionError`).
    `patience`: consecutive logged steps above the threshold before acting.
    """

    def __init__(self, groups: dict, thresholds: dict, action: str, patience: int):
        self.groups, self.thresholds, self.action, self.patience = groups, thresholds, action, patience
        self.stop_reason: str | None = None

    def start(self, context: RunContext, step: int) -> None:
        self.context = context
        self.strikes = {name: 0 for name in self.thresholds}

    def log(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        method, attributions = next(iter(results.items()))
        events, about = self.context.events, f"method: {method}"
        current = {}
        for name, spec in self.groups.items():
            shares = group_shares(attributions, spec)
            current[name] = float(shares.mean())
            events.scalar(f"spurious/{name}/share", current[name], step, f"{about}; mean share of attribution mass")
            for label, value in shares_by_class(attributions, shares).items():
                events.scalar(f"spurious/{name}/share/class_{label}", value, step, f"{about}; predicted class {label}")
            events.text(f"spurious/{name}/offenders", offenders_table(attributions, spec), step, about)
            for other, atts in results.items():  # every method computed at this step, for comparison
                present = share_where_present(atts, spec)
                if present is not None:
                    events.scalar(f"spurious/{name}/where_present/{other}", present, step,
                                  f"method: {other}; mean share over the probes that contain the group")
        for name, threshold in self.thresholds.items():
            self.strikes[name] = self.strikes[name] + 1 if current[name] > threshold else 0
            if self.strikes[name] == self.patience:
                self._act(name, current, step, method)

    def _act(self, name: str, current: dict, step: int, method: str) -> None:
        message = (f"Spurious attribution: group {name!r} holds {current[name]:.1%} of the attribution mass "
                   f"({method}) at step {step}, above its threshold {self.thresholds[name]:.1%} for "
                   f"{self.patience} logged step(s).")
        self.context.events.text("spurious/alerts", escape_markdown(message), step, "Spurious-attribution alerts")
        if self.action == "raise":
            self.context.events.flush()
            raise SpuriousAttributionError(message, current, self.thresholds, step)
        if self.action == "stop":
            self.stop_reason = message
        warnings.warn(message, stacklevel=2)


class DriftMonitor:
    """Per probe: rank correlation with the first logged step; probes whose top-k changed completely
    since the previous step while the prediction stayed the same."""

    def __init__(self, top_k: int):
        self.top_k = top_k

    def start(self, context: RunContext, step: int) -> None:
        self.context, self.first, self.previous = context, {}, {}

    def log(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        for method, attributions in results.items():
            first = self.first.setdefault(method, attributions)
            previous = self.previous.get(method)
            self.context.events.scalar(f"{method}/rank_stability_vs_first", rank_stability(attributions, first),
                                       step, f"method: {method}; mean Spearman correlation with the first logged step")
            if previous is not None:
                self._flag(method, attributions, previous, step)
            self.previous[method] = attributions

    def _flag(self, method: str, current: Sequence[Attribution], previous: Sequence[Attribution], step: int) -> None:
        rows = ["| probe | top tokens before | top tokens now |", "|---:|---|---|"]
        for i, (a, b) in enumerate(zip(current, previous)):
            now, before = {t for _, t, _ in a.top_k(self.top_k)}, {t for _, t, _ in b.top_k(self.top_k)}
            if now and before and not now & before and a.prediction.label == b.prediction.label:
                rows.append(f"| {i} | {escape_markdown(', '.join(sorted(before)))} | "
                            f"{escape_markdown(', '.join(sorted(now)))} |")
        if len(rows) > 2:
            self.context.events.text(f"{method}/drift", "\n".join(rows), step,
                                     f"method: {method}; top-{self.top_k} changed completely, prediction unchanged")


class FaithfulnessMonitor:
    """ERASER comprehensiveness, sufficiency and AOPC per method each step, next to a random ranking."""

    def __init__(self, replace: str, top_k: int):
        self.replace, self.top_k = replace, top_k

    def start(self, context: RunContext, step: int) -> None:
        self.context, self.replacement = context, replacement_id(context, self.replace)

    def log(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        ctx = self.context
        first = next(iter(results.values()))
        rankings = dict(results, random=first)  # the random baseline ranks the same probes at random
        for method, attributions in rankings.items():
            seed = step if method == "random" else None
            figures = faithfulness(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement, seed=seed)
            for name, value in figures.items():
                ctx.events.scalar(f"faithfulness/{method}/{name}", value, step,
                                  f"ranking: {method}; tokens replaced by [{self.replace.upper()}]; "
                                  "target: the explained class")
            if ctx.probes.rationales is not None and method != "random":
                for name, value in plausibility(attributions, ctx.probes.rationales, self.top_k).items():
                    ctx.events.scalar(f"plausibility/{method}/{name}", value, step,
                                      f"method: {method}; agreement of the top-{self.top_k} words with the rationales")


class DiscoveryMonitor:
    """Shortcut candidates found without a lexicon, and the delete-vs-mask length/position check,
    from the first method's attributions."""

    GAP_NOTE = 0.1  # a mean |probability change| gap that deserves a note

    def __init__(self, replace: str, max_candidates: int = 10, min_drop: float = 0.2, min_fraction: float = 0.5):
        self.replace, self.options = replace, dict(max_candidates=max_candidates, min_drop=min_drop,
                                                   min_fraction=min_fraction)

    def start(self, context: RunContext, step: int) -> None:
        self.context, self.replacement = context, replacement_id(context, self.replace)

    def log(self, step: int, results: dict[str, Sequence[Attribution]]) -> None:
        ctx = self.context
        method, attributions = next(iter(results.items()))
        found = shortcut_candidates(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement,
                                    **self.options)
        about = f"method: {method}; tokens masked with [{self.replace.upper()}]"
        ctx.events.scalar("discovery/candidates", len(found), step, about)
        ctx.events.text("discovery/candidates_table", candidates_table(found), step, about)
        if ctx.records is not None:
            ctx.records.write({"step": step, "kind": "shortcut_candidates", "method": method,
                               "candidates": [asdict(c) for c in found]})
        gap = delete_vs_mask(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement)
        for name, value in gap.items():
            ctx.events.scalar(f"discovery/length/{name}", value, step,
                              "mean |change| of the explained class's probability when one token is deleted vs masked")
        if gap["gap"] > self.GAP_NOTE:
            ctx.events.text("discovery/length_note", escape_markdown(
                f"Deleting a token moves the prediction {gap['delete']:.3f} on average, masking it in place "
                f"{gap['mask']:.3f}: the model may react to length or position, which token attributions "
                "cannot show."), step, about)
