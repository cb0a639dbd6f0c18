"""Chunks of probes for batched passes: grouped by length, padded per chunk, bounded in memory."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from .methods import chunk_rows
from .score import length_bucket


def chunks(encodings: Sequence[Encoding], size: int) -> list[np.ndarray]:
    """Probe indices grouped by similar length (longest first) so padding stays small; a chunk of long
    probes holds fewer than `size` (the "auto" memory budget of `chunk_rows`)."""
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    out, start = [], 0
    while start < len(order):
        rows = chunk_rows("auto", len(encodings[order[start]].ids), max_rows=size)
        out.append(order[start: start + rows])
        start += rows
    return out


def pad(encodings: Sequence[Encoding], pad_id: int, bucketed: bool = False,
        limit: int | None = None) -> dict[str, np.ndarray]:
    """Stack a chunk, padded to its own longest probe (or that length's bucket, at most `limit`, for a
    backend that compiles per shape)."""
    length = max(len(e.ids) for e in encodings)
    length = length_bucket(length, limit) if bucketed else length
    out = {"ids": np.full((len(encodings), length), pad_id, np.int32)}
    for name in ("mask", "segment_ids", "context", "special"):
        out[name] = np.zeros((len(encodings), length), bool if name == "special" else np.int32)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        out["ids"][row, :n], out["mask"][row, :n] = e.ids, 1
        out["segment_ids"][row, :n], out["context"][row, :n] = e.segment_ids, e.context_mask
        out["special"][row, :n] = e.special_mask
    return out
