"""How the engine tells its caller how far the work has got, without drawing anything itself.

The caller of `Explainer.explain` may pass `progress=`, a factory `(total, *, label, per_item) -> sink`.
The engine opens one sink per call over the probes it explains; a sink has `items_done(items)` (whole
probes finished), `advance(units)` (gradient passes inside a method's loop: integrated-gradients
points, SmoothGrad samples) and `close()`. A method's inner loop reaches the open sink through
`advance()`, so methods stay pure functions of their score function. The progress bar that
`gradcallback.explain` shows is one such sink (`views/progress.py`).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from typing import Any, Callable, Iterator, Mapping

AUTO_STEPS = 17  # integrated gradients' steps="auto" needs 17 points at least; the total grows if it needs more


class Silent:
    """The sink when nobody listens."""

    def items_done(self, items: int) -> None:
        """Nothing to report to."""

    def advance(self, units: int) -> None:
        """Nothing to report to."""

    def close(self) -> None:
        """Nothing to close."""


_SILENT = Silent()  # stateless, so one instance serves every context that opened nothing
_OPEN: contextvars.ContextVar[Any] = contextvars.ContextVar("gradcallback_work", default=_SILENT)


@contextlib.contextmanager
def reporting(factory: Callable[..., Any] | None, total: int, *, label: str, per_item: int) -> Iterator[Any]:
    """The sink for one call's work of `total` probes (`Silent` when `factory` is None), open in this context."""
    if factory is not None and not callable(factory):
        raise ValueError("Expected progress to be None or a factory (total, *, label, per_item) -> sink. "
                         f"Received: progress={factory!r}")
    sink = Silent() if factory is None else factory(total, label=label, per_item=per_item)
    token = _OPEN.set(sink)
    try:
        yield sink
    finally:
        _OPEN.reset(token)
        sink.close()


def advance(units: int) -> None:
    """Report `units` gradient passes to the sink open in this context (a method's inner loop)."""
    _OPEN.get().advance(units)


def units_per_probe(method_fn: Callable, options: Mapping[str, Any]) -> int:
    """Gradient passes per probe: IG's `steps` or SmoothGrad's `samples`, given or the method's default."""
    params = inspect.signature(method_fn).parameters
    for name in ("steps", "samples"):
        if name in params:
            value = options.get(name, params[name].default)
            return value if isinstance(value, int) and value > 0 else AUTO_STEPS
    return 1
