"""Word grouping: which tokens make up each word, by the tokenizer's scheme. The one place that knows
the word-piece markers; monitors, tables, the dashboard payload, discovery and faithfulness call it.

    wordpiece      "##x" continues the word before it (BERT, DistilBERT, ELECTRA)
    bpe            byte-level BPE: "Ġx" starts a word (GPT-2, RoBERTa); tokens are bytes mapped to chars
    sentencepiece  "▁x" starts a word (ALBERT, T5, DeBERTa-v3, XLM-R)
    whole          every token is a word (a word-level vocabulary)

BPE and SentencePiece glue punctuation to no marker ("Atiku," -> "▁At", "iku", ","), so in those
schemes a token also starts a word where punctuation meets a letter or digit, as BERT's
pre-tokenizer splits: the word "atiku" is found in "Atiku, ..." with every scheme.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

WORDPIECE, BPE, SENTENCEPIECE, WHOLE = "wordpiece", "bpe", "sentencepiece", "whole"
SCHEMES = (WORDPIECE, BPE, SENTENCEPIECE, WHOLE)
CONTINUES = "##"  # WordPiece: a piece that continues a word
SPACE_MARKERS = "Ġ▁"  # BPE and SentencePiece: a piece that starts a word (a space before it)
_PREFIX = {WORDPIECE: CONTINUES, BPE: "Ġ", SENTENCEPIECE: "▁"}


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet inverted: printable bytes stand for themselves, the rest are
    shifted to U+0100 on (a space is "Ġ", U+0120)."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in kept]
    return {**{chr(b): b for b in kept}, **{chr(256 + n): b for n, b in enumerate(shifted)}}


_BYTES = _byte_decoder()


def scheme_of_vocabulary(vocabulary: Iterable[str]) -> str:
    """The scheme whose marker the most vocabulary entries carry; "whole" when none does."""
    counts = Counter(next((s for s, p in _PREFIX.items() if str(t).startswith(p) and len(str(t)) > len(p)), WHOLE)
                     for t in vocabulary)
    marked = {s: n for s, n in counts.items() if s != WHOLE}
    return max(marked, key=marked.get) if marked else WHOLE


def infer_scheme(tokens: Sequence[str]) -> str:
    """The scheme guessed from one token list (for records made without a tokenizer at hand)."""
    return BPE if any(t.startswith("Ġ") for t in tokens) else \
        SENTENCEPIECE if any(t.startswith("▁") for t in tokens) else WORDPIECE


def marker(scheme: str | None) -> str | None:
    """The marker a scheme's pieces carry ("##" continues a WordPiece word, "Ġ"/"▁" start a BPE or
    SentencePiece one); None for whole words or an unknown scheme. The viewer strips it from the payload."""
    return _PREFIX.get(scheme) if scheme else None


def piece_text(token: str, scheme: str) -> str:
    """A token's text without its marker: "##ik" -> "ik", "Ġwon" -> "won", "▁at" -> "at"; a token
    that is only a marker stays as it is."""
    return _stripped(token, scheme) or token


def _stripped(token: str, scheme: str) -> str:
    if scheme == WORDPIECE:
        return token[2:] if token.startswith(CONTINUES) else token
    if scheme == BPE:
        raw = [_BYTES.get(ch) for ch in token]
        return token if None in raw else bytes(raw).decode("utf-8", errors="replace").strip()  # added tokens: text
    return token.lstrip("▁") if scheme == SENTENCEPIECE else token


def _starts_word(token: str, previous: str, scheme: str) -> bool:
    """Whether `token` starts a word after `previous` (both ordinary tokens)."""
    if scheme == WHOLE:
        return True
    if scheme == WORDPIECE:
        return not token.startswith(CONTINUES)
    if token[:1] in SPACE_MARKERS:
        return True
    before = piece_text(previous, scheme)
    if previous.lstrip(SPACE_MARKERS) == "":  # a lone marker: the word's first piece follows it
        return False
    after = piece_text(token, scheme)
    return _is_punctuation(before[-1:]) or _is_punctuation(after[:1])


def opens_word(token: str, scheme: str | None) -> bool:
    """Whether an ordinary token can only start a word, whatever comes before it: the test a match
    inside a model's input ids can use for the token after a matched word ("##s" after "text"
    makes it "texts", not the word "text")."""
    if scheme == WORDPIECE:
        return not token.startswith(CONTINUES)
    if scheme in (BPE, SENTENCEPIECE):
        return token[:1] in SPACE_MARKERS or _is_punctuation(piece_text(token, scheme)[:1])
    return True


def _is_punctuation(ch: str) -> bool:
    # U+FFFD: part of a character whose bytes continue in the next BPE token, not punctuation
    return bool(ch) and not ch.isalnum() and ch != "\ufffd" and not unicodedata.category(ch).startswith("M")


def word_spans(tokens: Sequence[str], scheme: str | None, special: Sequence[bool] | None = None) -> list[list[int]]:
    """Token positions of each word, in order; special tokens are words of their own.

    Args:
        tokens: the model's tokens (`convert_ids_to_tokens`), special tokens included.
        scheme: one of `SCHEMES`; None guesses it from the tokens' markers (`infer_scheme`).
        special: True per special token ([CLS], <s>, ...); None: no token is special.
    """
    scheme = scheme or infer_scheme(tokens)
    special = np.zeros(len(tokens), bool) if special is None else np.asarray(special, bool)
    spans: list[list[int]] = []
    for i, token in enumerate(tokens):
        if spans and not special[i] and not special[spans[-1][0]] and not _starts_word(token, tokens[i - 1], scheme):
            spans[-1].append(i)
        else:
            spans.append([i])
    return spans


def word_text(tokens: Sequence[str], scheme: str | None) -> str:
    """One word's tokens joined: "at", "##ik", "##u" -> "atiku"; BPE bytes decoded together, so a
    character cut across two tokens comes back whole."""
    scheme = scheme or infer_scheme(tokens)
    if scheme == BPE and all(ch in _BYTES for t in tokens for ch in t):
        return bytes(_BYTES[ch] for t in tokens for ch in t).decode("utf-8", errors="replace").strip() or tokens[0]
    return "".join(_stripped(t, scheme) for t in tokens) or "".join(tokens)  # "▁", "at" -> "at"; "▁" alone stays


def tokens_text(tokens: Sequence[str], scheme: str | None) -> str:
    """Tokens back into text (an answer span, a generated token): markers become spaces, pieces join."""
    scheme = scheme or infer_scheme(tokens)
    if scheme == BPE and all(ch in _BYTES for t in tokens for ch in t):
        return bytes(_BYTES[ch] for t in tokens for ch in t).decode("utf-8", errors="replace").strip()
    if scheme == SENTENCEPIECE:
        return " ".join("".join(tokens).replace("▁", " ").split())
    return " ".join(word_text([tokens[i] for i in span], scheme) for span in word_spans(tokens, scheme))


def fold(text: str) -> str:
    """What word matching compares: case and accents ignored ("Atikú" -> "atiku"), as uncased
    tokenizers do to their input."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))).casefold()
