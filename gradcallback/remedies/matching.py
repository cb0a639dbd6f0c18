"""A group's tokens found inside a training batch's ids, in the backend's graph.

`analysis.groups` matches words on token strings, per probe, in numpy; a training penalty needs the
same answer inside the trainer's compiled step, from ids alone. So each entry of a group becomes the
id sequences the tokenizer makes of it (as a sentence's first word and after a space, in the case
forms a cased tokenizer tells apart), and a position belongs to the group when such a sequence starts
there and the token after it opens a new word ("text" followed by "##s" is "texts", no match).
A regular expression is matched against the vocabulary's single tokens that open a word; the
"special_tokens" group is the tokenizer's special ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..adapters.words import fold, opens_word, piece_text, tokens_text
from ..analysis.groups import SPECIAL, WordList

SPECIAL_NAMES = ("cls", "sep", "bos", "eos", "mask", "unk", "start", "end")


@dataclass(frozen=True)
class GroupIds:
    """One group as id sequences, and which vocabulary ids open a word (1.0) or continue one (0.0)."""

    sequences: tuple[tuple[int, ...], ...]
    opens: np.ndarray  # float32 [vocab]


def group_ids(name: str, spec: Any, tokenizer: Any) -> GroupIds:
    """The id sequences of group `name` (`spec` as `analysis.groups.check_groups` returns it).

    Raises a ValueError naming the entries the tokenizer cannot produce ([UNK], or pieces that do not
    join back into the word): a penalty on them would silently do nothing.
    """
    vocabulary = tokenizer.convert_ids_to_tokens(range(tokenizer.vocab_size))
    opens = np.array([opens_word(t, tokenizer.scheme) for t in vocabulary], np.float32)
    if spec == SPECIAL:
        ids = {tokenizer.special_id(n) for n in SPECIAL_NAMES} - {None, tokenizer.special_id("pad")}
        sequences = tuple((int(i),) for i in sorted(ids))
    elif isinstance(spec, WordList):
        sequences = _word_sequences(name, spec, tokenizer)
    else:
        sequences = tuple((i,) for i, t in enumerate(vocabulary)
                          if opens[i] and isinstance(spec, re.Pattern) and spec.search(piece_text(t, tokenizer.scheme)))
    if not sequences:
        raise ValueError(f"Group {name!r} matches no token of the tokenizer's vocabulary: a penalty on it would "
                         f"change nothing. Received: groups[{name!r}]={spec!r}")
    return GroupIds(sequences, opens)


def _word_sequences(name: str, spec: WordList, tokenizer: Any) -> tuple[tuple[int, ...], ...]:
    found, unusable = [], []
    unk = tokenizer.unk_token
    for entry in spec.entries:
        variants = {v for form in (entry, entry.lower(), entry.capitalize()) for v in (form, " " + form)}
        usable = []
        for variant in sorted(variants):
            pieces = tokenizer.pieces(variant)
            joined = fold(tokens_text(pieces, tokenizer.scheme)).replace(" ", "")
            if pieces and unk not in pieces and joined == fold(entry).replace(" ", ""):
                usable.append(tuple(tokenizer.token_id(p) for p in pieces))
        if not usable:
            unusable.append(f"{entry!r} -> {tokenizer.pieces(entry)}")
        found += usable
    if unusable:
        raise ValueError(f"The tokenizer cannot produce these words of group {name!r} (unknown, or pieces that do "
                         f"not join back into the word): {', '.join(unusable)}. Received: groups[{name!r}]="
                         f"{list(spec.entries)!r}")
    return tuple(dict.fromkeys(found))


def positions(ids: Any, group: GroupIds) -> Any:
    """Float mask [N, T] (1.0 on the group's tokens) of a batch's ids [N, T], in keras.ops (any backend,
    traceable: nothing here depends on the values)."""
    ops = keras.ops
    ids = ops.cast(ids, "int32")
    width = max(len(s) for s in group.sequences)
    pad = ops.full_like(ids[:, :1], -1)
    padded = ops.concatenate([ids] + [pad] * (width + 1), axis=1)  # [N, T + width + 1]
    length = ops.shape(ids)[1]
    shifted = [padded[:, j:j + length] for j in range(width + 1)]  # shifted[j][:, t] = ids[:, t + j]
    opens = ops.convert_to_tensor(group.opens)
    mask = ops.zeros_like(ops.cast(ids, "float32"))
    for sequence in group.sequences:
        k = len(sequence)
        after = shifted[k]
        hit = ops.where(after < 0, 1.0, ops.take(opens, ops.maximum(after, 0), axis=0))
        for j, piece in enumerate(sequence):
            hit = hit * ops.cast(ops.equal(shifted[j], piece), "float32")
        for j in range(k):  # mark every piece of the match: position t + j
            mask = ops.maximum(mask, ops.pad(hit, [[0, 0], [j, 0]])[:, :length] if j else hit)
    return mask
