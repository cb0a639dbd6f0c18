"""The callback's console: its lines, and the warnings shown while it works, never glued to Keras' bar.

With `fit(verbose=1)` Keras draws its progress bar on one line it redraws with a carriage return,
and ends that line only when its own `ProgbarLogger` sees the epoch end, which Keras calls after
the user's callbacks. So whatever a callback prints from `on_epoch_end` (or `on_train_batch_end`)
lands at the end of the bar: `16/16 [====] - loss: 0.43warning: Spurious attribution...`.

`Console.during_fit` marks the time the bar's line may be open (verbose=1 and a hook that runs
mid-bar); the first thing shown then, a line of ours or a warning (`warnings.warn` from a monitor
or the guard, whichever `showwarning` is in place: Python's, or the command line's one-line form),
ends the bar's line first. Keras then redraws its final bar on a line of its own, below ours.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from typing import Any, Callable, Iterator, Mapping, Sequence

from .progress import progress_bar


class Console:
    """Where the callback's lines go: stdout (looked up at each write, so redirection and notebooks work)."""

    def __init__(self, verbose: bool = False):
        self.verbose = bool(verbose)
        self.bar_open = False  # Keras' bar line may be open: the next output ends it first
        self.first = False  # the first logged step is under way: its bars show from the start

    @contextlib.contextmanager
    def during_fit(self, params: Mapping[str, Any] | None, bar_open: bool) -> Iterator["Console"]:
        """A hook's work: `bar_open` says whether the hook runs while Keras' bar draws its line (with verbose=1);
        warnings shown meanwhile start on a line of their own."""
        self.bar_open = bar_open and (params or {}).get("verbose") in (1, "auto")  # Keras 3 passes "auto": a bar
        previous = warnings.showwarning

        def show(*args: Any, **kwargs: Any) -> None:
            self.end_bar_line()
            previous(*args, **kwargs)

        warnings.showwarning = show  # not warnings.catch_warnings: that would reset "show once" registries
        try:
            yield self
        finally:
            if warnings.showwarning is show:
                warnings.showwarning = previous
            self.bar_open = False

    def end_bar_line(self) -> None:
        """Ends Keras' open bar line (once), so that what follows starts a line."""
        if self.bar_open:
            self.bar_open = False
            sys.stdout.write("\n")
            sys.stdout.flush()

    def line(self, text: str) -> None:
        """One line of ours (printed only when verbose), on a line of its own."""
        if self.verbose:
            self.end_bar_line()
            print(text, file=sys.stdout, flush=True)

    def step_line(self, logger: Any, step: int, epoch: int | None, monitors: Sequence[Any], seconds: float,
                  alerts: Sequence[Any], notes: Sequence[str] = ()) -> None:
        """The step's line (when verbose): the logger's figures, each monitor's fragment, `notes` (e.g. how a
        budget thins the schedule), the alerts, the time."""
        if self.verbose:
            fragments = [f"{m.name}: {text}" for m in monitors if (text := m.progress(step))] + list(notes)
            self.line(logger.progress_line(step, epoch, fragments, seconds, alerts))
        self.first = False

    def first_step(self, step: int, probes: int, methods: Sequence[str]) -> None:
        """Says what the first logged step does before it does it (it also compiles: the longest wait)."""
        self.first = True
        self.line(f"gradcallback step {step}: explaining {probes} probes with {', '.join(methods)} "
                  "(the first step also compiles the attribution pass)")

    def progress(self) -> Callable[..., Any] | None:
        """The engine's progress factory, when verbose and Keras' bar is not drawing (two bars would overwrite
        each other's line): a bar on stderr from the start at the first logged step, whose compile is a
        wait with nothing to count yet; later, only for work over 2 s."""
        if not self.verbose or self.bar_open:
            return None
        return functools.partial(progress_bar, enabled=True) if self.first else progress_bar
