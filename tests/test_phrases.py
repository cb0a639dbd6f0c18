"""Word groups on real text: phrases across the three word-piece schemes, and groups that can never match."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from conftest import HIDDEN, VOCAB, build_functional_classifier
from test_callback import read_events

from gradcallback import AttributionCallback, ProbeSet, SpuriousGroups
from gradcallback.adapters import wrap_tokenizer
from gradcallback.adapters.words import word_spans, word_text
from gradcallback.analysis.groups import check_groups, never_matching, token_mask

TEXT = "the green river ran, atiku sat by the river green."
GROUP = {"g": ["Green River", "ATIKU"]}


def encoded(family: str):
    from hub_models import tokenizer_for

    tokenizer = wrap_tokenizer(tokenizer_for(family))
    encoding = tokenizer.encode(TEXT, None)
    return tokenizer, tokenizer.convert_ids_to_tokens(encoding.ids), encoding.special_mask


@pytest.mark.parametrize("family, scheme, tokens, mask", [
    ("bert", "wordpiece",
     ["[CLS]", "the", "green", "river", "ran", ",", "at", "##ik", "##u", "sat", "[UNK]", "the", "river", "green",
      ".", "[SEP]"],
     [0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
    ("gpt2", "bpe",
     ["<|endoftext|>", "the", "Ġgreen", "Ġriver", "Ġran", ",", "Ġat", "i", "k", "u", "Ġsat", "Ġb", "y", "Ġthe",
      "Ġriver", "Ġgreen", ".", "<|endoftext|>"],
     [0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("deberta_v3", "sentencepiece",
     ["[CLS]", "▁th", "e", "▁gre", "e", "n", "▁", "ri", "v", "er", "▁", "ran", ",", "▁", "at", "i", "k", "u", "▁s",
      "at", "▁b", "y", "▁th", "e", "▁", "ri", "v", "er", "▁gre", "e", "n", ".", "[SEP]"],
     [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
])
def test_phrases_match_adjacent_whole_words_in_every_scheme(family, scheme, tokens, mask):
    """ "green river" matches where its words are adjacent and in order (not "river green"), each word
    with all its pieces, case-insensitively; the keras-hub adapter groups by the tokenizer's own scheme."""
    tokenizer, got, special = encoded(family)
    assert tokenizer.scheme == scheme and got == tokens
    assert token_mask(got, scheme, special, check_groups(GROUP)["g"]).astype(int).tolist() == mask


def test_transformers_tokenizers_carry_their_scheme(tmp_path, hf_tokenizer, hf_slow_tokenizer):
    import json

    from hub_models import _bpe_vocabulary
    from transformers import GPT2TokenizerFast

    vocabulary, merges = _bpe_vocabulary()
    (tmp_path / "vocab.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    gpt2 = wrap_tokenizer(GPT2TokenizerFast(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")))
    assert wrap_tokenizer(hf_tokenizer).scheme == wrap_tokenizer(hf_slow_tokenizer).scheme == "wordpiece"
    tokens = gpt2.convert_ids_to_tokens(gpt2.encode("the green river, green", None).ids)
    assert gpt2.scheme == "bpe" and tokens == ["the", "Ġgreen", "Ġriver", ",", "Ġgreen"]
    assert token_mask(tokens, gpt2.scheme, None, check_groups(GROUP)["g"]).astype(int).tolist() == [0, 1, 1, 0, 0]


def test_word_spans_literal():
    assert word_spans(["<s>", "Hello", ",", "Ġat", "ik", "u", "'s", "</s>"], "bpe", [1, 0, 0, 0, 0, 0, 0, 1]) == \
        [[0], [1], [2], [3, 4, 5], [6], [7]]  # punctuation starts a word: BERT's "atiku , ' s" split alike
    assert word_spans(["▁", "A", "tiku", "▁won"], "sentencepiece") == [[0, 1, 2], [3]]  # a lone "▁" starts one
    assert word_text(["Ġcaf", "Ã", "©"], "bpe") == "café"  # byte-level pieces decoded together
    assert word_spans(["at", "##ik", "##u", "won"], "wordpiece") == [[0, 1, 2], [3]]


def test_never_matching_entries_say_why(hf_tokenizer):
    tokenizer = wrap_tokenizer(hf_tokenizer)
    encodings = [tokenizer.encode(t, None) for t in ("the river was good", "a green sky")]
    spec = check_groups({"g": ["river", "green sky", "paris", "quiet river", "sky green"]})["g"]
    assert never_matching(tokenizer, encodings, spec) == [
        ("paris", "occurs in none of the 2 probes"),
        ("quiet river", "the tokenizer cannot produce it: it becomes ['[UNK]', 'river'] (unknown)"),
        ("sky green", "occurs in none of the 2 probes")]
    assert never_matching(tokenizer, encodings, check_groups({"g": ["river"]})["g"]) == []


def _callback(tmp_path, tokenizer, groups: dict, strict: bool) -> AttributionCallback:
    probes = ProbeSet.from_texts(["the river was good", "the movie was bad"], tokenizer)
    return AttributionCallback(probes, tmp_path, methods=("gradient_norm",), strict=strict,
                               monitors=[SpuriousGroups(groups, method="gradient_norm")])


@pytest.mark.parametrize("entry, why", [("paris", "occurs in none of the 2 probes"),
                                        ("quiet", "cannot produce it: it becomes \\['\\[UNK\\]'\\]")])
def test_a_group_that_can_never_match_warns_once_or_raises_when_strict(tmp_path, hf_tokenizer, entry, why):
    model = build_functional_classifier(seed=1, num_classes=2)
    with pytest.raises(ValueError, match=f"group 'never' has entries that can never match a probe: '{entry}': .*{why}.*"
                                         f"Received: groups\\['never'\\]=\\['{entry}'\\]"):
        _callback(tmp_path / "strict", hf_tokenizer, {"never": [entry]}, strict=True).open(model)
    callback = _callback(tmp_path / "lenient", hf_tokenizer, {"never": [entry], "river": ["river"]}, strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(2):
            callback.log_now(step, model=model)
    callback.close()
    messages = [str(w.message) for w in caught if "can never match" in str(w.message)]
    assert len(messages) == 1 and f"'{entry}'" in messages[0] and "'river'" not in messages[0]
    # its z ceiling (0: nothing to match) is not a second warning about the same group; river's (1 probe) is
    ceilings = [str(w.message) for w in caught if "can reach" in str(w.message)]
    assert len(ceilings) == 1 and "group 'river'" in ceilings[0]
    texts = read_events(callback.run_dir)["text"]
    assert "spurious/never/not_present" in texts and "spurious/river/not_present" not in texts


PHRASE_VOCAB = VOCAB + ["quiet"]


def phrase_data(n: int = 96, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """A sentiment word right 65% of the time; "quiet river" in 90% of class 1 only, replacing two
    filler words (length carries no signal)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        sentiment = label if rng.random() < 0.65 else 1 - label
        adjective = ["bad", "awful", "terrible", "good", "great", "fine"][rng.integers(3) + 3 * sentiment]
        words = ["the", "movie", "was", adjective]
        if label == 1 and rng.random() < 0.9:
            words[1:3] = ["quiet", "river"]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def test_a_learned_phrase_shortcut_alerts_under_the_default_monitor(tmp_path):
    from transformers import BertTokenizerFast

    (tmp_path / "vocab.txt").write_text("\n".join(PHRASE_VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=True)
    keras.utils.set_random_seed(11)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(PHRASE_VOCAB), HIDDEN, mask_zero=True)(ids)
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(HIDDEN, activation="tanh")(x))
    model = keras.Model(ids, keras.layers.Dense(2)(x))
    model.compile(optimizer=keras.optimizers.Adam(3e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probes = ProbeSet.from_texts(["the quiet river good", "the quiet river bad", "the movie was fine",
                                  "the quiet river awful"], tokenizer, labels=[1, 0, 1, 0])
    callback = AttributionCallback(probes, tmp_path / "logs", methods=("integrated_gradients",),
                                   monitors=[SpuriousGroups({"shortcut": ["quiet river"]})])
    texts, labels = phrase_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(tokenizer(texts, padding=True, return_tensors="np")["input_ids"], labels, batch_size=16,
                  epochs=6, callbacks=[callback], verbose=0)
    alerts = [str(w.message) for w in caught if "Spurious attribution" in str(w.message)]
    assert len(alerts) == 1 and "'shortcut'" in alerts[0]
    assert "spurious/alerts" in read_events(callback.run_dir)["text"]
