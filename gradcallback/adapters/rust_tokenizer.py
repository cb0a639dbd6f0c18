"""Tokenizer adapter for Hugging Face's Rust `tokenizers.Tokenizer` (a folder's `tokenizer.json`).

It is the tokenizer transformers' fast tokenizers wrap, without transformers: loading it takes
about 0.04 s where transformers' import takes seconds, and it needs no TensorFlow (keras-hub's
own WordPiece tokenizer runs on tensorflow-text). `gradcallback explain`'s quick path uses it.
Ids, special tokens, segments and offsets are those of the transformers fast tokenizer saved
in the same folder (`tokenizer_from_folder`), because it is the same Rust object underneath.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .tokenizers import Encoding, Text, _context_after_first_separator, _sane_max
from .words import scheme_of_vocabulary, tokens_text

SPELLINGS = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "pad": ("[PAD]", "<pad>"),
             "mask": ("[MASK]", "<mask>"), "unk": ("[UNK]", "<unk>"), "bos": ("<s>",), "eos": ("</s>",)}


def tokenizer_from_folder(folder: str | Path) -> RustTokenizer:
    """The adapter for a Hugging Face folder's `tokenizer.json`, with the special tokens of its
    `special_tokens_map.json` and the length limit of its `tokenizer_config.json`."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    specials = {k.removesuffix("_token"): _content(v) for k, v in _json(folder / "special_tokens_map.json").items()
                if k.endswith("_token")}
    limit = _json(folder / "tokenizer_config.json").get("model_max_length")
    return RustTokenizer(Tokenizer.from_file(str(folder / "tokenizer.json")), specials, limit)


class RustTokenizer:
    """A `tokenizers.Tokenizer`. `special_tokens` names the special tokens ({"cls": "[CLS]", ...}); without
    it the usual BERT / RoBERTa spellings found in the vocabulary are used. The padding and truncation
    a `tokenizer.json` may carry are switched off on a copy: the engine pads and cuts itself."""

    kind = "transformers"  # the same tokenizers as transformers' fast ones (analysis.coverage reports it)

    def __init__(self, tokenizer: Any, special_tokens: dict[str, str] | None = None, model_max_length: Any = None):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())  # the user's object keeps its settings
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.special_tokens = dict(special_tokens or {})
        self.model_max_length = _sane_max(model_max_length)

    @staticmethod
    def matches(tokenizer: Any) -> bool:
        """Whether `tokenizer` is a `tokenizers.Tokenizer`."""
        return type(tokenizer).__module__.startswith("tokenizers") and hasattr(tokenizer, "encode_batch")

    @property
    def vocab_size(self) -> int:
        """How many ids the vocabulary holds, added tokens included."""
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def _special_token(self, name: str) -> str | None:
        if name in self.special_tokens:
            return self.special_tokens[name]
        if name == "unk" and getattr(self.tokenizer.model, "unk_token", None):
            return self.tokenizer.model.unk_token
        return next((t for t in SPELLINGS.get(name, ()) if self.tokenizer.token_to_id(t) is not None), None)

    def special_id(self, name: str) -> int | None:
        """The id of special token `name` ("cls", "sep", "pad", "mask", "unk", ...); None when it has none."""
        token = self._special_token(name)
        value = self.tokenizer.token_to_id(token) if token is not None else None
        return None if value is None else int(value)

    @property
    def unk_token(self) -> str | None:
        """The unknown-word token (e.g. [UNK]), or None."""
        return self._special_token("unk")

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """The token strings of `ids`, as the tokenizer spells them (word-piece markers kept)."""
        return [str(self.tokenizer.id_to_token(int(i))) for i in ids]

    def tokens_to_string(self, tokens: list[str]) -> str:
        """`tokens` joined back into text by the tokenizer's decoder (as transformers' fast tokenizers do)."""
        decoder = self.tokenizer.decoder
        return decoder.decode(list(tokens)) if decoder is not None else tokens_text(tokens, self.scheme)

    @property
    def scheme(self) -> str:
        """How tokens make words (`adapters.words.SCHEMES`), read from the vocabulary's markers once."""
        if not hasattr(self, "_scheme"):
            self._scheme = scheme_of_vocabulary(self.tokenizer.get_vocab(with_added_tokens=False))
        return self._scheme

    def words(self, text: str) -> list[str]:
        """Words as the tokenizer's own pre-tokenizer splits them (surface forms)."""
        from .tokenizers import split_words

        pre = self.tokenizer.pre_tokenizer
        return [w for w, _ in pre.pre_tokenize_str(text)] if pre is not None else split_words(text)

    def pieces(self, word: str) -> list[str]:
        """The pieces the tokenizer cuts `word` into, without special tokens."""
        return list(self.tokenizer.encode(word, add_special_tokens=False).tokens)

    def added_tokens(self) -> list[str]:
        """Tokens added after the pretrained vocabulary, special ones excluded."""
        added = self.tokenizer.get_added_tokens_decoder()
        return [t.content for _, t in sorted(added.items()) if not t.special]

    def token_id(self, token: str) -> int:
        """The id of `token` in the vocabulary."""
        value = self.tokenizer.token_to_id(token)
        return int(value if value is not None else self.special_id("unk") or 0)

    def encode(self, text: Text, max_length: int | None, task: str | None = None) -> Encoding:
        """One probe's `Encoding`; past `max_length` a pair loses context tokens only, a single text its last ones."""
        pair = isinstance(text, tuple)
        enc = self.tokenizer.encode(*(text if pair else (text,)))
        full = len(enc.ids)
        if max_length is not None and full > max_length:
            self.tokenizer.enable_truncation(max_length, strategy="only_second" if pair else "longest_first")
            try:
                enc = self.tokenizer.encode(*(text if pair else (text,)))
            finally:
                self.tokenizer.no_truncation()
        special = np.asarray(enc.special_tokens_mask, dtype=bool)
        return Encoding(
            ids=np.asarray(enc.ids, dtype=np.int32),
            segment_ids=np.asarray(enc.type_ids, dtype=np.int32),
            special_mask=special,
            context_mask=_context_after_first_separator(special) if pair else ~special,
            dropped=full - len(special),
            offsets=[tuple(o) for o in enc.offsets],
        )


def _json(path: Path) -> dict:
    if not path.exists():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def _content(value: Any) -> str:
    return value.get("content", "") if isinstance(value, dict) else str(value)  # AddedToken dicts or plain strings
