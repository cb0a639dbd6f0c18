"""Vocabulary coverage: which words the tokenizer keeps whole, cuts into pieces, or loses.

Seed 001's lesson: the stock BERT tokenizer cut Nigerian names into word pieces
("Atiku" -> at / ##ik / ##u), so the model saw fragments and attributions spread over
them; the fix was `tokenizer.add_tokens(...)` and resizing the embeddings.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ..adapters import wrap_tokenizer
from ..validate import positive_int
from ..views.plain import table, terminal_width, wrap
from ..views.tables import escape_markdown

SUGGESTED_MAX = 20
KINDS = ("whole", "split", "fragmented", "unknown")  # every word is one of them: their shares add up to 1


def kind_labels(min_pieces: int) -> dict[str, str]:
    """Column headers of the kinds: "whole (1 piece)", "2 pieces", "fragmented (3+ pieces)", "unknown ([UNK])".
    No "split" column when `min_pieces` is 2: a word in 2 pieces is fragmented then."""
    split = "2 pieces" if min_pieces == 3 else f"2-{min_pieces - 1} pieces"
    labels = {"whole": "whole (1 piece)", "split": split, "fragmented": f"fragmented ({min_pieces}+ pieces)",
              "unknown": "unknown ([UNK])"}
    return {k: v for k, v in labels.items() if k != "split" or min_pieces > 2}


def kind_meaning(kind: str, min_pieces: int) -> str:
    """What a kind's share counts, for tag descriptions: "that the tokenizer cuts into 2 pieces ..."."""
    return {"whole": "the tokenizer keeps whole (1 piece)",
            "split": f"the tokenizer cuts into 2 to {min_pieces - 1} pieces (fewer than {min_pieces}: not "
                     "counted as fragmented)",
            "fragmented": f"the tokenizer cuts into {min_pieces}+ pieces (fragmented)",
            "unknown": "have an unknown piece ([UNK])"}[kind]


def percents(shares: dict[str, float]) -> dict[str, str]:
    """Shares that add up to 1 as percentages with one decimal that add up to 100.0% as printed
    (largest remainders get the rounding), so a table's row never reads 99.9% or 100.1%."""
    tenths = {k: v * 1000 for k, v in shares.items()}
    floors = {k: int(v) for k, v in tenths.items()}
    short = round(sum(tenths.values())) - sum(floors.values())
    for k in sorted(tenths, key=lambda k: floors[k] - tenths[k])[:max(short, 0)]:
        floors[k] += 1
    return {k: f"{v / 10:.1f}%" for k, v in floors.items()}


@dataclass(frozen=True)
class WordStat:
    """One distinct word: how often it occurs and the pieces the tokenizer makes of it."""

    word: str
    count: int
    pieces: tuple[str, ...]
    unknown: bool

    @property
    def n_pieces(self) -> int:
        """How many pieces the tokenizer cuts the word into."""
        return len(self.pieces)

    def as_dict(self) -> dict[str, Any]:
        """This word's figures as a JSON-serialisable dict."""
        return {"word": self.word, "count": self.count, "pieces": list(self.pieces), "unknown": self.unknown}


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of a text sample (and of a `terms` list) by one tokenizer."""

    words: tuple[WordStat, ...]  # distinct words, most frequent first
    terms: tuple[WordStat, ...]
    min_pieces: int
    tokenizer_kind: str
    lowercases: bool = False

    def is_fragmented(self, stat: WordStat) -> bool:
        """Whether `stat`'s word is cut into `min_pieces` or more pieces (an unknown word is lost, not fragmented)."""
        return not stat.unknown and stat.n_pieces >= self.min_pieces

    def kind(self, stat: WordStat) -> str:
        """"unknown" (an [UNK] piece), "whole" (1 piece), "fragmented" (`min_pieces` or more) or "split" (between)."""
        if stat.unknown:
            return "unknown"
        return "whole" if stat.n_pieces == 1 else "fragmented" if self.is_fragmented(stat) else "split"

    def summary(self) -> dict[str, Any]:
        """Shares of words kept whole (1 piece), split (2 to min_pieces - 1 pieces), fragmented (>= min_pieces)
        and unknown, by type and by frequency: each adds up to 1 (0 for every kind without words)."""
        total_types, total_tokens = max(len(self.words), 1), max(sum(w.count for w in self.words), 1)
        kinds = {kind: (lambda w, kind=kind: self.kind(w) == kind) for kind in KINDS}
        return {
            "words": len(self.words), "occurrences": sum(w.count for w in self.words),
            "by_type": {k: sum(map(test, self.words)) / total_types for k, test in kinds.items()},
            "by_frequency": {k: sum(w.count for w in self.words if test(w)) / total_tokens
                             for k, test in kinds.items()},
        }

    @property
    def fragmented(self) -> list[WordStat]:
        """Fragmented words, the costliest first (frequency x pieces)."""
        hits = [w for w in self.words if self.is_fragmented(w)]
        return sorted(hits, key=lambda w: (-w.count * w.n_pieces, w.word))

    @property
    def suggested_tokens(self) -> list[str]:
        """What to pass to `tokenizer.add_tokens`: fragmented words and terms (case-folded if the tokenizer
        lowercases)."""
        picks = [w.word for w in self.fragmented[:SUGGESTED_MAX]]
        picks += [t.word for t in self.terms if t.unknown or t.n_pieces > 1]
        fold = (lambda s: s.lower()) if self.lowercases else (lambda s: s)
        return list(dict.fromkeys(fold(p) for p in picks))

    @property
    def follow_up(self) -> str:
        """The code to run after `add_tokens`, for this tokenizer's library."""
        tokens = self.suggested_tokens
        if self.tokenizer_kind == "keras-hub":
            return ("keras-hub vocabularies are fixed: build a new tokenizer with "
                    f"`BertTokenizer(vocabulary=old_vocabulary + {tokens!r})`, then a backbone with "
                    "`vocabulary_size=len(new_vocabulary)` whose `token_embedding` rows copy the old "
                    "ones (new rows initialised, e.g. to the mean of each word's piece embeddings).")
        return f"tokenizer.add_tokens({tokens!r})\nmodel.resize_token_embeddings(len(tokenizer))"

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict: summary, fragmented words, terms and the suggested fix."""
        return {"summary": self.summary(), "min_pieces": self.min_pieces,
                "fragmented": [w.as_dict() for w in self.fragmented], "terms": [t.as_dict() for t in self.terms],
                "suggested_tokens": self.suggested_tokens, "follow_up": self.follow_up}

    def as_markdown(self, limit: int = 20) -> str:
        """The report as Markdown, for TensorBoard's text summaries: the shares, the first `limit` fragmented
        words, the terms, the fix. A terminal gets `as_text`."""
        s, labels = self.summary(), kind_labels(self.min_pieces)
        lines = [f"{s['words']} distinct words, {s['occurrences']} occurrences; fragmented = "
                 f"{self.min_pieces}+ pieces.", "", "| | " + " | ".join(labels.values()) + " |",
                 "|---|" + "---:|" * len(labels)]
        lines += [f"| {name} | " + " | ".join(shown).replace("%", "\\%") + " |" for name, shown in self._shares(labels)]
        for title, stats in (("Fragmented words", self.fragmented[:limit]), ("Terms", self.terms)):
            if stats:
                lines += ["", f"**{title}**", "", "| word | count | pieces |", "|---|---:|---|"]
                lines += [f"| {escape_markdown(w.word)} | {w.count} | "
                          f"{'[UNK]' if w.unknown else ' '.join(escape_markdown(p) for p in w.pieces)} |"
                          for w in stats]
        if self.suggested_tokens:
            lines += ["", "Suggested: `" + self.follow_up.replace("`", "'").replace("\n", "; ") + "`"]
        return "\n".join(lines)

    def _shares(self, labels: dict[str, str]) -> list[tuple[str, list[str]]]:
        """("by word" | "by occurrence", the kinds' printed percentages, adding up to 100.0%)."""
        s = self.summary()
        return [(name, list(percents({k: s[basis][k] for k in labels}).values()))
                for name, basis in (("by word", "by_type"), ("by occurrence", "by_frequency"))]

    def as_text(self, width: int | None = None, limit: int = 20) -> str:
        """The report as plain text within `width` columns (the terminal's by default): the shares (each row
        adds up to 100%), the first `limit` fragmented words, the terms, the code to run."""
        s, labels, width = self.summary(), kind_labels(self.min_pieces), width or terminal_width()
        lines = wrap(f"{s['words']} distinct words, {s['occurrences']} occurrences. Shares of words the "
                     f"tokenizer keeps whole, cuts into pieces, or loses to [UNK]:", width)
        rows = [[name, *shown, f"{sum(float(v[:-1]) for v in shown):.1f}%"] for name, shown in self._shares(labels)]
        lines += ["", *table(["", *labels.values(), "total"], rows, width, left=(0,))]
        fragmented = self.fragmented
        for title, stats, more in ((f"Fragmented words ({self.min_pieces}+ pieces), the costliest first",
                                    fragmented[:limit], len(fragmented) - limit), ("Terms", self.terms, 0)):
            if stats:
                rows = [[w.word, str(w.count), "[UNK]" if w.unknown else " ".join(w.pieces)] for w in stats]
                lines += ["", *wrap(title + ":", width), *table(["word", "count", "pieces"], rows, width,
                                                                left=(0, 2), wrap_last=True)]
                lines += wrap(f"... and {more} more fragmented words", width) if more > 0 else []
        if self.suggested_tokens:
            lines += ["", "Suggested:"] + ["  " + line for code in self.follow_up.splitlines()
                                           for line in wrap(code, width - 2, indent="    ")]
        return "\n".join(lines)


def coverage(tokenizer: Any, texts: Iterable[str], *, terms: Sequence[str] | None = None,
             min_pieces: int = 3) -> CoverageReport:
    """How `tokenizer` covers the words of `texts`, and of every word in `terms`.

    Words come from the tokenizer's own pre-tokenizer (or a Unicode-aware split); each
    distinct word is counted and cut into pieces once. Punctuation-only words are skipped.
    """
    positive_int("min_pieces", min_pieces, low=2)
    tok = wrap_tokenizer(tokenizer)
    lowercases = tok.pieces("Zq") == tok.pieces("zq")
    key = (lambda w: unicodedata.normalize("NFC", w).lower()) if lowercases else \
        (lambda w: unicodedata.normalize("NFC", w))
    counts = Counter(key(w) for text in texts for w in tok.words(text) if _is_wordlike(w))
    stat = lambda w, n: _word_stat(tok, w, n)  # noqa: E731
    words = tuple(stat(w, n) for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    term_stats = tuple(stat(t, counts.get(key(t), 0)) for t in (terms or ()))
    return CoverageReport(words, term_stats, min_pieces, tok.kind, lowercases)


def _word_stat(tok: Any, word: str, count: int) -> WordStat:
    pieces = tuple(tok.pieces(word))
    return WordStat(word, count, pieces, unknown=tok.unk_token is not None and tok.unk_token in pieces)


def _is_wordlike(word: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in word)
