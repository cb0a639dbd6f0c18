"""The methods the engine knows, what each needs, and the checks of their options."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..validate import choice
from . import methods
from .integrated_gradients import integrated_gradients
from .options import check_values


@dataclass(frozen=True)
class MethodSpec:
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
ENGINE_OPTIONS = ("batch_size", "max_length", "embedding_layer", "jit_compile", "doc_stride", "output")
SMOOTHGRAD_BASES = ("gradient_norm", "gradient_x_input", "vanilla_gradients")


def is_signed(method: str, options: dict | None = None) -> bool:
    """Whether `method`'s scores can be negative (smoothgrad follows its base)."""
    if method == "smoothgrad":
        return METHODS[(options or {}).get("base", "gradient_norm")].signed
    return METHODS[method].signed


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
