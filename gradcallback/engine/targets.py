"""Turn the user's `target=` into a head name and an int32 [N, 2] target array (-1 = predicted)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .continuations import is_continuation, parse_continuations

QA_MODES = ("span", "start", "end")


def parse_targets(task: str, target: Any, encodings: Sequence[Any], tokenizer: Any = None) -> tuple[str, np.ndarray]:
    """(head name, targets [N, 2]) for `task`; ValueError for a target the task cannot take."""
    n = len(encodings)
    if task != "causal_lm" and (isinstance(target, str) and target not in QA_MODES):
        raise ValueError(f"A text target is a continuation, which only a causal LM explains; this model's task is "
                         f"{task}. Received: target={target!r}")
    if task == "causal_lm" and is_continuation(target):  # explained by engine/continuations.py
        parse_continuations(tokenizer, target, n)  # ValueError now for a bad one
        return "continuation", np.zeros((n, 2), np.int32)
    if task == "causal_lm":
        return "next_token", _next_token_targets(target, encodings, tokenizer)
    if task == "classification":
        return "class", _per_probe(target, n, _class_target)
    if task == "question_answering":
        mode = target if target in QA_MODES else "span"
        spans = None if isinstance(target, str) or target is None else target
        out = _per_probe(spans, n, _pair_target)
        _check_positions(out, encodings, both=True)
        return mode, out
    if target is None:
        raise ValueError("Token classification explains one token: pass target=position or "
                         "(position, class), or a list with one per input. Received: target=None")
    out = _per_probe(target, n, _token_target)
    _check_positions(out, encodings, both=False)
    return "token", out


def _is_single(target: Any, parse) -> bool:
    try:
        parse(target)
        return True
    except (TypeError, ValueError):
        return False


def _per_probe(target: Any, n: int, parse) -> np.ndarray:
    """One target for all probes, or a sequence with one per probe."""
    if target is None or _is_single(target, parse):
        return np.tile(np.asarray(parse(target), np.int32), (n, 1))
    items = list(target)
    if len(items) != n:
        raise ValueError(f"Expected one target per input ({n}). Received: target={target!r}")
    return np.asarray([parse(t) for t in items], np.int32)


def _class_target(t: Any) -> tuple[int, int]:
    if t is None:
        return (-1, 0)
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 0:
        return (int(t), 0)
    raise ValueError(f"Expected a class index >= 0 or None. Received: target={t!r}")


def _pair_target(t: Any) -> tuple[int, int]:
    if t is None:
        return (-1, -1)
    if isinstance(t, tuple) and len(t) == 2 and all(isinstance(v, (int, np.integer)) for v in t):
        if 0 <= t[0] <= t[1]:
            return (int(t[0]), int(t[1]))
    raise ValueError(f"Expected a (start, end) token span with start <= end. Received: target={t!r}")


def _token_target(t: Any) -> tuple[int, int]:
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 0:
        return (int(t), -1)
    if isinstance(t, tuple) and len(t) == 2 and all(isinstance(v, (int, np.integer)) for v in t) and min(t) >= 0:
        return (int(t[0]), int(t[1]))
    raise ValueError(f"Expected a token position or (position, class). Received: target={t!r}")


def _check_positions(targets: np.ndarray, encodings: Sequence[Any], both: bool) -> None:
    for i, (t, e) in enumerate(zip(targets, encodings)):
        positions = t if both else t[:1]
        if (positions >= len(e.ids)).any():
            raise ValueError(f"Target position beyond probe {i}'s {len(e.ids)} tokens. Received: target={tuple(t)}")


def _next_token_targets(target: Any, encodings: Sequence[Any], tokenizer: Any) -> np.ndarray:
    """(last prompt position, token id or -1) per prompt; a token is given as its string or id."""
    def token(t: Any) -> int:
        if t is None:
            return -1
        if isinstance(t, str) and tokenizer is not None:
            encoded = tokenizer.encode(t, None, "causal_lm")
            ids = [int(i) for i in encoded.ids[~encoded.special_mask]]
            if len(ids) != 1:
                raise ValueError(f"Expected a target that is one token; {t!r} is {len(ids)} tokens: "
                                 f"{tokenizer.convert_ids_to_tokens(ids)}. Received: target={t!r}")
            return ids[0]
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and t >= 0:
            return int(t)
        raise ValueError(f"Expected the next token as a string, a token id or None. Received: target={t!r}")

    single = target is None or isinstance(target, (str, int, np.integer))
    tokens = [token(target)] * len(encodings) if single else [token(t) for t in target]
    if len(tokens) != len(encodings):
        raise ValueError(f"Expected one target per prompt ({len(encodings)}). Received: target={target!r}")
    return np.asarray([(len(e.ids) - 1, t) for e, t in zip(encodings, tokens)], np.int32)
