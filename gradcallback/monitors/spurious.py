"""`SpuriousGroups`: how much attribution goes to tokens that should not matter, with alerts."""

from __future__ import annotations

import warnings
from typing import Any, Sequence


from ..attribution import Attribution
from ..analysis.groups import (SpuriousAttributionError, check_groups, group_shares, offenders_table, share_where_present,
                        shares_by_class)
from ..views.tables import escape_markdown
from ..validate import choice, fraction, positive_int
from .base import DEFAULT_METHOD, Monitor

STATISTICS = ("where_present", "overall")
# The default rule, chosen by benchmarks/DETECTION.md: the share where the group occurs rising this
# much over its value at the run's first logged step.
DEFAULT_RISE = 0.2
ACTIONS = ("warn", "stop", "raise")


def _per_group(name: str, value: Any, groups: dict) -> dict[str, float]:
    """A number for every group, or a dict group -> number (groups left out get none)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(groups))
        if unknown:
            raise ValueError(f"Expected {name} keys among the groups {sorted(groups)}. Received: {name}={value!r}")
        return {g: fraction(name, v) for g, v in value.items()}
    return {g: fraction(name, value) for g in groups}


class SpuriousGroups(Monitor):
    """Each logged step, every group's share of the attribution mass of `method`; alerts when a group's
    statistic crosses its limit for `patience` consecutive logged steps.

    Args:
        groups: name -> list of words (their word pieces count for them), a compiled regex matched
            against whole words, or "special_tokens".
        threshold: alert when the statistic exceeds this share (a number for every group, or a dict).
        rise: alert when the statistic exceeds its value at the run's first logged step by this much.
            The default (integrated gradients, where present, rise 0.2, no threshold) won the detection
            benchmark (benchmarks/DETECTION.md): every learned shortcut of 42 runs caught within one
            logged step, no alert in 26 runs whose watched word the model did not use. An absolute
            threshold suits one model's shares and not another's (MiniLM starts a two-piece name at 0.49).
        statistic: "where_present" (mean share over the probes that contain the group; the mean over
            all probes is diluted by probes without it) or "overall".
        on_alert: "warn" (a warning and a `<name>/alerts` entry), "stop" (training stops at the end of
            the epoch; the callback's `stop_reason` says why) or "raise" (`SpuriousAttributionError`).
        patience: consecutive logged steps over a limit before acting.
        method: the attribution method read (integrated gradients by default: see DETECTION.md).

    Tags: `<name>/<group>/share` (overall) and `/share/class_<c>` (per predicted class),
    `<name>/<group>/where_present`, `<name>/<group>/offenders`, `<name>/alerts`.
    """

    def __init__(self, groups: dict, *, threshold: float | dict | None = None, rise: float | dict | None = DEFAULT_RISE,
                 statistic: str = "where_present", on_alert: str = "warn", patience: int = 1,
                 method: str = DEFAULT_METHOD, name: str = "spurious"):
        self.groups = check_groups(groups)
        self.thresholds = _per_group("threshold", threshold, self.groups)
        self.rises = _per_group("rise", rise, self.groups)
        if not self.thresholds and not self.rises:
            raise ValueError("Expected a threshold or a rise to alert on. Received: threshold=None, rise=None")
        self.statistic = choice("statistic", statistic, STATISTICS)
        self.on_alert = choice("on_alert", on_alert, ACTIONS)
        self.patience = positive_int("patience", patience)
        self.method, self.name = method, name
        self.stop_reason: str | None = None

    def start(self, context: Any, step: int) -> None:
        self.context = context
        self.first: dict[str, float] = {}
        self.strikes = {group: 0 for group in self.groups}
        self.latest: dict[str, float] = {}

    def statistic_of(self, attributions: Sequence[Attribution], spec: Any) -> float:
        if self.statistic == "overall":
            return float(group_shares(attributions, spec).mean())
        present = share_where_present(attributions, spec)
        return 0.0 if present is None else present

    def log(self, step: int, attributions: Sequence[Attribution]) -> None:
        events, about = self.context.events, f"method: {self.method}"
        for group, spec in self.groups.items():
            shares = group_shares(attributions, spec)
            events.scalar(f"{self.name}/{group}/share", float(shares.mean()), step,
                          f"{about}; mean share of attribution mass over all probes")
            for label, value in shares_by_class(attributions, shares).items():
                events.scalar(f"{self.name}/{group}/share/class_{label}", value, step,
                              f"{about}; probes predicted as class {label}")
            present = share_where_present(attributions, spec)
            if present is not None:
                events.scalar(f"{self.name}/{group}/where_present", present, step,
                              f"{about}; mean share over the probes that contain the group")
            events.text(f"{self.name}/{group}/offenders", offenders_table(attributions, spec), step, about)
            self.latest[group] = self.statistic_of(attributions, spec)
            self.first.setdefault(group, self.latest[group])
        for group in self.groups:
            self._judge(group, step)

    def _limit(self, group: str) -> float:
        """The statistic's limit for `group`: the lower of its threshold and first value + rise."""
        limits = [self.thresholds[group]] if group in self.thresholds else []
        limits += [self.first[group] + self.rises[group]] if group in self.rises else []
        return min(limits) if limits else float("inf")

    def _judge(self, group: str, step: int) -> None:
        over = self.latest[group] > self._limit(group)
        self.strikes[group] = self.strikes[group] + 1 if over else 0
        if self.strikes[group] == self.patience:
            self._act(group, step)

    def _act(self, group: str, step: int) -> None:
        value, limit = self.latest[group], self._limit(group)
        message = (f"Spurious attribution: group {group!r} holds {value:.1%} of the attribution mass "
                   f"({self.method}, {self.statistic.replace('_', ' ')}) at step {step}, above its limit "
                   f"{limit:.1%} (first logged step: {self.first[group]:.1%}) for {self.patience} logged step(s).")
        self.context.events.text(f"{self.name}/alerts", escape_markdown(message), step, "Spurious-attribution alerts")
        if self.on_alert == "raise":
            self.context.events.flush()
            limits = {g: self._limit(g) for g in self.groups if g in self.thresholds or g in self.rises}
            raise SpuriousAttributionError(message, self.latest, limits, step)
        if self.on_alert == "stop":
            self.stop_reason = message
        warnings.warn(message, stacklevel=2)

    def columns(self) -> list[tuple[str, str]]:
        tag = "where_present" if self.statistic == "where_present" else "share"
        return [(f"{group} {tag.replace('_', ' ')}", f"{self.name}/{group}/{tag}") for group in self.groups]

    def progress(self, step: int) -> str | None:
        return ", ".join(f"{group} {value:.2f}" for group, value in self.latest.items()) or None
