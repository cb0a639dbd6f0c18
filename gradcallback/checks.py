"""Argument checks for `AttributionCallback`: errors say what was expected and end with `Received: ...`."""

from __future__ import annotations

from typing import Any, Sequence

from .engine import METHODS
from .probes import ProbeSet
from .vocabulary import VocabularyCheck


def positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Expected {name} to be a positive int. Received: {name}={value!r}")
    return value


def choices(**given: tuple[Any, tuple]) -> None:
    """Each argument's value must be one of its allowed values: `arg=(value, allowed)`."""
    for arg, (value, allowed) in given.items():
        if value not in allowed:
            raise ValueError(f"Expected {arg} in {allowed}. Received: {arg}={value!r}")


def method_names(methods: Sequence[str], options: dict | None) -> tuple[str, ...]:
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError("Expected at least one method. Received: methods=()")
    for method in list(methods) + list(options or {}):
        if method not in METHODS:
            raise ValueError(f"Expected methods from {sorted(METHODS)}. Received: method={method!r}")
    return methods


def spurious_thresholds(thresholds: Any, groups: dict) -> dict[str, float]:
    if not isinstance(thresholds, dict):
        raise ValueError(f"Expected spurious_threshold to be a dict group -> share. Received: {thresholds!r}")
    for name, value in thresholds.items():
        if name not in groups or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"Expected spurious_threshold keys among the spurious groups {sorted(groups)} and "
                             f"shares in [0, 1]. Received: spurious_threshold={{{name!r}: {value!r}}}")
    return {str(k): float(v) for k, v in thresholds.items()}


def vocabulary_check(vocabulary: Any) -> VocabularyCheck | None:
    if vocabulary is None or isinstance(vocabulary, VocabularyCheck):
        return vocabulary
    if isinstance(vocabulary, dict):
        return VocabularyCheck(**vocabulary)
    raise ValueError(f"Expected a VocabularyCheck or a dict of its arguments. Received: vocabulary={vocabulary!r}")


def probe_set(probes: Any, target: str) -> None:
    if not isinstance(probes, ProbeSet):
        raise ValueError(f"Expected a ProbeSet (ProbeSet.from_texts(...)). Received: probes={type(probes).__name__}")
    if target == "label" and probes.labels is None:
        raise ValueError("target='label' needs a ProbeSet with labels. Received: target='label', labels=None")


def discovery_options(discovery: Any) -> dict | None:
    if discovery is False or discovery is None:
        return None
    options = {} if discovery is True else discovery
    allowed = {"max_candidates", "min_drop", "min_fraction", "replace"}
    if not isinstance(options, dict) or set(options) - allowed or options.get("replace", "mask") not in ("mask", "pad"):
        raise ValueError(f"Expected discovery=True or a dict with keys from {sorted(allowed)} (replace 'mask' or "
                         f"'pad'). Received: discovery={discovery!r}")
    return {"replace": "mask", **options}


def faithfulness_mode(faithfulness: Any) -> str | None:
    mode = {True: "mask", False: None}.get(faithfulness, faithfulness) if isinstance(faithfulness, (bool, str)) else 0
    if mode not in (None, "mask", "pad"):
        raise ValueError(f"Expected faithfulness in (False, True, 'mask', 'pad'). Received: faithfulness={faithfulness!r}")
    return mode
