"""Never break training: each part of a logged step runs guarded; a failure is reported once (a
warning with its traceback, and an `Alert` with action "switched_off", which the callback writes
under the `errors` tag like every other alert) and that part is switched off."""

from __future__ import annotations

import traceback
import warnings
from typing import Any

from .alerts import ERRORS_TAG, Alert
from .analysis.groups import SpuriousAttributionError


class SwitchedOffWarning(RuntimeWarning):
    """A part of the logged step failed and was switched off; training went on. Its own category, so
    a test suite (or a user) can turn exactly these into errors: `-W error::...SwitchedOffWarning`."""


class Guard:
    """Runs callables by part name; `strict` re-raises instead of switching the part off."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.setup = False  # while True (the step logged before training starts), errors propagate
        self.disabled: set[str] = set()
        self.alerts: list[Alert] = []  # parts switched off since the callback last took them

    def run(self, part: str, step: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`, or None once `part` failed (and from then on)."""
        if part in self.disabled:
            return None
        try:
            return fn(*args, **kwargs)
        except SpuriousAttributionError:
            raise  # the user asked for it: on_alert="raise"
        except Exception as error:
            if self.strict or self.setup:
                raise
            self.disabled.add(part)
            self.report(part, step, error, traceback.format_exc())
            return None

    def report(self, part: str, step: int, error: Exception, trace: str) -> None:
        """The warning (with the whole traceback) and the alert (with where it was raised)."""
        warnings.warn(f"gradcallback: {part} failed at step {step} and is switched off; training goes on. "
                      f"{error!r}\n{trace}", SwitchedOffWarning, stacklevel=4)
        frames = traceback.extract_tb(error.__traceback__)
        where = f" (raised in {frames[-1].name}, {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        self.alerts.append(Alert(monitor=ERRORS_TAG, subject=part, step=step, statistic=type(error).__name__,
                                 value=None, limit=None, action="switched_off", method=None,
                                 message=f"{part} failed at step {step} and is switched off; training goes on: "
                                         f"{error!r}{where}. The traceback is in the warning."))

    def take(self) -> list[Alert]:
        """The alerts not yet handed out, handed out once."""
        taken, self.alerts = self.alerts, []
        return taken
