"""`Alert`: what a monitor (or the guard) raises a hand about, as a record rather than prose.

A monitor's `log(step, attributions)` returns its alerts; the callback hands them to every reader:
the `<monitor>/alerts` text events (Markdown-escaped there, by the summaries), the progress line,
`records.jsonl` (rows of kind "alert"), the Attributions tab's payload and `gradcallback report`.
What an alert is has one rule: an `Alert` object. No alert text is ever parsed back.

The bottom layer: nothing of the package is imported here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

# "note": informational (discovery's length note); "switched_off": the guard turned a failing part off.
# "penalize": an `AttributionPrior` on the alerted group trains from the next step (SpuriousGroups).
ACTIONS = ("warn", "stop", "raise", "penalize", "note", "switched_off")
ERRORS_TAG = "errors"  # the guard's alerts keep the tag they always had


@dataclass(frozen=True)
class Alert:
    """One alert of one monitor at one logged step.

    Attributes:
        monitor: the monitor's `name` (the guard's alerts: "errors").
        subject: what the alert is about (a group, a token, a switched-off part); None if nothing in particular.
        step: the logged step.
        statistic: what was measured, e.g. "where_present share".
        value: the measured value (None when nothing was measured).
        limit: the value it was judged against (None when there is none).
        action: "warn", "stop", "raise", "penalize" (a prior now trains the group away), "note"
            (informational) or "switched_off" (the guard).
        method: the attribution method it was computed on, or None.
        message: the human sentence, plain text (never Markdown).
    """

    monitor: str
    subject: str | None
    step: int
    statistic: str
    value: float | None
    limit: float | None
    action: str
    method: str | None
    message: str

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"Expected an alert action in {ACTIONS}. Received: action={self.action!r}")
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(f"Expected an alert's monitor to be a non-empty name. Received: monitor={self.monitor!r}")
        # numpy scalars in, plain JSON-ready numbers out: records and payloads serialise them as they are
        object.__setattr__(self, "step", int(self.step))
        for name in ("value", "limit"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def tag(self) -> str:
        """The text tag it is written under: `<monitor>/alerts`; the guard's (switched_off) under `errors`."""
        return ERRORS_TAG if self.action == "switched_off" else f"{self.monitor}/alerts"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a non-finite value or limit becomes None: JSON has no NaN)."""
        out = asdict(self)
        for name in ("value", "limit"):
            if out[name] is not None and not math.isfinite(out[name]):
                out[name] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Alert":
        """The alert `as_dict` wrote; other keys (a record's "kind", a payload's "tag") are ignored."""
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise ValueError(f"Expected an alert with fields {[f.name for f in fields(cls)]}; missing {missing}. "
                             f"Received: data={dict(data)!r}")
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def summary(self) -> str:
        """One short line: `<monitor>/<subject>: <statistic> <value> (limit <limit>), <action>, <method>`."""
        who = self.monitor if self.subject is None else f"{self.monitor}/{self.subject}"
        figures = [self.statistic] if self.statistic else []
        if self.value is not None:
            figures.append(f"{self.value:.3g}")
        if self.limit is not None:
            figures.append(f"(limit {self.limit:.3g})")
        return f"{who}: " + ", ".join(part for part in (" ".join(figures), self.action, self.method) if part)


def collect(returned: Any, source: Any = None) -> list[Alert]:
    """A monitor's `log` result as a list of alerts: None (a monitor that alerts through nothing) is none."""
    if returned is None:
        return []
    items = list(returned) if isinstance(returned, (list, tuple)) else [returned]
    if not all(isinstance(a, Alert) for a in items):
        raise TypeError(f"Expected a monitor's log() to return a list of gradcallback.alerts.Alert or None. "
                        f"Received: {source!r} returned {returned!r}")
    return items
