"""Read back what the callback wrote: event files (scalars, texts, images) and `records.jsonl`.

Used by `gradcallback report` and by tests; no TensorBoard server is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dashboard import PLUGIN_NAME
from .metrics import token_mass

RECORDS = "records.jsonl"


@dataclass
class Run:
    """One callback's output folder. Values are keyed tag -> step -> value."""

    folder: Path
    scalars: dict[str, dict[int, float]] = field(default_factory=dict)
    texts: dict[str, dict[int, str]] = field(default_factory=dict)
    images: dict[str, dict[int, bytes]] = field(default_factory=dict)  # PNG bytes
    records: list[dict] = field(default_factory=list)  # attribution rows, one per (step, method, probe)
    monitor_records: list[dict] = field(default_factory=list)  # rows with another "kind"
    dashboard: dict[str, dict[int, bytes]] = field(default_factory=dict)  # method -> step -> payload (gzip)

    @property
    def steps(self) -> list[int]:
        steps = {r["step"] for r in self.records}
        for values in list(self.scalars.values()) + list(self.texts.values()):
            steps |= set(values)
        return sorted(steps)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.records))

    def epoch_of(self, step: int) -> int | None:
        return next((r["epoch"] for r in self.records if r["step"] == step), None)


def find_runs(logdir: str | Path) -> list[Path]:
    """Every callback folder under `logdir` (the folders holding a `records.jsonl`), sorted."""
    root = Path(logdir)
    if not root.is_dir():
        raise ValueError(f"Expected a log folder written by AttributionCallback. Received: logdir={str(root)!r}")
    return sorted(p.parent for p in root.rglob(RECORDS))


def read_run(folder: str | Path, images: bool = False) -> Run:
    """Scalars, texts (and, with `images=True`, PNG images) from the event files, plus the records."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    run = Run(Path(folder))
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0, "images": 0})
    accumulator.Reload()
    for tag in accumulator.Tags()["tensors"]:
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        for event in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            _store(run, plugin, tag, event.step, value, images)
    path, rows = Path(folder) / RECORDS, []
    if path.exists():
        with open(path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        run.records = [r for r in rows if r.get("kind", "attribution") == "attribution"]
        run.monitor_records = [r for r in rows if r.get("kind", "attribution") != "attribution"]
    return run


def _store(run: Run, plugin: str, tag: str, step: int, value: np.ndarray, images: bool) -> None:
    if plugin == "scalars":
        run.scalars.setdefault(tag, {})[step] = float(value)
    elif plugin == "text":
        run.texts.setdefault(tag, {})[step] = _decode(value.reshape(-1)[0])
    elif plugin == "images" and images:
        run.images.setdefault(tag, {})[step] = bytes(value.reshape(-1)[2])  # [width, height, png]
    elif plugin == PLUGIN_NAME:  # the Attributions dashboard's data, tag dashboard/<method>
        run.dashboard.setdefault(tag.split("/", 1)[-1], {})[step] = bytes(value.reshape(-1)[0])


def _decode(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def top_tokens(run: Run, method: str, step: int, k: int = 10) -> list[tuple[str, float]]:
    """Tokens with the largest mean share of attribution mass over the probes at `step`."""
    return token_mass(((r["tokens"], r["scores"]) for r in run.records
                       if r["method"] == method and r["step"] == step), k)
