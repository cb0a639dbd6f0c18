"""Monitors that perturb the probes and run batched forward passes: `Faithfulness` and `ShortcutDiscovery`."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from typing import Any, Sequence

from ..alerts import Alert
from ..analysis.discovery import MIN_Z, candidates_table, delete_vs_mask, shortcut_candidates
from ..analysis.faithfulness import faithfulness, plausibility
from ..attribution import Attribution
from ..validate import choice, fraction, positive_int
from .base import DEFAULT_METHOD, Monitor, check_name

REPLACEMENTS = ("mask", "pad")
# A delete-vs-mask gap above this flags a length or position shortcut (chosen by benchmarks/DETECTION.md).
DEFAULT_LENGTH_GAP = 0.1


def replacement_id(context: Any, replace: str) -> int:
    """The [MASK] or [PAD] id put in place of a token; ValueError when the tokenizer has none."""
    token_id = context.explainer.tokenizer.special_id(replace)
    if token_id is None:
        raise ValueError(f"The tokenizer has no {replace} token to put in place of removed tokens. "
                         f"Received: replace={replace!r}")
    return token_id


class Faithfulness(Monitor):
    """ERASER comprehensiveness and sufficiency (at 1, 3, 5 tokens and 10%, 20% of the content
    tokens) and AOPC of `method`'s ranking and of a random ranking, tokens replaced in place by
    [MASK] (or [PAD]) in batched forward passes; with probe rationales, plausibility (F1, AUPRC).

    Tags (`<name>` is "faithfulness" unless given):
    `<name>/<method or random>/{comprehensiveness,sufficiency}/{k1,k3,k5,p10,p20}`, `.../aopc`,
    `<name>/plausibility/<method>/{f1,auprc}`.
    """

    tasks = ("classification",)

    def __init__(self, method: str = DEFAULT_METHOD, replace: str = "mask", top_k: int = 10,
                 name: str = "faithfulness"):
        self.method, self.replace, self.name = method, choice("replace", replace, REPLACEMENTS), check_name(name)
        self.top_k = positive_int("top_k", top_k)

    def check(self, context: Any) -> None:
        """ValueError before training when the tokenizer has no [MASK] (or [PAD]) token to replace tokens with."""
        replacement_id(context, self.replace)

    def start(self, context: Any, step: int) -> None:
        """Look up the replacement id and forget an earlier run's figures."""
        self.context, self.replacement, self.latest = context, replacement_id(context, self.replace), {}

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        """Write ERASER figures for `method`'s ranking and a random one, plausibility with rationales; no alerts."""
        ctx = self.context
        for ranking in (self.method, "random"):
            seed = step if ranking == "random" else None  # the random baseline ranks the same probes
            figures = faithfulness(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement, seed=seed)
            for name, value in figures.items():
                ctx.events.scalar(f"{self.name}/{ranking}/{name}", value, step,
                                  f"ranking: {ranking}; tokens replaced by [{self.replace.upper()}]; "
                                  "target: the explained class")
            self.latest[ranking] = figures.get("comprehensiveness/k3")
        if ctx.probes.rationales is not None:
            for name, value in plausibility(attributions, ctx.probes.rationales, self.top_k).items():
                ctx.events.scalar(f"{self.name}/plausibility/{self.method}/{name}", value, step,
                                  f"method: {self.method}; agreement of the top-{self.top_k} words with the rationales")
        return []

    def columns(self) -> list[tuple[str, str]]:
        """The report columns: comprehensiveness at 3 tokens for `method`'s ranking and for the random one."""
        return [(f"{r} comp@3", f"{self.name}/{r}/comprehensiveness/k3") for r in (self.method, "random")]

    def progress(self, step: int) -> str | None:
        """Its progress-line fragment: comprehensiveness at 3 tokens, `method`'s and the random ranking's."""
        if self.latest.get(self.method) is None:
            return None
        return f"comp@3 {self.latest[self.method]:.2f} (random {self.latest['random']:.2f})"


class ShortcutDiscovery(Monitor):
    """Shortcut candidates found without a lexicon: the words holding the most `method` attribution
    (up to `max_candidates`; a word is masked with all its pieces) and adjacent pairs of them, in 3+
    probes, whose masking drops the explained class's probability more than masking random other words
    of the same probes does, by >= `min_z` standard errors (and flips the prediction or drops it by >=
    `min_drop` in one probe at least); see `gradcallback.analysis.discovery`. On real snippets this
    named the planted cue in its top 3 where the old rule (a drop on half the probes) often did not, and
    kept real sentiment words out (benchmarks/DETECTION.md, "Discovery, rule by rule"). And the
    delete-vs-mask check (`length_check`): deleting vs masking a token, a gap hints at a model that
    reacts to length or position, which no token attribution shows.

    Tags (`<name>` is "discovery" unless given): `<name>/candidates`, `<name>/candidates_table`,
    `<name>/length/{delete,mask,gap}`, `<name>/alerts` (the length note, an alert with action "note");
    rows of kind "shortcut_candidates" in records.jsonl.
    """

    tasks = ("classification", "causal_lm")  # causal LM: the explained continuation's probability; the
    # delete-vs-mask check needs class probabilities and is skipped there

    def __init__(self, method: str = DEFAULT_METHOD, max_candidates: int = 10, min_drop: float = 0.2,
                 min_z: float = MIN_Z, replace: str = "mask", length_check: bool = True,
                 length_gap: float = DEFAULT_LENGTH_GAP, name: str = "discovery"):
        self.method, self.replace, self.name = method, choice("replace", replace, REPLACEMENTS), check_name(name)
        self.options = dict(max_candidates=positive_int("max_candidates", max_candidates),
                            min_drop=fraction("min_drop", min_drop),
                            min_z=fraction("min_z", min_z, 0.0, 100.0))
        self.length_check = bool(length_check)
        self.length_gap = fraction("length_gap", length_gap)

    def check(self, context: Any) -> None:
        """ValueError before training when the tokenizer has no [MASK] (or [PAD]) token to replace tokens with."""
        replacement_id(context, self.replace)

    def start(self, context: Any, step: int) -> None:
        """Look up the replacement id and forget an earlier run's candidates and length warning."""
        self.context, self.replacement, self.found = context, replacement_id(context, self.replace), None
        self.length_warned = False

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        """Write the shortcut candidates (count, table, a records row); the delete-vs-mask check's note as an alert."""
        ctx = self.context
        self.found = shortcut_candidates(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement,
                                         **self.options)
        about = f"method: {self.method}; tokens masked with [{self.replace.upper()}]"
        ctx.events.scalar(f"{self.name}/candidates", len(self.found), step, about)
        ctx.events.text(f"{self.name}/candidates_table", candidates_table(self.found), step, about)
        if ctx.records is not None:
            ctx.records.write({"step": step, "kind": "shortcut_candidates", "method": self.method,
                               "candidates": [asdict(c) for c in self.found]})
        return self._length(step, attributions) if self.length_check and attributions[0].task != "causal_lm" else []

    def _length(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        ctx = self.context
        gap = delete_vs_mask(ctx.explainer, attributions, ctx.encodings, replacement=self.replacement)
        for name, value in gap.items():
            ctx.events.scalar(f"{self.name}/length/{name}", value, step,
                              "mean |change| of the explained class's probability when one token is deleted vs masked")
        if gap["gap"] <= self.length_gap:
            return []
        note = (f"Deleting a token moves the prediction {gap['delete']:.3f} on average, masking it in place "
                f"{gap['mask']:.3f} (gap above {self.length_gap:g}) at step {step}: the model may react to "
                "length or position, which token attributions cannot show.")
        if not self.length_warned:  # once per run: the note is an alert at every step it holds
            warnings.warn(note, stacklevel=2)
            self.length_warned = True
        return [self.alert(step, "delete-vs-mask gap", gap["gap"], self.length_gap, note, action="note")]

    def columns(self) -> list[tuple[str, str]]:
        """The report columns: how many candidates, and the delete-vs-mask gap."""
        return [("candidates", f"{self.name}/candidates"), ("length gap", f"{self.name}/length/gap")]

    def progress(self, step: int) -> str | None:
        """Its progress-line fragment: the first three shortcut candidates."""
        if not self.found:
            return None
        return "shortcut candidates: " + ", ".join(c.token for c in self.found[:3])
