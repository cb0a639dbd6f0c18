"""`Drift`: how far attributions moved from the first logged step, and probes whose reasons changed."""

from __future__ import annotations

from typing import Any, Sequence

from ..alerts import Alert
from ..analysis.metrics import rank_stability
from ..attribution import Attribution
from ..validate import positive_int
from ..views.tables import escape_markdown
from .base import DEFAULT_METHOD, Monitor, check_name


class Drift(Monitor):
    """Per logged step: the mean Spearman correlation of |scores| with the first logged step, and a
    table of probes whose top-k tokens changed completely since the previous step while the
    prediction stayed the same. Keeps only the first and the previous step (memory stays flat).

    Tags (`<name>` is "drift" unless given): `<name>/<method>/rank_stability_vs_first`,
    `<name>/<method>/changed`.
    """

    def __init__(self, method: str = DEFAULT_METHOD, top_k: int = 10, name: str = "drift"):
        self.method, self.top_k, self.name = method, positive_int("top_k", top_k), check_name(name)

    def start(self, context: Any, step: int) -> None:
        """Forget any earlier run: no first, previous or latest step yet."""
        self.context, self.first, self.previous, self.latest = context, None, None, None

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        """Write rank stability against the first logged step and the table of probes whose reasons changed."""
        self.first = self.first if self.first is not None else attributions
        self.latest = rank_stability(attributions, self.first)
        self.context.events.scalar(f"{self.name}/{self.method}/rank_stability_vs_first", self.latest, step,
                                   f"method: {self.method}; mean Spearman correlation with the first logged step")
        if self.previous is not None:
            self._changed(attributions, step)
        self.previous = attributions
        return []

    def _changed(self, current: Sequence[Attribution], step: int) -> None:
        rows = ["| probe | top tokens before | top tokens now |", "|---:|---|---|"]
        for i, (a, b) in enumerate(zip(current, self.previous)):
            now, before = {t for _, t, _ in a.top_k(self.top_k)}, {t for _, t, _ in b.top_k(self.top_k)}
            if now and before and not now & before and a.prediction.label == b.prediction.label:
                rows.append(f"| {i} | {escape_markdown(', '.join(sorted(before)))} | "
                            f"{escape_markdown(', '.join(sorted(now)))} |")
        if len(rows) > 2:
            self.context.events.text(f"{self.name}/{self.method}/changed", "\n".join(rows), step,
                                     f"method: {self.method}; top-{self.top_k} changed completely, "
                                     "prediction unchanged")

    def columns(self) -> list[tuple[str, str]]:
        """The report column: rank stability against the first logged step."""
        tag = f"{self.name}/{self.method}/rank_stability_vs_first"
        return [(f"{self.method} vs first", tag)]

    def progress(self, step: int) -> str | None:
        """Its progress-line fragment: the latest rank stability against the first logged step."""
        return None if self.latest is None else f"vs first {self.latest:.2f}"
