"""Tokenizer adapters: the only code that knows how transformers and keras-hub tokenizers work.

Both produce `Encoding`s: per probe the ids with special tokens, segment ids, which
tokens are special, which tokens may hold an answer span (QA context) and how many
tokens truncation dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .words import BPE, SENTENCEPIECE, WORDPIECE, scheme_of_vocabulary, tokens_text

if TYPE_CHECKING:
    from .rust_tokenizer import RustTokenizer

Text = Any  # a str, or a (question, context) pair


@dataclass(frozen=True, eq=False)
class Encoding:
    """One tokenized probe. Arrays are 1-D and share one length."""

    ids: np.ndarray  # int32 [T]
    segment_ids: np.ndarray  # int32 [T]
    special_mask: np.ndarray  # bool [T]
    context_mask: np.ndarray  # bool [T]: answer-span candidates (QA) / content tokens
    dropped: int = 0  # tokens removed by truncation
    offsets: list[tuple[int, int]] | None = None  # char offsets into the last text


def _context_after_first_separator(special: np.ndarray) -> np.ndarray:
    """For a pair, the second text is the non-special tokens after the first separator.

    Works for BERT ([CLS] q [SEP] c [SEP]) and RoBERTa (<s> q </s></s> c </s>) layouts.
    """
    later_specials = np.flatnonzero(special[1:]) + 1
    first_sep = int(later_specials[0]) if later_specials.size else len(special)
    context = ~special
    context[: first_sep + 1] = False
    return context


class HFTokenizer:
    """A transformers tokenizer (fast or slow)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.model_max_length = _sane_max(getattr(tokenizer, "model_max_length", None))

    @staticmethod
    def matches(tokenizer: Any) -> bool:
        """Whether `tokenizer` is a transformers tokenizer, the kind this adapter wraps."""
        return type(tokenizer).__module__.startswith("transformers") or hasattr(tokenizer, "convert_ids_to_tokens")

    @property
    def vocab_size(self) -> int:
        """How many ids the vocabulary holds, added tokens included."""
        return len(self.tokenizer)

    def special_id(self, name: str) -> int | None:
        """The id of special token `name` ("cls", "sep", "pad", "mask", "unk", ...); None when it has none."""
        return getattr(self.tokenizer, f"{name}_token_id", None)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """The token strings of `ids`, as the tokenizer spells them (word-piece markers kept)."""
        return [str(t) for t in self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """`tokens` joined back into text by the tokenizer's own rules."""
        return self.tokenizer.convert_tokens_to_string(tokens)

    kind = "transformers"

    @property
    def scheme(self) -> str:
        """How tokens make words (`adapters.words.SCHEMES`), read from the vocabulary's markers once."""
        if not hasattr(self, "_scheme"):
            self._scheme = scheme_of_vocabulary(self.tokenizer.get_vocab())
        return self._scheme

    @property
    def unk_token(self) -> str | None:
        """The unknown-word token (e.g. [UNK]), or None."""
        return self.tokenizer.unk_token

    def words(self, text: str) -> list[str]:
        """Words as the tokenizer's own pre-tokenizer splits them (surface forms)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and backend.pre_tokenizer is not None:
            return [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(text)]
        basic = getattr(self.tokenizer, "basic_tokenizer", None)
        if basic is not None:
            return basic.tokenize(text)
        return split_words(text)

    def pieces(self, word: str) -> list[str]:
        """The pieces the tokenizer cuts `word` into, without special tokens."""
        return [str(t) for t in self.tokenizer.tokenize(word)]

    def added_tokens(self) -> list[str]:
        """Tokens added after the pretrained vocabulary (`add_tokens`), special ones excluded."""
        special = set(self.tokenizer.all_special_tokens)
        return [t for t in self.tokenizer.get_added_vocab() if t not in special]

    def token_id(self, token: str) -> int:
        """The id of `token` in the vocabulary."""
        return int(self.tokenizer.convert_tokens_to_ids(token))

    def encode(self, text: Text, max_length: int | None, task: str | None = None) -> Encoding:
        """One probe's `Encoding`; past `max_length` a pair loses context tokens only, a single text its last ones."""
        pair = isinstance(text, tuple)
        args = text if pair else (text,)
        kwargs = dict(return_token_type_ids=True, return_special_tokens_mask=True, verbose=False)
        if getattr(self.tokenizer, "is_fast", False):
            kwargs["return_offsets_mapping"] = True
        enc = self.tokenizer(*args, **kwargs)
        full = len(enc["input_ids"])
        if max_length is not None and full > max_length:
            strategy = "only_second" if pair else "longest_first"
            enc = self.tokenizer(*args, truncation=strategy, max_length=max_length, **kwargs)
        special = np.asarray(enc["special_tokens_mask"], dtype=bool)
        offsets = enc.get("offset_mapping")
        return Encoding(
            ids=np.asarray(enc["input_ids"], dtype=np.int32),
            segment_ids=np.asarray(enc.get("token_type_ids") or [0] * len(special), dtype=np.int32),
            special_mask=special,
            context_mask=_context_after_first_separator(special) if pair else ~special,
            dropped=full - len(special),
            offsets=[tuple(o) for o in offsets] if offsets is not None else None,
        )


class KerasHubTokenizer:
    """A keras-hub tokenizer (WordPiece, BPE, SentencePiece), or a preprocessor that holds one.

    The special-token layout (start, separator, end, pad, mask) comes from the preprocessor's
    packer when given one (RoBERTa separates a pair with two end tokens, BERT with one [SEP]),
    else from the tokenizer's `start_token_id` / `end_token_id` / `pad_token_id`.
    """

    kind = "keras-hub"

    def __init__(self, tokenizer: Any):
        self.preprocessor = tokenizer if hasattr(tokenizer, "tokenizer") else None
        self.tokenizer = tokenizer.tokenizer if self.preprocessor is not None else tokenizer
        self.model_max_length = _sane_max(getattr(self.preprocessor, "sequence_length", None))
        self.start, self.sep, self.end = _layout(self.preprocessor, self.tokenizer)

    @staticmethod
    def matches(tokenizer: Any) -> bool:
        """Whether `tokenizer` is a keras-hub tokenizer, or a preprocessor holding one."""
        inner = getattr(tokenizer, "tokenizer", tokenizer)
        return hasattr(inner, "id_to_token") and hasattr(inner, "vocabulary_size")

    @property
    def vocab_size(self) -> int:
        """How many ids the vocabulary holds."""
        return int(self.tokenizer.vocabulary_size())

    def special_id(self, name: str) -> int | None:
        """The id of special token `name` ("cls"/"bos" as start, "sep"/"eos" as end, "unk" the OOV token), or None."""
        aliases = {"cls": "start", "sep": "end", "bos": "start", "eos": "end"}
        value = getattr(self.tokenizer, f"{name}_token_id", None)
        if value is None and name in aliases:
            value = getattr(self.tokenizer, f"{aliases[name]}_token_id", None)
        if value is None and name == "unk":
            token = getattr(self.tokenizer, "oov_token", None) or getattr(self.tokenizer, "unk_token", None)
            value = self.tokenizer.token_to_id(token) if token else None
        return None if value is None else int(value)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """The token strings of `ids`."""
        return [str(self.tokenizer.id_to_token(int(i))) for i in ids]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """`tokens` joined back into text by the rules of the tokenizer's scheme (WordPiece, BPE, SentencePiece)."""
        return tokens_text(tokens, self.scheme)

    @property
    def scheme(self) -> str | None:
        """How tokens make words (`adapters.words.SCHEMES`): keras-hub's tokenizer class says it
        (a GPT-2 tokenizer is a `BytePairTokenizer`), else the vocabulary's markers; None (guess
        from each probe's tokens) for a tokenizer that shows neither."""
        if not hasattr(self, "_scheme"):
            names = {c.__name__ for c in type(self.tokenizer).__mro__}
            kinds = {"WordPieceTokenizer": WORDPIECE, "BytePairTokenizer": BPE, "SentencePieceTokenizer": SENTENCEPIECE}
            known = [scheme for name, scheme in kinds.items() if name in names]
            vocabulary = getattr(self.tokenizer, "get_vocabulary", None)
            self._scheme = known[0] if known else scheme_of_vocabulary(vocabulary()) if vocabulary else None
        return self._scheme

    @property
    def unk_token(self) -> str | None:
        """The out-of-vocabulary token, or None."""
        return getattr(self.tokenizer, "oov_token", None) or getattr(self.tokenizer, "unk_token", None)

    def words(self, text: str) -> list[str]:
        """Words of `text` by the Unicode-aware fallback split (`split_words`)."""
        return split_words(text)

    def pieces(self, word: str) -> list[str]:
        """The pieces the tokenizer cuts `word` into."""
        return self.convert_ids_to_tokens(self._piece_ids(word))

    def added_tokens(self) -> list[str]:
        """Tokens added after the pretrained vocabulary: none, as keras-hub vocabularies are fixed."""
        return []  # keras-hub vocabularies are fixed at construction

    def token_id(self, token: str) -> int:
        """The id of `token` in the vocabulary."""
        return int(self.tokenizer.token_to_id(token))

    @property
    def marker_ids(self) -> frozenset[int]:
        """Ids of the special tokens keras-hub declares (start, end, chat markers such as <|im_start|> or
        <start_of_turn>): `special_token_ids`, a byte-pair tokenizer's unsplittable tokens and a SentencePiece
        model's control and user-defined pieces; never the unknown token. Read from the tokenizer, not a list."""
        if not hasattr(self, "_markers"):
            inner = self.tokenizer
            ids = set(getattr(inner, "special_token_ids", None) or [])
            ids |= {self.token_id(t) for t in getattr(inner, "unsplittable_tokens", None) or []}
            ids |= _sentencepiece_markers(getattr(inner, "proto", None))
            ids.discard(self.special_id("unk"))
            self._markers = frozenset(int(i) for i in ids)
        return self._markers

    def _piece_ids(self, text: str) -> list[int]:
        return [int(i) for i in np.asarray(self.tokenizer(text)).reshape(-1)]

    def encode(self, text: Text, max_length: int | None, task: str | None = None) -> Encoding:
        """[start] a [sep] b [end] as the packer lays it out; a causal-LM prompt gets no end token and
        keeps its last tokens when cut (they are next to the predicted one)."""
        parts = [self._piece_ids(t) for t in (text if isinstance(text, tuple) else (text,))]
        end = [] if task == "causal_lm" else self.end
        full = sum(map(len, parts)) + len(self.start) + len(self.sep) * (len(parts) - 1) + len(end)
        if max_length is not None and full > max_length:
            room = max_length - (full - len(parts[-1]))
            if room < 1:
                raise ValueError(f"The question alone is longer than max_length={max_length}.")
            parts[-1] = parts[-1][-room:] if task == "causal_lm" else parts[-1][:room]
        ids, segments, special = list(self.start), [0] * len(self.start), [True] * len(self.start)
        markers = self.marker_ids if task == "causal_lm" else frozenset()  # chat markers inside a prompt
        for segment, piece_ids in enumerate(parts):
            closing = end if segment == len(parts) - 1 else self.sep
            ids += piece_ids + closing
            segments += [segment] * (len(piece_ids) + len(closing))
            special += [i in markers for i in piece_ids] + [True] * len(closing)
        special_arr = np.asarray(special, dtype=bool)
        return Encoding(
            ids=np.asarray(ids, dtype=np.int32),
            segment_ids=np.asarray(segments, dtype=np.int32),
            special_mask=special_arr,
            context_mask=_context_after_first_separator(special_arr) if len(parts) == 2 else ~special_arr,
            dropped=full - len(ids),
        )


def _layout(preprocessor: Any, tokenizer: Any) -> tuple[list[int], list[int], list[int]]:
    """(start, separator, end) id lists, from the preprocessor's packer or the tokenizer."""
    packer = getattr(preprocessor, "packer", None)
    if preprocessor is not None and packer is None and hasattr(preprocessor, "build"):
        preprocessor.build(None)  # keras-hub preprocessors create their packer when built
        packer = getattr(preprocessor, "packer", None)
    if packer is not None and hasattr(packer, "start_value"):
        ids = lambda v: [_token_id(tokenizer, x) for x in (v if isinstance(v, (list, tuple)) else [v])]  # noqa: E731
        start, end = ids(packer.start_value) if packer.start_value is not None else [], \
            ids(packer.end_value) if packer.end_value is not None else []
        sep = ids(packer.sep_value) if getattr(packer, "sep_value", None) is not None else end
        return start, sep, end
    start, end = getattr(tokenizer, "start_token_id", None), getattr(tokenizer, "end_token_id", None)
    if start is None and end is None:
        raise ValueError("Expected a keras-hub tokenizer or preprocessor with special tokens (start_token_id / "
                         "end_token_id, or a preprocessor's packer) to lay out model inputs. "
                         f"Received: tokenizer={type(tokenizer).__name__} without special tokens")
    start, end = [int(start)] if start is not None else [], [int(end)] if end is not None else []
    return start, end, end


def _sentencepiece_markers(proto: Any) -> set[int]:
    """Control and user-defined piece ids of a serialized SentencePiece model (none without one)."""
    if not isinstance(proto, (bytes, bytearray)):
        return set()
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:  # keras-hub's SentencePiece tokenizers run on tensorflow-text; the markers need this
        return set()
    model = sentencepiece_model_pb2.ModelProto.FromString(bytes(proto))
    kinds = (model.SentencePiece.CONTROL, model.SentencePiece.USER_DEFINED)
    return {i for i, piece in enumerate(model.pieces) if piece.type in kinds}


def _token_id(tokenizer: Any, value: Any) -> int:
    return int(tokenizer.token_to_id(value)) if isinstance(value, str) else int(value)


def split_words(text: str) -> list[str]:
    """Unicode-aware fallback pre-tokenizer: runs of letters/digits/marks, and single punctuation."""
    text = unicodedata.normalize("NFC", text)
    return re.findall(r"[\w\u0300-\u036f\u1100-\u11ff\u3130-\u318f]+|[^\w\s]", text)


def _sane_max(value: Any) -> int | None:
    # transformers uses a huge sentinel (1e30) when the tokenizer has no limit.
    return int(value) if isinstance(value, int) and 0 < value < 1_000_000 else None


TOKENIZER_ADAPTERS = (KerasHubTokenizer, HFTokenizer)


def wrap_tokenizer(tokenizer: Any) -> HFTokenizer | KerasHubTokenizer | RustTokenizer:
    """Pick the tokenizer adapter for `tokenizer`; ValueError if none fits."""
    from .rust_tokenizer import RustTokenizer  # imports this module: here, not at the top

    if isinstance(tokenizer, (HFTokenizer, KerasHubTokenizer, RustTokenizer)):
        return tokenizer
    for adapter in (*TOKENIZER_ADAPTERS, RustTokenizer):
        if adapter.matches(tokenizer):
            return adapter(tokenizer)
    raise ValueError(
        "Expected a transformers tokenizer (with `convert_ids_to_tokens`), a `tokenizers.Tokenizer` or a keras-hub "
        f"tokenizer/preprocessor (with `id_to_token`). Received: tokenizer={type(tokenizer).__name__}"
    )
