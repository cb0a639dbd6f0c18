"""Question answering over contexts longer than the model: overlapping windows, as transformers'
QA pipeline does with `doc_stride`, instead of a silent cut or a crash.

Each window keeps the question and the separators and takes the next slice of the context,
sharing `stride` tokens with its neighbour. All windows are explained in one batched engine
call; the answer is the best span across windows (the largest start + end logit), and that
window's attribution is mapped back onto the whole context. Tokens outside the chosen window
get 0: they were not in the input that produced the answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from ..attribution import Attribution


def take(enc: Encoding, positions: np.ndarray) -> Encoding:
    """The tokens of `enc` at `positions`, as an encoding of its own."""
    offsets = [enc.offsets[p] for p in positions] if enc.offsets is not None else None
    return Encoding(enc.ids[positions], enc.segment_ids[positions], enc.special_mask[positions],
                    enc.context_mask[positions], dropped=0, offsets=offsets)


def split(full: Encoding, max_length: int, stride: int) -> list[np.ndarray]:
    """Positions in `full` of each window of at most `max_length` tokens: the question part and the
    final separator(s) in every window, the context in slices overlapping by `stride` tokens."""
    context = np.flatnonzero(full.context_mask)
    if len(full.ids) <= max_length or not context.size:
        return [np.arange(len(full.ids))]
    prefix, suffix = np.arange(context[0]), np.arange(context[-1] + 1, len(full.ids))
    room = max_length - len(prefix) - len(suffix)
    if room < 1:
        raise ValueError(f"The question alone is longer than max_length={max_length}. "
                         f"Received: a question of {len(prefix)} tokens")
    step = room - min(stride, room // 2)  # keep at least half of each window new
    windows = []
    for start in range(0, len(context), step):
        windows.append(np.concatenate([prefix, context[start: start + room], suffix]))
        if start + room >= len(context):
            break
    return windows


def explain_windows(explainer: Any, texts: Sequence[Any], encodings: Sequence[Encoding], *, method: str,
                    stride: int, **options: Any) -> list[Attribution]:
    """Explain QA probes whose context was cut, over windows; one Attribution per probe on its whole text."""
    fulls = [explainer.tokenizer.encode(t, None, "question_answering") if e.dropped else e
             for t, e in zip(texts, encodings)]
    jobs = [(i, positions) for i, full in enumerate(fulls)
            for positions in split(full, explainer.max_length, stride)]
    windowed = explainer.explain_encoded([texts[i] for i, _ in jobs], [take(fulls[i], p) for i, p in jobs],
                                         task="question_answering", method=method, **options)
    out = []
    for i, full in enumerate(fulls):
        candidates = [(p, a) for (j, p), a in zip(jobs, windowed) if j == i]
        out.append(merge(explainer, full, candidates))
    return out


def merge(explainer: Any, full: Encoding, windows: list[tuple[np.ndarray, Attribution]]) -> Attribution:
    """The best window's attribution (largest explained start + end logit), on the whole probe."""
    positions, best = max(windows, key=lambda w: w[1].score)
    if len(windows) == 1 and len(positions) == len(full.ids):
        return best
    scores = np.zeros(len(full.ids), np.float32)
    scores[positions] = best.scores  # [T_window] -> [T_full]
    start, end = best.prediction.span
    context = positions[full.context_mask[positions]]
    return replace(best, tokens=explainer.tokenizer.convert_ids_to_tokens(full.ids), token_ids=full.ids.copy(),
                   scores=scores, special_mask=full.special_mask.copy(), segment_ids=full.segment_ids.copy(),
                   target=(int(positions[best.target[0]]), int(positions[best.target[1]])),
                   prediction=replace(best.prediction, span=(int(positions[start]), int(positions[end]))),
                   info=dict(best.info, windows=len(windows), window=(int(context[0]), int(context[-1]))))
