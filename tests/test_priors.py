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


def bag_of_words(seed: int = 0) -> keras.Model:
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(VOCAB), HID, name="tokens")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(ids, keras.layers.Dense(2)(x))
    rng = np.random.default_rng(seed)
    for variable in model.weights:  # the same weights on every backend
        variable.assign(rng.normal(0.0, 0.5, tuple(variable.shape)).astype("float32"))
    model.compile(optimizer=keras.optimizers.SGD(1.0),
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
    model, twin = bag_of_words(), bag_of_words()
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
