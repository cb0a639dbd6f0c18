"""Read back what the callback wrote: event files (scalars, texts, images) and `records.jsonl`.

Used by `gradcallback report` and by tests; no TensorBoard server is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..alerts import Alert
from ..analysis.metrics import token_mass
from ..views.tables import plain_text
from . import PLUGIN_NAME
from .eventfile import read_events

RECORDS = "records.jsonl"
_ACTIVE_DIRS: dict[str, int] = {}  # run folder -> id of the callback writing it now
RUN_INFO = "run.json"
# Runs from before alerts were records (run.json without "alert_records") had them only as texts.
LEGACY_ALERT_TAGS = ("errors", "discovery/length_note")


def new_run_dir(base: Path) -> Path:
    """`base`, or `base_2`, `base_3`, ... when `base` already holds another run's files: one run, one
    folder, so TensorBoard and `report` never mix two runs on one step axis."""
    candidate, n = base, 1
    while (candidate / RECORDS).exists() or (candidate.exists() and any(candidate.glob("events.out.tfevents.*"))):
        n += 1
        candidate = base.with_name(f"{base.name}_{n}")
    return candidate


def claim_run_dir(base: Path, run_dir: Path | None, owner: int, received: str) -> Path:
    """The folder `owner` (a callback's id) writes to: `run_dir` again, or on its first fit `base` or a new
    sibling (`new_run_dir`, with a warning). ValueError while another owner writes to either."""
    for folder in {str(base.resolve()), str((run_dir or base).resolve())}:
        if _ACTIVE_DIRS.get(folder, owner) != owner:
            raise ValueError(f"Another AttributionCallback is writing to {folder}; give each one a distinct "
                             f"`name=`. Received: {received}")
    if run_dir is None:  # the first fit of this callback: a folder of its own
        run_dir = new_run_dir(base)
        if run_dir != base:
            warnings.warn(f"{base} holds an earlier run; this run writes to {run_dir}.", stacklevel=5)
    writable(run_dir)
    _ACTIVE_DIRS[str(run_dir.resolve())] = owner
    return run_dir


def writable(folder: Path) -> None:
    """OSError-free check that `folder` can be created and written, as a ValueError that says so."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gradcallback-write-test"):
            pass
    except OSError as error:
        raise ValueError(f"Expected a log_dir that can be written ({error.strerror}). "
                         f"Received: log_dir={os.fspath(folder)!r}") from None


def release_run_dir(run_dir: Path) -> None:
    """`run_dir` is free for another callback (its writers are closed)."""
    _ACTIVE_DIRS.pop(str(run_dir.resolve()), None)


def run_info(backend: str, probes: Any, methods: Any, axis: str, monitors: Any) -> dict:
    """What run.json says: the backend, task, methods, step axis and each monitor's report columns."""
    from .. import __version__

    return {"gradcallback": __version__, "backend": backend, "task": probes.task, "probes": len(probes),
            "methods": list(methods), "step_axis": axis, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "alert_records": True,  # alerts are rows of kind "alert" in records.jsonl
            "monitors": [{"class": type(m).__name__, "name": m.name, "method": m.method,
                          "columns": [list(c) for c in m.columns()]} for m in monitors]}


def write_run_info(folder: Path, info: dict) -> None:
    """What a run is (methods, monitors and their report columns, backend, step axis), for `report`."""
    (folder / RUN_INFO).write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")


@dataclass
class Run:
    """One callback's output folder. Values are keyed tag -> step -> value."""

    folder: Path
    scalars: dict[str, dict[int, float]] = field(default_factory=dict)
    texts: dict[str, dict[int, str]] = field(default_factory=dict)
    images: dict[str, dict[int, bytes]] = field(default_factory=dict)  # PNG bytes
    records: list[dict] = field(default_factory=list)  # attribution rows, one per (step, method, probe)
    info: dict = field(default_factory=dict)  # run.json: methods, monitors and their report columns
    monitor_records: list[dict] = field(default_factory=list)  # rows with another "kind"
    alerts: list[Alert] = field(default_factory=list)  # rows of kind "alert", in the order written
    dashboard: dict[str, dict[int, bytes]] = field(default_factory=dict)  # method -> step -> payload (gzip)

    @property
    def steps(self) -> list[int]:
        """Every logged step of the run, from its records, scalars and texts, sorted."""
        steps = {r["step"] for r in self.records}
        for values in list(self.scalars.values()) + list(self.texts.values()):
            steps |= set(values)
        return sorted(steps)

    @property
    def methods(self) -> list[str]:
        """The methods the run's records hold, in the order first written."""
        return list(dict.fromkeys(r["method"] for r in self.records))

    def epoch_of(self, step: int) -> int | None:
        """The epoch recorded with `step`; None when no record has that step."""
        return next((r["epoch"] for r in self.records if r["step"] == step), None)


def find_runs(logdir: str | Path) -> list[Path]:
    """Every run folder under `logdir` (the folders holding a `records.jsonl`), sorted."""
    root = Path(logdir)
    if not root.is_dir():
        raise ValueError(f"Expected a log folder written by AttributionCallback. Received: logdir={str(root)!r}")
    return sorted(p.parent for p in root.rglob(RECORDS))


def read_run(folder: str | Path, images: bool = False) -> Run:
    """Scalars, texts (and, with `images=True`, PNG images) from the event files, plus the records.

    Reads the files itself (`eventfile.read_events`): TensorBoard's loader would import TensorFlow.
    """
    from tensorboard.util import tensor_util

    run, plugins = Run(Path(folder)), {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        for event in read_events(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name:
                    plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                if value.HasField("tensor"):
                    _store(run, plugins.get(value.tag, ""), value.tag, event.step,
                           tensor_util.make_ndarray(value.tensor), images)
    if (Path(folder) / RUN_INFO).exists():
        run.info = json.loads((Path(folder) / RUN_INFO).read_text(encoding="utf-8"))
    path, rows = Path(folder) / RECORDS, []
    if path.exists():
        with open(path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        run.records = [r for r in rows if r.get("kind", "attribution") == "attribution"]
        run.monitor_records = [r for r in rows if r.get("kind", "attribution") not in ("attribution", "alert")]
        run.alerts = [Alert.from_dict(r) for r in rows if r.get("kind") == "alert"]
    if not run.info.get("alert_records"):
        run.alerts = legacy_alerts(run.texts)
    return run


def legacy_alerts(texts: dict[str, dict[int, str]]) -> list[Alert]:
    """The alerts of a run written before alerts were records, from its alert texts: only what a text
    tells (the monitor, from the tag; the message's first line, unescaped). New runs never come here."""
    actions = {"errors": "switched_off", "discovery/length_note": "note"}
    return [Alert(monitor=tag.split("/")[0], subject=None, step=step, statistic="", value=None, limit=None,
                  action=actions.get(tag, "warn"), method=None, message=plain_text(text.strip()))
            for tag, values in sorted(texts.items()) if tag.endswith("/alerts") or tag in LEGACY_ALERT_TAGS
            for step, text in sorted(values.items())]


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
