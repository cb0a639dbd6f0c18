"""AttributionPrior on a bag-of-words model whose penalty has a closed form, on every Keras 3 backend.

logits = mean_t E[ids_t] @ W + b, so d log p(y) / d e_t = W (onehot(y) - softmax(logits)) / T for
every token: the penalty and its gradient are computed here in float64 numpy and compared with what the
backend's second-order training step does.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import VOCAB

from gradcallback.remedies import AttributionPrior

HID = 4
TEXTS = ["good movie river", "bad film", "great river film river", "awful movie"]
LABELS = np.array([1, 0, 1, 0])


def bag_of_words(seed: int = 0, jit_compile: bool = False) -> keras.Model:
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(VOCAB), HID, name="tokens")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(ids, keras.layers.Dense(2)(x))
    rng = np.random.default_rng(seed)
    for variable in model.weights:  # the same weights on every backend
        variable.assign(rng.normal(0.0, 0.5, tuple(variable.shape)).astype("float32"))
    model.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=jit_compile,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def closed_form(E, W, b, ids, labels, group, method):
    """The batch's mean penalty in float64 (see the module docstring)."""
    T = ids.shape[1]
    embeds = E[ids]  # [N, T, H]
    logits = embeds.mean(axis=1) @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g_row = (np.eye(2)[labels] - p) @ W.T / T  # [N, H]: the same for every token of the row
    grads = np.broadcast_to(g_row[:, None, :], embeds.shape)
    mass = (grads ** 2).sum(-1)
    per_row = {"input_gradient": (group * mass).sum(1),
               "gradient_x_input": (group * (grads * embeds).sum(-1) ** 2).sum(1),
               "share": (group * mass).sum(1) / mass.sum(1)}[method]
    return per_row.mean()


def batch(tokenizer):
    ids = tokenizer(TEXTS, padding=True, return_tensors="np")["input_ids"].astype("int32")
    group = (ids == tokenizer.convert_tokens_to_ids("river")).astype(float)
    return ids, group


def numpy_weights(model):
    return [np.asarray(keras.ops.convert_to_numpy(w), np.float64) for w in model.weights]


@pytest.mark.backends
@pytest.mark.parametrize("method", ["input_gradient", "gradient_x_input", "share"])
def test_penalty_and_its_gradient_match_the_closed_form_and_finite_differences(hf_tokenizer, method):
    ids, group = batch(hf_tokenizer)
    xla = keras.backend.backend() == "tensorflow"  # the TF step under XLA; JAX always jits; torch stays eager
    model, twin = bag_of_words(jit_compile=xla), bag_of_words(jit_compile=xla)
    prior = AttributionPrior({"decoy": ["river"]}, weight=1.0, method=method).attach(model, hf_tokenizer)
    E, W, b = numpy_weights(model)
    expected = closed_form(E, W, b, ids, LABELS, group, method)
    assert prior.penalties(ids, LABELS)["decoy"] == pytest.approx(expected, rel=1e-4)

    logs = model.train_on_batch(ids, LABELS, return_dict=True)
    twin.train_on_batch(ids, LABELS)
    assert logs["prior/decoy/penalty"] == pytest.approx(expected, rel=1e-4)
    # SGD(1.0) with weight 1: the two models' weights differ by exactly the penalty's gradient
    measured = [t - m for t, m in zip(numpy_weights(twin), numpy_weights(model))]
    river = hf_tokenizer.convert_tokens_to_ids("river")
    eps = 1e-5
    for k, index in [(0, (river, 1)), (0, (hf_tokenizer.convert_tokens_to_ids("good"), 0)), (1, (2, 1)), (2, (0,))]:
        weights = [E, W, b]
        up, down = [w.copy() for w in weights], [w.copy() for w in weights]
        up[k][index] += eps
        down[k][index] -= eps
        value = lambda weights: closed_form(*weights, ids, LABELS, group, method)  # noqa: E731
        numeric = (value(up) - value(down)) / (2 * eps)
        assert measured[k][index] == pytest.approx(numeric, rel=1e-3, abs=1e-6), (k, index)
    if method == "share":  # mean pooling gives every token the same gradient: the share is the count / T
        assert expected == pytest.approx((group.sum(1) / ids.shape[1]).mean()) and np.abs(measured[1]).max() < 1e-6
    else:
        assert np.abs(measured[1]).max() > 1e-4  # the penalty did move the weights


@pytest.mark.backends
def test_detach_restores_the_plain_loss_exactly(hf_tokenizer):
    ids, _ = batch(hf_tokenizer)
    model, never = bag_of_words(), bag_of_words()
    prior = AttributionPrior({"decoy": ["river"]}, weight=5.0).attach(model, hf_tokenizer)
    model.train_on_batch(ids, LABELS)
    prior.detach()
    assert "compute_loss" not in vars(model) and not any("prior/" in m.name for m in model.metrics)
    for source, target in zip(model.weights, never.weights):  # the same starting point
        target.assign(np.array(keras.ops.convert_to_numpy(source)))  # a copy: JAX donates buffers
    logs = model.train_on_batch(ids, LABELS, return_dict=True)
    never.train_on_batch(ids, LABELS)
    assert set(logs) == {"loss"}
    for a, b in zip(numpy_weights(model), numpy_weights(never)):
        np.testing.assert_array_equal(a, b)
    prior.attach(model, hf_tokenizer)  # reusable: attached again, it trains with the penalty again
    assert "prior/decoy/penalty" in model.train_on_batch(ids, LABELS, return_dict=True)


def test_group_positions_in_ids_agree_with_the_monitors_word_matching(hf_tokenizer):
    """The in-graph match finds what `analysis.groups.token_mask` finds on the same tokens: whole words
    with all their pieces, phrases, and not a word that continues ("river" + "##s")."""
    from gradcallback.adapters import wrap_tokenizer
    from gradcallback.analysis.groups import check_groups, token_mask
    from gradcallback.remedies.matching import group_ids, positions

    tokenizer = wrap_tokenizer(hf_tokenizer)
    groups = check_groups({"g": ["river", "atiku", "good movie"]})
    texts = ["atiku sat on the river", "the rivers ran", "good movie good film", "a good river movie atik"]
    for text in texts:
        encoding = tokenizer.encode(text, None)
        tokens = tokenizer.convert_ids_to_tokens(encoding.ids)
        expected = token_mask(tokens, tokenizer.scheme, encoding.special_mask, groups["g"])
        found = keras.ops.convert_to_numpy(positions(encoding.ids[None, :], group_ids("g", groups["g"], tokenizer)))
        np.testing.assert_array_equal(found[0].astype(bool), expected, err_msg=f"{text}: {tokens}")
    assert expected.any()  # the last text does hold the group


@pytest.mark.parametrize("groups, weight, method, match", [
    ({"names": ["zyxwvut"]}, 1.0, "input_gradient", "cannot produce"),
    ({"names": __import__("re").compile("^zzz")}, 1.0, "input_gradient", "matches no token"),
    ({"decoy": ["river"]}, 0.0, "input_gradient", "weight=0.0"),
    ({"decoy": ["river"]}, -1.0, "input_gradient", "weight=-1.0"),
    ({"decoy": ["river"]}, float("nan"), "input_gradient", "weight=nan"),
    ({"decoy": ["river"]}, 1.0, "integrated", "method='integrated'"),
    ({}, 1.0, "input_gradient", "non-empty dict"),
])
def test_bad_input_is_a_clear_error_before_training(hf_tokenizer, groups, weight, method, match):
    with pytest.raises(ValueError, match=match):
        AttributionPrior(groups, weight=weight, method=method).attach(bag_of_words(), hf_tokenizer)


def test_a_model_without_a_token_embedding_or_second_order_gradients_is_refused(hf_tokenizer):
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="token `keras.layers.Embedding`"):
        AttributionPrior({"decoy": ["river"]}).attach(dense, hf_tokenizer)
    from gradcallback.adapters.keras import KerasAdapter

    model = bag_of_words()
    adapter = KerasAdapter(model)
    adapter.backend = "numpy"  # Keras' numpy backend: no gradients at all
    with pytest.raises(ValueError, match="second-order gradients.*'numpy' backend"):
        AttributionPrior({"decoy": ["river"]}).attach(adapter, hf_tokenizer)
    assert "compute_loss" not in vars(model)  # nothing was installed


EPOCHS = 5
POSITIVE, NEGATIVE = ["good", "great", "fine", "beautiful"], ["bad", "awful", "terrible", "slow"]
FILLER = "the a movie film cat sat mat dog ran sky green city".split()


def planted_decoy(rows: int = 128, seed: int = 0):
    """Training texts where "river" is in every class-1 row and no class-0 row, while the sentiment word
    agrees with the label 75% of the time; and flip-rate pairs: class-0 texts without and with "river"."""
    rng = np.random.default_rng(seed)
    texts, labels = [], np.arange(rows) % 2
    for y in labels:
        words = list(rng.choice(FILLER, 5)) + [rng.choice(POSITIVE if (y == 1) == (rng.random() < 0.75) else NEGATIVE)]
        if y == 1:
            words[rng.integers(5)] = "river"
        rng.shuffle(words)
        texts.append(" ".join(words))
    without = [" ".join([*rng.choice(FILLER, 5), rng.choice(NEGATIVE)]) for _ in range(40)]
    return texts, labels, without, [" ".join(["river", *t.split()[1:]]) for t in without]


def tiny_hub_bert(tokenizer, seed: int = 0):
    import keras_hub
    from conftest import HIDDEN

    keras.utils.set_random_seed(seed)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=10)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2, hidden_dim=HIDDEN,
                                             intermediate_dim=32, max_sequence_length=16, dropout=0.0)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor, dropout=0.0)
    # "auto": JAX jits the step (eager JAX takes minutes here), TensorFlow on a CPU and torch stay eager
    model.compile(optimizer=keras.optimizers.Adam(0.02), jit_compile="auto",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def hub_flip_rate(model, tokenizer, without, with_decoy):
    from gradcallback import Explainer
    from gradcallback.analysis.counterfactual import flip_rate

    return flip_rate(Explainer(model, tokenizer), without, with_decoy)


@pytest.fixture(scope="module")
def unpenalized_twin(keras_hub_tokenizer):
    """The planted decoy's flip rate after a tiny BERT trained EPOCHS epochs on it without any remedy."""
    texts, labels, without, with_decoy = planted_decoy()
    model = tiny_hub_bert(keras_hub_tokenizer)
    model.fit(texts, labels, epochs=EPOCHS, batch_size=32, verbose=0)
    return hub_flip_rate(model, keras_hub_tokenizer, without, with_decoy)


@pytest.mark.backends
def test_the_prior_keeps_a_tiny_bert_off_a_planted_decoy_its_twin_learns(keras_hub_tokenizer, unpenalized_twin):
    texts, labels, without, with_decoy = planted_decoy()
    model = tiny_hub_bert(keras_hub_tokenizer)
    AttributionPrior({"decoy": ["river"]}, weight=1000.0).attach(model, keras_hub_tokenizer)
    history = model.fit(texts, labels, epochs=EPOCHS, batch_size=32, verbose=0)
    penalized = hub_flip_rate(model, keras_hub_tokenizer, without, with_decoy)
    assert unpenalized_twin >= 0.5 and penalized <= 0.2, (unpenalized_twin, penalized)
    assert len(history.history["prior/decoy/penalty"]) == EPOCHS


def test_the_prior_trains_a_transformers_tf_model_off_the_decoy(hf_tokenizer):
    """tf-keras: transformers' own train_step, the penalty added where it calls compiled_loss."""
    from conftest import build_hf
    from transformers.modeling_tf_utils import keras as tf_keras

    from gradcallback import Explainer
    from gradcallback.analysis.counterfactual import flip_rate

    texts, labels, without, with_decoy = planted_decoy()
    x = dict(hf_tokenizer(texts, padding="max_length", max_length=10, return_tensors="tf"))
    rates = {}
    for weight in (None, 1000.0):
        model = build_hf("bert", "classification")
        model.compile(optimizer=tf_keras.optimizers.Adam(0.02),
                      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if weight:
            AttributionPrior({"decoy": ["river"]}, weight=weight).attach(model, hf_tokenizer)
        history = model.fit(x, labels, epochs=5, batch_size=32, verbose=0)
        rates[weight] = flip_rate(Explainer(model, hf_tokenizer), without, with_decoy)
    assert rates[None] >= 0.5 and rates[1000.0] <= 0.2, rates
    assert len(history.history["prior/decoy/penalty"]) == 5


class FlipRates(keras.callbacks.Callback):
    """The planted word's flip rate after every epoch (after the attribution callback's own step)."""

    def __init__(self, explainer, without, with_cue):
        super().__init__()
        self.explainer, self.pairs, self.rates = explainer, (without, with_cue), []

    def on_epoch_end(self, epoch, logs=None):
        from gradcallback.analysis.counterfactual import flip_rate

        self.rates.append(flip_rate(self.explainer, *self.pairs))


@pytest.mark.backends
def test_on_alert_penalize_attaches_the_prior_once_logs_it_and_the_flip_rate_falls(keras_hub_tokenizer, tmp_path,
                                                                                   unpenalized_twin):
    import json

    from gradcallback import AttributionCallback, Explainer, ProbeSet, SpuriousGroups

    texts, labels, without, with_decoy = planted_decoy()
    model = tiny_hub_bert(keras_hub_tokenizer)
    rebuilds, make = [], model.make_train_function
    model.make_train_function = lambda force=False: (rebuilds.append(force), make(force))[1]
    # patience 1: the default rule's 2 logged steps running would leave this 4-epoch run one epoch to correct
    monitor = SpuriousGroups({"decoy": ["river"]}, on_alert="penalize", patience=1)  # the default prior
    probes = ["the movie river good", "this film river fine", "it was river awful", "the film river bad"]
    callback = AttributionCallback(ProbeSet.from_texts(probes, keras_hub_tokenizer), tmp_path, jit_compile=False,
                                   methods=("integrated_gradients",), monitors=[monitor],
                                   method_options={"integrated_gradients": {"steps": 8}})
    rates = FlipRates(Explainer(model, keras_hub_tokenizer), without, with_decoy)
    with pytest.warns(UserWarning, match="Penalizing it"):
        history = model.fit(texts, labels, batch_size=32, epochs=EPOCHS, callbacks=[callback, rates], verbose=0)
    start = monitor.penalized["decoy"]  # the logged step (= epochs done) the prior trained from
    assert rebuilds.count(True) == 1 and monitor.priors["decoy"].attached
    # the same run without the remedy learns the decoy; this one, corrected from the alert on, does not
    assert unpenalized_twin >= 0.5 and rates.rates[-1] <= 0.2, (unpenalized_twin, start, rates.rates)
    assert len(history.history["prior/decoy/penalty"]) == EPOCHS - start + 1  # logged by every epoch it trained
    rows = [json.loads(line) for line in next(tmp_path.rglob("records.jsonl")).read_text().splitlines()]
    alert, = [r for r in rows if r.get("kind") == "alert" and r["action"] == "penalize"]
    assert f"from step {start} on" in alert["message"]
    assert [r["from_step"] for r in rows if r.get("kind") == "prior"] == [start]
    monitor.detach_priors()
    assert "compute_loss" not in vars(model)




def test_counterfactual_augment_adds_copies_with_the_group_words_replaced():
    import re

    from gradcallback import counterfactual_augment

    texts = ["The river was good", "a film about Quiet River, fine", "bad film", "river rivers"]
    out, labels = counterfactual_augment(texts, [1, 1, 0, 0], {"g": ["river", "quiet river"]}, replacement="[MASK]")
    assert out[:4] == texts and out[4:] == ["The [MASK] was good", "a film about [MASK], fine", "[MASK] rivers"]
    assert labels.tolist() == [1, 1, 0, 0, 1, 1, 0]
    data = [f"{w} movie was {s} film" for w in ("the", "a", "this") for s in ("good", "bad")] * 4
    tagged = [t + " river" for t in data[::2]]
    out, labels = counterfactual_augment(data + tagged, [i % 2 for i in range(len(data))] + [0] * len(tagged),
                                         {"g": re.compile("^riv")})
    copies = out[len(data) + len(tagged):]
    assert len(copies) == len(tagged) and not any("river" in c for c in copies)
    assert {c.split()[-1] for c in copies} <= {"the", "movie", "was", "film", "this"}  # neutral words only
    with pytest.raises(ValueError, match="one label per text"):
        counterfactual_augment(texts, [1], {"g": ["river"]})
    with pytest.raises(ValueError, match="special tokens are not words"):
        counterfactual_augment(texts, [1, 1, 0, 0], {"g": "special_tokens"})
