"""A progress bar for long attribution work that stays silent for short calls.

`explain()` over a thousand probes, or integrated gradients at many points, runs for minutes.
A `Progress` shows a bar only once the work is estimated to take more than `DELAY` seconds
(or at once with `enabled=True`; never with `enabled=False`), with tqdm when it is importable,
else Keras' `Progbar`, written to the given stream (stderr by default: stdout stays clean for
output a user pipes on).

A `Progress` is a work sink of the engine (engine/reporting.py): the engine counts probes
(`items_done`) and a method's inner loop over points reports finer steps (`advance`).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, TextIO

DELAY = 2.0  # seconds: shorter work prints nothing


class Progress:
    """Work of `total` items of `per_item` units each (a probe's IG points, SmoothGrad samples)."""

    def __init__(self, total: int, enabled: bool | None = None, stream: TextIO | None = None, *,
                 label: str = "", per_item: int = 1, delay: float = DELAY,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.per_item = max(int(total), 0) * max(int(per_item), 1), max(int(per_item), 1)
        self.enabled, self.stream, self.label, self.delay, self.clock = enabled, stream, label, delay, clock
        self.done, self.items, self.start, self.closed = 0, 0, clock(), enabled is False
        self._bar: Any = None
        if enabled:  # asked for: drawn at once, so a long first pass (a compile) shows 0/N, not nothing
            self._update(0)

    @property
    def shown(self) -> bool:
        """Whether a bar was ever drawn (the work outlasted `delay`, or `enabled=True`)."""
        return self._bar is not None

    def advance(self, units: int) -> None:
        """`units` more units of work done (called from a method's inner loop)."""
        self._update(self.done + int(units))

    def items_done(self, items: int) -> None:
        """`items` whole items finished: the position becomes exact, whatever inner loops reported."""
        self.items += int(items)
        self._update(max(self.done, self.items * self.per_item))

    def close(self) -> None:
        """Finishes the bar at the position reached, if one is shown; later updates are ignored."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close(self.done, self.total)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _update(self, done: int) -> None:
        if self.closed:
            return
        self.done, self.total = done, max(self.total, done)  # steps="auto" may need more than guessed
        if self._bar is None and self._worth_showing():
            unit = "probe" if self.per_item == 1 else "pass"  # IG points, SmoothGrad samples: gradient passes
            self._bar = _backend(self.total, self.done, self.stream or sys.stderr, self.label, unit)
        if self._bar is not None:
            self._bar.update(self.done, self.total)
        if self.done >= self.total:
            self.close()

    def _worth_showing(self) -> bool:
        """Shown when asked, or when the work so far predicts more than `delay` seconds in all."""
        if self.enabled:
            return True
        elapsed = self.clock() - self.start
        if self.done >= self.total:
            return False  # finished before anyone needed a bar
        return elapsed > self.delay or (self.done > 0 and elapsed / self.done * self.total > self.delay)


def progress_bar(total: int, enabled: bool | None = None, stream: TextIO | None = None, *,
                 label: str = "", per_item: int = 1) -> Progress:
    """A `Progress` over `total` items; `enabled` None shows it only for work longer than `DELAY`."""
    return Progress(total, enabled, stream, label=label, per_item=per_item)


def _backend(total: int, done: int, stream: TextIO, label: str, unit: str) -> Any:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return _KerasBar(total, done, stream, label, unit)
    return _TqdmBar(total, done, stream, label, unit)


class _TqdmBar:
    def __init__(self, total: int, done: int, stream: TextIO, label: str, unit: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, file=stream, desc=label or None, unit=unit, dynamic_ncols=True,
                        mininterval=0.5)

    def update(self, done: int, total: int) -> None:
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self, done: int, total: int) -> None:
        self.update(done, total)
        self.bar.close()


class _KerasBar:
    """Keras' Progbar prints to sys.stdout; it is pointed at the stream while it prints."""

    def __init__(self, total: int, done: int, stream: TextIO, label: str, unit: str):
        from keras.utils import Progbar

        self.stream = stream
        with contextlib.redirect_stdout(stream):  # Progbar decides at creation whether it can redraw a line
            self.bar = Progbar(total, unit_name=unit)
        if label:
            print(label, file=stream)
        self.update(done, total)

    def update(self, done: int, total: int) -> None:
        self.bar.target = total
        with contextlib.redirect_stdout(self.stream):
            self.bar.update(done, finalize=False)

    def close(self, done: int, total: int) -> None:
        self.bar.target = total
        with contextlib.redirect_stdout(self.stream):
            self.bar.update(done, finalize=True)
