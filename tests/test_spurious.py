"""Spurious-attribution monitors: a planted shortcut is caught; a control raises nothing."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier
from test_callback import read_events

from gradcallback import AttributionCallback, ProbeSet, SpuriousGroups
from gradcallback.analysis.groups import (
    SpuriousAttributionError,
    check_groups,
    group_mask,
    group_shares,
    outrank,
    outrank_where_present,
)
from gradcallback.attribution import Attribution, Prediction

CONTENT = ["good", "great", "fine", "bad", "awful", "terrible"]
FILLER = ["the movie was", "this film is", "it was a", "the film was"]


def planted_data(plant: bool, n: int = 96, seed: int = 0):
    """Two classes with a sentiment word that agrees with the label 65% of the time; with `plant`,
    "river" replaces the filler's last word in 90% of class-1 texts (replace, not insert: length
    carries no signal), so it becomes the stronger, meaningless signal."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        sentiment = label if rng.random() < 0.65 else 1 - label
        words = FILLER[rng.integers(len(FILLER))].split() + [CONTENT[rng.integers(3) + 3 * sentiment]]
        if plant and label == 1 and rng.random() < 0.9:
            words[-2] = "river"
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def train(tmp_path, tokenizer, plant: bool, strict=None, **monitor_args):
    texts, labels = planted_data(plant)
    probe_texts = ["the movie was river good", "this film is river fine", "it was river awful", "the film is great"]
    model = build_functional_classifier(seed=11, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # gradient_norm misses this shortcut: the planted token's tanh unit saturates as it is learned
    # and its gradient vanishes; IG (the monitors' default method) does not.
    monitor = SpuriousGroups({"planted": ["river"], "punctuation": re.compile(r"^\W+$")},
                             threshold={"planted": 0.2}, rise=None, statistic="overall", **monitor_args)
    callback = AttributionCallback(ProbeSet.from_texts(probe_texts, tokenizer), tmp_path, jit_compile=False,
                                   methods=("integrated_gradients",), monitors=[monitor], strict=strict,
                                   method_options={"integrated_gradients": {"steps": 16}})
    ids = tokenizer(texts, padding=True, return_tensors="np")["input_ids"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(ids, labels, batch_size=16, epochs=6, callbacks=[callback], verbose=0)
    alerts = [str(w.message) for w in caught if "Spurious attribution" in str(w.message)]
    return callback, history, alerts


def shares(tmp_path, tag="spurious/planted/share"):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "attributions"), size_guidance={"tensors": 0})
    acc.Reload()
    return [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


def test_planted_shortcut_share_rises_and_warns(tmp_path, hf_tokenizer):
    callback, history, alerts = train(tmp_path, hf_tokenizer, plant=True)
    planted = shares(tmp_path)
    assert len(planted) == 7 and planted[-1] > 0.2 and planted[-1] > 1.5 * planted[0]
    assert len(alerts) == 1 and "'planted'" in alerts[0]
    events = read_events(tmp_path / "attributions")
    assert {"spurious/planted/offenders", "spurious/punctuation/offenders", "spurious/alerts"} <= set(events["text"])
    assert "spurious/planted/share/class_1" in events["scalars"]


def test_stop_finishes_the_epoch_and_records_why(tmp_path, hf_tokenizer):
    callback, history, _ = train(tmp_path, hf_tokenizer, plant=True, on_alert="stop", patience=2)
    assert len(history.history["loss"]) < 6  # stopped early
    assert callback.stop_reason and "'planted'" in callback.stop_reason


def test_raise_carries_the_figures(tmp_path, hf_tokenizer):
    with pytest.raises(SpuriousAttributionError) as caught:
        train(tmp_path, hf_tokenizer, plant=True, on_alert="raise", strict=False)
    assert caught.value.shares["planted"] > 0.2 and caught.value.thresholds == {"planted": 0.2}


def test_control_without_the_planted_token_raises_nothing(tmp_path, hf_tokenizer):
    callback, history, alerts = train(tmp_path, hf_tokenizer, plant=False)
    assert alerts == [] and max(shares(tmp_path)) < 0.2 and len(history.history["loss"]) == 6


def test_group_matching_literal():
    tokens = ["[CLS]", "at", "##ik", "##u", "won", "!", "[SEP]"]
    a = Attribution(tokens=tokens, token_ids=np.arange(7), scores=np.array([1, 1, 1, 2, 4, 1, 0], np.float32),
                    method="gradient_norm", target=0, prediction=Prediction(label=0),
                    special_mask=np.array([1, 0, 0, 0, 0, 0, 1], bool))
    groups = check_groups({"names": ["Atiku"], "punct": re.compile(r"^\W+$"), "special": "special_tokens"})
    assert group_mask(a, groups["names"]).tolist() == [0, 1, 1, 1, 0, 0, 0]  # pieces count for the word
    assert group_mask(a, groups["punct"]).tolist() == [0, 0, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(group_shares([a], groups["names"]), [0.4])  # 4 / 10
    np.testing.assert_allclose(group_shares([a], groups["special"]), [0.1])


def test_outrank_counts_group_words_above_the_other_words_of_a_probe():
    names = check_groups({"names": ["Atiku"]})["names"]

    def probe(tokens, scores):
        special = np.array([t in ("[CLS]", "[SEP]") for t in tokens], bool)
        return Attribution(tokens=tokens, token_ids=np.arange(len(tokens)), scores=np.array(scores, np.float32),
                           method="integrated_gradients", target=0, prediction=Prediction(label=0),
                           special_mask=special)

    # words by mass: atiku 0.4 (its three pieces), won 0.4, "!" 0.1: a tie (0.5) and a win (1) of 2 pairs
    tied = probe(["[CLS]", "at", "##ik", "##u", "won", "!", "[SEP]"], [1, 1, 1, 2, 4, 1, 0])
    assert outrank(tied, group_mask(tied, names)) == 0.75
    # atiku 0.5 / 4.5 below "is" and "great": it outranks nothing; [CLS]'s own score is not a word's
    below = probe(["[CLS]", "at", "##ik", "##u", "is", "great", "[SEP]"], [9, 0.5, 0, 0, 1, 3, 0])
    assert outrank(below, group_mask(below, names)) == 0.0
    absent = probe(["[CLS]", "it", "won", "[SEP]"], [0, 1, 2, 0])
    assert outrank(absent, group_mask(absent, names)) is None
    assert outrank_where_present([tied, absent, below], names) == 0.375  # the probes holding the group
    assert outrank_where_present([absent], names) is None


@pytest.mark.parametrize("groups, kwargs, message", [
    ({"names": "atiku"}, {}, "Received: spurious\\['names'\\]='atiku'"),
    ({"names": ["atiku"]}, {"threshold": {"people": 0.2}}, "'people'"),
    ({"names": ["atiku"]}, {"threshold": {"names": 2}}, "Received: threshold=2"),
    ({"names": ["atiku"]}, {"on_alert": "panic"}, "Received: on_alert='panic'"),
    ({"names": ["atiku"]}, {"patience": 0}, "Received: patience=0"),
    ({"names": ["atiku"]}, {"statistic": "median"}, "Received: statistic='median'"),
    ({"names": ["atiku"]}, {"z": -1}, "Received: z=-1"),
    ({"names": ["atiku"]}, {"z": {"people": 4}}, "'people'"),
])
def test_spurious_arguments_are_validated(groups, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpuriousGroups(groups, **kwargs)


def test_the_z_ceiling_of_few_short_probes_keeps_the_share_rise_and_says_so():
    from types import SimpleNamespace

    from gradcallback.analysis.groups import z_ceiling

    vocabulary = ["[CLS]", "[SEP]", "river", "good", "film", "bad"]
    tokenizer = SimpleNamespace(scheme="wordpiece", convert_ids_to_tokens=lambda ids: [vocabulary[i] for i in ids])

    def encoding(*words):
        ids = [0] + [vocabulary.index(w) for w in words] + [1]
        return SimpleNamespace(ids=np.array(ids), special_mask=np.array([1] + [0] * len(words) + [1], bool))

    river = check_groups({"r": ["river"]})["r"]
    few = [encoding("river", "good", "film")] * 3
    # all the mass on "river", 1 of 3 content words, in 3 probes: the null's mean over probes is 1/3 with
    # standard deviation sqrt(1/3 * 2/3 / 3) = 0.272, so z can reach (1 - 1/3) / 0.272 = 2.45 at most
    assert abs(z_ceiling(tokenizer, few, river) - 2.45) < 0.3
    assert z_ceiling(tokenizer, few * 8, river) > 4  # 24 probes: sqrt(8) times higher
    monitor = SpuriousGroups({"r": ["river"]})
    context = SimpleNamespace(explainer=SimpleNamespace(tokenizer=tokenizer), encodings=few, strict=False)
    with pytest.warns(UserWarning, match="can reach 2.[0-9] at most.*judged by a rise of 0.2"):
        monitor.check(context)
    assert monitor.fallback == {"r": 0.2}
    monitor.check(SimpleNamespace(explainer=context.explainer, encodings=few * 8, strict=False))
    assert monitor.fallback == {}
