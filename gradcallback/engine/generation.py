"""Greedy continuations of causal-LM prompts: `target="generate"` (engine/continuations.py)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from .batching import pad
from .score import Chunk, score_function


def generate(explainer: Any, encodings: Sequence[Encoding], max_new_tokens: int) -> list[np.ndarray]:
    """Each prompt's greedy continuation of up to `max_new_tokens` tokens (an end token ends it, included).

    One batched forward pass per new token through the `next_token` head (no backward).
    """
    from .heads import HEADS

    ends = {i for i in (explainer.tokenizer.special_id("end"), explainer.tokenizer.special_id("eos")) if i is not None}
    sequences = [list(e.ids) for e in encodings]
    grown: list[list[int]] = [[] for _ in encodings]
    limit = explainer.max_length
    with explainer.adapter.attached():
        fn = score_function(explainer.adapter, HEADS["next_token"], explainer.jit_compile)
        for _ in range(max_new_tokens):
            live = [i for i, g in enumerate(grown) if not (g and g[-1] in ends)
                    and (limit is None or len(sequences[i]) < limit)]
            if not live:
                break
            batch = _pad_ids([sequences[i] for i in live], explainer, fn.static_shapes)
            targets = np.asarray([(len(sequences[i]) - 1, -1) for i in live], np.int32)
            embeds = explainer.adapter.word_embeddings(batch["ids"])
            chosen = fn.bind(Chunk.from_numpy(batch)).evaluate(embeds, targets).targets[:, 1]
            for i, token in zip(live, chosen):
                sequences[i].append(int(token))
                grown[i].append(int(token))
    return [np.asarray(g, np.int32) for g in grown]


def _pad_ids(sequences: Sequence[list[int]], explainer: Any, bucketed: bool) -> dict[str, np.ndarray]:
    encodings = [Encoding(ids=np.asarray(s, np.int32), segment_ids=np.zeros(len(s), np.int32),
                          special_mask=np.zeros(len(s), bool), context_mask=np.ones(len(s), bool)) for s in sequences]
    return pad(encodings, explainer._pad_id(), bucketed, explainer.max_length)
