"""The methods the engine knows, what each needs, and the checks of their options."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..validate import choice
from . import methods
from .integrated_gradients import integrated_gradients
from .options import check_values


@dataclass(frozen=True)
class MethodSpec:
    """A method the engine knows: its function, whether its scores are signed, and what it needs built."""
    fn: Callable[..., methods.MethodOutput]
    signed: bool  # scores can be negative (diverging colour maps)
    needs: tuple[str, ...] = ()  # what the engine must build for it: "gram", "baseline"


METHODS: dict[str, MethodSpec] = {
    "gradient_norm": MethodSpec(methods.gradient_norm, signed=False),
    "vanilla_gradients": MethodSpec(methods.vanilla_gradients, signed=False, needs=("gram",)),
    "gradient_x_input": MethodSpec(methods.gradient_x_input, signed=True),
    "integrated_gradients": MethodSpec(integrated_gradients, signed=True, needs=("baseline",)),
    "smoothgrad": MethodSpec(methods.smoothgrad, signed=False),
}
ENGINE_OPTIONS = ("batch_size", "max_length", "embedding_layer", "jit_compile", "doc_stride", "output", "eager")
SMOOTHGRAD_BASES = ("gradient_norm", "gradient_x_input", "vanilla_gradients")


def is_signed(method: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether `method` gives signed scores, drawn on a diverging (red/blue) scale.

    "Signed" is a property of the method, not of one probe's numbers: a signed method's score says
    how much a token pushes the explained output up (> 0) or down (< 0), so its scores can be
    negative, even where a given probe's happen to be all positive; an unsigned method gives a
    magnitude (>= 0). SmoothGrad is signed when its base is (`options["base"]`, which its
    attributions also carry in `info`). A method the registry does not know (an `Attribution`
    built by hand) counts as signed: a diverging scale still shows positive scores right, where an
    unsigned one would hide negative ones.

    Args:
        method: the method's name.
        options: the method's options, or an attribution's `info` (only "base" is read).

    Returns:
        True for a signed method.
    """
    if method == "smoothgrad":
        method = (options or {}).get("base", "gradient_norm")
    return METHODS[method].signed if method in METHODS else True


def method_options(method: str, options: dict) -> dict:
    """The options as the method function takes them; ValueError for an unknown method or option
    (checked against the method's own signature) or a bad smoothgrad base."""
    choice("method", method, sorted(METHODS))
    accepted = {p.name for p in inspect.signature(METHODS[method].fn).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name != "gram"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"Unknown options for {method}: {unknown}; accepted: {sorted(accepted)}. "
                         f"Received: {', '.join(f'{k}={options[k]!r}' for k in unknown)}")
    check_values(method, options)
    call = {k: v for k, v in options.items() if k != "baseline"}
    if method == "smoothgrad":
        base = call.get("base", "gradient_norm")
        choice("base", base, SMOOTHGRAD_BASES)
        call["base"] = METHODS[base].fn
    return call
