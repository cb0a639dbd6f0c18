"""Never break training: each part of a logged step runs guarded; a failure is reported once
(a warning with its traceback, and an `errors` text entry) and that part is switched off."""

from __future__ import annotations

import traceback
import warnings
from typing import Any

from .analysis.groups import SpuriousAttributionError
from .views.tables import escape_markdown


class SwitchedOffWarning(RuntimeWarning):
    """A part of the logged step failed and was switched off; training went on. Its own category, so
    a test suite (or a user) can turn exactly these into errors: `-W error::...SwitchedOffWarning`."""


class Guard:
    """Runs callables by part name; `strict` re-raises instead of switching the part off."""

    def __init__(self, strict: bool, events: Any):
        self.strict, self.events = strict, events
        self.setup = False  # while True (the step logged before training starts), errors propagate
        self.disabled: set[str] = set()

    def run(self, part: str, step: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if part in self.disabled:
            return None
        try:
            return fn(*args, **kwargs)
        except SpuriousAttributionError:
            raise  # the user asked for it: on_spurious="raise"
        except Exception as error:
            if self.strict or self.setup:
                raise
            self.disabled.add(part)
            self.report(part, step, error, traceback.format_exc())
            return None

    def report(self, part: str, step: int, error: Exception, trace: str) -> None:
        warnings.warn(f"gradcallback: {part} failed at step {step} and is switched off; training goes on. "
                      f"{error!r}\n{trace}", SwitchedOffWarning, stacklevel=4)
        text = f"**{escape_markdown(part)}** failed at step {step}: {escape_markdown(repr(error))}\n\n    "
        try:
            self.events.text("errors", text + trace.replace("\n", "\n    "), step,
                             "Errors inside gradcallback (training was not interrupted)")
        except Exception:  # the writer itself may be what failed
            pass
