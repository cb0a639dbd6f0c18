"""One home for the argument checks every layer makes: a positive int, a choice, a fraction.

The bottom layer: it imports nothing of the package, so any module may use it. Each check returns
the value it accepts and raises ValueError saying what was expected, ending `Received: name=value`.
A bool is never a number here: `True` is a Python int, but `batch_size=True` is a mistake.
"""

from __future__ import annotations

from typing import Any, Sequence


def is_int(value: Any) -> bool:
    """Whether `value` is an int and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(name: str, value: Any, low: int = 1) -> int:
    """`value` if it is an int >= `low` (1 by default), else ValueError.

    Args:
        name: the argument's name, as the caller wrote it.
        value: what was passed.
        low: the smallest accepted value.

    Returns:
        The value, unchanged.
    """
    if not is_int(value) or value < low:
        expected = "a positive int" if low == 1 else f"an int >= {low}"
        raise ValueError(f"Expected {name} to be {expected}. Received: {name}={value!r}")
    return value


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """`value` if it is one of `allowed`, else ValueError listing them.

    Args:
        name: the argument's name.
        value: what was passed.
        allowed: the accepted values.

    Returns:
        The value, unchanged.
    """
    # `True in (1, 2)` holds in Python: a bool passes only where a bool is itself allowed
    if value not in allowed or (isinstance(value, bool) and not any(a is value for a in allowed)):
        raise ValueError(f"Expected {name} in {tuple(allowed)}. Received: {name}={value!r}")
    return value


def fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    """`value` as a float if it is a number in [`low`, `high`], else ValueError.

    Args:
        name: the argument's name.
        value: what was passed.
        low: the smallest accepted value.
        high: the largest accepted value.

    Returns:
        The value as a float.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"Expected {name} to be a number in [{low}, {high}]. Received: {name}={value!r}")
    return float(value)


def options_per_method(name: str, value: Any, methods: Sequence[str], whose: str) -> dict[str, dict]:
    """`value` as {method: {option: value}} for some of `methods` (None: {}); a ValueError naming `name` otherwise.

    `whose` says which methods those are, for the message ("the callback or its monitors use").
    """
    value = {} if value is None else value
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"Expected {name} to be a dict method -> dict of options. Received: {name}={value!r}")
    unknown = sorted(set(value) - set(methods))
    if unknown:
        raise ValueError(f"Expected {name} for the methods {whose} {sorted(set(methods))}. "
                         f"Received: {name} keys {unknown}")
    return value
