"""Set-up checks for `AttributionCallback`, in its constructor and before the first epoch.

They raise whatever `strict` says: non-strict mode protects training from failures *during*
training, not from a set-up that can only produce nothing. Errors say what was expected and end
with `Received: ...`.
"""

from __future__ import annotations

from typing import Any, Sequence

from .engine import METHODS
from .engine.registry import method_options
from .monitors.base import check_monitor, check_tasks
from .probes import ProbeSet
from .summaries import Display
from .validate import options_per_method, positive_int


def display(given: Any) -> Display:
    """The display settings: `Display()` when None is given, else a `Display`."""
    if given is None:
        return Display()
    if not isinstance(given, Display):
        raise ValueError(f"Expected display to be a Display(...). Received: display={given!r}")
    return given


def method_names(methods: Sequence[str]) -> tuple[str, ...]:
    """The method names as a tuple (one str is one method); ValueError for none or an unknown one."""
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError("Expected at least one method. Received: methods=()")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"Expected methods from {sorted(METHODS)}. Received: method={method!r}")
    return methods


def split_options(options: Any, used: Sequence[str]) -> tuple[dict[str, dict], dict[str, int]]:
    """(options per method, as the method takes them; `every` per method), every option checked now."""
    options = options_per_method("method_options", options, used, "the callback or its monitors use")
    per_method, every = {}, {}
    for method in used:
        given = dict(options.get(method, {}))
        every[method] = positive_int("every", given.pop("every", 1))
        method_options(method, given)  # unknown names and bad values raise here
        per_method[method] = given
    return per_method, every


def monitors(given: Any, probes: ProbeSet) -> list:
    """The monitor list: each follows the protocol, names a known method and takes the probes' task."""
    if given is None:
        return []
    items = [given] if hasattr(given, "log") else list(given)
    for monitor in items:
        check_monitor(monitor, list(METHODS))
        check_tasks(monitor, probes.task)
    names = [m.name for m in items]
    if len(names) != len(set(names)):
        raise ValueError(f"Expected monitors with distinct names (give one a `name=`). Received: names {names}")
    return items


def monitors_ready(items: Sequence[Any], context: Any, close: Any) -> None:
    """Each monitor's set-up check against the run (`check(context)`); on a failure `close()` runs
    first: the run's writers are open by then, and an error must not leave them so."""
    try:
        for monitor in items:
            monitor.check(context)
    except Exception:
        close()
        raise


def probe_set(probes: Any, target: str) -> None:
    """ValueError unless `probes` is a `ProbeSet` that `target` can explain ("label": labels, and no QA)."""
    if not isinstance(probes, ProbeSet):
        raise ValueError(f"Expected a ProbeSet (ProbeSet.from_texts(...)). Received: probes={type(probes).__name__}")
    if target == "label" and probes.task == "question_answering":
        raise ValueError("QA labels are answer texts, not positions: explain the predicted span. "
                         "Received: target='label' with a question_answering probe set")
    if target == "label" and probes.labels is None:
        raise ValueError("target='label' needs a ProbeSet with labels. Received: target='label', labels=None")


def task_matches(probes: ProbeSet, detected: str | None) -> None:
    """ValueError when the model's detected task is not the probes' (None: not detected, nothing to check)."""
    if detected is not None and detected != probes.task:
        raise ValueError(f"The probes are {probes.task} probes but the model is a {detected} model. "
                         f"Received: a ProbeSet with task={probes.task!r}")
