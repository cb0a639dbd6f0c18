"""Scenarios of the detection benchmark: training texts with a planted shortcut (or none), probes,
and the held-out pairs that tell whether the model uses it (see `gradcallback.analysis.counterfactual`).

Every text is filler words plus one sentiment word that agrees with the label only 65% of the
time, so a planted cue that is always right when present is the easier thing to learn. A token is
planted by *replacing* a filler word (the length stays the same); the length scenario plants
nothing but makes class 1 texts longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSITIVE = "good great fine nice superb lovely".split()
NEGATIVE = "bad awful terrible poor dull weak".split()
FILLER = ("the a movie film was is it this that story plot acting really quite very so and but with for of in "
          "on its to my our one").split()
# Word pieces only: "zanzibar" is cut into zan ##zi ##bar, as a rare name is cut by a real tokenizer.
PIECES = ["zan", "##zi", "##bar"]
PLANTED = ["obi", "ada", "new", "york", "!"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCABULARY = SPECIALS + POSITIVE + NEGATIVE + FILLER + PLANTED + PIECES
AGREEMENT = 0.65  # how often the sentiment word agrees with the label


@dataclass(frozen=True)
class Scenario:
    """A planted cue: `words` put into a share `rate` of class-1 training texts (and `rate_0` of class 0)."""

    name: str
    words: tuple[str, ...]  # the cue; () for none
    span: int = 0  # adjacent filler words it replaces (0: one per word); as many as its tokens keeps the length
    rate: float = 0.9
    rate_0: float = 0.0  # controls put the same cue into class 0 at the same rate
    length: bool = False  # the length-only shortcut: class 1 texts are longer, no cue
    control: bool = False  # a control: no shortcut a model could learn from the cue

    @property
    def group(self) -> list[str]:
        """The words the spurious monitor watches (the controls watch the word that would be planted)."""
        return list(self.words) or ["obi"]


SCENARIOS = {
    "name": Scenario("name", ("obi",)),
    "name_weak": Scenario("name_weak", ("ada",), rate=0.3),
    "pieces": Scenario("pieces", ("zanzibar",), span=3),  # 3 tokens in place of 3: the token count stays
    "punctuation": Scenario("punctuation", ("!",)),
    "phrase": Scenario("phrase", ("new", "york")),
    "length": Scenario("length", (), length=True),
    "control_both": Scenario("control_both", ("obi",), rate=0.5, rate_0=0.5, control=True),
    "control_none": Scenario("control_none", (), rate=0.0, control=True),
}


def sentence(rng: np.random.Generator, label: int, n_words: int, agreement: float = AGREEMENT) -> list[str]:
    """Filler words and one sentiment word (of the label's polarity with probability `agreement`)."""
    words = list(rng.choice(FILLER, n_words - 1))
    polarity = label if rng.random() < agreement else 1 - label
    words.insert(int(rng.integers(n_words)), str(rng.choice(POSITIVE if polarity else NEGATIVE)))
    return words


def plant(rng: np.random.Generator, words: list[str], cue: tuple[str, ...], span: int = 0) -> list[str]:
    """`cue` in place of `span` (default: as many as the cue's words) adjacent filler words, never
    the sentiment word: a cue of several word pieces replaces as many words, so the length carries
    no signal."""
    span = span or len(cue)
    sentiment = {w for w in words if w in POSITIVE or w in NEGATIVE}
    starts = [i for i in range(len(words) - span + 1) if not sentiment & set(words[i:i + span])]
    if not starts:  # a short text with its sentiment word in the middle: move that word to the end
        words = [w for w in words if w not in sentiment] + [w for w in words if w in sentiment]
        starts = [0]
    i = int(rng.choice(starts))
    return words[:i] + list(cue) + words[i + span:]


def n_words(rng: np.random.Generator, scenario: Scenario, label: int) -> int:
    if scenario.length:
        return int(rng.integers(9, 13) if label else rng.integers(4, 8))
    return int(rng.integers(6, 11))


def training_set(scenario: Scenario, seed: int, n: int = 512) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = sentence(rng, label, n_words(rng, scenario, label))
        if scenario.words and rng.random() < (scenario.rate if label else scenario.rate_0):
            words = plant(rng, words, scenario.words, scenario.span)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def probe_set(scenario: Scenario, seed: int, n: int = 32) -> tuple[list[str], list[int]]:
    """Both classes, half of each with the watched cue (a name in a general sentence is the trap):
    lengths span both classes' ranges, so a length shortcut shows on them too."""
    rng = np.random.default_rng(10_000 + seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = sentence(rng, label, int(rng.integers(4, 13)), agreement=1.0)
        if (i // 2) % 2 == 0:
            words = plant(rng, words, tuple(scenario.group), scenario.span)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def counterfactual_pairs(scenario: Scenario, seed: int, n: int = 64) -> tuple[list[str], list[str]]:
    """Held-out class-0 texts without and with the cue (for the length scenario: short, and the same
    text made as long as class 1 texts with filler words). A model that uses the cue flips to class 1."""
    rng = np.random.default_rng(20_000 + seed)
    without, with_cue = [], []
    for _ in range(n):
        if scenario.length:
            words = sentence(rng, 0, int(rng.integers(4, 8)), agreement=1.0)
            longer = words + list(rng.choice(FILLER, 11 - len(words)))
            without.append(" ".join(words))
            with_cue.append(" ".join(longer))
            continue
        words = sentence(rng, 0, int(rng.integers(6, 11)), agreement=1.0)
        without.append(" ".join(words))
        with_cue.append(" ".join(plant(rng, words, tuple(scenario.group), scenario.span)))
    return without, with_cue
