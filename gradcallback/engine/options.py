"""Checks of method options' values, so a mistake fails where it is made, not mid-training."""

from __future__ import annotations

from typing import Any, Callable

from ..validate import is_int
from .methods import chunk_rows
from .quadrature import QUADRATURES

BASELINES = ("pad", "zeros", "mask")


def _positive_int(value: Any) -> bool:
    return is_int(value) and value >= 1


def _number(low: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= low


def _internal_batch_size(value: Any) -> bool:
    chunk_rows(value, 1)  # raises with its own message
    return True


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "steps": (lambda v: v == "auto" or _positive_int(v), "a positive int or 'auto'"),
    "quadrature": (lambda v: v is None or v in QUADRATURES, f"one of {QUADRATURES}"),
    "baseline": (lambda v: v in BASELINES or _positive_int(v) or v == 0, f"one of {BASELINES} or a token id"),
    "internal_batch_size": (_internal_batch_size, "a positive int or 'auto'"),
    "tolerance": (lambda v: _number(0.0)(v) and v > 0, "a number > 0"),
    "atol": (_number(0.0), "a number >= 0"),
    "max_steps": (lambda v: _positive_int(v) and v >= 9, "an int >= 9"),
    "samples": (_positive_int, "a positive int"),
    "noise": (_number(0.0), "a number >= 0"),
    "seed": (is_int, "an int"),
}


def check_values(method: str, options: dict) -> None:
    """ValueError naming the option, what it takes, and ending with `Received: ...`."""
    for name, value in options.items():
        if name in CHECKS and not CHECKS[name][0](value):
            raise ValueError(f"Expected {method}'s {name} to be {CHECKS[name][1]}. Received: {name}={value!r}")
