"""Faithfulness metrics: attributions on a trained model beat random rankings; the callback logs them."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier
from test_callback import read_events
from test_spurious import planted_data

from gradcallback import AttributionCallback, Explainer, Faithfulness, ProbeSet, ShortcutDiscovery
from gradcallback.analysis.faithfulness import faithfulness
from gradcallback.engine.heads import HEADS
from gradcallback.io.runs import read_run

PROBES = ["the movie was river good", "this film is river fine", "it was river awful", "the film is great",
          "the movie was bad", "it was a terrible"]


def trained_model(tokenizer):
    texts, labels = planted_data(plant=True)
    model = build_functional_classifier(seed=11, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = tokenizer(texts, padding=True, return_tensors="np")["input_ids"]
    model.fit(ids, labels, batch_size=16, epochs=6, verbose=0)
    return model


def test_attributions_beat_random_rankings(hf_tokenizer):
    model = trained_model(hf_tokenizer)
    explainer = Explainer(model, hf_tokenizer)
    encodings = explainer.encode(PROBES)
    mask_id = hf_tokenizer.mask_token_id
    # Integrated gradients. (gradient_x_input loses to random rankings at k=3 on this model:
    # exactly what these metrics are for; gradient_norm misses the saturated planted token.)
    for method, options in (("integrated_gradients", {"steps": 32}),):
        attributions = explainer.explain_encoded(PROBES, encodings, task="classification", method=method, **options)
        ours = faithfulness(explainer, attributions, encodings, replacement=mask_id)
        random = [faithfulness(explainer, attributions, encodings, replacement=mask_id, seed=s) for s in range(5)]
        for k in ("k1", "k3"):
            assert ours[f"comprehensiveness/{k}"] > np.mean([r[f"comprehensiveness/{k}"] for r in random]), (method, k)
        assert ours["sufficiency/k1"] < np.mean([r["sufficiency/k1"] for r in random]), method
        assert ours["aopc"] > np.mean([r["aopc"] for r in random]), method


def test_removing_every_content_token_and_keeping_all_of_them(hf_tokenizer):
    """At 100% of the content tokens, sufficiency is 0 (nothing removed) for any ranking."""
    model = build_functional_classifier(seed=3, num_classes=2)
    explainer = Explainer(model, hf_tokenizer)
    encodings = explainer.encode(PROBES[:2])
    attributions = explainer.explain_encoded(PROBES[:2], encodings, task="classification", method="gradient_norm")
    figures = faithfulness(explainer, attributions, encodings, replacement=hf_tokenizer.mask_token_id, ks=(1.0,))
    assert abs(figures["sufficiency/p100"]) < 1e-6


def test_callback_logs_faithfulness_for_its_method_and_random(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=4, num_classes=2)
    callback = AttributionCallback(ProbeSet.from_texts(PROBES[:3], hf_tokenizer), tmp_path,
                                   methods=("gradient_norm",), monitors=[Faithfulness(method="gradient_x_input")])
    callback.log_now(0, model=model)
    callback.close()
    scalars = {t for t in read_events(tmp_path / "attributions")["scalars"] if t.startswith("faithfulness/")}
    names = [f"{kind}/{k}" for kind in ("comprehensiveness", "sufficiency") for k in ("k1", "k3", "k5", "p10", "p20")]
    assert scalars == {f"faithfulness/{m}/{n}" for m in ("gradient_x_input", "random") for n in names + ["aopc"]}


def river_model(tokenizer, river: float) -> keras.Model:
    """A bag of words whose logits are the mean of its tokens' 2-d embeddings, set by hand: "river" pushes
    class 1 by `river`, the sentiment words by 1 each way, every other word (and [MASK]) by nothing; so
    masking "river" is what moves the prediction, and nothing else is a shortcut."""
    from conftest import VOCAB

    table = np.zeros((len(VOCAB), 2), np.float32)
    for word, push in [("good", 1), ("great", 1), ("fine", 1), ("bad", -1), ("awful", -1), ("terrible", -1),
                       ("river", river)]:
        table[tokenizer.convert_tokens_to_ids(word)] = [-push / 2, push / 2]
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(VOCAB), 2, mask_zero=True, name="tokens")(ids)
    model = keras.Model(ids, keras.layers.GlobalAveragePooling1D()(x))
    model.get_layer("tokens").set_weights([table])
    return model


def discovered(tokenizer, river: float):
    from gradcallback.analysis.discovery import shortcut_candidates

    explainer = Explainer(river_model(tokenizer, river), tokenizer)
    encodings = explainer.encode(PROBES)
    attributions = explainer.explain_encoded(PROBES, encodings, task="classification",
                                             method="integrated_gradients", steps=32)
    return shortcut_candidates(explainer, attributions, encodings, replacement=tokenizer.mask_token_id)


def test_discovery_finds_the_planted_token_without_a_lexicon(hf_tokenizer):
    found = discovered(hf_tokenizer, river=12.0)
    assert [c.token for c in found] == ["river"]  # the sentiment words are in 1-2 probes each: below MIN_PROBES
    river = found[0]
    # "the movie was river good" (5 words, [CLS], [SEP]): logit gap (12 + 1) / 7, p = 0.8650; masked: 1 / 7,
    # p = 0.5357, a drop of 0.3293 (so too "this film is river fine"); "it was river awful" (6 tokens):
    # 11 / 6 -> -1 / 6, the prediction flips, p(class 1) 0.8621 -> 0.4584, a drop of 0.4037. Mean: 0.3541.
    assert river.probes == (0, 1, 2) and river.flip_rate == pytest.approx(1 / 3)
    assert river.mean_drop == pytest.approx(0.3541, abs=1e-4)
    # the null: two random words of each of the three probes (a filler moves p by ~0.03, a sentiment word or
    # river itself far more), so three probes give a z of 3.7, above MIN_Z
    assert river.z == pytest.approx(3.66, abs=0.01) and river.mean_share > 0.5


def test_control_model_has_no_river_candidate(hf_tokenizer):
    """The same model with "river" pushing nothing: masking it moves the prediction as little as masking any
    other filler word, so it is no candidate (the old rule needed only a drop on half of its probes)."""
    assert discovered(hf_tokenizer, river=0.0) == []


def test_delete_vs_mask_on_a_trained_model(hf_tokenizer):
    from gradcallback.analysis.discovery import delete_vs_mask

    model = trained_model(hf_tokenizer)
    explainer = Explainer(model, hf_tokenizer)
    encodings = explainer.encode(PROBES)
    attributions = explainer.explain_encoded(PROBES, encodings, task="classification",
                                             method="integrated_gradients", steps=32)
    check = delete_vs_mask(explainer, attributions, encodings, replacement=hf_tokenizer.mask_token_id)
    # deleting the top tokens costs the model more than masking them (0.089 vs 0.069 on this model); a swap
    # of the two, or a gap of mask - delete, fails here
    assert check == pytest.approx({"delete": 0.089, "mask": 0.069, "gap": 0.020}, abs=0.005)


def test_plausibility_literal():
    from gradcallback.analysis.faithfulness import plausibility
    from gradcallback.attribution import Attribution, Prediction

    tokens = ["[CLS]", "a", "great", "at", "##ik", "##u", "film", "[SEP]"]
    a = Attribution(tokens=tokens, token_ids=np.arange(8), scores=np.array([9, 0.1, 3, 1, 1, 1, 2, 0], np.float32),
                    method="gradient_norm", target=0, prediction=Prediction(label=0),
                    special_mask=np.array([1, 0, 0, 0, 0, 0, 0, 1], bool))
    # words by |score|: great 3, atiku 3 (stable order keeps "great" first), film 2, a 0.1
    figures = plausibility([a], [["great", "film"]], k=2)
    assert figures["f1"] == pytest.approx(0.5)  # top-2 {great, atiku}: precision 1/2, recall 1/2
    assert figures["auprc"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_callback_logs_discovery_and_plausibility(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=4, num_classes=2)
    probes = ProbeSet.from_texts(PROBES[:3], hf_tokenizer, rationales=[["good"], ["fine"], ["awful"]])
    callback = AttributionCallback(probes, tmp_path, monitors=[Faithfulness(method="gradient_norm"),
                                                               ShortcutDiscovery(method="gradient_norm")])
    callback.log_now(0, model=model)
    callback.close()
    events = read_events(tmp_path / "attributions")
    assert {"discovery/candidates", "discovery/length/delete", "discovery/length/mask", "discovery/length/gap",
            "faithfulness/plausibility/gradient_norm/f1", "faithfulness/plausibility/gradient_norm/auprc"
            } <= set(events["scalars"])
    assert "discovery/candidates_table" in events["text"]


def length_model(length_weight: float):
    """Bag of words plus, with `length_weight`, a logit that grows with the number of tokens:
    the shortcut no token attribution can show (issue 5, item 6)."""
    keras.utils.set_random_seed(3)
    ids = keras.Input((None,), dtype="int32")
    content = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 8, mask_zero=True)(ids))
    length = keras.layers.Lambda(lambda x: keras.ops.sum(keras.ops.cast(keras.ops.greater(x, 0), "float32"),
                                                         axis=1, keepdims=True))(ids)
    by_length = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant([[0.0, length_weight]]),
                                   bias_initializer=keras.initializers.Constant([0.0, -7.0 * length_weight]))
    return keras.Model(ids, keras.layers.Dense(2)(content) + by_length(length))


@pytest.mark.parametrize("length_weight, flagged", [(1.5, True), (0.0, False)])
def test_delete_vs_mask_flags_a_length_shortcut(tmp_path, hf_tokenizer, length_weight, flagged):
    probes = ProbeSet.from_texts(PROBES, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, monitors=[ShortcutDiscovery(method="gradient_norm")])
    model = length_model(length_weight)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        callback.log_now(0, model=model)
        callback.log_now(1, model=model)
    callback.close()
    events = read_events(tmp_path / "attributions")
    assert (events["text"].get("discovery/alerts") == [0, 1]) == flagged  # a note at every step it holds
    assert sum("react to length or position" in str(w.message) for w in caught) == int(flagged)  # warned once
    run = read_run(tmp_path / "attributions")
    notes = [(a.step, a.monitor, a.subject, a.statistic, a.action, a.limit) for a in run.alerts]
    assert notes == ([(s, "discovery", None, "delete-vs-mask gap", "note", 0.1) for s in (0, 1)] if flagged else [])
    scalars = run.scalars
    if flagged:
        assert scalars["discovery/length/gap"][0] > 0.1 and scalars["discovery/length/mask"][0] < 0.05
    else:
        assert abs(scalars["discovery/length/gap"][0]) < 0.05


def test_delete_vs_mask_perturbs_a_bounded_number_of_positions(hf_tokenizer):
    from gradcallback.analysis.discovery import delete_vs_mask

    explainer = Explainer(length_model(1.5), hf_tokenizer)
    seen = []
    explainer.class_probabilities = lambda encodings, targets: seen.append(len(encodings)) or np.zeros(len(targets))
    texts = ["the movie was good and the film was great and it was fine", "the film is great"]
    encodings = explainer.encode(texts)
    attributions = Explainer(length_model(1.5), hf_tokenizer).explain_encoded(
        texts, encodings, task="classification", method="gradient_norm")
    delete_vs_mask(explainer, attributions, encodings, replacement=hf_tokenizer.mask_token_id, max_sets=4)
    # Sets are drawn from the less attributed half of the content: the long probe gives 4 (max_sets),
    # the short one (4 content tokens, so 2 in its quieter half, one token a set) 2; deleted, then masked.
    assert seen == [4 + 2, 4 + 2]


def test_perturbed_forward_passes_take_the_backends_rows_per_call(hf_tokenizer):
    """Forward-only passes over perturbed probes run `rows_per_call` rows a call, not `batch_size` (a few large
    calls): 40 distinct variants of one length at 16 rows a call = 3 calls, at batch_size 4; results unchanged."""
    from gradcallback.analysis.faithfulness import replaced
    from gradcallback.engine.score import score_function

    explainer = Explainer(build_functional_classifier(seed=1), hf_tokenizer, batch_size=4)
    probe = explainer.encode(["the movie was good and the film was fine"], "classification")[0]
    spare = [t for t in range(5, 40) if t not in probe.ids][:5]  # ids the probe lacks: every variant differs
    variants = [replaced(probe, [i % 8 + 1], spare[i // 8]) for i in range(40)]  # 8 positions x 5 ids
    reference = explainer.class_distributions(variants)
    with explainer.adapter.attached():
        function = score_function(explainer.adapter, HEADS["class"], explainer.jit_compile, explainer.eager)
    function.rows_per_call, function.calls = 16, 0
    np.testing.assert_allclose(explainer.class_distributions(variants), reference, rtol=1e-5, atol=1e-6)
    assert function.calls == 3
