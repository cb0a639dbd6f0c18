"""What the callback writes at each logged step, built from that step's `Attribution`s.

Tags (under `<log_dir>/attributions/`):
  probes                                   text: the probe set (first step)
  <method>/heatmap/probe_NNN               image: token heatmap (or bar chart)
  <method>/evolution/probe_NNN             image: tokens x logged steps
  <method>/continuation/probe_NNN          image: continuation tokens x prompt tokens (causal-LM continuations)
  <method>/top_tokens, <method>/token_table   text: per-probe top-k; probe-set token table
  <method>/special_token_share             scalar
  <method>/rank_stability                  scalar (from the second logged step)
  <method>/convergence_delta/{mean_abs,max_abs,mean_rel,max_rel}   scalars (integrated gradients)
  <method>/scores                          histogram
  probes/mean_confidence, probes/accuracy  scalars (accuracy when labels are known)
  <monitor>/alerts, errors                 text: the step's `Alert`s (Markdown-escaped here, and only
                                           here), also rows of kind "alert" in records.jsonl
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .alerts import Alert
from .analysis import metrics
from .attribution import Attribution, normalize_l1_share
from .engine import is_signed
from .io.payload import write_results
from .io.writers import EventWriter, JsonlWriter
from .probes import ProbeSet
from .validate import choice, positive_int
from .views import images as render
from .views import tables

AGGREGATES, STYLES, COLOR_SCALES = ("token", "word"), ("text", "bars"), ("per_image", "fixed")


@dataclass(frozen=True)
class Display:
    """How attributions are drawn and tabulated.

    Args:
        top_k: tokens per probe in the top-token tables.
        aggregate: "token", or "word" to merge word pieces (##, Ġ, ▁) with summed scores.
        style: "text" heatmaps, or "bars" for the seeds' bar charts.
        color_scale: "per_image" (each image's own max), or "fixed" (the first logged step's max per
            probe, so images compare across steps).
        max_tokens: longest token sequence drawn; longer probes are cut with a note.
        image_width: heatmap width in pixels (at most 1600).
        evolution_steps: logged steps an evolution image shows: the first and the latest ones (memory
            and bytes per logged step stay flat however long the run).
    """

    top_k: int = 10
    aggregate: str = "token"
    style: str = "text"
    color_scale: str = "per_image"
    max_tokens: int = 256
    image_width: int = 1200
    evolution_steps: int = 50

    def __post_init__(self):
        for name in ("top_k", "max_tokens", "image_width", "evolution_steps"):
            positive_int(name, getattr(self, name))
        for name, allowed in (("aggregate", AGGREGATES), ("style", STYLES), ("color_scale", COLOR_SCALES)):
            choice(name, getattr(self, name), allowed)


class History:
    """Per method: the first logged step and the latest `window` ones (bounded, whatever the run length)."""

    def __init__(self, window: int):
        self.first: dict[str, tuple[int, list[Attribution]]] = {}
        self.recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=window))

    def add(self, method: str, step: int, attributions: list[Attribution]) -> None:
        """Remember `method`'s attributions at `step` (the first step stays; the window drops its oldest)."""
        self.first.setdefault(method, (step, attributions))
        self.recent[method].append((step, attributions))

    def previous(self, method: str) -> list[Attribution] | None:
        """`method`'s attributions at the latest remembered step, or None before the first."""
        return self.recent[method][-1][1] if self.recent[method] else None

    def steps(self, method: str) -> list[tuple[int, list[Attribution]]]:
        """The first step, then the window (without repeating the first)."""
        if method not in self.first:
            return []
        first = self.first[method]
        return [first] + [item for item in self.recent[method] if item[0] != first[0]]

    def as_dict(self) -> dict[str, list[tuple[int, list[Attribution]]]]:
        """Every method's remembered steps: the first, then the window."""
        return {method: self.steps(method) for method in self.first}


class StepLogger:
    """Writes one logged step for every method; keeps the bounded history evolution images need."""

    def __init__(self, events: EventWriter, records: JsonlWriter, probes: ProbeSet, *, display: Display,
                 target: str, method_options: dict, explained: str = "logit"):
        self.events, self.records, self.probes = events, records, probes
        self.display, self.target, self.method_options, self.explained = display, target, method_options, explained
        self.top_k, self.aggregate, self.style, self.color_scale = (display.top_k, display.aggregate, display.style,
                                                                    display.color_scale)
        self.max_tokens, self.image_width = display.max_tokens, display.image_width
        self.history = History(display.evolution_steps)
        self.scales: dict[tuple[str, int], float] = {}

    def describe(self, method: str) -> str:
        """The description shown with `method`'s tags: the method and what it explains."""
        if self.probes.task == "question_answering":
            what = "the predicted answer span (start + end logits)"
        elif self.probes.task == "causal_lm":
            what = "each probe's expected next token" if self.target == "label" else "the predicted next token"
        else:
            what = "each probe's label" if self.target == "label" else "the predicted class"
            what += f" ({self.explained})"
        return f"method: {method}; target: {what}"

    def log_probes(self, step: int) -> None:
        """Write the probe set as a Markdown table (probe, text, label)."""
        rows = ["| probe | text | label |", "|---:|---|---|"]
        for i, text in enumerate(self.probes.inputs):
            shown = " [SEP] ".join(text) if isinstance(text, tuple) else text
            label = "" if self.probes.labels is None else self.probes.labels[i]
            rows.append(f"| {i} | {tables.escape_markdown(shown)} | {tables.escape_markdown(str(label))} |")
        self.events.text("probes", "\n".join(rows), step, description="The fixed probe set")

    def log_method(self, step: int, epoch: int | None, method: str, attributions: list[Attribution]) -> None:
        """Everything one method produces at one step."""
        previous = self.history.previous(method)
        self.history.add(method, step, attributions)
        self._images(method, attributions, step)
        self._texts(method, attributions, step)
        self._scalars(method, attributions, previous, step)
        self._records(method, attributions, previous, step, epoch)

    def log_predictions(self, step: int, attributions: list[Attribution]) -> None:
        """Method-independent scalars: confidence and accuracy on the probes."""
        self.events.scalar("probes/mean_confidence", metrics.mean_confidence(attributions), step,
                           description="Mean probability of the model's prediction on the probes")
        if self.probes.labels is not None:
            self.events.scalar("probes/accuracy", metrics.accuracy(attributions, self.probes.labels), step,
                               description="Share of probes predicted correctly")

    def log_alerts(self, alerts: Sequence[Alert]) -> None:
        """The one writer of alert texts: one text event per tag and step (several alerts of one monitor at
        one step are paragraphs of it, where two events would leave TensorBoard showing only the last),
        and one records.jsonl row per alert."""
        texts: dict[tuple[str, int], list[str]] = defaultdict(list)
        for alert in alerts:
            texts[alert.tag, alert.step].append(tables.escape_markdown(alert.message))
            self.records.write({"kind": "alert", **alert.as_dict()})
        for (tag, step), paragraphs in texts.items():
            about = "Errors inside gradcallback (training was not interrupted)" if tag == "errors" else "Alerts"
            self.events.text(tag, "\n\n".join(paragraphs), step, about)

    def log_dashboard(self, step: int, results: dict[str, list[Attribution]], groups: dict,
                      alerts: Sequence[Alert]) -> int:
        """The Attributions tab's data: one payload per method, each carrying the step's alerts; its bytes."""
        signed = {method: is_signed(method, self.method_options.get(method)) for method in results}
        return write_results(self.events, step, results, signed=signed, label_names=self.probes.label_names,
                             labels=self.probes.labels, groups=groups, alerts=alerts)

    def progress_line(self, step: int, epoch: int | None, fragments: Sequence[str], seconds: float,
                      alerts: Sequence[Alert] = ()) -> str:
        """One line for the console: probe accuracy, top tokens, the monitors' fragments, the step's alerts
        ("ALERT: <monitor>/<subject>: ..."), and how long the step's work took."""
        now = {tag: value for tag, (at, value) in self.events.latest.items() if at == step}
        parts = [f"gradcallback step {step}" + ("" if epoch is None else f" (epoch {epoch})") + f" [{seconds:.1f} s]"]
        if "probes/accuracy" in now:
            parts.append(f"probe accuracy {now['probes/accuracy']:.2f}")
        for method, logged in self.history.recent.items():
            if logged and logged[-1][0] == step:
                top = metrics.token_mass(((a.tokens, a.scores) for a in logged[-1][1]), 3)
                parts.append(f"{method} top: " + ", ".join(token for token, _ in top))
        parts += list(fragments)
        return " | ".join(parts + [f"ALERT: {alert.summary()}" for alert in alerts])

    def flush(self) -> None:
        """Flush the event file and records.jsonl."""
        self.events.flush()
        self.records.flush()

    def _images(self, method: str, attributions: Sequence[Attribution], step: int) -> None:
        signed = is_signed(method, self.method_options.get(method))
        draw = render.bars if self.style == "bars" else render.heatmap
        for i, a in enumerate(attributions):
            scale = None
            if self.color_scale == "fixed":
                scale = self.scales.setdefault((method, i), float(np.max(np.abs(a.scores), initial=0.0)) or 1.0)
            true = self.probes.labels[i] if self.probes.labels is not None and a.task != "question_answering" else None
            pixels = draw(a, signed=signed, scale=scale, width=self.image_width, max_tokens=self.max_tokens,
                          label_names=self.probes.label_names, true_label=true)
            self.events.image(f"{method}/heatmap/probe_{i:03d}", pixels, step, self.describe(method))
            history = [(s, atts[i]) for s, atts in self.history.steps(method)]
            self.events.image(f"{method}/evolution/probe_{i:03d}",
                              render.evolution(history, signed=signed, max_tokens=self.max_tokens), step,
                              self.describe(method) + "; rows are logged steps")
            if "token_scores" in a.info:
                self.events.image(f"{method}/continuation/probe_{i:03d}",
                                  render.token_matrix(a, signed=signed, max_tokens=self.max_tokens), step,
                                  self.describe(method) + "; rows are the continuation's tokens")

    def _texts(self, method: str, attributions: Sequence[Attribution], step: int) -> None:
        about = self.describe(method)
        self.events.text(f"{method}/top_tokens", tables.top_tokens_table(
            attributions, self.top_k, self.aggregate, self.probes.label_names), step, about)
        self.events.text(f"{method}/token_table", tables.token_mass_table(
            attributions, self.top_k, self.aggregate), step, about)

    def _scalars(self, method: str, attributions: Sequence[Attribution], previous, step: int) -> None:
        about = self.describe(method)
        self.events.scalar(f"{method}/special_token_share", metrics.special_token_share(attributions), step, about)
        if previous is not None:
            self.events.scalar(f"{method}/rank_stability", metrics.rank_stability(attributions, previous), step,
                               about + "; mean Spearman correlation with the previous logged step")
        if attributions[0].convergence_delta is not None:
            for name, value in metrics.convergence_stats(attributions).items():
                self.events.scalar(f"{method}/convergence_delta/{name}", value, step, about)
        self.events.histogram(f"{method}/scores", np.concatenate([a.scores for a in attributions]), step, about)

    def _records(self, method: str, attributions: Sequence[Attribution], previous, step: int,
                 epoch: int | None) -> None:
        for i, a in enumerate(attributions):
            self.records.write({
                "step": step, "epoch": epoch, "kind": "attribution", "probe": i, "method": method, "tokens": a.tokens,
                "scores": a.scores, "prediction": a.prediction.as_dict(), "target": a.target,
                "label": None if self.probes.labels is None else self.probes.labels[i],
                "special_token_share": float(normalize_l1_share(a.scores)[a.special_mask].sum()),
                "rank_stability": None if previous is None else metrics.spearman(
                    np.abs(a.scores), np.abs(previous[i].scores)),
                "convergence_delta": a.convergence_delta,
            })
